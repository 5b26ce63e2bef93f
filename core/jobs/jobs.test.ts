/**
 * The job framework and scrub on a real engine (real home, SQLite, chunk store, folder).
 * Placement and sync are the seam's stand-ins here: what they answer is set per test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { ApiService } from '../api/service.js';
import type { ApiEvent } from '../api/types.js';
import { blake3Hex } from '../chunking/hash.js';
import { seededBytes, tmpDir, writeSeededFile } from '../testing/index.js';
import { Jobs } from './index.js';
import type { ChunkPlacement, JobsSync, PlacementView } from './seam.js';

let dir: string;
let engine: Engine;

beforeEach(() => {
  dir = tmpDir('canopy-jobs-');
  engine = Engine.init(path.join(dir, 'home'), { name: 'here' });
  engine.config.jobs.scrubRate = 0;
});
afterEach(async () => {
  await engine.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function storeChunks(n: number, seed = 'c'): Promise<{ hash: string; data: Buffer }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const data = seededBytes(`${seed}${i}`, 10_000 + i);
    const hash = blake3Hex(data);
    await engine.store.put(hash, data);
    out.push({ hash, data });
  }
  return out;
}

function corrupt(hash: string): void {
  const file = engine.store.chunkPath(hash);
  const bytes = fs.readFileSync(file);
  bytes[0] = (bytes[0] as number) ^ 0xff;
  fs.writeFileSync(file, bytes);
}

/** A sync stand-in that "fetches" from a set of known chunks, as a holder would send them. */
function fakeSync(known: Map<string, Buffer>): JobsSync & { asked: string[]; dropped: string[] } {
  const asked: string[] = [];
  const dropped: string[] = [];
  return {
    asked, dropped,
    async fetchChunks(hashes) {
      asked.push(...hashes);
      const failed = [];
      let fetched = 0;
      for (const h of hashes) {
        const data = known.get(h);
        if (data) {
          await engine.store.put(h, data);
          fetched += 1;
        } else failed.push({ hash: h, reason: 'no connected device has it' });
      }
      return { fetched, failed };
    },
    announceDropped(hashes) {
      dropped.push(...hashes);
    },
    async confirmHolder() {
      return true;
    },
    // Like a device that does not know the question: no answers (cleanup falls back to confirmHolder).
    async askHolders() {
      return new Map<string, boolean>();
    },
  };
}

function viewOf(chunks: ChunkPlacement[], live: string[]): PlacementView {
  return {
    localDeviceId: engine.identity.deviceId,
    chunks: () => chunks,
    forChunk: (h) => chunks.find((c) => c.hash === h) ?? null,
    liveDevices: () => live,
  };
}

