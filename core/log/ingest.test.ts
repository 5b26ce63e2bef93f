/**
 * Tests of receiving change logs, device to device: every device is a real SQLite file with
 * real ed25519 keys; entries are written by the real ChangeLog/Versions/Folders on one
 * database and ingested into another, as peers would exchange them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openDatabase, type Db } from '../db/index.js';
import { identityFromSeed, sign, type Identity } from '../identity/index.js';
import { ChangeLog } from './index.js';
import { canonicalBytes, type Json } from './canonical.js';
import { Versions, type NewLocalVersion, type Version } from '../versions/index.js';
import { Folders } from '../folders/index.js';
import { blake3Hex } from '../chunking/hash.js';
import { tmpDir } from '../testing/index.js';
import { ENTRY_LIMITS } from './entry-schema.js';
import { LogIngest, deviceEntry, parseEntry, remotePathProblem, type IngestResult, type RemoteEntry } from './ingest.js';

const dirs: string[] = [];
const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

interface Device {
  name: string;
  identity: Identity;
  id: string;
  db: Db;
  log: ChangeLog;
  versions: Versions;
  folders: Folders;
  ingest: LogIngest;
  home: string;
}

let seedCounter = 1;

/** How many `?` parameters an SQL text takes (none of our statements quote a question mark). */
function paramCount(sql: string): number {
  return (sql.match(/\?/g) ?? []).length;
}

function makeDevice(name: string, seed = seedCounter++): Device {
  const home = tmpDir(`canopy-ingest-${name}-`);
  dirs.push(home);
  const db = openDatabase(path.join(home, 'canopy.db'));
  open.push(db);
  const identity = identityFromSeed(Buffer.alloc(32, seed));
  // What Engine.registerLocalDevice does.
  db.prepare(`INSERT INTO devices (id, public_key, name, labels, trust, is_local, added_at) VALUES (?, ?, ?, '{}', 'owner', 1, ?)`)
    .run(identity.deviceId, identity.publicKey, name, Date.now());
  const log = new ChangeLog(db, identity);
  return {
    name, identity, id: identity.deviceId, db, log, home,
    versions: new Versions(db, log, identity.deviceId, () => 2),
    folders: new Folders(db, log, identity.deviceId, home),
    ingest: new LogIngest(db, identity.deviceId),
  };
}

/** Pairing gave `dev` the row of `other` (no log entry involved). */
function know(dev: Device, ...others: Device[]): void {
  for (const other of others) {
    dev.db.prepare(`INSERT OR IGNORE INTO devices (id, public_key, name, labels, trust, is_local, added_at) VALUES (?, ?, ?, '{}', 'owner', 0, 1)`)
      .run(other.id, other.identity.publicKey, other.name);
  }
}

/** `author` announces `target` to the mesh with a signed 'device' entry (as pairing would). */
function announce(author: Device, target: Device, op: 'add' | 'update' | 'remove' = 'add', trust: 'owner' | 'storage-only' = 'owner', labels: Record<string, string> = {}): void {
  author.db.transaction(() => {
    author.log.append('device', (seq) => deviceEntry({ op, publicKey: target.identity.publicKey, name: target.name, labels, trust }, author.id, seq));
    author.db.prepare(`INSERT OR IGNORE INTO devices (id, public_key, name, labels, trust, is_local, added_at) VALUES (?, ?, ?, '{}', ?, 0, 1)`)
      .run(target.id, target.identity.publicKey, target.name, trust);
  })();
}

function shareFolder(dev: Device, id = 'docs'): void {
  const dir = tmpDir('canopy-ingest-folder-');
  dirs.push(dir);
  dev.folders.add({ path: dir, id, label: 'Docs' });
}

function hashOf(s: string): string {
  return blake3Hex(Buffer.from(s));
}

function fileChange(p: string, content: string, parentIds?: string[]): NewLocalVersion {
  const half = Math.ceil(content.length / 2);
  const parts = content.length > 1 ? [content.slice(0, half), content.slice(half)] : [content];
  let offset = 0;
  const chunks = parts.map((part) => {
    const c = { hash: hashOf(part), offset, size: Buffer.byteLength(part) };
    offset += c.size;
    return c;
  });
  return { folderId: 'docs', path: p, kind: 'file', size: offset, mtimeMs: 1_700_000_000_123.5, mode: 0o644, chunks, parentIds };
}

function write(dev: Device, p: string, content: string, parentIds?: string[]): Version {
  return dev.db.transaction(() => dev.versions.recordLocal(fileChange(p, content, parentIds)))();
}

function writeBatch(dev: Device, changes: NewLocalVersion[]): Version[] {
  return dev.db.transaction(() => dev.versions.recordLocalBatch(changes))();
}

/** Every entry `from` holds that `to` lacks, until nothing more applies. */
function sync(from: Device, to: Device, maxBytes = Number.MAX_SAFE_INTEGER): IngestResult[] {
  const results: IngestResult[] = [];
  for (let round = 0; round < 1000; round++) {
    const entries = from.ingest.entriesAfter(to.ingest.vector(), maxBytes);
    if (entries.length === 0) break;
    const r = to.ingest.ingest(entries);
    expect(r.hostile, JSON.stringify(r.rejected)).toBe(false);
    results.push(r);
    if (r.applied === 0) break;
  }
  return results;
}

function allEntries(dev: Device, origin?: string): RemoteEntry[] {
  const sql = origin
    ? 'SELECT origin, seq, kind, body, signature FROM change_log WHERE origin = ? ORDER BY seq'
    : 'SELECT origin, seq, kind, body, signature FROM change_log ORDER BY origin, seq';
  return (origin ? dev.db.prepare(sql).all(origin) : dev.db.prepare(sql).all()) as RemoteEntry[];
}

