/**
 * Receiving other devices' change logs: checking every entry a peer sends (shape, canonical
 * bytes, signature, author and seq), applying the ones that extend an origin's log
 * contiguously (versions, folders, devices), parking the rest in `pending_entries` until
 * their origin is known or their gap is filled, and answering "what does a peer with this
 * vector lack" so entries are relayed onwards.
 *
 * Owns: the `device` entry builder (the wire schemas are in entry-schema.ts), and how a remote
 * entry changes `versions`/`version_parents`/`version_chunks`/`heads`, `folders`, `devices`,
 * `change_log`, `pending_entries` and `sync_problems`.
 *
 * Everything a peer sends is hostile until checked. Bad data never throws: the entry is
 * reported in `rejected`, and `hostile` tells the caller to cut the peer off. Exceptions
 * mean a bug or a database failure, and roll the whole batch back.
 */
import type { z } from 'zod';
import type { Db } from '../db/index.js';
import { deviceIdFromPublicKey, isDeviceId, verify } from '../identity/index.js';
import type { Trust } from '../config/schema.js';
import { CanopyError } from '../errors/index.js';
import { versionIdOf } from '../versions/index.js';
import { canonicalJson, RawJson, type Json } from './canonical.js';
import {
  deviceEntrySchema, ENTRY_LIMITS, entryBodySchema, LOG_ENTRY_KINDS, PUBLIC_KEY_RE, versionsBodyFast,
  type AckEntryBody, type DeviceEntryBody, type DeviceOp, type EntryBody, type FolderEntryBody, type PriorityEntryBody, type VersionsEntryBody,
} from './entry-schema.js';

/** What the version model does as entries land (core/versions/confirm.ts implements it). */
export interface IngestHooks {
  /** A device's signed acknowledgement was applied. */
  onAck(device: string, vector: Readonly<Record<string, number>>): void;
  /** End of a batch that applied entries, inside its transaction; returns further changed paths. */
  afterBatch(applied: { versions: boolean }): { folderId: string; path: string }[];
}

// ---------------------------------------------------------------------------------------
// Parsing and verifying one entry

/** One log entry as it travels between devices (and as `change_log` stores it). */
export interface RemoteEntry {
  origin: string;
  seq: number;
  kind: string;
  body: Buffer;
  signature: Buffer;
}

export type ParsedEntry =
  | { kind: 'versions'; body: VersionsEntryBody; /** Recomputed ids, one per `body.versions[i]`. */ versionIds: string[] }
  | { kind: 'folder'; body: FolderEntryBody }
  | { kind: 'device'; body: DeviceEntryBody }
  | { kind: 'ack'; body: AckEntryBody }
  | { kind: 'priority'; body: PriorityEntryBody };

export type ParseResult = { ok: true; entry: ParsedEntry } | { ok: false; reason: string };

/**
 * Everything about an entry that can be checked without its origin's key: the envelope, that
 * the body is canonical JSON (so every device derives the same version ids from the same
 * bytes), the schema, and that author/seq/kind in the signed body match the envelope (a
 * relay cannot renumber or reattribute entries). Never throws on hostile input.
 */
