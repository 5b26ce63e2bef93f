/**
 * BatchLstat on a real directory: each path's Stats or its error, in order, lstat'ed on the
 * engine thread while that is cheap and through the thread pool once a batch was slow; and
 * the walk built on it lists a tree whole either way.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tmpDir } from '../testing/index.js';
import { BatchLstat, walk } from './walk.js';
import { loadIgnore } from './ignore.js';

let root: string;
beforeEach(() => {
  root = tmpDir('canopy-walk-');
  fs.mkdirSync(path.join(root, 'sub/deeper'), { recursive: true });
  for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(root, `sub/f${i}.txt`), 'x'.repeat(i));
  fs.writeFileSync(path.join(root, 'sub/deeper/last.txt'), 'last');
  fs.symlinkSync('f1.txt', path.join(root, 'sub/link'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const rels = ['sub/f7.txt', 'sub/missing.txt', 'sub/deeper', 'sub/link'];

function expectResults(out: unknown[]): void {
  expect(out).toHaveLength(4);
  expect(out[0]).toBeInstanceOf(fs.Stats);
  expect((out[0] as fs.Stats).size).toBe(7);
  expect((out[1] as NodeJS.ErrnoException).code).toBe('ENOENT');
  expect((out[2] as fs.Stats).isDirectory()).toBe(true);
  // lstat, not stat: the symlink itself.
  expect((out[3] as fs.Stats).isSymbolicLink()).toBe(true);
}

describe('BatchLstat', () => {
  it('lstats a batch on the engine thread on a fast disk: each Stats or error, in order', async () => {
    const stat = new BatchLstat();
    expectResults(await stat.many(root, rels));
    expect(stat.usesPool).toBe(false);
  });

  it('hands the rest to the thread pool once a batch is slow, with the same results', async () => {
    const stat = new BatchLstat(0);
    expectResults(await stat.many(root, rels));
    expect(stat.usesPool).toBe(true);
    expectResults(await stat.many(root, rels));
  });

  it.each([['on the engine thread', undefined], ['through the pool', 0]])('walks a whole tree %s', async (_how, slowMs) => {
    const stat = new BatchLstat(slowMs);
    const r = await walk(root, '', loadIgnore(root), stat);
    expect(r.problems).toEqual([]);
    expect(r.entries).toHaveLength(2 + 300 + 1 + 1);
    expect(r.entries.find((e) => e.rel === 'sub/deeper/last.txt')).toMatchObject({ kind: 'file', size: 4 });
    expect(r.entries.find((e) => e.rel === 'sub/link')).toMatchObject({ kind: 'symlink', target: 'f1.txt' });
    expect(stat.usesPool).toBe(slowMs === 0);
  });
});
