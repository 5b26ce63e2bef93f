import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpDir } from '../testing/index.js';
import { IGNORE_FILE, loadIgnore, TEMP_PREFIX } from './ignore.js';

let root: string;

afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe('loadIgnore', () => {
  it('without a .canopyignore, or with only comments and blank lines, leaves everything but temp files', () => {
    root = tmpDir();
    for (const text of [undefined, '', '# build/\n\n   \n#*.log\n']) {
      if (text !== undefined) fs.writeFileSync(path.join(root, IGNORE_FILE), text);
      const m = loadIgnore(root);
      expect(m.ignores('build', true)).toBe(false);
      expect(m.ignores('a/b.log', false)).toBe(false);
      expect(m.ignores(`a/${TEMP_PREFIX}x`, false)).toBe(true);
    }
  });

  it('applies the rules of a .canopyignore that has some', () => {
    root = tmpDir();
    fs.writeFileSync(path.join(root, IGNORE_FILE), '# comment\nbuild/\n*.log\n');
    const m = loadIgnore(root);
    expect(m.ignores('build', true)).toBe(true);
    expect(m.ignores('build', false)).toBe(false);
    expect(m.ignores('a/b.log', false)).toBe(true);
    expect(m.ignores('a/b.txt', false)).toBe(false);
  });
});