export function parseEntry(entry: RemoteEntry): ParseResult {
  const bad = envelopeProblem(entry);
  if (bad) return { ok: false, reason: bad };
  const body = entry.body;
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  // Versions entries (nearly all of them) take the fast check; zod decides the rest.
  let parsed: EntryBody | undefined = versionsBodyFast(raw);
  if (!parsed) {
    const checked = entryBodySchema.safeParse(raw);
    if (!checked.success) return { ok: false, reason: `body does not match the schema: ${describeIssue(checked.error)}` };
    parsed = checked.data;
  }
  // Each version's canonical text is both part of the body and the input of its id, so it
  // is serialized once and embedded.
  let versionTexts: string[] | undefined;
  try {
    let canonical: string;
    if (parsed.t === 'versions') {
      const rawBody = raw as { versions: Json[] };
      versionTexts = rawBody.versions.map((v) => canonicalJson(v));
      canonical = canonicalJson({ ...(raw as Record<string, Json>), versions: versionTexts.map((t) => new RawJson(t)) });
    } else {
      canonical = canonicalJson(raw as Json);
    }
    // Non-canonical bytes (spaces, key order, "1.0", duplicate keys, escapes) would let two
    // encodings of one entry exist; a real device only ever writes the canonical form.
    if (!Buffer.from(canonical, 'utf8').equals(body)) return { ok: false, reason: 'body is not canonical JSON' };
  } catch {
    return { ok: false, reason: 'body is not canonical JSON' };
  }
  if (parsed.t !== entry.kind) return { ok: false, reason: `kind "${entry.kind}" does not match the body ("${parsed.t}")` };
  if (parsed.author !== entry.origin) return { ok: false, reason: 'author does not match origin' };
  if (parsed.seq !== entry.seq) return { ok: false, reason: 'seq in the body does not match the entry' };
  switch (parsed.t) {
    case 'versions': {
      // Ids come from the raw (not zod-stripped) objects: exactly the bytes the author hashed.
      const versionIds = (versionTexts ?? []).map((text) => versionIdOf(entry.origin, entry.seq, text));
      return { ok: true, entry: { kind: 'versions', body: parsed, versionIds } };
    }
    case 'folder':
      return { ok: true, entry: { kind: 'folder', body: parsed } };
    case 'device':
      return { ok: true, entry: { kind: 'device', body: parsed } };
    case 'ack':
      return { ok: true, entry: { kind: 'ack', body: parsed } };
    case 'priority':
      return { ok: true, entry: { kind: 'priority', body: parsed } };
  }
}

/** Whether `entry.signature` is the origin's signature of `entry.body`. Never throws. */
export function verifyEntry(entry: RemoteEntry, publicKey: Uint8Array): boolean {
  return Buffer.isBuffer(entry.body) && Buffer.isBuffer(entry.signature) && verify(publicKey, entry.body, entry.signature);
}

function envelopeProblem(e: RemoteEntry): string | undefined {
  if (typeof e !== 'object' || e === null) return 'entry is not an object';
  if (!isDeviceId(e.origin)) return 'origin is not a device id';
  if (typeof e.seq !== 'number' || !Number.isSafeInteger(e.seq) || e.seq < 1) return 'seq is not a positive integer';
  if (typeof e.kind !== 'string' || !(LOG_ENTRY_KINDS as readonly string[]).includes(e.kind)) return 'unknown entry kind';
  if (!Buffer.isBuffer(e.body)) return 'body is not bytes';
  if (e.body.length > ENTRY_LIMITS.bodyBytes) return `body is larger than ${ENTRY_LIMITS.bodyBytes} bytes`;
  if (!Buffer.isBuffer(e.signature) || e.signature.length !== ENTRY_LIMITS.signatureBytes) return 'signature is not 64 bytes';
  return undefined;
}

function describeIssue(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid';
  const where = issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
  return `${where}${issue.message}`.slice(0, 300);
}

/**
 * Why a path from a peer must not be applied, or undefined when it is a plain relative path.
 * These are the shapes that could escape the folder or mean different files on different
 * systems when materialized.
 */
