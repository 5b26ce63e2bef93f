/**
 * The version DAG of every path: recording local changes as signed versions, reading heads
 * and history. A version's parents are the heads its author had seen; its vector dominates
 * theirs; a path with more than one head is a conflict (branches), never an overwrite.
 *
 * `recordLocal` must run inside the caller's transaction together with whatever else
 * changes with it (the scanner's fast-path row), so a crash leaves both or neither.
 */
import { manyAtOnce, type Db } from '../db/index.js';
import type { ChangeLog } from '../log/index.js';
import { blake3Hex } from '../chunking/hash.js';
import { canonicalJson, RawJson, type Json } from '../log/canonical.js';
import { nextVector, type VersionVector } from './vector.js';
import { headsDisagree, preferredHead } from './heads.js';

export type VersionKind = 'file' | 'dir' | 'symlink' | 'tombstone';
export type VersionState = 'provisional' | 'confirmed';

export interface ChunkRef {
  hash: string;
  offset: number;
  size: number;
}

export interface NewLocalVersion {
  folderId: string;
  path: string;
  kind: VersionKind;
  size: number;
  mtimeMs: number;
  mode: number;
  target?: string | undefined;
  chunks: readonly ChunkRef[];
  /** The versions this one replaces; default: every current head of the path. */
  parentIds?: readonly string[] | undefined;
}

export interface Version {
  id: string;
  folderId: string;
  path: string;
  kind: VersionKind;
  size: number;
  mtimeMs: number;
  mode: number;
  target: string | null;
  vector: VersionVector;
  author: string;
  originSeq: number;
  createdAt: number;
  state: VersionState;
  parents: string[];
  chunkCount: number;
}

interface VersionDbRow {
  id: string;
  folder_id: string;
  path: string;
  kind: VersionKind;
  size: number;
  mtime_ms: number;
  mode: number;
  target: string | null;
  vector: string;
  author: string;
  origin_seq: number;
  created_at: number;
  state: VersionState;
  parents: string | null;
  chunk_count: number;
}

const VERSION_COLUMNS = `
  v.*, (SELECT group_concat(parent_id) FROM version_parents p WHERE p.version_id = v.id) AS parents,
       (SELECT count(*) FROM version_chunks c WHERE c.version_id = v.id) AS chunk_count`;
const SELECT_VERSION = `SELECT ${VERSION_COLUMNS} FROM versions v`;

/**
 * A version's id: the first 128 bits of BLAKE3 over its canonical form and its place in
 * the signed log (origin and seq), so any device can recompute and check it.
 */
export function versionIdOf(origin: string, seq: number, canonicalVersion: string): string {
  return blake3Hex(Buffer.from(`${origin}:${seq}:${canonicalVersion}`, 'utf8')).slice(0, 32);
}

export class Versions {
  private readonly stmt;