describe('scrub', () => {
  it('finds every corrupt or missing chunk, quarantines it and fetches it again', async () => {
    const chunks = await storeChunks(8);
    const bad = [chunks[1], chunks[4], chunks[6]].map((c) => c!.hash);
    corrupt(bad[0]!);
    corrupt(bad[1]!);
    fs.rmSync(engine.store.chunkPath(bad[2]!));
    const sync = fakeSync(new Map(chunks.map((c) => [c.hash, c.data])));
    const jobs = new Jobs(engine, { sync });
    const report = await jobs.run('scrub');
    expect(report).toMatchObject({ job: 'scrub', ok: true, dryRun: false });
    expect(report.counts).toMatchObject({ checked: 8, corrupt: 2, missing: 1, refetched: 3, unhealed: 0 });
    expect(sync.asked.sort()).toEqual([...bad].sort());
    for (const c of chunks) expect((await engine.store.get(c.hash)).equals(c.data)).toBe(true);
    expect(fs.readdirSync(path.join(engine.store.root, 'quarantine'))).toHaveLength(2);
    // a second scrub finds nothing
    expect((await jobs.run('scrub')).counts).toMatchObject({ checked: 8, corrupt: 0, missing: 0 });
  });

  it('a chunk dropped on purpose while the scrub runs (cleanup, eviction) is not reported bad nor fetched back', async () => {
    const chunks = await storeChunks(4);
    const sync = fakeSync(new Map(chunks.map((c) => [c.hash, c.data])));
    const jobs = new Jobs(engine, { sync });
    engine.config.jobs.scrubRate = 50_000; // ~0.2 s per chunk: the drop lands while the first one is paced
    const dropped = [...chunks].sort((a, b) => (a.hash < b.hash ? -1 : 1))[2]!.hash;
    jobs.once('progress', () => void engine.store.delete(dropped));
    const report = await jobs.run('scrub');
    expect(report.counts).toMatchObject({ checked: 3, corrupt: 0, missing: 0, refetched: 0 });
    expect(sync.asked).toEqual([]);
    expect(engine.store.has(dropped)).toBe(false);
  });

  it('a dry run counts without quarantining or fetching', async () => {
    const chunks = await storeChunks(3);
    corrupt(chunks[0]!.hash);
    const sync = fakeSync(new Map());
    const report = await new Jobs(engine, { sync }).run('scrub', { dryRun: true });
    expect(report.counts).toMatchObject({ checked: 3, corrupt: 1, refetched: 0 });
    expect(sync.asked).toEqual([]);
    expect(engine.store.usage().quarantined).toBe(0);
  });

  it('heals from the working copy when a file there still holds the chunk', async () => {
    const folder = path.join(dir, 'files');
    writeSeededFile(path.join(folder, 'a.bin'), 3_000_000, 'wc');
    engine.folders.add({ path: folder, id: 'docs' });
    await engine.scan('docs');
    const hash = engine.db.prepare('SELECT chunk FROM version_chunks ORDER BY idx LIMIT 1').pluck().get() as string;
    const size = engine.db.prepare('SELECT size FROM version_chunks WHERE chunk = ?').pluck().get(hash) as number;
    const data = fs.readFileSync(path.join(folder, 'a.bin')).subarray(0, size);
    await engine.store.put(hash, data);
    corrupt(hash);
    const sync = fakeSync(new Map());
    const report = await new Jobs(engine, { sync }).run('scrub');
    expect(report.counts).toMatchObject({ corrupt: 1, healedLocally: 1, refetched: 0, unhealed: 0 });
    expect(sync.asked).toEqual([]);
    expect((await engine.store.get(hash)).equals(data)).toBe(true);
  });

  it('says which chunks it could not heal, announces them dropped, and the report is not ok', async () => {
    const chunks = await storeChunks(2);
    corrupt(chunks[0]!.hash);
    const sync = fakeSync(new Map());
    const report = await new Jobs(engine, { sync }).run('scrub');
    expect(report.ok).toBe(false);
    expect(report.counts).toMatchObject({ corrupt: 1, unhealed: 1 });
    expect(report.message).toContain(chunks[0]!.hash.slice(0, 12));
    expect(sync.dropped).toEqual([chunks[0]!.hash]);
  });

  it('without a daemon it quarantines and says the chunk waits for one', async () => {
    const chunks = await storeChunks(2);
    corrupt(chunks[1]!.hash);
    const report = await new Jobs(engine).run('scrub');
    expect(report.counts).toMatchObject({ corrupt: 1, unhealed: 1 });
    expect(report.message).toMatch(/no daemon is running/);
    expect(engine.store.has(chunks[1]!.hash)).toBe(false);
  });
});