export function remotePathProblem(p: string): string | undefined {
  if (p.length === 0) return 'the path is empty';
  if (p.includes('\0')) return 'the path contains a NUL character';
  if (p.includes('\\')) return 'the path contains a backslash';
  if (p.startsWith('/')) return 'the path is absolute';
  if (/\p{Surrogate}/u.test(p)) return 'the path is not valid Unicode';
  for (const seg of p.split('/')) {
    if (seg === '') return 'the path has an empty segment';
    if (seg === '.' || seg === '..') return `the path has a "${seg}" segment`;
    if (Buffer.byteLength(seg, 'utf8') > ENTRY_LIMITS.segmentBytes) return `a path segment is longer than ${ENTRY_LIMITS.segmentBytes} bytes`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Building 'device' entries (used by pairing and device management)

export interface DeviceEntryInput {
  op: DeviceOp;
  /** Raw 32-byte ed25519 public key, or its 64 hex characters. The id is derived from it. */
  publicKey: Uint8Array | string;
  name: string;
  labels: Readonly<Record<string, string>>;
  trust: Trust;
}

/**
 * The signed body of a 'device' entry, for `ChangeLog.append('device', (seq) =>
 * deviceEntry(input, myDeviceId, seq))`. Checked against the same schema peers use, so a
 * local mistake throws here instead of getting this device cut off as hostile.
 */
export function deviceEntry(input: DeviceEntryInput, author: string, seq: number, createdAt: number = Date.now()): Json {
  const publicKey = typeof input.publicKey === 'string' ? input.publicKey.toLowerCase() : Buffer.from(input.publicKey).toString('hex');
  if (!PUBLIC_KEY_RE.test(publicKey)) throw new CanopyError('BAD_ARGUMENT', 'a device public key is 32 bytes (64 hex characters)');
  const body = {
    t: 'device' as const,
    op: input.op,
    id: deviceIdFromPublicKey(Buffer.from(publicKey, 'hex')),
    publicKey,
    name: input.name,
    labels: Object.fromEntries(Object.entries(input.labels)),
    trust: input.trust,
    author,
    seq,
    createdAt,
  };
  const checked = deviceEntrySchema.safeParse(body);
  if (!checked.success) throw new CanopyError('BAD_ARGUMENT', `invalid device entry: ${describeIssue(checked.error)}`);
  return body;
}

// ---------------------------------------------------------------------------------------
// Ingesting

export interface IngestResult {
  /** Entries appended to change_log by this call (from the batch or from pending_entries). */
  applied: number;
  /** Entries of the batch already held (or repeated within the batch). */
  duplicates: number;
  /** Entries of the batch still waiting in pending_entries when the call returns. */
  deferred: number;
  rejected: { origin: string; seq: number; reason: string }[];
  /** Some entry of this batch was forged or malformed: the peer that sent it is not to be trusted. */
  hostile: boolean;
  changed: { folderId: string; path: string }[];
  devicesChanged: boolean;
  /** Another device renamed, relabelled or re-trusted this one (config.toml [device] follows). */
  localDeviceChanged?: boolean;
  foldersChanged: boolean;
}

interface DeviceRow {
  public_key: Buffer;
  trust: Trust;
  is_local: number;
  revoked_at: number | null;
}

/** Per-call bookkeeping. */
interface Run {
  result: IngestResult;
  held: Map<string, number>;
  devices: Map<string, DeviceRow | undefined>;
  changed: Map<string, { folderId: string; path: string }>;
  /** Pending rows this batch inserted: their failures are this peer's fault. */
  insertedPending: Set<string>;
  /** Batch entries waiting in pending (resolved ones are removed). */
  deferred: Set<string>;
  /** Whether a 'versions' entry was applied (this device then acknowledges). */
  appliedVersions: boolean;
}

const key = (origin: string, seq: number) => `${origin}:${seq}`;

export class LogIngest {
  private readonly stmt;

  constructor(private readonly db: Db, private readonly localDeviceId: string, private readonly hooks?: IngestHooks) {
    this.stmt = {
      // Skip-scan over the (origin, seq) primary key: one seek per origin, not a scan of
      // every entry, so the vector stays cheap with millions of entries.
      vector: db.prepare(`WITH RECURSIVE o(origin) AS (
          SELECT (SELECT min(origin) FROM change_log)
          UNION ALL SELECT (SELECT min(origin) FROM change_log WHERE origin > o.origin) FROM o WHERE o.origin IS NOT NULL)
        SELECT origin, (SELECT max(seq) FROM change_log c WHERE c.origin = o.origin) AS seq FROM o WHERE origin IS NOT NULL`),
      held: db.prepare('SELECT max(seq) FROM change_log WHERE origin = ?').pluck(),
      stored: db.prepare('SELECT body, signature FROM change_log WHERE origin = ? AND seq = ?'),
      sizes: db.prepare('SELECT seq, length(body) AS bytes FROM change_log WHERE origin = ? AND seq > ? ORDER BY seq LIMIT ?'),
      range: db.prepare('SELECT origin, seq, kind, body, signature FROM change_log WHERE origin = ? AND seq > ? AND seq <= ? ORDER BY seq'),
      append: db.prepare('INSERT INTO change_log (origin, seq, kind, body, signature, received_at) VALUES (?, ?, ?, ?, ?, ?)'),
      device: db.prepare('SELECT public_key, trust, is_local, revoked_at FROM devices WHERE id = ?'),
      park: db.prepare('INSERT OR IGNORE INTO pending_entries (origin, seq, kind, body, signature, received_at) VALUES (?, ?, ?, ?, ?, ?)'),
      parkVerified: db.prepare('INSERT OR REPLACE INTO pending_entries (origin, seq, kind, body, signature, received_at) VALUES (?, ?, ?, ?, ?, ?)'),
      pendingFirst: db.prepare('SELECT origin, seq, kind, body, signature FROM pending_entries WHERE origin = ? ORDER BY seq LIMIT 1'),
      pendingSeqs: db.prepare('SELECT seq FROM pending_entries WHERE origin = ? ORDER BY seq').pluck(),
      unpark: db.prepare('DELETE FROM pending_entries WHERE origin = ? AND seq = ?'),
      pendingOrigins: db.prepare(`WITH RECURSIVE o(origin) AS (
          SELECT (SELECT min(origin) FROM pending_entries)
          UNION ALL SELECT (SELECT min(origin) FROM pending_entries WHERE origin > o.origin) FROM o WHERE o.origin IS NOT NULL)
        SELECT origin FROM o WHERE origin IS NOT NULL`).pluck(),
      insertVersion: db.prepare(`INSERT INTO versions (id, folder_id, path, kind, size, mtime_ms, mode, target, vector, author, origin_seq, created_at, state)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'provisional') ON CONFLICT (id) DO NOTHING`),
      insertParent: db.prepare('INSERT OR IGNORE INTO version_parents (version_id, parent_id) VALUES (?, ?)'),
      insertChunk: db.prepare('INSERT INTO version_chunks (version_id, idx, chunk, offset, size) VALUES (?, ?, ?, ?, ?)'),
      removeHead: db.prepare('DELETE FROM heads WHERE folder_id = ? AND path = ? AND version_id = ?'),
      addHead: db.prepare('INSERT OR IGNORE INTO heads (folder_id, path, version_id) VALUES (?, ?, ?)'),
      // A version stays out of the heads when any version already names it as a parent
      // (children can arrive before their parents from other origins).
      listedAsParent: db.prepare('SELECT 1 FROM version_parents WHERE parent_id = ? LIMIT 1').pluck(),
      problem: db.prepare(`INSERT OR REPLACE INTO sync_problems (folder_id, path, origin, code, message, seen_at) VALUES (?, ?, ?, ?, ?, ?)`),
      // The earliest (createdAt, author) definition of a folder wins on every device, so two
      // devices that created the same folder id offline still converge on one record.
      upsertFolder: db.prepare(`INSERT INTO folders (id, label, data_class, priority, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET
          label = CASE WHEN folders.updated_at = 0 THEN excluded.label ELSE folders.label END,
          data_class = CASE WHEN folders.updated_at = 0 THEN excluded.data_class ELSE folders.data_class END,
          priority = CASE WHEN folders.updated_at = 0 THEN excluded.priority ELSE folders.priority END,
          created_by = excluded.created_by, created_at = excluded.created_at
        WHERE excluded.created_at < folders.created_at OR (excluded.created_at = folders.created_at AND excluded.created_by < folders.created_by)`),
      // An update before the folder's add creates the row; the add then only moves created_*.
      updateFolder: db.prepare(`INSERT INTO folders (id, label, data_class, priority, created_by, created_at, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET label = excluded.label, data_class = excluded.data_class, priority = excluded.priority,
          updated_by = excluded.updated_by, updated_at = excluded.updated_at
        WHERE excluded.updated_at > folders.updated_at OR (excluded.updated_at = folders.updated_at AND excluded.updated_by > folders.updated_by)`),
      insertDevice: db.prepare(`INSERT INTO devices (id, public_key, name, labels, trust, is_local, added_at, revoked_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)`),
      updateDevice: db.prepare(`UPDATE devices SET name = ?, labels = ?, trust = ?, updated_at = ?, updated_by = ?
        WHERE id = ? AND (updated_at < ? OR (updated_at = ? AND updated_by < ?))`),
      revokeDevice: db.prepare('UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    };
  }

  /** Per origin, the highest seq held (entries are held contiguously from 1). */
  vector(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.stmt.vector.all() as { origin: string; seq: number }[]) out[row.origin] = row.seq;
    return out;
  }

  /**
   * The entries a peer with `peerVector` lacks, in seq order per origin (grouped by origin),
   * at most `maxBytes` of bodies in all unless a single entry is larger (then just that one).
   *
   * When the budget cannot cover everything, origins take turns one entry at a time. A peer
   * parks entries whose origin it does not know yet and asks for them again; if one long
   * unknown log filled every reply, the entry that introduces its origin would never be
   * sent. Origins the peer already holds entries of go first in each turn, since their
   * entries (device adds among them) are the ones it can apply.
   */
  entriesAfter(peerVector: Record<string, number>, maxBytes: number): RemoteEntry[] {
    return this.db.transaction(() => {
      const budget = typeof maxBytes === 'number' && maxBytes > 0 ? maxBytes : 0; // NaN and junk: one entry
      const lanes: { origin: string; after: number; last: number; sizes: { seq: number; bytes: number }[]; pos: number; done: boolean; known: boolean }[] = [];
      for (const [origin, held] of Object.entries(this.vector())) {
        const have = peerHas(peerVector, origin);
        if (held > have) lanes.push({ origin, after: have, last: have, sizes: [], pos: 0, done: false, known: have > 0 });
      }
      lanes.sort((a, b) => Number(b.known) - Number(a.known) || (a.origin < b.origin ? -1 : 1));
      const PAGE = 256;
      let total = 0;
      let count = 0;
      plan: for (;;) {
        let progressed = false;
        for (const lane of lanes) {
          if (lane.done) continue;
          if (lane.pos >= lane.sizes.length) {
            lane.sizes = this.stmt.sizes.all(lane.origin, lane.last, PAGE) as { seq: number; bytes: number }[];
            lane.pos = 0;
            if (lane.sizes.length === 0) {
              lane.done = true;
              continue;
            }
          }
          const next = lane.sizes[lane.pos] as { seq: number; bytes: number };
          if (count > 0 && total + next.bytes > budget) break plan;
          total += next.bytes;
          count++;
          lane.last = next.seq;
          lane.pos++;
          progressed = true;
        }
        if (!progressed) break;
      }
      const out: RemoteEntry[] = [];
      for (const lane of lanes) {
        if (lane.last > lane.after) out.push(...(this.stmt.range.all(lane.origin, lane.after, lane.last) as RemoteEntry[]));
      }
      return out;
    })();
  }

  /**
   * Checks and applies a batch of entries from one peer, in one transaction. Entries that
   * cannot be applied yet wait in pending_entries; those that become applicable (their
   * origin was added, their gap filled, possibly by this batch) are applied at the end.
   */
  ingest(entries: readonly RemoteEntry[]): IngestResult {
    if (!Array.isArray(entries)) throw new TypeError('ingest: entries must be an array');
    return this.db.transaction(() => {
      const run: Run = {
        result: { applied: 0, duplicates: 0, deferred: 0, rejected: [], hostile: false, changed: [], devicesChanged: false, foldersChanged: false },
        held: new Map(), devices: new Map(), changed: new Map(), insertedPending: new Set(), deferred: new Set(), appliedVersions: false,
      };
      const valid: RemoteEntry[] = [];
      for (const e of entries) {
        const bad = envelopeProblem(e);
        if (bad) this.reject(run, e, bad, true);
        else valid.push(e);
      }
      // Sorted, so an origin's entries sent out of order within one batch still apply in one pass.
      valid.sort((a, b) => (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : a.seq - b.seq));
      let prevOrigin: string | undefined;
      for (const e of valid) {
        if (e.origin !== prevOrigin) {
          // Earlier batches may have left the next entries of this origin waiting.
          this.drainOrigin(run, e.origin);
          prevOrigin = e.origin;
        }
        this.ingestOne(run, e);
      }
      this.drainAll(run);
      if (run.result.applied > 0 && this.hooks) {
        for (const c of this.hooks.afterBatch({ versions: run.appliedVersions })) run.changed.set(`${c.folderId}\0${c.path}`, c);
      }
      run.result.deferred = run.deferred.size;
      run.result.changed = [...run.changed.values()];
      return run.result;
    })();
  }

  // -------------------------------------------------------------------------------------

  private ingestOne(run: Run, e: RemoteEntry): void {
    const held = this.heldSeq(run, e.origin);
    if (e.seq <= held) {
      this.duplicate(run, e);
      return;
    }
    const parsed = parseEntry(e);
    if (!parsed.ok) {
      this.reject(run, e, parsed.reason, true);
      return;
    }
    const device = this.device(run, e.origin);
    if (!device) {
      // Cannot verify yet: park it until the entry that adds its origin arrives.
      this.park(run, e, false);
      return;
    }
    if (device.revoked_at !== null) {
      this.reject(run, e, 'origin device is revoked', false);
      return;
    }
    if (!verifyEntry(e, device.public_key)) {
      this.reject(run, e, 'signature does not verify', true);
      return;
    }
    if (e.seq > held + 1) {
      this.park(run, e, true);
      return;
    }
    this.apply(run, e, parsed.entry);
    this.unpark(run, e.origin, e.seq);
  }

  /** An entry at a seq we hold: fine when identical; otherwise a forgery or an origin that signed two different entries. */
  private duplicate(run: Run, e: RemoteEntry): void {
    const stored = this.stmt.stored.get(e.origin, e.seq) as { body: Buffer; signature: Buffer } | undefined;
    if (!stored || (stored.body.equals(e.body) && stored.signature.equals(e.signature))) {
      run.result.duplicates++;
      return;
    }
    const parsed = parseEntry(e);
    if (!parsed.ok) return this.reject(run, e, parsed.reason, true);
    const device = this.device(run, e.origin);
    if (device && !verifyEntry(e, device.public_key)) return this.reject(run, e, 'signature does not verify', true);
    // Validly signed yet different from what we hold: the origin reused a seq (e.g. it lost
    // its database). Not this peer's fault; the first entry stays.
    this.reject(run, e, `origin signed a different entry at seq ${e.seq} than the one held`, false);
  }

  /**
   * Keeps an entry until it can be applied. An unverified entry never displaces a parked
   * one (a relay could otherwise replace a good entry with a forgery); a verified one does.
   */
  private park(run: Run, e: RemoteEntry, verified: boolean): void {
    const k = key(e.origin, e.seq);
    if (run.deferred.has(k)) {
      run.result.duplicates++;
      return;
    }
    const info = (verified ? this.stmt.parkVerified : this.stmt.park).run(e.origin, e.seq, e.kind, e.body, e.signature, Date.now());
    if (info.changes > 0) run.insertedPending.add(k);
    run.deferred.add(k);
  }

  private unpark(run: Run, origin: string, seq: number): void {
    this.stmt.unpark.run(origin, seq);
    run.deferred.delete(key(origin, seq));
  }

  /** Retries pending entries of every origin until nothing more applies (an applied entry may add an origin). */
  private drainAll(run: Run): void {
    for (;;) {
      const before = run.result.applied;
      for (const origin of this.stmt.pendingOrigins.all() as string[]) this.drainOrigin(run, origin);
      if (run.result.applied === before) return;
    }
  }

  private drainOrigin(run: Run, origin: string): void {
    const device = this.device(run, origin);
    if (!device) return;
    if (device.revoked_at !== null) {
      for (const seq of this.stmt.pendingSeqs.all(origin) as number[]) {
        this.unpark(run, origin, seq);
        run.result.rejected.push({ origin, seq, reason: 'origin device is revoked' });
      }
      return;
    }
    for (;;) {
      const row = this.stmt.pendingFirst.get(origin) as RemoteEntry | undefined;
      if (!row) return;
      const held = this.heldSeq(run, origin);
      if (row.seq > held + 1) return;
      const k = key(row.origin, row.seq);
      this.unpark(run, row.origin, row.seq);
      if (row.seq <= held) continue; // arrived in the meantime
      // Parked rows of unknown origins were never verified, and a relay may have parked a
      // forgery: check again. Only a row this batch parked makes this peer hostile.
      const ours = run.insertedPending.has(k);
      const parsed = parseEntry(row);
      if (!parsed.ok) {
        this.reject(run, row, parsed.reason, ours);
        continue;
      }
      if (!verifyEntry(row, device.public_key)) {
        this.reject(run, row, 'signature does not verify', ours);
        continue;
      }
      this.apply(run, row, parsed.entry);
    }
  }

  private apply(run: Run, e: RemoteEntry, entry: ParsedEntry): void {
    switch (entry.kind) {
      case 'versions':
        this.applyVersions(run, e, entry.body, entry.versionIds);
        break;
      case 'folder':
        this.applyFolder(run, e, entry.body);
        break;
      case 'device':
        this.applyDevice(run, e, entry.body);
        break;
      case 'ack':
        this.hooks?.onAck(e.origin, entry.body.vector);
        break;
      case 'priority':
        applyPriorityOverride(this.db, entry.body);
        break;
    }
    // Stored byte for byte, so it can be relayed and re-verified by anyone.
    this.stmt.append.run(e.origin, e.seq, e.kind, e.body, e.signature, Date.now());
    run.held.set(e.origin, e.seq);
    run.result.applied++;
  }

  private applyVersions(run: Run, e: RemoteEntry, body: VersionsEntryBody, ids: readonly string[]): void {
    run.appliedVersions = true;
    body.versions.forEach((v, i) => {
      const problem = remotePathProblem(v.path);
      if (problem) {
        this.stmt.problem.run(v.folder, v.path, e.origin, 'BAD_PATH', `${problem}; not applied (entry ${e.seq} of ${e.origin})`, Date.now());
        return;
      }
      const id = ids[i] as string;
      // Already here (relayed twice, or a replayed entry): nothing more to do. The insert says
      // so itself, which spares a lookup per version.
      const inserted = this.stmt.insertVersion.run(id, v.folder, v.path, v.kind, v.size, v.mtimeMs, v.mode, v.target ?? null,
        canonicalJson(v.vector), e.origin, e.seq, body.createdAt);
      if (inserted.changes === 0) return;
      for (const p of v.parents) {
        this.stmt.insertParent.run(id, p);
        this.stmt.removeHead.run(v.folder, v.path, p);
      }
      let offset = 0;
      v.chunks.forEach(([hash, size], idx) => {
        this.stmt.insertChunk.run(id, idx, hash, offset, size);
        offset += size;
      });
      // Logs of different origins arrive in any order: a child may already be here, in
      // which case this version was superseded before we saw it and is no head.
      if (this.stmt.listedAsParent.get(id) === undefined) this.stmt.addHead.run(v.folder, v.path, id);
      run.changed.set(`${v.folder}\0${v.path}`, { folderId: v.folder, path: v.path });
    });
  }

  private applyFolder(run: Run, e: RemoteEntry, body: FolderEntryBody): void {
    const info = body.op === 'update'
      ? this.stmt.updateFolder.run(body.id, body.label, body.dataClass, body.priority, e.origin, body.createdAt, e.origin, body.createdAt)
      : this.stmt.upsertFolder.run(body.id, body.label, body.dataClass, body.priority, e.origin, body.createdAt);
    if (info.changes > 0) run.result.foldersChanged = true;
  }

  /**
   * Membership changes. Only owner devices may change membership (a storage-only device,
   * e.g. a rented server, must not be able to add an attacker's key or revoke the user's
   * laptop); it may only rename or relabel itself. A refused entry is still stored (the
   * log stays contiguous and keeps relaying) and reported in sync_problems.
   * Removal wins over add/update whatever order they arrive in. Updates (rename, labels,
   * trust) win by (createdAt, author), so every device ends with the same row; this
   * device's own row takes them too (the sync service then writes config.toml [device]).
   */
  private applyDevice(run: Run, e: RemoteEntry, body: DeviceEntryBody): void {
    const author = this.device(run, e.origin);
    const target = this.device(run, body.id);
    const selfUpdate = body.op === 'update' && body.id === e.origin && target?.trust === body.trust;
    if (author?.trust !== 'owner' && !selfUpdate) {
      this.stmt.problem.run('', `device:${body.id}`, e.origin, 'UNAUTHORIZED',
        `a ${author?.trust ?? 'unknown'} device may not ${body.op} devices; entry ${e.seq} of ${e.origin} not applied`, Date.now());
      return;
    }
    const labels = canonicalJson(body.labels);
    const publicKey = Buffer.from(body.publicKey, 'hex');
    let changes = 0;
    if (body.op === 'remove') {
      if (target) changes = this.stmt.revokeDevice.run(body.createdAt, body.id).changes;
      // A remove that arrives before the add leaves a revoked row, so the add cannot resurrect it.
      else changes = this.stmt.insertDevice.run(body.id, publicKey, body.name, labels, body.trust, body.createdAt, body.createdAt).changes;
    } else if (!target) {
      changes = this.stmt.insertDevice.run(body.id, publicKey, body.name, labels, body.trust, body.createdAt, null).changes;
    } else if (body.op === 'update' && target.revoked_at === null) {
      // An 'add' for a known device changes nothing: a later 'update' may already be applied.
      changes = this.stmt.updateDevice.run(body.name, labels, body.trust, body.createdAt, e.origin, body.id, body.createdAt, body.createdAt, e.origin).changes;
      if (changes > 0 && body.id === this.localDeviceId) run.result.localDeviceChanged = true;
    }
    run.devices.clear();
    if (changes > 0) run.result.devicesChanged = true;
  }

  private reject(run: Run, e: RemoteEntry, reason: string, hostile: boolean): void {
    const origin = typeof e?.origin === 'string' ? e.origin.slice(0, 64) : '';
    const seq = typeof e?.seq === 'number' && Number.isFinite(e.seq) ? e.seq : 0;
    run.result.rejected.push({ origin, seq, reason });
    if (hostile) run.result.hostile = true;
    if (typeof e?.origin === 'string' && typeof e.seq === 'number') run.deferred.delete(key(e.origin, e.seq));
  }

  private heldSeq(run: Run, origin: string): number {
    let held = run.held.get(origin);
    if (held === undefined) {
      held = (this.stmt.held.get(origin) as number | null) ?? 0;
      run.held.set(origin, held);
    }
    return held;
  }

  private device(run: Run, id: string): DeviceRow | undefined {
    if (run.devices.has(id)) return run.devices.get(id);
    const row = this.stmt.device.get(id) as DeviceRow | undefined;
    run.devices.set(id, row);
    return row;
  }
}

/** What a (hostile) peer vector claims for `origin`, as a safe non-negative integer. */
function peerHas(peerVector: Record<string, number>, origin: string): number {
  if (typeof peerVector !== 'object' || peerVector === null || !Object.hasOwn(peerVector, origin)) return 0;
  const n = peerVector[origin];
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * Records a path's priority override, last writer wins by (createdAt, author): every device
 * ends with the same override whatever order the entries arrive in. A cleared override is
 * kept as 'inherit' so an older entry arriving later cannot bring it back.
 */
export function applyPriorityOverride(db: Db, body: Pick<PriorityEntryBody, 'folder' | 'path' | 'priority' | 'author' | 'createdAt'>): void {
  if (remotePathProblem(body.path) !== undefined && body.path !== '') return;
  db.prepare(`INSERT INTO path_priorities (folder_id, path, priority, set_at, set_by) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (folder_id, path) DO UPDATE SET priority = excluded.priority, set_at = excluded.set_at, set_by = excluded.set_by
    WHERE excluded.set_at > path_priorities.set_at OR (excluded.set_at = path_priorities.set_at AND excluded.set_by > path_priorities.set_by)`)
    .run(body.folder, body.path, body.priority ?? 'inherit', body.createdAt, body.author);
}
