/**
 * Cleanup's expiry pass on a real engine (real home, SQLite, chunk store, on-demand folder):
 * which held files it frees, which stay and why, and that a dry run changes nothing.
 * Placement and sync are the seam's stand-ins, as in jobs.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { tmpDir, writeSeededFile } from '../testing/index.js';
import { Jobs } from './index.js';
import type { ChunkPlacement, JobsSync, PlacementView } from './seam.js';

const DAY = 86_400_000;
let dir: string;
let folder: string;
let engine: Engine;

beforeEach(() => {
  dir = tmpDir('canopy-expire-');
  folder = path.join(dir, 'files');
  fs.mkdirSync(folder);
  engine = Engine.init(path.join(dir, 'home'), { name: 'here' });
  engine.config.placement.keepRecent = 7 * DAY;
});
afterEach(async () => {
  await engine.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const noSync: JobsSync & { told: number } = {
  told: 0,
  async fetchChunks() {
    return { fetched: 0, failed: [] };
  },
  announceDropped() {},
  async confirmHolder() {
    return true;
  },
  async askHolders() {
    return new Map<string, boolean>();
  },
  replicaFacts: { changed: () => { noSync.told += 1; } },
};

/** Placement: chunks of `scarce` files have no copy elsewhere and are not designated here; every other chunk is designated here. */
function view(scarce: string[]): PlacementView {
  const me = engine.identity.deviceId;
  const rows = engine.db.prepare(`SELECT DISTINCT vc.chunk AS hash, vc.size, lf.path FROM local_files lf JOIN version_chunks vc ON vc.version_id = lf.version_id`).all() as { hash: string; size: number; path: string }[];
  const chunks: ChunkPlacement[] = rows.map((r) => ({
    hash: r.hash, size: r.size, priority: 'normal', factor: 2, minimum: 2, shortfall: 0,
    ...(scarce.includes(r.path) ? { designated: ['x', 'y'], holders: [me] } : { designated: [me, 'x'], holders: [me, 'x'] }),
  }));
  return { localDeviceId: me, chunks: () => chunks, forChunk: (h) => chunks.find((c) => c.hash === h) ?? null, liveDevices: () => [me, 'x', 'y'] };
}

const usedAt = (p: string) => engine.db.prepare('SELECT used_at FROM recent_files WHERE folder_id = ? AND path = ?').pluck().get('docs', p) as number | undefined;
const setUsed = (p: string, at: number) => engine.db.prepare('UPDATE recent_files SET used_at = ? WHERE folder_id = ? AND path = ?').run(at, 'docs', p);
const onDisk = (p: string) => fs.existsSync(path.join(folder, p));

describe('cleanup frees on-demand files no longer recently used', () => {
  it('frees old unpinned unchanged files (their designated chunks kept in the store) and keeps the others, saying why', async () => {
    const names = ['old.bin', 'pinned.bin', 'edited.bin', 'recent.bin', 'scarce.bin', 'untracked.bin'];
    names.forEach((n, i) => writeSeededFile(path.join(folder, n), 300_000 + i, n));
    engine.folders.add({ path: folder, id: 'docs', mode: 'on-demand' });
    await engine.scan('docs');
    // The scan recorded each written file as used now; age all but one.
    for (const n of names) expect(usedAt(n)).toBeTypeOf('number');
    const old = Date.now() - 30 * DAY;
    for (const n of names) if (n !== 'recent.bin') setUsed(n, old);
    engine.db.prepare('DELETE FROM recent_files WHERE path = ?').run('untracked.bin');
    engine.db.prepare('INSERT INTO pins (folder_id, path, created_at) VALUES (?, ?, ?)').run('docs', 'pinned.bin', Date.now());
    fs.appendFileSync(path.join(folder, 'edited.bin'), 'an edit the scanner has not seen');
    const oldChunks = engine.db.prepare(`SELECT vc.chunk FROM local_files lf JOIN version_chunks vc ON vc.version_id = lf.version_id WHERE lf.path = 'old.bin'`).pluck().all() as string[];

    const jobs = new Jobs(engine, { placement: () => view(['scarce.bin']), sync: noSync });
    const dry = await jobs.run('cleanup', { dryRun: true });
    expect(dry.counts).toMatchObject({ expireCandidates: 3, expireWouldFree: 1, expireFreed: 0, expireKeptEdited: 1, expireKeptFewCopies: 1, expireKeptPinned: 1, expireKeptRecent: 1, expireKeptUntracked: 1 });
    expect(dry.message).toMatch(/would free 1.*\(dry run\)/);
    for (const n of names) expect(onDisk(n)).toBe(true);
    expect(usedAt('untracked.bin')).toBeUndefined();

    const report = await jobs.run('cleanup');
    expect(report.ok).toBe(true);
    expect(report.counts).toMatchObject({ expireCandidates: 3, expireFreed: 1, expireKeptEdited: 1, expireKeptFewCopies: 1, expireKeptPinned: 1, expireKeptRecent: 1, expireKeptUntracked: 1, expireFailed: 0 });
    expect(report.message).toMatch(/freed 1, kept 1 edited since the last scan, 1 with too few copies elsewhere, 1 pinned, 1 recently used/);
    expect(names.filter(onDisk)).toEqual(names.filter((n) => n !== 'old.bin'));
    // Online-only now: not indexed as held, no recorded use, its designated chunks in the store, peers told.
    expect(engine.db.prepare("SELECT count(*) FROM local_files WHERE path = 'old.bin'").pluck().get()).toBe(0);
    expect(usedAt('old.bin')).toBeUndefined();
    for (const h of oldChunks) expect(engine.store.has(h)).toBe(true);
    expect(noSync.told).toBeGreaterThan(0);
    // The edit was not lost, and the untracked file's clock started.
    expect(fs.readFileSync(path.join(folder, 'edited.bin'), 'utf8')).toMatch(/an edit the scanner has not seen$/);
    expect(usedAt('untracked.bin')).toBeGreaterThan(old);

    // Once scanned, the edit is a use: the file is recent again.
    await engine.scan('docs');
    expect((await jobs.run('cleanup')).counts).toMatchObject({ expireCandidates: 1, expireKeptFewCopies: 1, expireKeptRecent: 3 });
  });

  it('with keep_recent = 0 nothing expires; without a daemon only the dry run runs', async () => {
    writeSeededFile(path.join(folder, 'a.bin'), 1000, 'a');
    engine.folders.add({ path: folder, id: 'docs', mode: 'on-demand' });
    await engine.scan('docs');
    setUsed('a.bin', 0);
    engine.config.placement.keepRecent = 0;
    const forever = await new Jobs(engine, { placement: () => view([]), sync: noSync }).run('cleanup');
    expect(forever.counts).toMatchObject({ expireCandidates: 0, expireFreed: 0 });
    expect(forever.message).toMatch(/keep_recent = 0/);
    engine.config.placement.keepRecent = DAY;
    const offline = new Jobs(engine, { placement: () => view([]) });
    await expect(offline.run('cleanup')).rejects.toMatchObject({ code: 'DAEMON_UNREACHABLE' });
    expect(onDisk('a.bin')).toBe(true);
    expect((await offline.run('cleanup', { dryRun: true })).counts).toMatchObject({ expireWouldFree: 1 });
    expect(onDisk('a.bin')).toBe(true);
  });
});
