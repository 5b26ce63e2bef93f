/**
 * The folder watcher on a real folder with the real chokidar: which paths it hands to the
 * scanner for creates, edits, deletes and renames, in the folder and in directories made
 * after it started, and that it watches directories only (one kernel watch per directory,
 * not per file).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sleep, tmpDir } from '../testing/index.js';
import { FolderWatcher, scannedSince } from './index.js';

let root: string;
let watcher: FolderWatcher;
let touched: Set<string>;

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}; touched: ${[...touched].join(', ')}`);
}

/** Waits until `rel` was handed over, then forgets what was touched so far. */
async function expectTouched(rel: string): Promise<void> {
  await waitFor(() => touched.has(rel), `${rel} to be reported`);
  touched.clear();
}

/** Writes tree/d0..d9 with 100 files each outside `into`, waits `settleMs`, then moves it in by its top directory. */
async function moveTreeIn(into: string, settleMs: number): Promise<void> {
  const outside = tmpDir('canopy-watch-outside-');
  for (let d = 0; d < 10; d++) {
    fs.mkdirSync(path.join(outside, 'tree', `d${d}`), { recursive: true });
    for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(outside, 'tree', `d${d}`, `f${i}.txt`), String(i));
  }
  await sleep(settleMs);
  fs.renameSync(path.join(outside, 'tree'), path.join(into, 'tree'));
  fs.rmSync(outside, { recursive: true, force: true });
}

/** The files moveTreeIn moves in. */
const TREE_FILES = Array.from({ length: 1000 }, (_, i) => `tree/d${Math.floor(i / 100)}/f${i % 100}.txt`);

/** Whether a scan asked for after the first one (which failed: calls[1] is its error) covers `rel`: it or a directory above it. */
function askedAfterFailure(calls: string[][], rel: string): boolean {
  return calls.slice(2).some((paths) => paths.some((p) => p === '' || p === rel || rel.startsWith(`${p}/`)));
}

/**
 * A watcher of its own on a fresh folder, with the given debounce, recording each scan it
 * asks for (and errors, as `error: ...`); with `failFirst`, the first scan it asks for fails
 * (once that promise settles, when it is one).
 */
