import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { headsDisagree, type HeadContent } from './heads.js';

const file = (chunks: string[], size = chunks.length * 10): HeadContent => ({ kind: 'file', size, target: null, chunks });
const dir: HeadContent = { kind: 'dir', size: 0, target: null, chunks: [] };
const gone: HeadContent = { kind: 'tombstone', size: 0, target: null, chunks: [] };

describe('headsDisagree', () => {
  it('does not ask the user about the same state reached twice', () => {
    expect(headsDisagree([dir, { ...dir }])).toBe(false);
    expect(headsDisagree([file(['a', 'b']), file(['a', 'b'])])).toBe(false);
    expect(headsDisagree([gone, { ...gone }])).toBe(false);
    expect(headsDisagree([])).toBe(false);
  });

  it('sees every real difference: content, kind, size, link target', () => {
    expect(headsDisagree([file(['a', 'b']), file(['a', 'c'])])).toBe(true);
    expect(headsDisagree([file(['a']), file(['a', 'b'])])).toBe(true);
    expect(headsDisagree([file(['a'], 10), file(['a'], 11)])).toBe(true);
    expect(headsDisagree([file([]), gone])).toBe(true); // delete against edit stays a conflict
    expect(headsDisagree([dir, file([])])).toBe(true);
    expect(headsDisagree([{ kind: 'symlink', size: 1, target: 'x', chunks: [] }, { kind: 'symlink', size: 1, target: 'y', chunks: [] }])).toBe(true);
  });

  it('is true exactly when some head differs from another (any order)', () => {
    const head = fc.record({
      kind: fc.constantFrom<HeadContent['kind']>('file', 'dir', 'tombstone'),
      size: fc.integer({ min: 0, max: 3 }),
      target: fc.constant(null),
      chunks: fc.array(fc.constantFrom('a', 'b'), { maxLength: 2 }),
    });
    fc.assert(fc.property(fc.array(head, { minLength: 1, maxLength: 4 }), (heads) => {
      const keys = new Set(heads.map((h) => JSON.stringify([h.kind, h.size, h.target, h.chunks])));
      expect(headsDisagree(heads)).toBe(keys.size > 1);
      expect(headsDisagree([...heads].reverse())).toBe(keys.size > 1);
    }));
  });
});
