/**
 * The materializer against real folders and real databases. Device A is a real Engine whose
 * scanner records and signs versions; they reach device B (another real Engine) by copying
 * A's version rows into B's database (what ingest will do: versions, parents, chunk lists,
 * heads), and B fetches chunk bytes from A's working copy through A's LocalChunks.
 * After every apply, a scan of B must find nothing to record: that is the promise that the
 * fast-path rows match what was written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { blake3Hex } from '../chunking/hash.js';
import { TEMP_PREFIX } from '../scan/ignore.js';
import type { ChunkRef, NewLocalVersion, Version } from '../versions/index.js';
import { seededBytes, sleep, tmpDir, writeSeededFile } from '../testing/index.js';
import { LocalChunks } from './local-chunks.js';
import { Materializer, ownedAsCreated, type MaterializeReport } from './materialize.js';
import { GroupFlush, syncFilesystem } from './flush.js';

const FOLDER = 'docs';

interface Device {
  engine: Engine;
  root: string;
  local: LocalChunks;
  mat: Materializer;
  problems: { path: string; code: string }[];
  /** The syncfs calls its group flush made (Linux only). */
  syncs: string[];
  conflicts: string[];
}

let base: string;
let A: Device;
let B: Device;

function device(name: string): Device {
  const root = path.join(base, `${name}-files`);
  fs.mkdirSync(root);
  const engine = Engine.init(path.join(base, `${name}-home`), { name });
  engine.folders.add({ path: root, id: FOLDER });
  const folderRoot = (id: string) => engine.folders.get(id)?.local?.path;
  const local = new LocalChunks(engine.db, engine.store, folderRoot);
  const d: Device = { engine, root, local, problems: [], conflicts: [], syncs: [], mat: undefined as unknown as Materializer };
  d.mat = new Materializer({
    db: engine.db, versions: engine.versions, store: engine.store, local, scanner: engine.scanner, folderRoot,
    onProblem: (p) => d.problems.push({ path: p.path, code: p.code }),
    onConflict: (c) => d.conflicts.push(c.path),
    flush: new GroupFlush({ syncFilesystem: process.platform === 'linux' ? (dir) => (d.syncs.push(dir), syncFilesystem(dir)) : undefined }),
  });
  return d;
}

beforeEach(() => {
  base = tmpDir('canopy-materialize-');
  A = device('a');
  B = device('b');
});
afterEach(async () => {
  await A.engine.close();
  await B.engine.close();
  fs.rmSync(base, { recursive: true, force: true });
});

/** What ingest will do: copy versions B lacks (with parents and chunk lists) and move B's heads. */
function pull(from: Device, to: Device): void {
  const src = from.engine.db;
  const dst = to.engine.db;
  const has = dst.prepare('SELECT 1 FROM versions WHERE id = ?').pluck();
  const isParent = dst.prepare('SELECT 1 FROM version_parents WHERE parent_id = ? LIMIT 1').pluck();
  dst.transaction(() => {
    for (const d of src.prepare('SELECT * FROM devices WHERE is_local = 1').all() as Record<string, unknown>[]) {
      dst.prepare(`INSERT OR IGNORE INTO devices (id, public_key, name, labels, trust, is_local, added_at) VALUES (?, ?, ?, ?, ?, 0, ?)`)
        .run(d.id, d.public_key, d.name, d.labels, d.trust, d.added_at);
    }
    const fresh = (src.prepare('SELECT * FROM versions ORDER BY origin_seq').all() as Record<string, unknown>[]).filter((v) => !has.get(v.id));
    for (const v of fresh) {
      dst.prepare(`INSERT INTO versions (id, folder_id, path, kind, size, mtime_ms, mode, target, vector, author, origin_seq, created_at, state)
        VALUES (@id, @folder_id, @path, @kind, @size, @mtime_ms, @mode, @target, @vector, @author, @origin_seq, @created_at, @state)`).run(v);
      for (const p of src.prepare('SELECT * FROM version_parents WHERE version_id = ?').all(v.id)) dst.prepare('INSERT INTO version_parents VALUES (@version_id, @parent_id)').run(p);
      for (const c of src.prepare('SELECT * FROM version_chunks WHERE version_id = ?').all(v.id)) dst.prepare('INSERT INTO version_chunks VALUES (@version_id, @idx, @chunk, @offset, @size)').run(c);
    }
    for (const v of fresh) {
      for (const p of src.prepare('SELECT parent_id FROM version_parents WHERE version_id = ?').pluck().all(v.id)) {
        dst.prepare('DELETE FROM heads WHERE folder_id = ? AND path = ? AND version_id = ?').run(v.folder_id, v.path, p);
      }
      if (!isParent.get(v.id)) dst.prepare('INSERT OR IGNORE INTO heads (folder_id, path, version_id) VALUES (?, ?, ?)').run(v.folder_id, v.path, v.id);
    }
  })();
}

