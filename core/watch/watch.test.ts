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
import { FolderWatcher } from './index.js';

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
    const other = tmpDir('canopy-watch-other-');
    const calls: string[][] = [];
    const slow = new FolderWatcher(other, { debounceMs: 300, onChanges: async (paths) => void calls.push(paths), onError: (m) => calls.push([`error: ${m}`]) });
    try {
      await slow.ready;
      const outside = tmpDir('canopy-watch-outside-');
      for (let d = 0; d < 10; d++) {
        fs.mkdirSync(path.join(outside, 'tree', `d${d}`), { recursive: true });
        for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(outside, 'tree', `d${d}`, `f${i}.txt`), String(i));
      }
      fs.renameSync(path.join(outside, 'tree'), path.join(other, 'tree'));
      fs.rmSync(outside, { recursive: true, force: true });
      await waitFor(() => calls.length > 0, 'the first scan to be asked for');
      // chokidar lists the 1,010 entries while the debounce runs: each used to restart it and
      // join the first scan, which covers them all anyway.
      expect(calls[0]).toEqual(['tree']);
    } finally {
      await slow.close();
      fs.rmSync(other, { recursive: true, force: true });
    }
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
