/**
 * Pausing a folder's watcher while Canopy writes many files into it (the sync service does
 * this for large materializations): Canopy's own writes start no scans, and resuming
 * rescans the folder, so a user's edit made while the watcher was paused is still recorded.
 * A real engine, a real folder and the real chokidar watcher.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blake3Hex } from '../chunking/hash.js';
import type { ScanReport } from '../scan/index.js';
import { sleep, tmpDir } from '../testing/index.js';
import { Engine } from './index.js';

let base: string;
let root: string;
let engine: Engine;
let scans: ScanReport[];

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeEach(async () => {
  base = tmpDir('canopy-watch-pause-');
  root = path.join(base, 'docs');
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, 'a.txt'), 'first\n');
  engine = Engine.init(path.join(base, 'home'), { name: 'laptop' });
  engine.folders.add({ path: root, id: 'docs' });
  await engine.scan('docs');
  scans = [];
  engine.on('scan.done', (r) => scans.push(r));
  engine.startWatching();
  // The watcher is live once a change made now is scanned (one made before it is ready is not seen).
  let n = 0;
  await waitFor(() => {
    fs.writeFileSync(path.join(root, 'b.txt'), `b ${n++}\n`);
    return scans.length > 0;
  }, 'the watcher to scan b.txt');
  // The last write may land after the scan that ended the loop: wait until a scan has recorded
  // it (under load a fixed sleep was not always enough, and the test then counted b.txt too).
  const last = Buffer.from(`b ${n - 1}\n`);
  await waitFor(() => {
    const head = engine.versions.preferredHead('docs', 'b.txt');
    return head !== undefined && engine.versions.chunks(head.id)[0]?.hash === blake3Hex(last);
  }, 'a scan to record the last write of b.txt');
  await sleep(500); // and that scan's event has been delivered
  scans.length = 0;
});

afterEach(async () => {
  await engine.close();
  fs.rmSync(base, { recursive: true, force: true });
});

describe('pausing a folder watcher', () => {
  it('starts no scans for writes made while paused, and on resume records them and an edit made meanwhile', async () => {
    expect(await engine.pauseWatching('docs')).toBe(true);
    expect(engine.isWatching('docs')).toBe(false);
    // What a materialization writes: many files in new directories...
    for (let d = 0; d < 4; d++) {
      fs.mkdirSync(path.join(root, `d${d}`));
      for (let f = 0; f < 40; f++) fs.writeFileSync(path.join(root, `d${d}`, `f${f}.txt`), `${d}/${f}\n`);
    }
    // ...and, meanwhile, a user's edit of a file Canopy does not touch.
    fs.writeFileSync(path.join(root, 'a.txt'), 'edited by the user\n');
    // Well past the debounce: a running watcher would have scanned by now.
    await sleep(1500);
    expect(scans).toEqual([]);

    await engine.resumeWatching('docs');
    expect(engine.isWatching('docs')).toBe(true);
    expect(scans).toHaveLength(1);
    expect(scans[0]).toMatchObject({ added: 4 + 160, changed: 1, removed: 0 });
    const head = engine.versions.preferredHead('docs', 'a.txt');
    expect(head?.size).toBe('edited by the user\n'.length);

    // And the restarted watcher sees the next change by itself.
    fs.writeFileSync(path.join(root, 'c.txt'), 'c\n');
    await waitFor(() => scans.some((s) => s.added === 1 && s.changed === 0), 'the resumed watcher to scan c.txt');
  });

  it('has nothing to pause for a folder it does not watch, and does not watch a folder detached meanwhile', async () => {
    expect(await engine.pauseWatching('nope')).toBe(false);
    expect(await engine.pauseWatching('docs')).toBe(true);
    expect(await engine.pauseWatching('docs')).toBe(false);
    engine.folders.remove('docs');
    await engine.resumeWatching('docs');
    expect(engine.isWatching('docs')).toBe(false);
    expect(scans).toEqual([]);
  });
});