/** A fetch that serves A's chunks from A's working copy (or store) and counts what it served. */
function fetcherFrom(d: Device) {
  const f = Object.assign(async (hash: string, size: number) => {
    f.calls.push(hash);
    const data = await d.local.read(hash);
    if (!data) throw new Error(`device ${d.engine.config.device.name} has no chunk ${hash.slice(0, 12)}`);
    expect(data.byteLength).toBe(size);
    return data;
  }, { calls: [] as string[] });
  return f;
}
const noFetch = async (hash: string): Promise<Buffer> => {
  throw new Error(`fetch must not be called (asked for ${hash.slice(0, 12)})`);
};

async function scanA(): Promise<void> {
  const [r] = await A.engine.scan(FOLDER);
  expect(r!.problems).toEqual([]);
}
/** Syncs A's state to B and materializes it. */
async function sync(fetch: (hash: string, size: number) => Promise<Buffer> = fetcherFrom(A)): Promise<MaterializeReport> {
  await scanA();
  pull(A, B);
  return B.mat.apply(FOLDER, undefined, fetch);
}
/** B's scanner must see exactly what B's rows say: no new versions, nothing changed. */
async function expectBClean(): Promise<void> {
  const before = B.engine.db.prepare('SELECT count(*) FROM versions').pluck().get();
  const [r] = await B.engine.scan(FOLDER);
  expect(r).toMatchObject({ added: 0, changed: 0, removed: 0, adopted: 0, hashedFiles: 0, problems: [] });
  expect(B.engine.db.prepare('SELECT count(*) FROM versions').pluck().get()).toBe(before);
  expect(B.mat.plan(FOLDER).actions).toEqual([]);
}
const a = (p: string) => path.join(A.root, p);
const b = (p: string) => path.join(B.root, p);
const headA = (p: string) => A.engine.versions.preferredHead(FOLDER, p)!;
const rowB = (p: string) => B.engine.db.prepare('SELECT * FROM local_files WHERE folder_id = ? AND path = ?').get(FOLDER, p) as { kind: string; version_id: string } | undefined;
const syncProblems = () => B.engine.db.prepare('SELECT path, code, origin FROM sync_problems ORDER BY path').all() as { path: string; code: string; origin: string }[];
function tempFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.name.startsWith(TEMP_PREFIX)) out.push(e.name);
  return out;
}
/** Records a version on A directly (for shapes A's scanner would never produce: hostile paths). */
function recordOnA(change: Omit<NewLocalVersion, 'folderId'>): Version {
  return A.engine.db.transaction(() => A.engine.versions.recordLocal({ folderId: FOLDER, ...change }))();
}