describe('cleanup', () => {
  it('drops surplus copies once the designated holders prove they hold them, announces the drops, and keeps what it cannot confirm', async () => {
    const chunks = await storeChunks(3, 'cl');
    const me = engine.identity.deviceId;
    const view = viewOf(chunks.map((c) => ({ hash: c.hash, size: c.data.length, priority: 'normal' as const, factor: 2, minimum: 2, designated: ['x', 'y'], holders: [me, 'x', 'y'], shortfall: 0 })), [me, 'x', 'y']);
    const sync = fakeSync(new Map());
    const unprovable = chunks[1]!.hash;
    const asked: string[] = [];
    sync.confirmHolder = async (device, hash) => {
      asked.push(`${device}:${hash}`);
      return !(device === 'y' && hash === unprovable);
    };
    const jobs = new Jobs(engine, { placement: () => view, sync });
    const dry = await jobs.run('cleanup', { dryRun: true });
    expect(dry.counts).toMatchObject({ wouldDrop: 3, dropped: 0 });
    expect(asked).toEqual([]);
    const report = await jobs.run('cleanup');
    expect(report.counts).toMatchObject({ wouldDrop: 3, dropped: 2, unconfirmed: 1 });
    expect(engine.store.has(unprovable)).toBe(true);
    for (const c of chunks) if (c.hash !== unprovable) expect(engine.store.has(c.hash)).toBe(false);
    expect(sync.dropped.sort()).toEqual(chunks.map((c) => c.hash).filter((h) => h !== unprovable).sort());
    // Both designated holders were asked about each dropped chunk.
    for (const c of chunks) if (c.hash !== unprovable) expect(asked).toEqual(expect.arrayContaining([`x:${c.hash}`, `y:${c.hash}`]));
  });

  it('confirms with the holders\' answers to the cheap question, moving chunks only for a holder that does not answer', async () => {
    const chunks = await storeChunks(5, 'q');
    const me = engine.identity.deviceId;
    const hashes = chunks.map((c) => c.hash);
    const [claimedByBoth, deniedByY, silentY, nowMine, silentRefuses] = hashes as [string, string, string, string, string];
    let designatedHere = false;
    const placements = chunks.map((c) => ({ hash: c.hash, size: c.data.length, priority: 'normal' as const, factor: 2, minimum: 2, designated: ['x', 'y'], holders: [me, 'x', 'y'], shortfall: 0 }));
    const view = viewOf(placements, [me, 'x', 'y']);
    // Between the plan and the drop, placement moves `nowMine` here: the re-check keeps it.
    view.forChunk = (h) => {
      const p = placements.find((c) => c.hash === h) ?? null;
      return p && h === nowMine && designatedHere ? { ...p, designated: [me, 'x'] } : p;
    };
    const sync = fakeSync(new Map());
    const questions: { device: string; hashes: string[] }[] = [];
    sync.askHolders = async (device, asked) => {
      questions.push({ device, hashes: [...asked] });
      designatedHere = true;
      if (device === 'x') return new Map(asked.map((h) => [h, true]));
      // y answers about some chunks only (as if its answer for the rest never came).
      return new Map(asked.filter((h) => h !== silentY && h !== silentRefuses).map((h) => [h, h !== deniedByY]));
    };
    const transfers: string[] = [];
    sync.confirmHolder = async (device, hash) => {
      transfers.push(`${device}:${hash}`);
      return hash !== silentRefuses;
    };
    const report = await new Jobs(engine, { placement: () => view, sync }).run('cleanup');
    // One question per designated holder for the whole round, naming every chunk to drop.
    expect(questions.map((q) => q.device).sort()).toEqual(['x', 'y']);
    for (const q of questions) expect([...q.hashes].sort()).toEqual([...hashes].sort());
    // Bytes moved only where y stayed silent and a claim was still needed; a "no" is never retried the costly way.
    expect(transfers.sort()).toEqual([`y:${silentRefuses}`, `y:${silentY}`].sort());
    expect(engine.store.has(claimedByBoth) || engine.store.has(silentY)).toBe(false);
    for (const kept of [deniedByY, nowMine, silentRefuses]) expect(engine.store.has(kept)).toBe(true);
    expect(report.counts).toMatchObject({ wouldDrop: 5, dropped: 2, unconfirmed: 3, confirmTransfers: 2, holderClaims: 3 });
    expect(sync.dropped.sort()).toEqual([claimedByBoth, silentY].sort());
  });

  it('never drops a chunk this device is designated for, nor one a working-copy file holds', async () => {
    const folder = path.join(dir, 'files');
    writeSeededFile(path.join(folder, 'a.bin'), 600_000, 'cl-wc');
    engine.folders.add({ path: folder, id: 'docs' });
    await engine.scan('docs');
    const wcHash = engine.db.prepare('SELECT chunk FROM version_chunks LIMIT 1').pluck().get() as string;
    await engine.store.put(wcHash, fs.readFileSync(path.join(folder, 'a.bin')).subarray(0, engine.db.prepare('SELECT size FROM version_chunks WHERE chunk = ?').pluck().get(wcHash) as number));
    const [mine] = await storeChunks(1, 'cl-d');
    const me = engine.identity.deviceId;
    const placement = (hash: string, size: number, designated: string[]) => ({ hash, size, priority: 'normal' as const, factor: 2, minimum: 2, designated, holders: [me, 'x', 'y'], shortfall: 0 });
    const view = viewOf([placement(wcHash, 1, ['x', 'y']), placement(mine!.hash, mine!.data.length, [me, 'x'])], [me, 'x', 'y']);
    const report = await new Jobs(engine, { placement: () => view, sync: fakeSync(new Map()) }).run('cleanup');
    expect(report.counts).toMatchObject({ candidates: 0, dropped: 0 });
    expect(engine.store.has(wcHash) && engine.store.has(mine!.hash)).toBe(true);
  });
});