async function withWatcher(debounceMs: number, fn: (dir: string, calls: string[][], w: FolderWatcher) => Promise<void>, failFirst: boolean | Promise<void> = false): Promise<void> {
  const dir = tmpDir('canopy-watch-other-');
  const calls: string[][] = [];
  const onChanges = async (paths: string[]) => {
    calls.push(paths);
    if (!failFirst || calls.length !== 1) return;
    if (failFirst !== true) await failFirst; // the scan runs until then
    throw new Error('disk gone');
  };
  const w = new FolderWatcher(dir, { debounceMs, onChanges, onError: (m) => calls.push([`error: ${m}`]) });
  try {
    await w.ready;
    await fn(dir, calls, w);
  } finally {
    await w.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

beforeEach(async () => {
  root = tmpDir('canopy-watch-');
  fs.mkdirSync(path.join(root, 'sub', 'deep'), { recursive: true });
  fs.writeFileSync(path.join(root, 'sub', 'deep', 'old.txt'), 'old');
  fs.writeFileSync(path.join(root, '.canopyignore'), '*.log\n');
  touched = new Set();
  watcher = new FolderWatcher(root, {
    debounceMs: 10,
    onChanges: async (paths) => void paths.forEach((p) => touched.add(p)),
    onError: (message) => {
      throw new Error(message);
    },
  });
  await watcher.ready;
});

afterEach(async () => {
  await watcher.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('FolderWatcher', () => {
  it('reports creates, edits, renames and deletes of files in directories it found at start', async () => {
    fs.writeFileSync(path.join(root, 'new.txt'), 'x');
    await expectTouched('new.txt');
    fs.appendFileSync(path.join(root, 'sub', 'deep', 'old.txt'), ' and more');
    await expectTouched('sub/deep/old.txt');
    fs.renameSync(path.join(root, 'sub', 'deep', 'old.txt'), path.join(root, 'sub', 'moved.txt'));
    await waitFor(() => touched.has('sub/deep/old.txt') && touched.has('sub/moved.txt'), 'both names of the rename');
    touched.clear();
    fs.rmSync(path.join(root, 'sub', 'moved.txt'));
    await expectTouched('sub/moved.txt');
  });

  it('reports a tree moved in by its top directory, and then watches the directories inside it', async () => {
    const outside = tmpDir('canopy-watch-outside-');
    fs.mkdirSync(path.join(outside, 'tree', 'a', 'b'), { recursive: true });
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(outside, 'tree', 'a', `f${i}.txt`), String(i));
    fs.renameSync(path.join(outside, 'tree'), path.join(root, 'tree'));
    fs.rmSync(outside, { recursive: true, force: true });
    // The directory (its scan walks all of it; files the walk of chokidar lists once that scan
    // has begun are reported too, for one written there before its watch existed).
    await expectTouched('tree');
    // The directories inside it are watched once chokidar has walked them (listed in
    // getWatched is not yet watched: the walk comes first): a file written there is then
    // reported by name, and so is its next edit.
    const late = path.join(root, 'tree', 'a', 'b', 'late.txt');
    let n = 0;
    await waitFor(() => {
      fs.writeFileSync(late, `late ${n++}`);
      return touched.has('tree/a/b/late.txt');
    }, 'a file written in tree/a/b to be reported');
    await sleep(50);
    touched.clear();
    fs.appendFileSync(late, ' edited');
    await expectTouched('tree/a/b/late.txt');
  });

  it('hands over a tree moved in as its top directory at once, not held back by every entry found in it', async () => {
    await withWatcher(300, async (other, calls) => {
      await moveTreeIn(other, 0);
      await waitFor(() => calls.length > 0, 'the first scan to be asked for');
      // chokidar lists the 1,010 entries while the debounce runs: each used to restart it and
      // join the first scan, which covers them all anyway.
      expect(calls[0]).toEqual(['tree']);
    });
  });

  it('asks once for a tree moved in: what chokidar lists in it after that scan was asked for is not asked for again', async () => {
    // A short debounce: the scan is asked for while chokidar is still listing the tree.
    await withWatcher(10, async (other, calls, w) => {
      await moveTreeIn(other, 200); // the files last changed well before the scan is asked for
      await waitFor(() => calls.length > 0, 'the scan of the tree to be asked for');
      expect(calls[0]).toEqual(['tree']);
      // Once chokidar has listed and watched the tree's directories, a file written there is reported.
      await waitFor(() => Object.keys(w.watchedEntries()).filter((d) => /tree[/\\]d\d$/.test(d)).length === 10, 'chokidar to list every directory of the tree');
      await sleep(300);
      fs.writeFileSync(path.join(other, 'tree', 'd9', 'late.txt'), 'late');
      await waitFor(() => calls.flat().includes('tree/d9/late.txt'), 'the file written into the tree');
      // Past the second listing of each new directory (RELIST_MS): it finds what chokidar listed.
      await sleep(1500);
      expect(calls.flat().filter((p) => /^tree\/d\d\/f\d+\.txt$/.test(p))).toEqual([]);
    });
  });

  it('reports a file written into a tree moved in while chokidar lists its directories, before it watches them', async () => {
    await withWatcher(10, async (other, calls) => {
      await moveTreeIn(other, 0);
      await waitFor(() => calls.length > 0, 'the scan of the tree to be asked for');
      // chokidar lists each directory, then watches it: a file made in between is in neither
      // its listing nor its events; the second listing of new directories finds it.
      for (let d = 0; d < 10; d++) fs.writeFileSync(path.join(other, 'tree', `d${d}`, 'late.txt'), 'late');
      await waitFor(() => Array.from({ length: 10 }, (_, d) => `tree/d${d}/late.txt`).every((p) => calls.flat().includes(p)), 'every late file to be reported');
    });
  });

  it('reports what chokidar lists in a tree moved in when the scan asked for it failed', async () => {
    await withWatcher(10, async (other, calls) => {
      await moveTreeIn(other, 200);
      await waitFor(() => TREE_FILES.every((f) => askedAfterFailure(calls, f)), 'every file of the tree to be asked for after the failed scan');
      expect(calls[0]).toEqual(['tree']);
      expect(calls[1]).toEqual(['error: scan after change failed: disk gone']);
    }, true);
  });

  it('asks again for a tree moved in whose scan failed, which chokidar listed while that scan was pending or running', async () => {
    let fail!: () => void;
    const running = new Promise<void>((resolve) => (fail = resolve));
    // A debounce past the 50 ms ctime slack: chokidar's own report of the tree, whenever it
    // comes, is then either still pending or covered by the scan, and asks for nothing more.
    await withWatcher(100, async (other, calls, w) => {
      await moveTreeIn(other, 200);
      await waitFor(() => calls.length === 1, 'the scan of the tree to be asked for');
      // Watched means listed: every entry of the tree went past the watcher before the scan failed.
      await waitFor(() => Object.keys(w.watchedEntries()).filter((d) => /tree[/\\]d\d$/.test(d)).length === 10, 'chokidar to list the tree');
      expect(calls).toEqual([['tree']]);
      fail();
      await waitFor(() => TREE_FILES.every((f) => askedAfterFailure(calls, f)), 'every file of the tree to be asked for after the failed scan');
      expect(calls[1]).toEqual(['error: scan after change failed: disk gone']);
    }, running);
  });

  it('does not report files its ignore rules leave out', async () => {
    fs.writeFileSync(path.join(root, 'sub', 'noise.log'), 'noise');
    fs.writeFileSync(path.join(root, 'sub', 'kept.txt'), 'kept');
    await expectTouched('sub/kept.txt');
    await sleep(100);
    expect([...touched].filter((p) => p.endsWith('.log'))).toEqual([]);
  });

  it('holds one watch per directory and none per file', async () => {
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(root, 'sub', `n${i}.txt`), String(i));
    await waitFor(() => touched.has('sub/n19.txt'), 'the new files to be reported');
    const watched = watcher.watchedEntries();
    const names = Object.entries(watched).flatMap(([dir, entries]) => entries.map((e) => path.join(dir, e)));
    const files = names.filter((n) => fs.lstatSync(n, { throwIfNoEntry: false })?.isFile());
    expect(files).toEqual([]);
    expect(names.map((n) => path.relative(root, n)).filter((n) => !n.startsWith('..')).sort()).toEqual(['', 'sub', path.join('sub', 'deep')]);
  });
});

describe('scannedSince', () => {
  const asked = new Map([['tree', 10_000], ['docs/a.txt', 20_000]]);
  it('covers a file that last changed well before a scan of it or of a directory above it was asked for', () => {
    expect(scannedSince(asked, 'tree/d1/f.txt', 9_000)).toBe(true);
    expect(scannedSince(asked, 'tree', 9_000)).toBe(true);
    expect(scannedSince(asked, 'docs/a.txt', 19_000)).toBe(true);
    expect(scannedSince(new Map([['', 10_000]]), 'any/where.txt', 9_000)).toBe(true);
  });
  it('does not cover a change made after the scan was asked for, or within the clock slack before it', () => {
    expect(scannedSince(asked, 'tree/d1/f.txt', 10_500)).toBe(false);
    expect(scannedSince(asked, 'tree/d1/f.txt', 9_990)).toBe(false);
  });
  it('does not cover paths outside every asked-for path, nor a sibling whose name only starts the same', () => {
    expect(scannedSince(asked, 'other/f.txt', 1_000)).toBe(false);
    expect(scannedSince(asked, 'tree2/f.txt', 1_000)).toBe(false);
    expect(scannedSince(asked, 'docs/b.txt', 1_000)).toBe(false);
    expect(scannedSince(new Map(), 'tree/f.txt', 1_000)).toBe(false);
  });
});