describe('materializer', () => {
  it('writes new files (empty, 1 byte, multi-chunk, nested, unicode) whole, and the scanner then sees no change', async () => {
    fs.writeFileSync(a('empty.txt'), '');
    fs.writeFileSync(a('one.bin'), 'x');
    writeSeededFile(a('deep/er/big.bin'), 5 * 1024 * 1024 + 123, 'big');
    fs.writeFileSync(a('café ☕ 日本.txt'), 'unicode');
    expect(B.mat.pending(FOLDER)).toEqual({ files: 0, bytes: 0 });
    await scanA();
    pull(A, B);
    const plan = B.mat.plan(FOLDER);
    expect(plan.actions.map((x) => [x.path, x.action])).toEqual([
      ['café ☕ 日本.txt', 'write'], ['deep', 'mkdir'], ['deep/er', 'mkdir'], ['deep/er/big.bin', 'write'], ['empty.txt', 'write'], ['one.bin', 'write']]);
    expect(plan.bytesTotal).toBe(5 * 1024 * 1024 + 123 + 1 + 7);
    expect(B.mat.pending(FOLDER)).toEqual({ files: 3, bytes: plan.bytesTotal });

    const fetch = fetcherFrom(A);
    const r = await B.mat.apply(FOLDER, undefined, fetch);
    expect(r).toMatchObject({ written: 4, dirs: 2, deleted: 0, symlinks: 0, skipped: 0, conflicts: 0, problems: [], bytesFetched: plan.bytesTotal, bytesCopiedLocally: 0 });
    expect(fetch.calls.length).toBe(plan.missingChunks.length);
    for (const p of ['empty.txt', 'one.bin', 'deep/er/big.bin', 'café ☕ 日本.txt']) {
      expect(fs.readFileSync(b(p)).equals(fs.readFileSync(a(p))), p).toBe(true);
      expect(rowB(p)?.version_id).toBe(headA(p).id);
    }
    expect(B.mat.pending(FOLDER)).toEqual({ files: 0, bytes: 0 });
    expect(tempFiles(B.root)).toEqual([]);
    expect(B.engine.store.usage().chunks).toBe(0); // the working copy holds them; nothing stored twice
    await expectBClean();
  });

  it('tells which paths may need a pass: not those the working copy shows, nor unknown ones; a branch does', async () => {
    fs.writeFileSync(a('x.txt'), 'x');
    fs.writeFileSync(a('y.txt'), 'y');
    await sync();
    const asked = ['nope.txt', 'x.txt', 'y.txt'];
    expect(B.mat.mayNeedWork(FOLDER, asked)).toEqual([]);
    expect(B.mat.candidates(FOLDER)).toEqual([]);
    fs.writeFileSync(a('y.txt'), 'y, edited');
    await scanA();
    pull(A, B);
    expect(B.mat.mayNeedWork(FOLDER, asked)).toEqual(['y.txt']);
    expect(B.mat.candidates(FOLDER)).toEqual(['y.txt']);
    // Edited on both sides: B shows its own head, but a second head makes it a candidate.
    fs.writeFileSync(b('x.txt'), 'x, edited on b');
    await B.engine.scan(FOLDER);
    fs.writeFileSync(a('x.txt'), 'x, edited on a');
    await scanA();
    pull(A, B);
    expect(B.mat.mayNeedWork(FOLDER, asked)).toEqual(['x.txt', 'y.txt']);
    expect(B.mat.candidates(FOLDER)).toEqual(['x.txt', 'y.txt']);
    expect(B.mat.plan(FOLDER, asked).actions.map((x) => x.path).every((p) => B.mat.mayNeedWork(FOLDER, asked).includes(p))).toBe(true);
  });

  it('fetches a chunk the plan found nowhere here without looking again, and copies it if it arrived when the fetch fails', async () => {
    fs.writeFileSync(a('late.txt'), 'arrives by another way');
    await scanA();
    pull(A, B);
    const data = fs.readFileSync(a('late.txt'));
    const asked: string[] = [];
    // The chunk lands in B's store while the fetch is under way, and the fetch itself fails.
    const r = await B.mat.apply(FOLDER, undefined, async (hash) => {
      asked.push(hash);
      await B.engine.store.put(hash, data);
      throw new Error('peer went offline');
    });
    expect(asked).toEqual(B.engine.versions.chunks(headA('late.txt').id).map((c) => c.hash));
    expect(r).toMatchObject({ written: 1, problems: [], bytesFetched: 0, bytesCopiedLocally: data.length });
    expect(fs.readFileSync(b('late.txt')).equals(data)).toBe(true);
  });

  it('applies an edit by fetching only the changed chunks and copying the rest from the old file', async () => {
    writeSeededFile(a('big.bin'), 8 * 1024 * 1024, 'v1');
    await sync();
    const fd = fs.openSync(a('big.bin'), 'r+');
    fs.writeSync(fd, seededBytes('patch', 4096), 0, 4096, 5 * 1024 * 1024);
    fs.closeSync(fd);
    const fetch = fetcherFrom(A);
    const r = await sync(fetch);
    expect(r).toMatchObject({ written: 1, conflicts: 0, problems: [] });
    expect(r.bytesFetched).toBeGreaterThan(0);
    expect(r.bytesFetched).toBeLessThan(8 * 1024 * 1024);
    expect(r.bytesFetched + r.bytesCopiedLocally).toBe(8 * 1024 * 1024);
    expect(fs.readFileSync(b('big.bin')).equals(fs.readFileSync(a('big.bin')))).toBe(true);
    await expectBClean();
  });

  it('copies the old content\'s chunks into the store before overwriting, so the old version stays readable', async () => {
    fs.writeFileSync(a('notes.txt'), 'version one');
    await sync();
    const v1 = headA('notes.txt');
    const oldChunks = B.engine.versions.chunks(v1.id);
    fs.writeFileSync(a('notes.txt'), 'version two, different');
    await sync();
    expect(fs.readFileSync(b('notes.txt'), 'utf8')).toBe('version two, different');
    for (const c of oldChunks) {
      expect(B.engine.store.has(c.hash)).toBe(true);
      expect((await B.local.read(c.hash))?.toString()).toBe('version one');
    }
    await expectBClean();
  });

  it('does not overwrite or delete when the store cannot take the old content, and reports why', async () => {
    fs.writeFileSync(a('keep.txt'), 'precious old bytes');
    fs.writeFileSync(a('gone.txt'), 'also precious');
    await sync();
    B.engine.store.setLimits({ maxBytes: 4, minFreeBytes: 0 });
    fs.writeFileSync(a('keep.txt'), 'new bytes');
    fs.rmSync(a('gone.txt'));
    const r = await sync();
    expect(r).toMatchObject({ written: 0, deleted: 0 });
    expect(r.problems.map((p) => [p.path, p.code]).sort()).toEqual([['gone.txt', 'QUOTA_EXCEEDED'], ['keep.txt', 'QUOTA_EXCEEDED']]);
    expect(fs.readFileSync(b('keep.txt'), 'utf8')).toBe('precious old bytes');
    expect(fs.readFileSync(b('gone.txt'), 'utf8')).toBe('also precious');
    expect(tempFiles(B.root)).toEqual([]);
    expect(syncProblems().map((p) => p.code)).toEqual(['QUOTA_EXCEEDED', 'QUOTA_EXCEEDED']);
    // Room again: the next apply finishes the job and clears the problems.
    B.engine.store.setLimits({ maxBytes: 1e9, minFreeBytes: 0 });
    const again = await B.mat.apply(FOLDER, undefined, fetcherFrom(A));
    expect(again).toMatchObject({ written: 1, deleted: 1, problems: [] });
    expect(syncProblems()).toEqual([]);
    await expectBClean();
  });

  it('deletes files, then empty directories deepest first, and keeps the deleted bytes in the store', async () => {
    fs.mkdirSync(a('d1/d2'), { recursive: true });
    fs.writeFileSync(a('d1/d2/f.txt'), 'bye');
    fs.writeFileSync(a('top.txt'), 'stays');
    await sync();
    expect(fs.readFileSync(b('d1/d2/f.txt'), 'utf8')).toBe('bye');
    const gone = B.engine.versions.chunks(headA('d1/d2/f.txt').id);
    fs.rmSync(a('d1'), { recursive: true });
    const r = await sync();
    expect(r).toMatchObject({ deleted: 3, written: 0, conflicts: 0, problems: [] });
    expect(fs.existsSync(b('d1'))).toBe(false);
    expect(fs.readFileSync(b('top.txt'), 'utf8')).toBe('stays');
    expect(rowB('d1/d2/f.txt')).toMatchObject({ kind: 'tombstone', version_id: headA('d1/d2/f.txt').id });
    for (const c of gone) expect(B.engine.store.has(c.hash)).toBe(true);
    await expectBClean();
  });

  it('keeps a directory deleted elsewhere when it still has local entries, and says so', async () => {
    fs.mkdirSync(a('shared'));
    await sync();
    fs.writeFileSync(b('shared/mine.txt'), 'only on B, not scanned yet');
    fs.rmdirSync(a('shared'));
    const r = await sync();
    expect(r.problems).toEqual([expect.objectContaining({ path: 'shared', code: 'DIR_NOT_EMPTY' })]);
    expect(fs.readFileSync(b('shared/mine.txt'), 'utf8')).toBe('only on B, not scanned yet');
  });

  it('applies a rename from the old file\'s bytes: nothing fetched, nothing stored twice', async () => {
    writeSeededFile(a('old-name.bin'), 3 * 1024 * 1024, 'moved');
    await sync();
    fs.mkdirSync(a('moved'));
    fs.renameSync(a('old-name.bin'), a('moved/new-name.bin'));
    await scanA();
    pull(A, B);
    const plan = B.mat.plan(FOLDER);
    expect(plan.actions.map((x) => [x.path, x.action])).toEqual([['moved', 'mkdir'], ['moved/new-name.bin', 'write'], ['old-name.bin', 'delete']]);
    expect(plan.missingChunks).toEqual([]);
    expect(B.mat.pending(FOLDER)).toEqual({ files: 0, bytes: 0 });
    const r = await B.mat.apply(FOLDER, undefined, noFetch);
    expect(r).toMatchObject({ written: 1, deleted: 1, dirs: 1, bytesFetched: 0, bytesCopiedLocally: 3 * 1024 * 1024, problems: [], conflicts: 0 });
    expect(fs.existsSync(b('old-name.bin'))).toBe(false);
    expect(fs.readFileSync(b('moved/new-name.bin')).equals(fs.readFileSync(a('moved/new-name.bin')))).toBe(true);
    expect(B.engine.store.usage().chunks).toBe(0);
    await expectBClean();
  });

  it('creates and removes directories with their modes, and symlinks without following them', async () => {
    fs.mkdirSync(a('private/inner'), { recursive: true });
    fs.chmodSync(a('private'), 0o700);
    fs.chmodSync(a('private/inner'), 0o750);
    fs.mkdirSync(a('ro'));
    fs.writeFileSync(a('ro/f.txt'), 'inside a read-only dir');
    fs.chmodSync(a('ro'), 0o555);
    fs.writeFileSync(a('target.txt'), 'pointed at');
    fs.symlinkSync('target.txt', a('link'));
    fs.symlinkSync('/nonexistent/abs', a('dangling'));
    const r = await sync();
    expect(r).toMatchObject({ dirs: 3, symlinks: 2, written: 2, problems: [] });
    expect(fs.statSync(b('private')).mode & 0o7777).toBe(0o700);
    expect(fs.statSync(b('private/inner')).mode & 0o7777).toBe(0o750);
    expect(fs.statSync(b('ro')).mode & 0o7777).toBe(0o555);
    expect(fs.readlinkSync(b('link'))).toBe('target.txt');
    expect(fs.readlinkSync(b('dangling'))).toBe('/nonexistent/abs');
    await expectBClean();

    // A retargets the link and replaces the dangling link with a file; B must replace the
    // links themselves, never write through them.
    fs.rmSync(a('link'));
    fs.symlinkSync('private', a('link'));
    fs.rmSync(a('dangling'));
    fs.writeFileSync(a('dangling'), 'now a file');
    fs.rmSync(a('private'), { recursive: true });
    const r2 = await sync();
    expect(r2).toMatchObject({ symlinks: 1, written: 1, deleted: 2, problems: [] });
    expect(fs.readlinkSync(b('link'))).toBe('private');
    expect(fs.lstatSync(b('dangling')).isFile()).toBe(true);
    expect(fs.existsSync('/nonexistent/abs')).toBe(false);
    expect(fs.existsSync(b('private'))).toBe(false);
    await expectBClean();
  });

  it('replaces a directory with a file once the directory\'s entries are deleted in the same pass', async () => {
    fs.mkdirSync(a('x'));
    fs.writeFileSync(a('x/inner.txt'), 'inner');
    await sync();
    fs.rmSync(a('x'), { recursive: true });
    fs.writeFileSync(a('x'), 'x is a file now');
    const r = await sync();
    expect(r).toMatchObject({ written: 1, deleted: 1, problems: [], conflicts: 0 });
    expect(fs.readFileSync(b('x'), 'utf8')).toBe('x is a file now');
    await expectBClean();
  });

  it('keeps mode and mtime, and drops setuid/setgid bits from another device', async () => {
    fs.writeFileSync(a('script.sh'), '#!/bin/sh\necho hi\n');
    fs.chmodSync(a('script.sh'), 0o750);
    fs.writeFileSync(a('secret.txt'), 'shh');
    fs.chmodSync(a('secret.txt'), 0o600);
    fs.writeFileSync(a('suid'), 'binary');
    fs.chmodSync(a('suid'), 0o4755);
    const old = new Date('2001-02-03T04:05:06.789Z');
    fs.utimesSync(a('secret.txt'), old, old);
    await sync();
    expect(fs.statSync(b('script.sh')).mode & 0o7777).toBe(0o750);
    expect(fs.statSync(b('secret.txt')).mode & 0o7777).toBe(0o600);
    expect(fs.statSync(b('suid')).mode & 0o7777).toBe(0o755);
    expect(Math.abs(fs.statSync(b('secret.txt')).mtimeMs - old.getTime())).toBeLessThan(1);
    expect(Math.abs(fs.statSync(b('script.sh')).mtimeMs - headA('script.sh').mtimeMs)).toBeLessThan(1);
    await expectBClean();
  });

  it('never clobbers a local edit the scanner has not seen: skips it as a conflict, and the next scan makes it a branch', async () => {
    fs.writeFileSync(a('notes.txt'), 'v1');
    await sync();
    fs.writeFileSync(b('notes.txt'), 'edited on B, not scanned yet');
    fs.writeFileSync(a('notes.txt'), 'v2 from A');
    fs.writeFileSync(a('fresh.txt'), 'A made this');
    fs.writeFileSync(b('fresh.txt'), 'B made this too, not scanned');
    const r = await sync();
    expect(r).toMatchObject({ conflicts: 2, written: 0, problems: [] });
    expect(B.conflicts.sort()).toEqual(['fresh.txt', 'notes.txt']);
    expect(B.problems).toEqual([]);
    expect(syncProblems()).toEqual([]);
    expect(fs.readFileSync(b('notes.txt'), 'utf8')).toBe('edited on B, not scanned yet');
    expect(fs.readFileSync(b('fresh.txt'), 'utf8')).toBe('B made this too, not scanned');
    expect(tempFiles(B.root)).toEqual([]);

    await B.engine.scan(FOLDER);
    expect(B.engine.versions.heads(FOLDER, 'notes.txt')).toHaveLength(2);
    expect(B.engine.versions.heads(FOLDER, 'fresh.txt')).toHaveLength(2);
    const local = B.engine.versions.heads(FOLDER, 'notes.txt').find((v) => v.author === B.engine.identity.deviceId)!;
    const localChunks = B.engine.versions.chunks(local.id);
    // The working copy then shows the preferred head; B's branch stays readable from the store.
    const r2 = await B.mat.apply(FOLDER, undefined, fetcherFrom(A));
    expect(r2).toMatchObject({ written: 2, conflicts: 0 });
    expect(fs.readFileSync(b('notes.txt'), 'utf8')).toBe('v2 from A');
    for (const c of localChunks) expect((await B.local.read(c.hash))?.toString()).toBe('edited on B, not scanned yet');
    await expectBClean();
  });

  it('does not delete a file edited locally (delete against edit is a conflict), nor one deleted and recreated', async () => {
    fs.writeFileSync(a('doomed.txt'), 'v1');
    await sync();
    fs.writeFileSync(b('doomed.txt'), 'B still needs this');
    fs.rmSync(a('doomed.txt'));
    const r = await sync();
    expect(r).toMatchObject({ conflicts: 1, deleted: 0 });
    expect(fs.readFileSync(b('doomed.txt'), 'utf8')).toBe('B still needs this');
  });

  it('recovers from a crash between rename and row: the file is left alone, and the next scan adopts it', async () => {
    fs.writeFileSync(a('landed.txt'), 'written before the crash');
    await sync();
    B.engine.db.prepare('DELETE FROM local_files WHERE path = ?').run('landed.txt'); // as if the row never landed
    const r = await B.mat.apply(FOLDER, undefined, noFetch);
    expect(r).toMatchObject({ conflicts: 1, written: 0 });
    const [s] = await B.engine.scan(FOLDER);
    expect(s).toMatchObject({ adopted: 1, added: 0 });
    expect(rowB('landed.txt')?.version_id).toBe(headA('landed.txt').id);
    expect(B.engine.versions.heads(FOLDER, 'landed.txt')).toHaveLength(1);
    await expectBClean();
  });

  it('treats a file deleted on both sides as done', async () => {
    fs.writeFileSync(a('both.txt'), 'v1');
    await sync();
    fs.rmSync(b('both.txt'));
    fs.rmSync(a('both.txt'));
    const r = await sync();
    expect(r).toMatchObject({ conflicts: 0, deleted: 0, problems: [] });
    expect(rowB('both.txt')).toMatchObject({ kind: 'tombstone', version_id: headA('both.txt').id });
    await expectBClean();
  });

  it('leaves no file and no temp file when a fetched chunk is corrupt, and keeps the old content', async () => {
    writeSeededFile(a('new.bin'), 2 * 1024 * 1024, 'n');
    fs.writeFileSync(a('old.txt'), 'old content');
    await sync();
    fs.writeFileSync(a('old.txt'), 'new content that will arrive corrupt');
    writeSeededFile(a('new2.bin'), 2 * 1024 * 1024, 'n2');
    const good = fetcherFrom(A);
    const evil = async (hash: string, size: number) => {
      const data = Buffer.from(await good(hash, size));
      const i = data.length >> 1;
      data.writeUInt8(data.readUInt8(i) ^ 0xff, i);
      return data;
    };
    const r = await sync(evil);
    expect(r).toMatchObject({ written: 0, bytesFetched: 0 });
    expect(r.problems.map((p) => [p.path, p.code]).sort()).toEqual([['new2.bin', 'CORRUPT_CHUNK'], ['old.txt', 'CORRUPT_CHUNK']]);
    expect(fs.existsSync(b('new2.bin'))).toBe(false);
    expect(fs.readFileSync(b('old.txt'), 'utf8')).toBe('old content');
    expect(tempFiles(B.root)).toEqual([]);
    expect(syncProblems().map((p) => [p.path, p.code])).toEqual([['new2.bin', 'CORRUPT_CHUNK'], ['old.txt', 'CORRUPT_CHUNK']]);
    // A wrong size is refused the same way, and a fetch that fails is a problem, not a crash.
    const short = await B.mat.apply(FOLDER, undefined, async (h, s) => (await good(h, s)).subarray(1));
    expect(short.problems.map((p) => p.code)).toEqual(['CORRUPT_CHUNK', 'CORRUPT_CHUNK']);
    const failing = await B.mat.apply(FOLDER, undefined, async () => Promise.reject(new Error('peer went away')));
    expect(failing.problems.map((p) => p.message).join()).toMatch(/peer went away/);
    expect(tempFiles(B.root)).toEqual([]);
    await B.mat.apply(FOLDER, undefined, good);
    expect(syncProblems()).toEqual([]);
    await expectBClean();
  });

  it('trusts a fetcher that says it verified (no second hash), and counts files it could not complete', async () => {
    writeSeededFile(a('x.bin'), 300 * 1024, 'x');
    fs.writeFileSync(a('y.txt'), 'y');
    await scanA();
    pull(A, B);
    const good = fetcherFrom(A);
    // A fetcher that claims to verify but lies is believed on the hash (that is its promise),
    // but never on the size; and what it cannot deliver is reported as incomplete.
    const lying = Object.assign(async (h: string, s: number) => (await good(h, s)).subarray(1), { verified: true });
    const r1 = await B.mat.apply(FOLDER, undefined, lying);
    expect(r1).toMatchObject({ written: 0, incomplete: 2 });
    expect(r1.problems.map((p) => p.code)).toEqual(['CORRUPT_CHUNK', 'CORRUPT_CHUNK']);
    const r2 = await B.mat.apply(FOLDER, undefined, Object.assign(good, { verified: true }));
    expect(r2).toMatchObject({ written: 2, incomplete: 0, problems: [] });
    expect(fs.readFileSync(b('x.bin')).equals(fs.readFileSync(a('x.bin')))).toBe(true);
    await expectBClean();
  });

  it('writes many small files in many directories, and a file larger than the flush interval, byte for byte', async () => {
    for (let d = 0; d < 12; d++) {
      fs.mkdirSync(a(`many/d${d}`), { recursive: true });
      for (let f = 0; f < 25; f++) fs.writeFileSync(a(`many/d${d}/f${f}.bin`), seededBytes(`s${d}/${f}`, 1 + (((d * 25 + f) * 37) % 9000)));
    }
    writeSeededFile(a('large.bin'), 70 * 1024 * 1024 + 17, 'large');
    const r = await sync();
    expect(r).toMatchObject({ written: 301, conflicts: 0, problems: [], incomplete: 0 });
    for (let d = 0; d < 12; d++) {
      for (let f = 0; f < 25; f++) expect(fs.readFileSync(b(`many/d${d}/f${f}.bin`)).equals(fs.readFileSync(a(`many/d${d}/f${f}.bin`)))).toBe(true);
    }
    expect(fs.readFileSync(b('large.bin')).equals(fs.readFileSync(a('large.bin')))).toBe(true);
    expect(tempFiles(B.root)).toEqual([]);
    // The 300 small files were made durable in groups (one syncfs each), the large one by its own fsync.
    if (process.platform === 'linux') expect(B.syncs.length).toBeGreaterThan(0);
    if (process.platform === 'linux') expect(B.syncs.length).toBeLessThan(100);
    await expectBClean();
  });

  it('plans a big pass in slices, writing the first slice\'s files while the rest are planned; a rename across slices still reuses the old file\'s bytes', async () => {
    writeSeededFile(a('zz-old.bin'), 3 * 1024 * 1024, 'moved');
    await sync();
    for (let d = 0; d < 13; d++) {
      fs.mkdirSync(a(`bulk/d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) fs.writeFileSync(a(`bulk/d${d}/f${f}.txt`), `${d}/${f}`);
    }
    fs.mkdirSync(a('aaa'));
    fs.renameSync(a('zz-old.bin'), a('aaa/moved.bin'));
    await scanA();
    pull(A, B);
    const landed = () => fs.readdirSync(b('bulk'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
    const slices: { left: number; landedBefore: number }[] = [];
    const fetch = fetcherFrom(A);
    // 1,300 files, 14 directories, the rename's new path and the old one's delete: 1,317 paths.
    const r = await B.mat.applyPlanned(FOLDER, undefined, (_plan, left) => {
      slices.push({ left, landedBefore: fs.existsSync(b('bulk')) ? landed() : 0 });
      return fetch;
    });
    expect(slices.map((x) => x.left)).toEqual([805, 293, 0]);
    expect(slices[0]!.landedBefore).toBe(0);
    expect(slices[2]!.landedBefore).toBeGreaterThan(0);
    expect(r).toMatchObject({ written: 1301, deleted: 1, conflicts: 0, problems: [], incomplete: 0, bytesCopiedLocally: 3 * 1024 * 1024 });
    expect(fetch.calls).toHaveLength(1300);
    expect(landed()).toBe(1300);
    expect(fs.existsSync(b('zz-old.bin'))).toBe(false);
    expect(fs.readFileSync(b('aaa/moved.bin')).equals(fs.readFileSync(a('aaa/moved.bin')))).toBe(true);
    await expectBClean();
  });

  it('refuses hostile paths and records each in sync_problems while the rest syncs', async () => {
    fs.writeFileSync(a('good.txt'), 'payload');
    await scanA();
    const payload = headA('good.txt');
    const chunks: ChunkRef[] = A.engine.versions.chunks(payload.id);
    const file = { kind: 'file' as const, size: payload.size, mtimeMs: payload.mtimeMs, mode: 0o644, chunks };
    const hostile = ['../escape.txt', '/abs.txt', 'a/../../x.txt', 'sub/.canopy-tmp-evil', 'back\\slash', 'dir//double', `${'n'.repeat(256)}.txt`];
    for (const p of hostile) recordOnA({ path: p, ...file });
    recordOnA({ path: 'torn.txt', ...file, size: payload.size + 1 }); // chunks do not tile the size
    const r = await sync();
    expect(r.written).toBe(1);
    expect(fs.readFileSync(b('good.txt'), 'utf8')).toBe('payload');
    const problems = syncProblems();
    expect(problems.map((p) => p.path).sort()).toEqual([...hostile, 'torn.txt'].sort());
    for (const p of problems) {
      expect(p.code).toBe(p.path === 'torn.txt' ? 'BAD_VERSION' : 'BAD_PATH');
      expect(p.origin).toBe(A.engine.identity.deviceId);
    }
    expect(fs.existsSync(path.join(base, 'escape.txt'))).toBe(false);
    expect(fs.existsSync(path.join(base, 'x.txt'))).toBe(false);
    expect(fs.existsSync('/abs.txt')).toBe(false);
    expect(r.skipped).toBe(hostile.length + 1);
  });

  it('never writes through a symlinked parent, whether a peer planted it or it was there', async () => {
    const outside = path.join(base, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(a('good.txt'), 'root:x:0:0');
    fs.symlinkSync(outside, a('evil'));
    await scanA();
    const chunks = A.engine.versions.chunks(headA('good.txt').id);
    recordOnA({ path: 'evil/passwd', kind: 'file', size: 10, mtimeMs: Date.now(), mode: 0o644, chunks });
    // B has its own (scanned) symlink to the outside; a peer's file under it must not land there.
    fs.symlinkSync(outside, b('mine'));
    await B.engine.scan(FOLDER);
    recordOnA({ path: 'mine/file', kind: 'file', size: 10, mtimeMs: Date.now(), mode: 0o644, chunks });
    const r = await sync();
    expect(fs.readlinkSync(b('evil'))).toBe(outside);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(r.problems.map((p) => [p.path, p.code]).sort()).toEqual([['evil/passwd', 'BAD_PATH'], ['mine/file', 'BAD_PATH']]);
    expect(syncProblems().map((p) => p.path)).toEqual(['evil/passwd', 'mine/file']);
    expect(fs.readFileSync(b('good.txt'), 'utf8')).toBe('root:x:0:0');
  });

  it('leaves paths the local .canopyignore excludes alone', async () => {
    fs.writeFileSync(b('.canopyignore'), 'build/\n*.log\n');
    await B.engine.scan(FOLDER);
    fs.mkdirSync(a('build'));
    fs.writeFileSync(a('build/out.o'), 'obj');
    fs.writeFileSync(a('debug.log'), 'log');
    fs.writeFileSync(a('src.c'), 'int main;');
    const r = await sync();
    expect(r).toMatchObject({ written: 1, skipped: 3, problems: [] });
    expect(fs.existsSync(b('build'))).toBe(false);
    expect(fs.existsSync(b('debug.log'))).toBe(false);
  });

  it('runs under the folder lock: a scan asked for during an apply waits for it', async () => {
    writeSeededFile(a('slow.bin'), 2 * 1024 * 1024, 'slow');
    await scanA();
    pull(A, B);
    const events: string[] = [];
    const good = fetcherFrom(A);
    const slow = async (h: string, s: number) => {
      await sleep(150);
      return good(h, s);
    };
    const applying = B.mat.apply(FOLDER, undefined, slow).then((r) => (events.push('apply done'), r));
    await sleep(20);
    const scanning = B.engine.scan(FOLDER).then((r) => (events.push('scan done'), r));
    const [r, [s]] = await Promise.all([applying, scanning]);
    expect(events).toEqual(['apply done', 'scan done']);
    expect(r.written).toBe(1);
    expect(s).toMatchObject({ added: 0, changed: 0, hashedFiles: 0 });
  });

  it.runIf(process.getuid?.() === 0)('as root, gives new entries the owner of the folder they land in', async () => {
    fs.chownSync(B.root, 4242, 4343);
    fs.mkdirSync(a('d'));
    fs.writeFileSync(a('d/f.txt'), 'owned');
    fs.symlinkSync('d/f.txt', a('l'));
    await sync();
    for (const p of ['d', 'd/f.txt', 'l']) expect([fs.lstatSync(b(p)).uid, fs.lstatSync(b(p)).gid], p).toEqual([4242, 4343]);
  });

  it('chowns a new entry unless it is created with the owner it must have (own ids, or the group of a setgid directory)', () => {
    const uid = process.geteuid!();
    const gid = process.getegid!();
    const other = gid + 1;
    expect(ownedAsCreated({ uid, gid }, { mode: 0o40755, gid: other })).toBe(true);
    expect(ownedAsCreated({ uid, gid: other }, { mode: 0o42755, gid: other })).toBe(true);
    // Not setgid: a new entry gets this process's group, not the directory's.
    expect(ownedAsCreated({ uid, gid: other }, { mode: 0o40755, gid: other })).toBe(false);
    expect(ownedAsCreated({ uid: uid + 1, gid }, { mode: 0o40755, gid })).toBe(false);
    expect(ownedAsCreated({ uid, gid }, undefined)).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)('as root, in a folder of its own whose group is setgid, gives new entries root and that group', async () => {
    fs.chownSync(B.root, 0, 4343);
    fs.chmodSync(B.root, 0o2755);
    fs.writeFileSync(a('f.txt'), 'owned');
    fs.symlinkSync('f.txt', a('l'));
    await sync();
    for (const p of ['f.txt', 'l']) expect([fs.lstatSync(b(p)).uid, fs.lstatSync(b(p)).gid], p).toEqual([0, 4343]);
  });

  it('materializes a file over 4 GiB chunk by chunk, keeping it sparse and fetching each distinct chunk once', async () => {
    const size = 4 * 1024 ** 3 + 3 * 1024 * 1024 + 17;
    const fd = fs.openSync(a('huge.img'), 'w');
    fs.ftruncateSync(fd, size);
    const tail = seededBytes('tail', 1024 * 1024);
    fs.writeSync(fd, tail, 0, tail.length, size - tail.length);
    fs.closeSync(fd);
    await scanA();
    pull(A, B);
    const chunks = B.engine.versions.chunks(headA('huge.img').id);
    expect(chunks.at(-1)!.offset).toBeGreaterThan(2 ** 32);
    const fetch = fetcherFrom(A);
    const r = await B.mat.apply(FOLDER, undefined, fetch);
    expect(r).toMatchObject({ written: 1, problems: [] });
    expect(fetch.calls.length).toBe(new Set(chunks.map((c) => c.hash)).size);
    const st = fs.statSync(b('huge.img'));
    expect(st.size).toBe(size);
    expect(st.blocks * 512).toBeLessThan(64 * 1024 * 1024);
    const got = Buffer.alloc(tail.length);
    const bfd = fs.openSync(b('huge.img'), 'r');
    fs.readSync(bfd, got, 0, got.length, size - tail.length);
    // the first chunk past the 4 GiB mark, read back and checked against its name
    const across = chunks.find((c) => c.offset + c.size > 2 ** 32)!;
    const buf = Buffer.alloc(across.size);
    fs.readSync(bfd, buf, 0, buf.length, across.offset);
    fs.closeSync(bfd);
    expect(got.equals(tail)).toBe(true);
    expect(blake3Hex(buf)).toBe(across.hash);
    await expectBClean();
  }, 240_000);
});