describe('job runner', () => {
  it('runs one scrub at a time: a second ask joins the running one', async () => {
    await storeChunks(4);
    const jobs = new Jobs(engine);
    const [a, b] = await Promise.all([jobs.run('scrub'), jobs.run('scrub')]);
    expect(a).toBe(b);
    expect(engine.db.prepare("SELECT count(*) FROM job_runs WHERE job = 'scrub'").pluck().get()).toBe(1);
  });

  it('keeps the last 200 runs of each job', async () => {
    const jobs = new Jobs(engine);
    for (let i = 0; i < 205; i++) await jobs.run('scrub', { dryRun: i % 2 === 0 });
    expect(engine.db.prepare("SELECT count(*) FROM job_runs WHERE job = 'scrub'").pluck().get()).toBe(200);
    expect(jobs.latestReports()).toEqual([expect.objectContaining({ job: 'scrub', dryRun: true })]);
  });

  it('stop cancels a running job, and its stored report says so', async () => {
    await storeChunks(5);
    engine.config.jobs.scrubRate = 10_000; // ~1 s per chunk: still running when stopped
    const jobs = new Jobs(engine);
    const running = jobs.run('scrub');
    await new Promise((r) => setTimeout(r, 100));
    await jobs.stop();
    const report = await running;
    expect(report).toMatchObject({ ok: false, message: expect.stringMatching(/cancelled/) });
    expect(engine.db.prepare("SELECT status FROM job_runs WHERE job = 'scrub'").pluck().get()).toBe('cancelled');
    await expect(jobs.run('scrub')).rejects.toMatchObject({ code: 'IO_ERROR' });
  });

  it('repair and cleanup need the daemon, audit needs placement: clear errors, stored as failed runs', async () => {
    const jobs = new Jobs(engine, { placement: () => viewOf([], [engine.identity.deviceId]) });
    await expect(jobs.run('repair')).resolves.toMatchObject({ ok: true }); // nothing to do needs nobody
    const c = { hash: 'a'.repeat(64), size: 10, priority: 'normal' as const, factor: 1, minimum: 1, designated: [engine.identity.deviceId], holders: [], shortfall: 0 };
    const withWork = new Jobs(engine, { placement: () => viewOf([c], [engine.identity.deviceId]) });
    await expect(withWork.run('repair')).rejects.toMatchObject({ code: 'DAEMON_UNREACHABLE' });
    await expect(withWork.run('repair', { dryRun: true })).resolves.toMatchObject({ counts: { queued: 1 } });
    await expect(new Jobs(engine).run('audit')).rejects.toMatchObject({ code: 'NOT_IMPLEMENTED' });
  });

  it('through the API: job.run emits progress and the report, job.reports keeps the last of each, status carries health', async () => {
    await storeChunks(3);
    const me = engine.identity.deviceId;
    const chunk = (hash: string, holders: string[]): ChunkPlacement => ({ hash, size: 100, priority: 'normal', factor: 2, minimum: 2, designated: [me, 'other'], holders, shortfall: 0 });
    const view = viewOf([chunk('1'.repeat(64), [me, 'other']), chunk('2'.repeat(64), ['other']), chunk('3'.repeat(64), [me, 'other', 'third'])], [me, 'other', 'third']);
    const jobs = new Jobs(engine, { placement: () => view });
    const api = new ApiService(engine, { jobs });
    const events: ApiEvent[] = [];
    api.subscribe((e) => events.push(e));
    expect((await api.call('status', {})).health).toBeNull();
    const report = await api.call('job.run', { job: 'audit' });
    expect(report.counts).toMatchObject({ chunks: 3, underReplicated: 1, overReplicated: 1, repairQueue: 1 });
    await api.call('job.run', { job: 'scrub' });
    expect(events.some((e) => e.type === 'job.progress' && e.job === 'scrub' && e.done === 3 && e.total === 3)).toBe(true);
    expect(events.filter((e) => e.type === 'job.report').map((e) => e.type === 'job.report' && e.report.job)).toEqual(['audit', 'scrub']);
    const health = (await api.call('status', {})).health;
    expect(health).toMatchObject({ chunks: 3, underReplicated: 1, overReplicated: 1, repairQueue: 1 });
    expect(health?.devices.find((d) => d.id === me)).toMatchObject({ heldBytes: 200, quotaBytes: engine.store.usage().maxBytes });
    expect((await api.call('job.reports', {})).map((r) => r.job)).toEqual(['audit', 'scrub']);
    // a fresh process (no running jobs) still shows the stored health
    expect(new Jobs(engine).health()).toMatchObject({ chunks: 3 });
    await expect(api.call('job.run', { job: 'gc' as 'audit' })).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });
});