/** The DAG as every device must see it (state is local: confirmation is counted per device). */
function snapshot(db: Db) {
  const versions = (db.prepare('SELECT * FROM versions ORDER BY id').all() as Record<string, unknown>[]).map((v) => {
    const { state: _state, vector, ...rest } = v;
    return { ...rest, vector: JSON.parse(vector as string) as unknown };
  });
  return {
    versions,
    parents: db.prepare('SELECT * FROM version_parents ORDER BY version_id, parent_id').all(),
    chunks: db.prepare('SELECT * FROM version_chunks ORDER BY version_id, idx').all(),
    heads: db.prepare('SELECT * FROM heads ORDER BY folder_id, path, version_id').all(),
  };
}

function headIds(dev: Device, p: string): string[] {
  return (dev.db.prepare('SELECT version_id FROM heads WHERE folder_id = ? AND path = ? ORDER BY version_id').pluck().all('docs', p) as string[]);
}

function count(db: Db, table: string): number {
  return db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
}

/** Builds and signs an entry by hand, for the shapes a real device never writes. */
function forged(by: Identity, body: Json | Buffer, over: Partial<RemoteEntry> = {}): RemoteEntry {
  const bytes = Buffer.isBuffer(body) ? body : canonicalBytes(body);
  return { origin: by.deviceId, seq: 1, kind: 'versions', body: bytes, signature: sign(by, bytes), ...over };
}

function versionBody(by: Identity, seq: number, versions: Json[]): Json {
  return { t: 'versions', author: by.deviceId, seq, createdAt: 1, versions };
}

function goodVersion(over: Record<string, Json> = {}): Json {
  return { folder: 'docs', path: 'a.txt', kind: 'file', size: 1, mtimeMs: 1, mode: 420, chunks: [[hashOf('x'), 1]], parents: [], vector: {}, ...over };
}

// ---------------------------------------------------------------------------------------

