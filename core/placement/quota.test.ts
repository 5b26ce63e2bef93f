/**
 * The quota at work on a real home: the store's chunks are classified, lowering the quota
 * evicts what may go (never pinned, never below the minimum) with progress events, and a
 * device that cannot get under its quota says it is full.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { tmpDir, writeSeededFile } from '../testing/index.js';
import { createPlacementView, Quota } from './index.js';

let base: string;
let engine: Engine;
let root: string;

beforeEach(async () => {
  base = tmpDir('canopy-quota-');
  root = path.join(base, 'docs');
  fs.mkdirSync(root);
  engine = Engine.init(path.join(base, 'home'), { name: 'local' });
  engine.folders.add({ path: root, id: 'docs' });
  for (const f of ['keep.bin', 'spare.bin', 'thin.bin']) writeSeededFile(path.join(root, f), 2 * 1024 * 1024, f);
  await engine.scan('docs');
  // Every chunk also goes into the store (as replicas held for others would be).
  for (const f of ['keep.bin', 'spare.bin', 'thin.bin']) {
    const data = fs.readFileSync(path.join(root, f));
    for (const c of chunksOf(f)) await engine.store.put(c.hash, data.subarray(c.offset, c.offset + c.size));
  }
  // The working copies go away: the store is the only local source.
  fs.rmSync(root, { recursive: true });
  fs.mkdirSync(root);
  engine.db.prepare('DELETE FROM local_files').run();
  for (const id of ['peer-a', 'peer-b']) {
    engine.db.prepare('INSERT INTO devices (id, public_key, name, labels, trust, is_local, capacity, last_seen, added_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)')
      .run(id, randomBytes(32), id, '{}', 'owner', JSON.stringify({ maxBytes: 10 * 1024 ** 3, usedBytes: 0 }), Date.now(), Date.now());
  }
  // spare.bin: both peers hold it (2 elsewhere >= minimum 2). thin.bin: only one peer. keep.bin: both, but pinned.
  const replica = engine.db.prepare('INSERT INTO replicas (chunk, device_id, verified_at) VALUES (?, ?, ?)');
  for (const c of chunksOf('spare.bin')) for (const d of ['peer-a', 'peer-b']) replica.run(c.hash, d, Date.now());
  for (const c of chunksOf('keep.bin')) for (const d of ['peer-a', 'peer-b']) replica.run(c.hash, d, Date.now());
  for (const c of chunksOf('thin.bin')) replica.run(c.hash, 'peer-a', Date.now());
  engine.db.prepare("INSERT INTO pins (folder_id, path, created_at) VALUES ('docs', 'keep.bin', 0)").run();
});
afterEach(async () => {
  await engine.close();
  fs.rmSync(base, { recursive: true, force: true });
});

function chunksOf(file: string): { hash: string; offset: number; size: number }[] {
  const head = engine.versions.preferredHead('docs', file);
  if (!head) throw new Error(`no head for ${file}`);
  return engine.versions.chunks(head.id);
}

describe('quota', () => {
  it('evicts to a lower quota only what may go, reporting progress, and says full when it cannot get there', async () => {
    const dropped: string[][] = [];
    const q = new Quota(engine, { view: () => createPlacementView(engine), announceDropped: (h) => dropped.push(h) });
    const before = q.breakdown();
    expect(before.totalBytes).toBe(engine.store.usage().bytes);
    expect(before.pinnedBytes).toBe(chunksOf('keep.bin').reduce((s, c) => s + c.size, 0));

    const plan = q.plan(0);
    const spareBytes = chunksOf('spare.bin').reduce((s, c) => s + c.size, 0);
    expect(plan.choice.freedBytes).toBe(spareBytes);
    expect(plan.reason).toMatch(/pinned.*minimum/);

    const progress: { done: boolean; freedBytes: number }[] = [];
    const full: unknown[] = [];
    q.on('progress', (p) => progress.push(p));
    q.on('full', (f) => full.push(f));
    await q.evictTo(0);

    for (const c of chunksOf('spare.bin')) expect(engine.store.has(c.hash)).toBe(false);
    for (const c of [...chunksOf('keep.bin'), ...chunksOf('thin.bin')]) expect(engine.store.has(c.hash)).toBe(true);
    expect(dropped.flat().sort()).toEqual(chunksOf('spare.bin').map((c) => c.hash).sort());
    expect(progress.at(-1)).toMatchObject({ done: true, freedBytes: spareBytes });
    expect(full).toHaveLength(1);
  });

  it('counts what the store keeps only for history', async () => {
    const q = new Quota(engine, { view: () => createPlacementView(engine) });
    expect(q.breakdown().historyBytes).toBe(0);
    // spare.bin is deleted: its chunks now serve only the history (until retention lets them go).
    const spare = chunksOf('spare.bin');
    engine.db.transaction(() => engine.versions.recordLocal({ folderId: 'docs', path: 'spare.bin', kind: 'tombstone', size: 0, mtimeMs: Date.now(), mode: 0, chunks: [] }))();
    const after = q.breakdown();
    expect(after.historyBytes).toBe(spare.reduce((s, c) => s + c.size, 0));
    expect(after.totalBytes).toBe(engine.store.usage().bytes);
  });

  it('re-checks the facts right before dropping: a copy that became the last one elsewhere stays', async () => {
    const q = new Quota(engine, { view: () => createPlacementView(engine) });
    const plan = q.plan(0);
    expect(plan.choice.evict.length).toBeGreaterThan(0);
    // A peer drops its copies between the plan and the eviction.
    engine.db.prepare("DELETE FROM replicas WHERE device_id = 'peer-b'").run();
    await q.evictTo(0);
    for (const c of chunksOf('spare.bin')) expect(engine.store.has(c.hash)).toBe(true);
  });
});