  constructor(private readonly db: Db, private readonly log: ChangeLog, private readonly localDevice: string, private readonly meshSize: () => number,
    private readonly now: () => number = Date.now) {
    this.stmt = {
      insertVersion: db.prepare(`INSERT INTO versions (id, folder_id, path, kind, size, mtime_ms, mode, target, vector, author, origin_seq, created_at, state)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertParent: db.prepare('INSERT INTO version_parents (version_id, parent_id) VALUES (?, ?)'),
      insertChunk: db.prepare('INSERT INTO version_chunks (version_id, idx, chunk, offset, size) VALUES (?, ?, ?, ?, ?)'),
      headIds: db.prepare('SELECT version_id FROM heads WHERE folder_id = ? AND path = ?').pluck(),
      removeHead: db.prepare('DELETE FROM heads WHERE folder_id = ? AND path = ? AND version_id = ?'),
      addHead: db.prepare('INSERT OR IGNORE INTO heads (folder_id, path, version_id) VALUES (?, ?, ?)'),
      vectorOf: db.prepare('SELECT vector FROM versions WHERE id = ?').pluck(),
      byId: db.prepare(`${SELECT_VERSION} WHERE v.id = ?`),
      heads: db.prepare(`${SELECT_VERSION} JOIN heads h ON h.version_id = v.id WHERE h.folder_id = ? AND h.path = ?`),
      history: db.prepare(`${SELECT_VERSION} WHERE v.folder_id = ? AND v.path = ? ORDER BY v.created_at DESC, v.origin_seq DESC`),
      chunks: db.prepare('SELECT chunk AS hash, offset, size FROM version_chunks WHERE version_id = ? ORDER BY idx'),
      // The paths come as a JSON array, walked first (CROSS JOIN): one primary-key seek each.
      headShapes: db.prepare(`SELECT h.path AS path, h.version_id AS id, (SELECT count(*) FROM version_parents p WHERE p.version_id = h.version_id) AS parents
        FROM json_each(?) AS j CROSS JOIN heads AS h WHERE h.folder_id = ? AND h.path = j.value`),
      // As headShapes: the paths, then the chunk lists' version ids, as one JSON array each.
      headsOfMany: db.prepare(`SELECT ${VERSION_COLUMNS} FROM json_each(?) AS j CROSS JOIN heads AS h CROSS JOIN versions AS v
        WHERE h.folder_id = ? AND h.path = j.value AND v.id = h.version_id`),
      chunksOfMany: db.prepare(`SELECT c.version_id AS id, c.chunk AS hash, c.offset AS offset, c.size AS size
        FROM json_each(?) AS j CROSS JOIN version_chunks AS c WHERE c.version_id = j.value ORDER BY j.key, c.idx`),
      ownChunks: db.prepare(`SELECT c.chunk AS hash, c.size FROM version_chunks c JOIN versions v ON v.id = c.version_id
        WHERE c.version_id = ? AND v.author = ? ORDER BY c.idx`),
    };
  }

  /** Appends a local change of one path to the log and the DAG. Call inside a transaction. */
  recordLocal(change: NewLocalVersion): Version {
    return this.recordLocalBatch([change])[0] as Version;
  }

  /**
   * Appends changes made together (one scan batch) as ONE signed log entry: signing is the
   * costly step (tens of microseconds), so a batch of 1,000 new files signs once, not 1,000
   * times. Each version still gets its own id and vector. Paths must be distinct within a
   * batch. Call inside a transaction.
   */
  recordLocalBatch(changes: readonly NewLocalVersion[]): Version[] {
    if (changes.length === 0) return [];
    const createdAt = this.now();
    const state: VersionState = this.meshSize() <= 1 ? 'confirmed' : 'provisional';
    const drafts = changes.map((change) => {
      const parents = change.parentIds ? [...change.parentIds].sort() : (this.stmt.headIds.all(change.folderId, change.path) as string[]).sort();
      return { change, parents, parentVectors: parents.map((id) => this.vectorOf(id)) };
    });
    let seq = 0;
    const vectors: Record<string, number>[] = [];
    const texts: string[] = [];
    const entry = this.log.append('versions', (s) => {
      seq = s;
      return {
        t: 'versions',
        author: this.localDevice,
        seq: s,
        createdAt,
        versions: drafts.map(({ change, parents, parentVectors }) => {
          const vector = nextVector(parentVectors, this.localDevice, s);
          vectors.push(vector);
          const text = canonicalJson(versionBody(change, parents, vector));
          texts.push(text);
          return new RawJson(text);
        }),
      };
    });
    return drafts.map(({ change, parents }, i) => {
      const vector = vectors[i] as Record<string, number>;
      const id = versionIdOf(entry.origin, seq, texts[i] as string);
      this.stmt.insertVersion.run(id, change.folderId, change.path, change.kind, change.size, change.mtimeMs, change.mode,
        change.target ?? null, JSON.stringify(vector), this.localDevice, seq, createdAt, state);
      for (const p of parents) {
        this.stmt.insertParent.run(id, p);
        this.stmt.removeHead.run(change.folderId, change.path, p);
      }
      change.chunks.forEach((c, idx) => this.stmt.insertChunk.run(id, idx, c.hash, c.offset, c.size));
      this.stmt.addHead.run(change.folderId, change.path, id);
      return {
        id, folderId: change.folderId, path: change.path, kind: change.kind, size: change.size, mtimeMs: change.mtimeMs,
        mode: change.mode, target: change.target ?? null, vector, author: this.localDevice, originSeq: seq, createdAt,
        state, parents, chunkCount: change.chunks.length,
      };
    });
  }

  get(id: string): Version | undefined {
    const row = this.stmt.byId.get(id) as VersionDbRow | undefined;
    return row ? toVersion(row) : undefined;
  }

  heads(folderId: string, path: string): Version[] {
    return (this.stmt.heads.all(folderId, path) as VersionDbRow[]).map(toVersion);
  }

  /**
   * The chunk list of a version this device recorded (its own chunker cut it), else
   * undefined: the scanner's hint for rechunking an edited file (chunkFileSync).
   */
  ownChunks(versionId: string): { hash: string; size: number }[] | undefined {
    const rows = this.stmt.ownChunks.all(versionId, this.localDevice) as { hash: string; size: number }[];
    return rows.length > 0 ? rows : undefined;
  }

  /** How many heads a path has (more than one: branches), without reading them. */
  /**
   * Cheap facts for every path sync touches: how many heads, and the one head's id when it
   * is a merge (a merge made elsewhere closed this path's conflict here too). Paths without
   * heads are left out. One query per KEYS_PER_QUERY paths (manyAtOnce): a log batch of 1,024 new files
   * took 10 µs a path asked one by one, 3.7 µs together.
   */
  headShapes(folderId: string, paths: Iterable<string>): Map<string, { heads: number; mergeHead: string | null }> {
    const rows = manyAtOnce([...paths], (json) => this.stmt.headShapes.all(json, folderId) as { path: string; id: string; parents: number }[]);
    const byPath = new Map<string, { id: string; parents: number }[]>();
    for (const r of rows) {
      const heads = byPath.get(r.path);
      if (heads) heads.push(r);
      else byPath.set(r.path, [r]);
    }
    const out = new Map<string, { heads: number; mergeHead: string | null }>();
    for (const [p, heads] of byPath) {
      const only = heads.length === 1 ? heads[0] : undefined;
      out.set(p, { heads: heads.length, mergeHead: only && only.parents > 1 ? only.id : null });
    }
    return out;
  }

  /** More than one head, and they disagree (see headsDisagree): what the user is asked to settle. */
  inConflict(folderId: string, path: string): boolean {
    const heads = this.heads(folderId, path);
    return heads.length > 1 && headsDisagree(heads.map((h) => ({ ...h, chunks: h.kind === 'file' ? this.chunks(h.id).map((c) => c.hash) : [] })));
  }

  preferredHead(folderId: string, path: string): Version | undefined {
    return preferredHead(this.heads(folderId, path));
  }

  /**
   * preferredHead() of each of `paths` that has a head, in batched queries (manyAtOnce):
   * planning 10,000 new files asked 10,000 times for one path's heads.
   */
  preferredHeads(folderId: string, paths: readonly string[]): Map<string, Version> {
    const byPath = new Map<string, Version[]>();
    for (const row of manyAtOnce(paths, (json) => this.stmt.headsOfMany.all(json, folderId) as VersionDbRow[])) {
      const v = toVersion(row);
      const heads = byPath.get(v.path);
      if (heads) heads.push(v);
      else byPath.set(v.path, [v]);
    }
    const out = new Map<string, Version>();
    for (const [p, heads] of byPath) out.set(p, preferredHead(heads) as Version);
    return out;
  }

  /** chunks() of each of `versionIds`, batched as preferredHeads; a version without chunks maps to []. */
  chunksOfMany(versionIds: readonly string[]): Map<string, ChunkRef[]> {
    const out = new Map<string, ChunkRef[]>(versionIds.map((id) => [id, []]));
    for (const { id, ...c } of manyAtOnce(versionIds, (json) => this.stmt.chunksOfMany.all(json) as (ChunkRef & { id: string })[])) out.get(id)?.push(c);
    return out;
  }

  /** Every version of a path, newest first (timestamps only sort the list for people). */
  history(folderId: string, path: string): Version[] {
    return (this.stmt.history.all(folderId, path) as VersionDbRow[]).map(toVersion);
  }

  chunks(versionId: string): ChunkRef[] {
    return this.stmt.chunks.all(versionId) as ChunkRef[];
  }

  private vectorOf(id: string): VersionVector {
    const raw = this.stmt.vectorOf.get(id) as string | undefined;
    return raw ? (JSON.parse(raw) as VersionVector) : {};
  }
}

/** The signed form of one version inside a log entry. */
/**
 * Built with its keys in canonical (sorted) order and no undefined field, so canonicalJson
 * serializes it natively: a scan of 10,000 new files serializes 10,000 of these.
 */
function versionBody(change: NewLocalVersion, parents: string[], vector: Record<string, number>): Json {
  const body: { [key: string]: Json } = {
    chunks: change.chunks.map((c) => [c.hash, c.size]),
    folder: change.folderId,
    kind: change.kind,
    mode: change.mode,
    mtimeMs: change.mtimeMs,
    parents,
    path: change.path,
    size: change.size,
  };
  if (change.target !== undefined) body.target = change.target;
  body.vector = vector;
  return body;
}

function toVersion(row: VersionDbRow): Version {
  return {
    id: row.id, folderId: row.folder_id, path: row.path, kind: row.kind, size: row.size, mtimeMs: row.mtime_ms,
    mode: row.mode, target: row.target, vector: JSON.parse(row.vector) as VersionVector, author: row.author,
    originSeq: row.origin_seq, createdAt: row.created_at, state: row.state,
    parents: row.parents ? row.parents.split(',').sort() : [], chunkCount: row.chunk_count,
  };
}

export { compareVectors, mergeVectors, nextVector } from './vector.js';
export type { VersionVector, Causality } from './vector.js';
export { preferredHead, compareHeads, latestFirst, headsDisagree } from './heads.js';
export { Confirmations, confirmedUpTo } from './confirm.js';
export type { ChangedPath } from './confirm.js';
