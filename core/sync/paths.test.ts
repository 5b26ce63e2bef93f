/**
 * Path safety: the structural check against hostile remote paths (with a property test that
 * nothing it accepts can leave the folder), Windows name rules, and resolveInside against
 * real symlinks on disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CanopyError } from '../errors/index.js';
import { tmpDir } from '../testing/index.js';
import { checkLocalName, checkRemotePath, resolveInside } from './paths.js';

describe('checkRemotePath', () => {
  it('accepts ordinary relative paths', () => {
    for (const p of ['a', 'a/b/c.txt', 'café ☕ 日本.txt', '.hidden', 'a/.b/..c', '...', 'x'.repeat(255), `${'d/'.repeat(100)}f`]) {
      expect(checkRemotePath(p), p).toBeUndefined();
    }
  });

  it('refuses every structurally unsafe path with a reason', () => {
    const bad = ['', '/etc/passwd', '../x', 'a/../../x', 'a/..', '..', '.', './a', 'a/./b', 'a//b', 'a/', 'a\0b', 'a\\b', '..\\x',
      'x'.repeat(256), `${'é'.repeat(128)}`, `${'abcdefgh/'.repeat(460)}f`, '.canopy-tmp-1234', 'dir/.canopy-tmp-x'];
    for (const p of bad) expect(checkRemotePath(p), JSON.stringify(p.slice(0, 40))).toMatch(/./);
  });

  it('never accepts a path that resolves outside the folder or to the folder itself (property)', () => {
    const seg = fc.oneof(fc.constantFrom('.', '..', '', 'a', 'b', '.canopy-tmp-x', '..a', 'a..', '/', '\\'), fc.string({ maxLength: 6 }));
    fc.assert(fc.property(fc.array(seg, { minLength: 1, maxLength: 6 }), fc.boolean(), (segs, lead) => {
      const p = (lead ? '/' : '') + segs.join('/');
      if (checkRemotePath(p) !== undefined) return;
      const root = '/srv/folder';
      const abs = path.resolve(root, p);
      expect(abs.startsWith(`${root}/`)).toBe(true);
      expect(path.posix.normalize(p)).toBe(p);
    }), { numRuns: 2000 });
  });
});

describe('checkLocalName', () => {
  it('refuses names Windows cannot hold, only on win32', () => {
    for (const p of ['CON', 'con.txt', 'dir/PRN', 'aux.tar.gz', 'NUL', 'COM1', 'lpt9.log', 'a.', 'dir./x', 'a ', 'a<b', 'a:b', 'a"b', 'a|b', 'a?b', 'a*b', 'tab\there']) {
      expect(checkLocalName(p, 'win32'), p).toMatch(/./);
      expect(checkLocalName(p, 'linux'), p).toBeUndefined();
    }
    for (const p of ['console.txt', 'COM10', 'a.b', 'dir/file.txt', 'con-tent']) expect(checkLocalName(p, 'win32'), p).toBeUndefined();
  });

  it('refuses names that do not survive a UTF-8 round trip, everywhere', () => {
    expect(checkLocalName('bad\uD800name', 'linux')).toMatch(/UTF-8/);
    expect(checkLocalName('ok\uD83D\uDE00', 'linux')).toBeUndefined();
  });
});

describe('resolveInside', () => {
  let root: string;
  let outside: string;
  beforeEach(() => {
    const base = tmpDir('canopy-paths-');
    root = path.join(base, 'root');
    outside = path.join(base, 'outside');
    fs.mkdirSync(path.join(root, 'real/sub'), { recursive: true });
    fs.mkdirSync(outside);
    fs.symlinkSync(outside, path.join(root, 'link'));
    fs.symlinkSync('real', path.join(root, 'rel-link'));
    fs.writeFileSync(path.join(root, 'file'), 'x');
  });
  afterEach(() => fs.rmSync(path.dirname(root), { recursive: true, force: true }));

  it('resolves paths whose existing parents are real directories, and paths under parents not created yet', async () => {
    expect(await resolveInside(root, 'real/sub/x.txt')).toBe(path.join(root, 'real/sub/x.txt'));
    expect(await resolveInside(root, 'new/deeper/x.txt')).toBe(path.join(root, 'new/deeper/x.txt'));
    // The last component is not followed or checked: the caller replaces it atomically.
    expect(await resolveInside(root, 'link')).toBe(path.join(root, 'link'));
  });

  it('refuses a symlinked parent (absolute or relative target) and a file used as a parent', async () => {
    for (const p of ['link/passwd', 'rel-link/sub/x', 'file/x', 'real/../link/x']) {
      await expect(resolveInside(root, p), p).rejects.toSatisfy((e: unknown) => e instanceof CanopyError && e.code === 'BAD_PATH');
    }
    expect(fs.readdirSync(outside)).toEqual([]);
  });
});