describe('LogIngest between devices', () => {
  it('round trip A→B gives B the same versions, parents, chunks and heads, and B can build on them', () => {
    const a = makeDevice('a');
    const b = makeDevice('b');
    know(a, b);
    know(b, a);
    shareFolder(a);
    const v1 = write(a, 'notes/todo.txt', 'first draft');
    write(a, 'notes/todo.txt', 'second draft');
    writeBatch(a, [
      fileChange('photos/cat.jpg', 'meow meow meow'),
      { folderId: 'docs', path: 'link', kind: 'symlink', size: 0, mtimeMs: 5, mode: 0o777, target: 'notes/todo.txt', chunks: [] },
      { folderId: 'docs', path: 'notes', kind: 'dir', size: 0, mtimeMs: 5, mode: 0o755, chunks: [] },
    ]);
    a.db.transaction(() => a.versions.recordLocal({ folderId: 'docs', path: 'gone.txt', kind: 'tombstone', size: 0, mtimeMs: 9, mode: 0, chunks: [], parentIds: [v1.id] }))();

    const results = sync(a, b);
    const total = results.reduce((n, r) => n + r.applied, 0);
    expect(total).toBe(allEntries(a).length);
    expect(results.some((r) => r.foldersChanged)).toBe(true);
    expect(results.flatMap((r) => r.changed.map((c) => c.path)).sort()).toEqual(['gone.txt', 'link', 'notes', 'notes/todo.txt', 'photos/cat.jpg']);

    expect(snapshot(b.db)).toEqual(snapshot(a.db));
    expect(b.ingest.vector()).toEqual(a.ingest.vector());
    // Stored byte for byte, so B can relay them.
    expect(allEntries(b, a.id)).toEqual(allEntries(a, a.id));
    expect(b.db.prepare('SELECT id, label, data_class, priority, created_by FROM folders').all())
      .toEqual([{ id: 'docs', label: 'Docs', data_class: 'standard', priority: 'normal', created_by: a.id }]);
    expect(count(b.db, 'local_folders')).toBe(0);
    expect(b.versions.chunks(b.versions.preferredHead('docs', 'photos/cat.jpg')!.id)).toEqual(a.versions.chunks(a.versions.preferredHead('docs', 'photos/cat.jpg')!.id));

    // B edits on top of what it received; A receives B's version as the new single head.
    const bv = write(b, 'notes/todo.txt', 'edited on b');
    expect(bv.parents).toEqual(headIds(a, 'notes/todo.txt'));
    sync(b, a);
    expect(headIds(a, 'notes/todo.txt')).toEqual([bv.id]);
    expect(snapshot(a.db)).toEqual(snapshot(b.db));
  });

  it('relays: C gets A\'s entries through B without ever talking to A', () => {
    const a = makeDevice('a');
    const b = makeDevice('b');
    const c = makeDevice('c');
    know(a, b, c);
    know(b, a, c);
    know(c, a, b);
    shareFolder(a);
    write(a, 'x.txt', 'from a');
    sync(a, b);
    write(b, 'y.txt', 'from b');
    sync(b, c);
    expect(snapshot(c.db)).toEqual(snapshot(b.db));
    expect(allEntries(c)).toEqual(allEntries(b));
    expect(c.ingest.vector()).toEqual({ [a.id]: 2, [b.id]: 1 });
  });

  it('keeps entries of an unknown origin pending until the device add arrives (same batch or later)', () => {
    const a = makeDevice('a');
    const x = makeDevice('x');
    know(x, a);
    shareFolder(a);
    announce(a, x, 'add', 'owner', { site: 'home' });
    sync(a, x);
    write(x, 'from-x.txt', 'hello');
    write(x, 'from-x.txt', 'hello again');
    const fromX = allEntries(x, x.id);
    const fromA = allEntries(a, a.id);
    expect(fromX).toHaveLength(2);

    // Same batch, X's entries first.
    const d1 = makeDevice('d1');
    know(d1, a);
    const r1 = d1.ingest.ingest([...fromX, ...fromA]);
    expect(r1).toMatchObject({ applied: 4, deferred: 0, duplicates: 0, hostile: false, devicesChanged: true, foldersChanged: true, rejected: [] });
    expect(count(d1.db, 'pending_entries')).toBe(0);
    expect(d1.db.prepare('SELECT labels, trust, is_local, revoked_at FROM devices WHERE id = ?').get(x.id)).toEqual({ labels: '{"site":"home"}', trust: 'owner', is_local: 0, revoked_at: null });
    expect(snapshot(d1.db)).toEqual(snapshot(x.db));

    // Later batch.
    const d2 = makeDevice('d2');
    know(d2, a);
    const r2 = d2.ingest.ingest(fromX);
    expect(r2).toMatchObject({ applied: 0, deferred: 2, hostile: false, changed: [] });
    expect(count(d2.db, 'pending_entries')).toBe(2);
    expect(d2.ingest.vector()).toEqual({});
    const r3 = d2.ingest.ingest(fromA);
    expect(r3).toMatchObject({ applied: 4, deferred: 0, hostile: false, devicesChanged: true });
    expect(r3.changed).toEqual([{ folderId: 'docs', path: 'from-x.txt' }]);
    expect(count(d2.db, 'pending_entries')).toBe(0);
    expect(snapshot(d2.db)).toEqual(snapshot(x.db));
  });

  it('applies an entry parked before its origin was known once the origin is added by other means', () => {
    const a = makeDevice('a');
    const d = makeDevice('d');
    know(a, d);
    shareFolder(a);
    const r = d.ingest.ingest(allEntries(a));
    expect(r.deferred).toBe(1);
    know(d, a); // e.g. the pairing code wrote the row
    expect(d.ingest.ingest([])).toMatchObject({ applied: 1, foldersChanged: true });
  });

  it('waits for gaps in seq, and ignores duplicates', () => {
    const a = makeDevice('a');
    const b = makeDevice('b');
    know(b, a);
    shareFolder(a);
    for (let i = 0; i < 4; i++) write(a, `f${i}`, `content ${i}`);
    const e = allEntries(a); // seq 1..5
    expect(e.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5]);

    expect(b.ingest.ingest([e[4]!, e[3]!])).toMatchObject({ applied: 0, deferred: 2 });
    expect(b.ingest.ingest([e[2]!])).toMatchObject({ applied: 0, deferred: 1 });
    expect(b.ingest.vector()).toEqual({});
    expect(b.ingest.ingest([e[1]!, e[0]!])).toMatchObject({ applied: 5, deferred: 0, duplicates: 0 });
    expect(b.ingest.vector()).toEqual({ [a.id]: 5 });
    expect(count(b.db, 'pending_entries')).toBe(0);
    expect(snapshot(b.db)).toEqual(snapshot(a.db));

    const again = b.ingest.ingest([...e, e[0]!]);
    expect(again).toMatchObject({ applied: 0, duplicates: 6, deferred: 0, hostile: false, changed: [] });
    // Repeats inside one batch count once as applied, then as duplicates.
    const c = makeDevice('c');
    know(c, a);
    expect(c.ingest.ingest([e[0]!, e[0]!, e[1]!])).toMatchObject({ applied: 2, duplicates: 1 });
    expect(c.ingest.ingest([e[3]!, e[3]!])).toMatchObject({ applied: 0, duplicates: 1, deferred: 1 });
  });

  it('concurrent edits of one path give two heads on a third device; a merge leaves one', () => {
    const a = makeDevice('a');
    const b = makeDevice('b');
    const c = makeDevice('c');
    const d = makeDevice('d');
    for (const dev of [a, b, c, d]) know(dev, a, b, c, d);
    shareFolder(a);
    const base = write(a, 'plan.md', 'base');
    sync(a, b);
    sync(a, c);
    const vb = write(b, 'plan.md', 'edit on b');
    const vc = write(c, 'plan.md', 'edit on c');
    expect(vb.parents).toEqual([base.id]);
    expect(vc.parents).toEqual([base.id]);
    sync(b, d);
    sync(c, d);
    expect(headIds(d, 'plan.md')).toEqual([vb.id, vc.id].sort());

    sync(c, b);
    expect(headIds(b, 'plan.md')).toEqual([vb.id, vc.id].sort());
    const merged = write(b, 'plan.md', 'merged'); // parents default to every head
    expect(merged.parents).toEqual([vb.id, vc.id].sort());
    sync(b, d);
    expect(headIds(d, 'plan.md')).toEqual([merged.id]);
    expect(snapshot(d.db)).toEqual(snapshot(b.db));
  });

  it('a child arriving before its parent (from another origin) leaves only the child as head', () => {
    const a = makeDevice('a');
    const b = makeDevice('b');
    const c = makeDevice('c');
    for (const dev of [a, b, c]) know(dev, a, b, c);
    shareFolder(a);
    const parent = write(a, 'doc.txt', 'v1');
    sync(a, b);
    const child = write(b, 'doc.txt', 'v2');
    expect(child.parents).toEqual([parent.id]);

    expect(c.ingest.ingest(allEntries(b, b.id))).toMatchObject({ applied: 1 });
    expect(headIds(c, 'doc.txt')).toEqual([child.id]);
    expect(c.ingest.ingest(allEntries(a, a.id))).toMatchObject({ applied: 2 });
    expect(headIds(c, 'doc.txt')).toEqual([child.id]);
    expect(snapshot(c.db)).toEqual(snapshot(b.db));
  });

  describe('hostile entries are rejected, flag the peer, and change nothing', () => {
    // 'ha' (seed 101) is the origin; 'hb' a fresh receiver that knows it.
    function expectHostile(entries: RemoteEntry[], reason: RegExp): void {
      const a = makeDevice('ha', 101);
      const b = makeDevice('hb', 102);
      know(b, a);
      const before = snapshot(b.db);
      const r = b.ingest.ingest(entries);
      expect(r.hostile, `${String(reason)}: ${JSON.stringify(r).slice(0, 300)}`).toBe(true);
      expect(r.applied).toBe(0);
      expect(r.rejected.length).toBe(entries.length);
      expect(r.rejected[0]!.reason).toMatch(reason);
      expect(count(b.db, 'change_log')).toBe(0);
      expect(count(b.db, 'pending_entries')).toBe(0);
      expect(count(b.db, 'folders')).toBe(0);
      expect(snapshot(b.db)).toEqual(before);
    }

    function realEntry(): RemoteEntry {
      const dev = makeDevice('ha', 101);
      shareFolder(dev);
      return allEntries(dev)[0]!;
    }

    it('a tampered body', () => {
      const e = realEntry();
      const body = Buffer.from(e.body.toString('utf8').replace('"Docs"', '"Evil"'));
      expectHostile([{ ...e, body }], /signature/);
    });

    it('a signature by another key, or of the wrong length', () => {
      const e = realEntry();
      const mallory = identityFromSeed(Buffer.alloc(32, 66));
      expectHostile([{ ...e, signature: sign(mallory, e.body) }], /signature/);
      expectHostile([{ ...e, signature: e.signature.subarray(0, 63) }], /signature/);
    });

    it('author or seq that do not match the envelope, or a kind that does not match the body', () => {
      const ai = identityFromSeed(Buffer.alloc(32, 101));
      const bi = identityFromSeed(Buffer.alloc(32, 102));
      expectHostile([forged(ai, { ...(versionBody(ai, 2, [goodVersion()]) as object) })], /seq/);
      expectHostile([forged(ai, { ...(versionBody(bi, 1, [goodVersion()]) as object) })], /author/);
      expectHostile([forged(ai, versionBody(ai, 1, [goodVersion()]), { kind: 'folder' })], /kind/);
      expectHostile([forged(ai, versionBody(ai, 1, [goodVersion()]), { kind: 'pin' })], /kind/);
    });

    it('garbage, non-canonical JSON or a body of the wrong shape, even when properly signed', () => {
      const ai = identityFromSeed(Buffer.alloc(32, 101));
      expectHostile([forged(ai, Buffer.from('{"t":"versions",'))], /not JSON/);
      expectHostile([forged(ai, Buffer.from([0xff, 0xfe, 0x00]))], /not JSON/);
      expectHostile([forged(ai, Buffer.from(JSON.stringify(versionBody(ai, 1, [goodVersion()]), null, 1)))], /canonical/);
      expectHostile([forged(ai, Buffer.from('[1,2,3]'))], /schema/);
      expectHostile([forged(ai, Buffer.from('1e999'))], /schema/);
      expectHostile([forged(ai, Buffer.from('['.repeat(200_000) + ']'.repeat(200_000)))], /schema|JSON/);
    });

    it('fields out of bounds', () => {
      const ai = identityFromSeed(Buffer.alloc(32, 101));
      const cases: [Json, RegExp][] = [
        [versionBody(ai, 1, [goodVersion({ path: 'p'.repeat(ENTRY_LIMITS.pathChars + 1) })]), /path/],
        [versionBody(ai, 1, [goodVersion({ size: -1 })]), /size/],
        [versionBody(ai, 1, [goodVersion({ size: 1.5 })]), /size/],
        [versionBody(ai, 1, [goodVersion({ size: 2 ** 60 })]), /size/],
        [versionBody(ai, 1, [goodVersion({ mode: 0o10000 })]), /mode/],
        [versionBody(ai, 1, [goodVersion({ kind: 'fifo' })]), /kind/],
        [versionBody(ai, 1, [goodVersion({ folder: '../etc' })]), /folder/],
        [versionBody(ai, 1, [goodVersion({ chunks: [['ABC', 1]] })]), /chunks/],
        [versionBody(ai, 1, [goodVersion({ chunks: [[hashOf('x').toUpperCase(), 1]] })]), /chunks/],
        [versionBody(ai, 1, [goodVersion({ chunks: [[hashOf('x'), -4]] })]), /chunks/],
        [versionBody(ai, 1, [goodVersion({ parents: ['b'.repeat(32), 'a'.repeat(32)] })]), /sorted/],
        [versionBody(ai, 1, [goodVersion({ parents: ['xyz'] })]), /parents/],
        [versionBody(ai, 1, [goodVersion({ vector: JSON.parse('{"__proto__":1}') as Json })]), /vector/],
        [versionBody(ai, 1, [goodVersion({ vector: { [ai.deviceId]: -1 } })]), /vector/],
        [versionBody(ai, 1, [goodVersion({ target: 't'.repeat(ENTRY_LIMITS.targetChars + 1) })]), /target/],
        [versionBody(ai, 1, []), /versions/],
        [versionBody(ai, 1, Array.from({ length: ENTRY_LIMITS.versionsPerEntry + 1 }, () => goodVersion())), /versions/],
        [versionBody(ai, 1, [goodVersion({ chunks: Array.from({ length: ENTRY_LIMITS.chunksPerVersion + 1 }, () => [hashOf('x'), 1]) })]), /chunks/],
        [{ t: 'folder', op: 'add', id: 'docs', label: 'x', dataClass: 'secret', priority: 'normal', author: ai.deviceId, seq: 1, createdAt: 1 }, /dataClass/],
        [{ t: 'folder', op: 'drop', id: 'docs', label: 'x', dataClass: 'public', priority: 'normal', author: ai.deviceId, seq: 1, createdAt: 1 }, /op/],
      ];
      for (const [body, reason] of cases) {
        const kind = (body as { t: string }).t;
        expectHostile([forged(ai, body, { kind })], reason);
      }
      // A body over the limit is refused before it is even parsed.
      const huge = Buffer.alloc(ENTRY_LIMITS.bodyBytes + 1, 0x20);
      expectHostile([forged(ai, huge)], /larger/);
    });

    it('device entries whose id is not their key, or with bad labels', () => {
      const ai = identityFromSeed(Buffer.alloc(32, 101));
      const other = identityFromSeed(Buffer.alloc(32, 103));
      const dev = (over: Record<string, Json>): Json => ({
        t: 'device', op: 'add', id: other.deviceId, publicKey: other.publicKey.toString('hex'), name: 'laptop', labels: {},
        trust: 'owner', author: ai.deviceId, seq: 1, createdAt: 1, ...over,
      });
      expectHostile([forged(ai, dev({ id: ai.deviceId }), { kind: 'device' })], /publicKey/);
      expectHostile([forged(ai, dev({ op: 'update', id: ai.deviceId }), { kind: 'device' })], /publicKey/);
      expectHostile([forged(ai, dev({ labels: { 'bad key': 'x' } }), { kind: 'device' })], /labels/);
      expectHostile([forged(ai, dev({ labels: JSON.parse('{"__proto__":"x"}') as Json }), { kind: 'device' })], /labels/);
      expectHostile([forged(ai, dev({ name: 'a\nb' }), { kind: 'device' })], /name/);
      expectHostile([forged(ai, dev({ trust: 'admin' }), { kind: 'device' })], /trust/);
    });

    it('malformed envelopes', () => {
      const e = realEntry();
      expectHostile([{ ...e, origin: 'not-a-device' }], /origin/);
      expectHostile([{ ...e, seq: 0 }], /seq/);
      expectHostile([{ ...e, seq: 1.5 }], /seq/);
      expectHostile([{ ...e, body: e.body.toString('utf8') as unknown as Buffer }], /body/);
      expectHostile([null as unknown as RemoteEntry], /object/);
    });

    it('the good entry still applies after forgeries of the same seq', () => {
      const e = realEntry();
      const a = makeDevice('ha', 101);
      const b = makeDevice('hb', 102);
      know(b, a);
      const forgedOne = { ...e, body: Buffer.from(e.body.toString('utf8').replace('"Docs"', '"Evil"')) };
      expect(b.ingest.ingest([forgedOne, e])).toMatchObject({ applied: 1, hostile: true });
      expect(b.db.prepare('SELECT label FROM folders').pluck().all()).toEqual(['Docs']);
      // A different body for a seq we hold: forged (hostile) or, if validly signed, the origin reused a seq.
      expect(b.ingest.ingest([forgedOne])).toMatchObject({ hostile: true, duplicates: 0 });
      const ai = identityFromSeed(Buffer.alloc(32, 101));
      const reused = forged(ai, { t: 'folder', op: 'add', id: 'other', label: 'x', dataClass: 'public', priority: 'low', author: ai.deviceId, seq: 1, createdAt: 5 }, { kind: 'folder' });
      const r = b.ingest.ingest([reused]);
      expect(r).toMatchObject({ hostile: false, applied: 0 });
      expect(r.rejected[0]!.reason).toMatch(/different entry/);
    });

    it('a forgery parked for an unknown origin is dropped (not blamed on a later peer) and the real entry still applies', () => {
      const x = makeDevice('x', 104);
      shareFolder(x);
      const real = allEntries(x)[0]!;
      const fake = { ...real, body: Buffer.from(real.body.toString('utf8').replace('"Docs"', '"Evil"')) };
      const a2 = makeDevice('a2', 105);
      const d = makeDevice('d', 106);
      know(d, a2);
      expect(d.ingest.ingest([fake])).toMatchObject({ deferred: 1, hostile: false });
      announce(a2, x);
      const r = d.ingest.ingest(allEntries(a2));
      expect(r).toMatchObject({ applied: 1, hostile: false, deferred: 0 });
      expect(r.rejected).toEqual([{ origin: x.id, seq: 1, reason: 'signature does not verify' }]);
      expect(count(d.db, 'pending_entries')).toBe(0);
      expect(d.ingest.ingest([real])).toMatchObject({ applied: 1, hostile: false });
      expect(d.db.prepare('SELECT label FROM folders').pluck().all()).toEqual(['Docs']);
    });
  });

  it('rejects versions with hostile paths into sync_problems while the entry\'s other versions apply', () => {
    const a = makeDevice('a');
    const b = makeDevice('b');
    know(b, a);
    shareFolder(a);
    const bad = ['../x', '/etc/passwd', 'a//b', 'a/./b', 'a\\b', 'nul\0x', 'dir/', '', `${'é'.repeat(128)}/x`, 'a/..'];
    const made = writeBatch(a, [fileChange('ok/one.txt', 'fine'), ...bad.map((p) => fileChange(p, `bad ${p}`)), fileChange('ok/two.txt', 'also fine')]);
    const r = b.ingest.ingest(allEntries(a));
    expect(r).toMatchObject({ applied: 2, hostile: false, rejected: [] });
    expect(r.changed.map((c) => c.path).sort()).toEqual(['ok/one.txt', 'ok/two.txt']);
    expect(b.db.prepare('SELECT path FROM versions ORDER BY path').pluck().all()).toEqual(['ok/one.txt', 'ok/two.txt']);
    expect(b.db.prepare('SELECT id FROM versions ORDER BY id').pluck().all()).toEqual([made[0]!.id, made.at(-1)!.id].sort());
    const problems = b.db.prepare('SELECT folder_id, path, origin, code, message FROM sync_problems ORDER BY path').all() as { path: string; origin: string; code: string; message: string }[];
    expect(problems.map((p) => p.path).sort()).toEqual([...bad].sort());
    for (const p of problems) {
      expect(p).toMatchObject({ folder_id: 'docs', origin: a.id, code: 'BAD_PATH' });
      expect(p.message).toMatch(/path/);
    }
    // Still stored, so the log stays contiguous and C can get it from B.
    expect(b.ingest.vector()).toEqual({ [a.id]: 2 });
    expect(allEntries(b)).toEqual(allEntries(a));
  });

  it('takes back its own entries after losing its database (the local ChangeLog must then re-read its seq)', () => {
    const a = makeDevice('a', 150);
    const b = makeDevice('b');
    know(a, b);
    know(b, a);
    shareFolder(a);
    write(a, 'x', 'x');
    sync(a, b);
    const restored = makeDevice('a', 150); // same key, empty database
    know(restored, b);
    sync(b, restored);
    expect(restored.ingest.vector()).toEqual({ [a.id]: 2 });
    expect(snapshot(restored.db)).toEqual(snapshot(a.db));
    // A ChangeLog that cached its next seq before the ingest would reuse seq 1; a fresh one (or reset()) does not.
    expect(new ChangeLog(restored.db, restored.identity).nextSeq()).toBe(3);
  });

  it('remotePathProblem accepts plain relative paths only', () => {
    for (const ok of ['a', 'a/b/c.txt', '.hidden', '..dots', 'x/...', 'ünïcødé/文件', 'a b/c']) expect(remotePathProblem(ok)).toBeUndefined();
    for (const bad of ['', '/', '/a', 'a/', 'a//b', '.', '..', './a', 'a/.', '../a', 'a/../b', 'a\\b', 'C:\\x', 'a\0', 'x'.repeat(256), '\ud800']) {
      expect(remotePathProblem(bad), JSON.stringify(bad)).toBeDefined();
    }
    expect(remotePathProblem('x'.repeat(255))).toBeUndefined();
  });

  describe('device entries', () => {
    it('remove wins over add in any order, and entries from a revoked origin are refused (not hostile)', () => {
      const a = makeDevice('a');
      const x = makeDevice('x');
      know(x, a);
      shareFolder(a);
      announce(a, x);
      sync(a, x);
      write(x, 'one', '1');
      const xEntries = allEntries(x, x.id);
      announce(a, x, 'remove');
      const aEntries = allEntries(a, a.id); // folder, add x, remove x

      // Remove arrives before the add: the add must not bring the device back.
      const d = makeDevice('d');
      know(d, a);
      d.ingest.ingest([aEntries[2]!]);
      const r = d.ingest.ingest([aEntries[1]!, aEntries[0]!]);
      expect(r.applied).toBe(3);
      expect(d.db.prepare('SELECT revoked_at IS NOT NULL FROM devices WHERE id = ?').pluck().get(x.id)).toBe(1);
      const rx = d.ingest.ingest(xEntries);
      expect(rx).toMatchObject({ applied: 0, hostile: false, deferred: 0 });
      expect(rx.rejected).toEqual([{ origin: x.id, seq: 1, reason: 'origin device is revoked' }]);
      expect(count(d.db, 'versions')).toBe(0);
    });

    it('a remote update of this device by an owner is applied (config.toml follows), and a remove after it', () => {
      const a = makeDevice('a');
      const x = makeDevice('x');
      know(x, a);
      announce(a, x, 'update', 'storage-only', { site: 'cellar' });
      announce(a, x, 'remove');
      const r1 = x.ingest.ingest(allEntries(a).slice(0, 1));
      expect(r1).toMatchObject({ applied: 1, devicesChanged: true, localDeviceChanged: true });
      expect(x.db.prepare('SELECT trust, labels, revoked_at FROM devices WHERE id = ?').get(x.id)).toEqual({ trust: 'storage-only', labels: '{"site":"cellar"}', revoked_at: null });
      const r2 = x.ingest.ingest(allEntries(a).slice(1));
      expect(r2).toMatchObject({ applied: 1, devicesChanged: true });
      expect(x.db.prepare('SELECT revoked_at IS NOT NULL FROM devices WHERE id = ?').pluck().get(x.id)).toBe(1);
    });

    it('updates from two owners end the same on every device whatever order they arrive in (last writer wins)', () => {
      const a = makeDevice('a');
      const b = makeDevice('b');
      const t = makeDevice('t');
      const [p, q] = [makeDevice('p'), makeDevice('q')];
      for (const d of [a, b, p, q]) know(d, a, b, t);
      const rename = (author: Device, name: string, at: number) => author.log.append('device', (seq) =>
        deviceEntry({ op: 'update', publicKey: t.identity.publicKey, name, labels: {}, trust: 'owner' }, author.id, seq, at));
      rename(a, 'older', 1000);
      rename(b, 'newer', 2000);
      p.ingest.ingest(allEntries(a));
      p.ingest.ingest(allEntries(b));
      q.ingest.ingest(allEntries(b));
      const r = q.ingest.ingest(allEntries(a));
      expect(r).toMatchObject({ applied: 1, devicesChanged: false });
      const nameOn = (d: Device) => d.db.prepare('SELECT name FROM devices WHERE id = ?').pluck().get(t.id);
      expect([nameOn(p), nameOn(q)]).toEqual(['newer', 'newer']);
    });

    it('folder updates win over the add and over older updates, in any order', () => {
      const a = makeDevice('a');
      const b = makeDevice('b');
      const [p, q] = [makeDevice('p'), makeDevice('q')];
      for (const d of [a, b, p, q]) know(d, a, b);
      const folderEntry = (author: Device, op: 'add' | 'update', priority: string, at: number) => author.log.append('folder', (seq) =>
        ({ t: 'folder', op, id: 'docs', label: `Docs ${priority}`, dataClass: 'standard', priority, author: author.id, seq, createdAt: at }));
      folderEntry(a, 'add', 'normal', 500);
      folderEntry(a, 'update', 'low', 1000);
      folderEntry(b, 'update', 'critical', 2000);
      p.ingest.ingest(allEntries(a));
      p.ingest.ingest(allEntries(b));
      q.ingest.ingest(allEntries(b));
      q.ingest.ingest(allEntries(a));
      const row = (d: Device) => d.db.prepare('SELECT label, priority, created_by FROM folders WHERE id = ?').get('docs');
      expect(row(p)).toEqual({ label: 'Docs critical', priority: 'critical', created_by: a.id });
      expect(row(q)).toEqual(row(p));
    });

    it('a storage-only device cannot change membership but may relabel itself', () => {
      const a = makeDevice('a');
      const s = makeDevice('s');
      const m = makeDevice('mallory');
      const d = makeDevice('d');
      know(d, a);
      announce(a, s, 'add', 'storage-only');
      know(s, a);
      sync(a, s);
      announce(s, m, 'add', 'owner');
      announce(s, a, 'remove');
      announce(s, s, 'update', 'owner', {}); // escalation
      announce(s, s, 'update', 'storage-only', { site: 'vps' });
      sync(a, d);
      const r = sync(s, d);
      expect(r.reduce((n, x) => n + x.applied, 0)).toBe(4);
      const rows = d.db.prepare('SELECT id, trust, labels, revoked_at FROM devices WHERE is_local = 0 ORDER BY id').all();
      expect(rows).toEqual([
        { id: a.id, trust: 'owner', labels: '{}', revoked_at: null },
        { id: s.id, trust: 'storage-only', labels: '{"site":"vps"}', revoked_at: null },
      ].sort((p, q) => (p.id < q.id ? -1 : 1)));
      expect(d.db.prepare("SELECT count(*) FROM sync_problems WHERE code = 'UNAUTHORIZED'").pluck().get()).toBe(3);
    });

    it('deviceEntry builds what peers accept and refuses what they would reject', () => {
      const a = identityFromSeed(Buffer.alloc(32, 1));
      const x = identityFromSeed(Buffer.alloc(32, 2));
      const body = deviceEntry({ op: 'add', publicKey: x.publicKey, name: 'nas', labels: { site: 'home' }, trust: 'storage-only' }, a.deviceId, 3, 42);
      expect(body).toEqual({ t: 'device', op: 'add', id: x.deviceId, publicKey: x.publicKey.toString('hex'), name: 'nas', labels: { site: 'home' }, trust: 'storage-only', author: a.deviceId, seq: 3, createdAt: 42 });
      const parsed = parseEntry(forged(a, body, { kind: 'device', seq: 3 }));
      expect(parsed.ok).toBe(true);
      expect(() => deviceEntry({ op: 'add', publicKey: x.publicKey, name: '', labels: {}, trust: 'owner' }, a.deviceId, 1)).toThrow(/name/);
      expect(() => deviceEntry({ op: 'add', publicKey: x.publicKey, name: 'n', labels: { 'a b': 'c' }, trust: 'owner' }, a.deviceId, 1)).toThrow(/labels/);
      expect(() => deviceEntry({ op: 'add', publicKey: 'abcd', name: 'n', labels: {}, trust: 'owner' }, a.deviceId, 1)).toThrow(/32 bytes/);
    });
  });

  it('two devices defining the same folder id converge on the earliest definition', () => {
    const a = makeDevice('a');
    const b = makeDevice('b');
    const c = makeDevice('c');
    for (const dev of [a, b, c]) know(dev, a, b, c);
    shareFolder(a, 'shared');
    shareFolder(b, 'shared');
    const first = a.db.prepare('SELECT created_at, created_by FROM folders').get() as { created_at: number; created_by: string };
    const second = b.db.prepare('SELECT created_at, created_by FROM folders').get() as { created_at: number; created_by: string };
    const aFirst = first.created_at < second.created_at || (first.created_at === second.created_at && first.created_by < second.created_by);
    sync(a, b);
    sync(b, a);
    sync(b, c);
    const want = aFirst ? a.id : b.id;
    for (const dev of [a, b, c]) expect(dev.db.prepare('SELECT created_by FROM folders').pluck().get()).toBe(want);
  });

  describe('entriesAfter', () => {
    function threeOrigins() {
      const a = makeDevice('a');
      const b = makeDevice('b');
      const c = makeDevice('c');
      for (const dev of [a, b, c]) know(dev, a, b, c);
      shareFolder(a);
      for (let i = 0; i < 5; i++) write(a, `a${i}`, `a content ${i}`.repeat(i + 1));
      sync(a, b);
      for (let i = 0; i < 4; i++) write(b, `b${i}`, `b content ${i}`);
      sync(b, c);
      for (let i = 0; i < 3; i++) write(c, `c${i}`, `c content ${i}`);
      sync(c, a);
      return { a, b, c };
    }

    it('returns exactly the entries the peer lacks, across origins, in seq order per origin', () => {
      const { a, b, c } = threeOrigins();
      expect(a.ingest.vector()).toEqual({ [a.id]: 6, [b.id]: 4, [c.id]: 3 });
      const out = a.ingest.entriesAfter({ [a.id]: 2, [c.id]: 3, zzz: 4 } as Record<string, number>, Number.MAX_SAFE_INTEGER);
      const keys = out.map((e) => `${e.origin === a.id ? 'a' : e.origin === b.id ? 'b' : 'c'}${e.seq}`);
      expect(keys.sort()).toEqual(['a3', 'a4', 'a5', 'a6', 'b1', 'b2', 'b3', 'b4']);
      for (const origin of [a.id, b.id]) {
        const seqs = out.filter((e) => e.origin === origin).map((e) => e.seq);
        expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      }
      expect(a.ingest.entriesAfter(a.ingest.vector(), 1e9)).toEqual([]);
      // Peers ahead of us, or nonsense values, do not break it.
      expect(a.ingest.entriesAfter({ [a.id]: 99, [b.id]: 99, [c.id]: 99 }, 1e9)).toEqual([]);
      expect(a.ingest.entriesAfter({ [a.id]: -3, [b.id]: Number.NaN, [c.id]: '2' as unknown as number }, 1e9)).toHaveLength(13);
    });

    it('respects maxBytes (but always sends one entry), and paging with it delivers everything once', () => {
      const { a } = threeOrigins();
      const all = allEntries(a);
      const sizes = all.map((e) => e.body.length);
      expect(a.ingest.entriesAfter({}, 0)).toHaveLength(1);
      expect(a.ingest.entriesAfter({}, Number.NaN)).toHaveLength(1);
      expect(a.ingest.entriesAfter({}, Number.POSITIVE_INFINITY)).toHaveLength(all.length);
      const budget = Math.max(...sizes) * 2;
      const seen: string[] = [];
      let vector: Record<string, number> = {};
      for (let round = 0; round < 100; round++) {
        const batch = a.ingest.entriesAfter(vector, budget);
        if (batch.length === 0) break;
        const bytes = batch.reduce((n, e) => n + e.body.length, 0);
        expect(bytes <= budget || batch.length === 1).toBe(true);
        for (const e of batch) {
          // Contiguous from what the peer said it has.
          expect(e.seq).toBe((vector[e.origin] ?? 0) + 1);
          seen.push(`${e.origin}:${e.seq}`);
          vector = { ...vector, [e.origin]: e.seq };
        }
      }
      expect(seen.sort()).toEqual(all.map((e) => `${e.origin}:${e.seq}`).sort());
    });

    it('takes turns between origins so a long log of an unknown origin cannot starve the entry that introduces it', () => {
      // The introducer's id sorts after the newcomer's, so going origin by origin would send
      // only the newcomer's entries (which the peer can only park) round after round.
      const [p, q] = [makeDevice('p'), makeDevice('q')];
      const [intro, x] = p.id > q.id ? [p, q] : [q, p];
      const relay = makeDevice('relay');
      const d = makeDevice('d');
      know(x, intro);
      know(relay, intro, x);
      know(d, intro);
      shareFolder(intro);
      sync(intro, x);
      for (let i = 0; i < 30; i++) write(x, `x${i}`, `x content ${i}`);
      announce(intro, x);
      sync(intro, relay);
      sync(x, relay);
      const sizes = allEntries(relay).map((e) => e.body.length);
      const results = sync(relay, d, Math.max(...sizes) * 3);
      expect(results.every((r) => r.applied > 0)).toBe(true);
      expect(d.ingest.vector()).toEqual(relay.ingest.vector());
      expect(count(d.db, 'pending_entries')).toBe(0);
    });

    it('stays cheap with 100k entries: every query on the log seeks its key, none scans it', () => {
      const a = makeDevice('a');
      const others = [makeDevice('p'), makeDevice('q'), makeDevice('r')];
      const insert = a.db.prepare('INSERT INTO change_log (origin, seq, kind, body, signature, received_at) VALUES (?, ?, ?, ?, ?, 0)');
      const body = Buffer.alloc(200, 0x61);
      const sig = Buffer.alloc(64);
      a.db.transaction(() => {
        for (const o of others) for (let s = 1; s <= 34_000; s++) insert.run(o.id, s, 'versions', body, sig);
      })();
      a.db.exec('ANALYZE');
      const peer = Object.fromEntries(others.map((o) => [o.id, 33_990]));
      expect(a.ingest.vector()[others[0]!.id]).toBe(34_000);
      expect(a.ingest.entriesAfter(peer, 1e9)).toHaveLength(30);
      // The cost is in the plan, not in a timing: a full scan of the 102k rows shows there as
      // "SCAN change_log"; a seek is "SEARCH change_log USING PRIMARY KEY".
      const statements = Object.entries((a.ingest as unknown as { stmt: Record<string, { source: string }> }).stmt);
      const onLog = statements.filter(([, st]) => /\bchange_log\b/.test(st.source));
      expect(onLog.map(([name]) => name)).toEqual(expect.arrayContaining(['vector', 'sizes', 'range', 'held', 'stored']));
      for (const [name, st] of onLog) {
        if (/^\s*INSERT/i.test(st.source)) continue;
        const plan = a.db.prepare(`EXPLAIN QUERY PLAN ${st.source}`).all(...new Array<null>(paramCount(st.source)).fill(null)) as { detail: string }[];
        const scans = plan.filter((row) => /^SCAN (change_log|c)\b/.test(row.detail));
        expect(scans, `${name}: ${plan.map((row) => row.detail).join('; ')}`).toEqual([]);
        expect(plan.some((row) => row.detail.includes('USING PRIMARY KEY')), name).toBe(true);
      }
    });
  });

  it('property: any permutation, duplication and batching of valid entries ends in the same heads and vector', () => {
    // A small history with branches, a merge, a child before its parent across origins,
    // and two origins introduced by device entries of a third.
    const a = makeDevice('pa', 201);
    const b = makeDevice('pb', 202);
    const c = makeDevice('pc', 203);
    know(b, a);
    know(c, a);
    shareFolder(a);
    announce(a, b);
    announce(a, c);
    write(a, 'f', 'f1');
    write(a, 'g', 'g1');
    sync(a, b);
    sync(a, c);
    write(b, 'f', 'f-b');
    write(c, 'f', 'f-c');
    write(c, 'h', 'h-c');
    know(b, c);
    know(c, b);
    sync(c, b);
    write(b, 'f', 'f-merge');
    writeBatch(b, [fileChange('g', 'g-b'), fileChange('h', 'h-b')]);
    write(c, 'g', 'g-c');
    sync(b, a);
    sync(c, a);
    const entries = allEntries(a);
    expect(entries.length).toBeGreaterThan(8);

    const reference = makeDevice('ref', 204);
    know(reference, a);
    reference.ingest.ingest(entries);
    const want = { heads: snapshot(reference.db).heads, versions: snapshot(reference.db).versions.length, vector: reference.ingest.vector() };
    expect(want.vector).toEqual(a.ingest.vector());
    expect(snapshot(reference.db).heads).toEqual(snapshot(a.db).heads);

    const n = entries.length;
    const idx = Array.from({ length: n }, (_, i) => i);
    fc.assert(fc.property(
      fc.shuffledSubarray(idx, { minLength: n, maxLength: n }),
      fc.array(fc.record({ which: fc.nat(n - 1), at: fc.nat() }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 20 }),
      (order, dups, cuts) => {
        const seq = order.map((i) => entries[i]!);
        for (const d of dups) seq.splice(d.at % (seq.length + 1), 0, entries[d.which]!);
        const home = tmpDir('canopy-ingest-prop-');
        const db = openDatabase(path.join(home, 'canopy.db'));
        try {
          db.prepare(`INSERT INTO devices (id, public_key, name, labels, trust, is_local, added_at) VALUES (?, ?, 'a', '{}', 'owner', 0, 1)`).run(a.id, a.identity.publicKey);
          const ing = new LogIngest(db, 'dddddddddddddddddddddddddddddddd');
          let pos = 0;
          let k = 0;
          while (pos < seq.length) {
            const size = cuts[k++ % cuts.length]!;
            const r = ing.ingest(seq.slice(pos, pos + size));
            expect(r.hostile).toBe(false);
            expect(r.rejected).toEqual([]);
            pos += size;
          }
          expect(ing.vector()).toEqual(want.vector);
          expect(snapshot(db).heads).toEqual(want.heads);
          expect(snapshot(db).versions.length).toBe(want.versions);
          expect(db.prepare('SELECT count(*) FROM pending_entries').pluck().get()).toBe(0);
        } finally {
          db.close();
          fs.rmSync(home, { recursive: true, force: true });
        }
      },
    ), { numRuns: 60 });
  });
});
