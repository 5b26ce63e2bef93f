import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FileContent } from '../../../core/api/types.js';
import { imageType, previewOf, sideBySide } from './merge.js';

describe('sideBySide', () => {
  it('pairs a changed line and keeps the equal ones aligned', () => {
    const rows = sideBySide('a\nb\nc\n', 'a\nB\nc\nd\n');
    expect(rows.map((r) => [r.left.kind, r.left.text, r.right.kind, r.right.text])).toEqual([
      ['same', 'a', 'same', 'a'],
      ['removed', 'b', 'added', 'B'],
      ['same', 'c', 'same', 'c'],
      ['empty', '', 'added', 'd'],
    ]);
    expect(rows.map((r) => r.right.line)).toEqual([1, 2, 3, 4]);
  });

  it('shows each side in full and in order, whatever the texts', () => {
    const text = fc.array(fc.constantFrom('x', 'y', 'z', ''), { maxLength: 12 }).map((l) => l.map((s) => `${s}\n`).join(''));
    fc.assert(
      fc.property(text, text, (left, right) => {
        const rows = sideBySide(left, right);
        const side = (k: 'left' | 'right') => rows.map((r) => r[k]).filter((c) => c.kind !== 'empty').map((c) => `${c.text}\n`).join('');
        return side('left') === left && side('right') === right;
      }),
    );
  });
});

describe('previews', () => {
  const content = (over: Partial<FileContent>): FileContent => ({ folderId: 'd', path: 'a.txt', versionId: 'v', kind: 'file', size: 1, state: 'confirmed', encoding: 'utf8', data: 'hi', truncated: false, ...over });

  it('knows images by extension, never SVG', () => {
    expect(imageType('x/Photo.JPG')).toBe('image/jpeg');
    expect(imageType('x.svg')).toBeNull();
    expect(imageType('noext')).toBeNull();
  });

  it('shows text as text, whole images as images, the rest as facts', () => {
    expect(previewOf(content({}))).toEqual({ kind: 'text', text: 'hi' });
    expect(previewOf(content({ path: 'p.png', encoding: 'base64', data: 'AAAA' }))).toEqual({ kind: 'image', url: 'data:image/png;base64,AAAA' });
    expect(previewOf(content({ path: 'p.png', encoding: 'base64', data: 'AAAA', truncated: true }))).toEqual({ kind: 'binary' });
    expect(previewOf(content({ path: 'p.bin', encoding: 'base64', data: 'AAAA' }))).toEqual({ kind: 'binary' });
  });
});
