/**
 * The materializer: makes a device's working copy show the preferred head of every path
 * once other devices' versions have arrived (DESIGN.md sections 2, 3 and 5).
 *
 * Owns: deciding what each path needs (`plan`), and doing it (`apply`) with the product's
 * promises intact:
 * - a file appears whole or not at all (temp file beside it, fsync, rename), and its
 *   fast-path row is written right after, so the scanner sees no change;
 * - a local edit the scanner has not recorded yet is never overwritten or deleted: the
 *   destination is compared with its fast-path row just before the rename, and on any
 *   difference the path is skipped as a conflict (the next scan records the edit as a
 *   branch beside the remote version);
 * - before a working-copy file is replaced or removed, chunks of its old content that
 *   nothing else holds are copied into the chunk store, so the old version stays readable;
 * - chunks come from local sources first (copied) and are fetched only when missing; every
 *   fetched chunk is verified before a byte of it is written;
 * - every remote path is checked (structure, local name rules, no symlinked parents) and a
 *   bad one is recorded in `sync_problems` while the rest proceeds.
 * It runs under the folder's lock, shared with the scanner, so a scan never interleaves
 * with a write of the same folder.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { manyAtOnce, type Db } from '../db/index.js';
import type { ChunkStore } from '../store/index.js';
import { unchanged, type IndexRow, type Scanner } from '../scan/index.js';
import type { ChunkRef, Version, Versions } from '../versions/index.js';
import { blake3Hex } from '../chunking/hash.js';
import { CanopyError, errnoCode, fromFsError, isCanopyError } from '../errors/index.js';
import { loadIgnore, TEMP_PREFIX, type IgnoreMatcher } from '../scan/ignore.js';
import { entryFromStats, type WalkEntry } from '../scan/walk.js';
import { MAX_CHUNK_BYTES, type LocalChunks } from './local-chunks.js';
import { GroupFlush } from './flush.js';
import { DIRECT_MIN_BYTES, openFileSink } from './file-sink.js';
import { WeightedQueue } from './weighted-queue.js';
import { WriteOrder } from './write-order.js';
import { checkLocalName, checkRemotePath, MAX_PATH_BYTES, resolveInside } from './paths.js';

/** Runs `fn` while no scan (and no other materialization) of the folder runs. */
export type FolderLock = <T>(folderId: string, fn: () => Promise<T>) => Promise<T>;

/**
 * Serves a chunk's bytes from another device. The materializer verifies them (size and
 * BLAKE3) unless the fetcher says it already did (`verified`: PeerSession checks every
 * chunk as it arrives), so a chunk is hashed once on its way to disk, not twice.
 */
export type FetchChunk = ((hash: string, size: number) => Promise<Buffer>) & { readonly verified?: boolean };

export interface MaterializeProblem {
  path: string;
  code: string;
  message: string;
}

export interface MaterializerDeps {
  db: Db;
  versions: Versions;
  store: ChunkStore;
  local: LocalChunks;
  scanner: Scanner;
  folderRoot: (folderId: string) => string | undefined;
  onProblem?: (p: { folderId: string; path: string; code: string; message: string }) => void;
  /** A path left alone because the working copy holds an unscanned local change. Not a problem: the next scan records it as a branch. */
  onConflict?: (c: { folderId: string; path: string; versionId: string }) => void;
  /** Files of on-demand folders this device leaves online-only (placement decides): not written here. */
  onlineOnly?: (folderId: string, path: string) => boolean;
  /** Default: the scanner's per-folder lock (`scanner.withFolderLock`), which its scans take too. */
  lock?: FolderLock;
  /** How written files are made durable. Default: small files in groups where the platform allows (GroupFlush). */
  flush?: GroupFlush;
  /** Notices about how the materializer works here (not about a path), for the daemon's log. */
  onLog?: (line: string) => void;
}

export interface MissingChunk {
  hash: string;
  size: number;
}

export type MaterializeActionKind = 'write' | 'mkdir' | 'symlink' | 'delete';

export interface MaterializeAction {
  path: string;
  action: MaterializeActionKind;
  /** The preferred head the path should show. */
  version: Version;
  /** The version the working copy reflects now (local_files), or null for none. */
  reflected: string | null;
  /** Bytes of the file to write (0 for other actions). */
  bytes: number;
  /** Chunks of the file that no local source holds (deduplicated within the file). */
  missingChunks: MissingChunk[];
  /** The version's whole chunk list (files only), as checked by the plan. */
  chunks?: ChunkRef[];
  missingBytes: number;
}

export interface MaterializePlan {
  folderId: string;
  actions: MaterializeAction[];
  /** Paths whose head cannot be materialized here (bad path, malformed version); skipped. */
  problems: (MaterializeProblem & { versionId: string; origin: string })[];
  /** Paths the local `.canopyignore` excludes; left alone like the scanner leaves them. */
  ignored: string[];
  /** Every chunk the plan must fetch, once each. */
  missingChunks: MissingChunk[];
  /** Bytes of all files to write, and of the chunks among them that must be fetched. */
  bytesTotal: number;
  bytesMissing: number;
}

export interface MaterializeReport {
  written: number;
  deleted: number;
  dirs: number;
  symlinks: number;
  skipped: number;
  conflicts: number;
  problems: MaterializeProblem[];
  bytesFetched: number;
  bytesCopiedLocally: number;
  /** Files that needed chunks from other devices and were not written (fetch failed, conflict): worth another pass later. */
  incomplete: number;
}

type LocalRow = Omit<IndexRow, 'path'>;

/**
 * Mode bits applied to what is written. setuid, setgid and sticky are dropped on purpose:
 * the engine may run as root on a home server, and a version from another device must not
 * be able to plant a setuid binary. The fast-path row records the mode actually on disk.
 */
const MODE_MASK = 0o777;
/**
 * Files written at once by one apply, as weights against WRITE_CAPACITY: a file weighs one
 * unit per WRITE_UNIT_BYTES, from 1 up to WRITE_CAPACITY / 8. So 8 big files are written
 * side by side, and up to 256 small ones: each small one spends most of its time waiting for
 * a chunk to arrive and for its group flush, and a group is as big as the files waiting
 * (a few MiB of bytes held at most).
 */
const WRITE_CAPACITY = 256;
const WRITE_UNIT_BYTES = 32 * 1024;
const writeWeight = (a: MaterializeAction) => Math.min(WRITE_CAPACITY / 8, Math.max(1, Math.ceil(a.version.size / WRITE_UNIT_BYTES)));
/**
 * Paths planned at a time by one pass (about 35 ms of planning here), and how few of the
 * queued files may wait to start before the next slice is planned.
 */
const PLAN_SLICE = 512;
const PLAN_AHEAD = 128;
/** Fast-path rows written per transaction. */
const LANDED_BATCH = 256;
const HASH_RE = /^[0-9a-f]{64}$/;

/** Raised inside one path's work when the destination is not what its row says: a conflict. */
class LocalChange extends Error {}

/** A per-path failure whose code is not one of the engine's error codes (e.g. BAD_VERSION). */
class PathProblem extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Outcome of one action, for the report. */
type Outcome = 'done' | 'noop' | 'conflict' | 'postpone' | 'skipped';

/** A fast-path row as LocalRow holds it, from `local_files AS f`. */
const ROW_COLUMNS = 'f.kind AS kind, f.size AS size, f.mtime_ms AS mtime_ms, f.ino AS ino, f.mode AS mode, f.version_id AS version_id';

export class Materializer {
  private readonly stmt;
  private readonly lock: FolderLock;
  private readonly isRoot = process.getuid?.() === 0;
  /**
   * The row each planned action's path had when it was planned. Plans are made and applied
   * under the folder's lock, and a pass writes a path's row only once it has written the
   * path, so the row is still that when the action runs: one query per file less.
   */
  private readonly plannedRows = new WeakMap<MaterializeAction, LocalRow | undefined>();
  /** Temp names: random per materializer, then a counter (a random draw per file costs more than the rest of its name). */
  private readonly tempStem = `${TEMP_PREFIX}${randomBytes(6).toString('hex')}-`;
  private tempCount = 0;
  private readonly flusher: GroupFlush;

  constructor(private readonly deps: MaterializerDeps) {
    const db = deps.db;
    this.lock = deps.lock ?? ((folderId, fn) => deps.scanner.withFolderLock(folderId, fn));
    this.flusher = deps.flush ?? new GroupFlush({ onFallback: (m) => deps.onLog?.(m) });
    this.stmt = {
      // Paths that may need work: more than one head (the preferred one is picked in code), or
      // a single head the working copy does not reflect. Paths in sync cost no per-path query.
      candidatePaths: db.prepare(`SELECT h.path FROM heads h
        LEFT JOIN local_files f ON f.folder_id = h.folder_id AND f.path = h.path
        WHERE h.folder_id = ? GROUP BY h.path
        HAVING count(*) > 1 OR sum(f.version_id IS NOT h.version_id) > 0 ORDER BY h.path`).pluck(),
      // One path of candidatePaths: whether it may need work (a plan of it may have actions).
      isCandidate: db.prepare(`SELECT count(*) > 1 OR coalesce(sum(f.version_id IS NOT h.version_id), 0) > 0 FROM heads h
        LEFT JOIN local_files f ON f.folder_id = h.folder_id AND f.path = h.path
        WHERE h.folder_id = ? AND h.path = ?`).pluck(),
      row: db.prepare(`SELECT ${ROW_COLUMNS} FROM local_files AS f WHERE f.folder_id = ? AND f.path = ?`),
      rowsOfMany: db.prepare(`SELECT f.path AS path, ${ROW_COLUMNS} FROM json_each(?) AS j CROSS JOIN local_files AS f WHERE f.folder_id = ? AND f.path = j.value`),
      // Same statement as the scanner's, so both write identical fast-path rows.
      upsertRow: db.prepare(`INSERT INTO local_files (folder_id, path, kind, size, mtime_ms, ino, mode, version_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (folder_id, path) DO UPDATE SET
        kind = excluded.kind, size = excluded.size, mtime_ms = excluded.mtime_ms, ino = excluded.ino, mode = excluded.mode, version_id = excluded.version_id`),
      putProblem: db.prepare(`INSERT INTO sync_problems (folder_id, path, origin, code, message, seen_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (folder_id, path) DO UPDATE SET origin = excluded.origin, code = excluded.code, message = excluded.message, seen_at = excluded.seen_at`),
      clearProblem: db.prepare('DELETE FROM sync_problems WHERE folder_id = ? AND path = ?'),
    };
  }

  /** A name for a temp file no other writer uses (created with O_EXCL all the same). */
  private tempName(): string {
    return `${this.tempStem}${(this.tempCount++).toString(36)}`;
  }

  /** What the working copy of `folderId` needs to show the preferred heads of `paths` (default: every path with heads). */
  plan(folderId: string, paths?: readonly string[]): MaterializePlan {
    // One read transaction for the whole plan: a few lookups per path, and each one on its
    // own would take and release SQLite's read locks again (thousands of fcntl calls).
    return this.deps.db.transaction(() => this.planNow(folderId, paths))();
  }

  private planNow(folderId: string, paths?: readonly string[]): MaterializePlan {
    const root = this.requireRoot(folderId);
    const matcher = loadIgnore(root);
    const list = this.pathsToPlan(folderId, paths);
    const plan: MaterializePlan = { folderId, actions: [], problems: [], ignored: [], missingChunks: [], bytesTotal: 0, bytesMissing: 0 };
    const missingAll = new Map<string, number>();
    // Each path's head, row and chunk list, and which chunks are here, a few queries for the
    // whole slice: asked path by path, they were a third of a new small file's cost here.
    const heads = this.deps.versions.preferredHeads(folderId, list);
    const rows = this.rows(folderId, list);
    const fileHeads = [...heads.values()].filter((h) => h.kind === 'file' && rows.get(h.path)?.version_id !== h.id);
    const chunkLists = this.deps.versions.chunksOfMany(fileHeads.map((h) => h.id));
    const held = this.deps.local.heldAmong([...new Set([...chunkLists.values()].flatMap((cs) => cs.map((c) => c.hash)))]);
    for (const rel of list) {
      const head = heads.get(rel);
      if (!head) continue;
      const row = rows.get(rel);
      if (row?.version_id === head.id) continue;
      if (head.kind === 'file' && !row && this.deps.onlineOnly?.(folderId, rel)) continue;
      const bad = checkRemotePath(rel) ?? checkLocalName(rel);
      if (bad) {
        plan.problems.push({ path: rel, code: 'BAD_PATH', message: `not materialized: ${bad}`, versionId: head.id, origin: head.author });
        continue;
      }
      if (ignoredLocally(rel, head.kind === 'dir', matcher)) {
        plan.ignored.push(rel);
        continue;
      }
      const action: MaterializeAction = { path: rel, action: 'delete', version: head, reflected: row?.version_id ?? null, bytes: 0, missingChunks: [], missingBytes: 0 };
      if (head.kind === 'file') {
        const chunks = chunkLists.get(head.id) ?? [];
        const malformed = checkChunkList(head, chunks);
        if (malformed) {
          plan.problems.push({ path: rel, code: 'BAD_VERSION', message: `not materialized: ${malformed}`, versionId: head.id, origin: head.author });
          continue;
        }
        action.action = 'write';
        action.chunks = chunks;
        action.bytes = head.size;
        const seen = new Set<string>();
        for (const c of chunks) {
          if (seen.has(c.hash) || held.has(c.hash)) continue;
          seen.add(c.hash);
          action.missingChunks.push({ hash: c.hash, size: c.size });
          action.missingBytes += c.size;
          missingAll.set(c.hash, c.size);
        }
        plan.bytesTotal += head.size;
      } else if (head.kind === 'symlink') {
        const malformed = checkSymlinkTarget(head.target);
        if (malformed) {
          plan.problems.push({ path: rel, code: 'BAD_VERSION', message: `not materialized: ${malformed}`, versionId: head.id, origin: head.author });
          continue;
        }
        action.action = 'symlink';
      } else if (head.kind === 'dir') {
        action.action = 'mkdir';
      }
      this.plannedRows.set(action, row);
      plan.actions.push(action);
    }
    for (const [hash, size] of missingAll) {
      plan.missingChunks.push({ hash, size });
      plan.bytesMissing += size;
    }
    return plan;
  }

  /**
   * The paths among `paths` that may need work: more than one head, or a head the working
   * copy does not reflect (a plan of the others has no action). One index lookup per path,
   * far cheaper than planning: a batch of entries that only confirmed versions this device
   * already shows (another device's ack) needs no pass at all.
   */
  mayNeedWork(folderId: string, paths: Iterable<string>): string[] {
    const out: string[] = [];
    this.deps.db.transaction(() => {
      for (const p of paths) if (this.stmt.isCandidate.get(folderId, p) === 1) out.push(p);
    })();
    return out;
  }

  /** Every path of the folder that may need work (see mayNeedWork), in order; one query, no planning. */
  candidates(folderId: string): string[] {
    return this.stmt.candidatePaths.all(folderId) as string[];
  }

  /** What still has to come from other devices before the folder is fully materialized. */
  pending(folderId: string): { files: number; bytes: number } {
    const plan = this.plan(folderId);
    return { files: plan.actions.filter((a) => a.missingChunks.length > 0).length, bytes: plan.bytesMissing };
  }

  /**
   * Brings the working copy in line with the plan for `paths` (default: all), fetching
   * missing chunks with `fetch`. Per-path failures are reported, never thrown; only a
   * folder that is not attached (or whose root is gone) throws.
   */
  apply(folderId: string, paths: readonly string[] | undefined, fetch: FetchChunk): Promise<MaterializeReport> {
    return this.applyPlanned(folderId, paths, () => fetch);
  }

  /**
   * apply(), with the fetch function made from the plan it works from (made under the
   * folder's lock), so a caller that fetches ahead in the plan's order need not plan twice.
   * The paths are planned PLAN_SLICE at a time, each slice while the files of the ones
   * before are being fetched and written: `makeFetch` is called once per slice, with that
   * slice's plan and the number of paths left to plan after it.
   */
  applyPlanned(
    folderId: string, paths: readonly string[] | undefined, makeFetch: (plan: MaterializePlan, pathsLeft: number) => FetchChunk,
    /** Called as each file or symlink of the plan is done with (written, or left for a later pass): progress. */
    onSettled?: (action: MaterializeAction) => void,
  ): Promise<MaterializeReport> {
    return this.lock(folderId, () => this.applyNow(folderId, paths, makeFetch, onSettled));
  }

  private async applyNow(folderId: string, paths: readonly string[] | undefined, makeFetch: (plan: MaterializePlan, pathsLeft: number) => FetchChunk, onSettled?: (action: MaterializeAction) => void): Promise<MaterializeReport> {
    const root = this.requireRoot(folderId);
    // An unmounted or removed folder must not be refilled from scratch in its place.
    const rootStat = await fsp.stat(root).catch(() => undefined);
    if (!rootStat?.isDirectory()) throw new CanopyError('NOT_FOUND', `folder "${folderId}" is not reachable at ${root}; is its drive mounted?`, { folderId, path: root });

    const report: MaterializeReport = { written: 0, deleted: 0, dirs: 0, symlinks: 0, skipped: 0, conflicts: 0, problems: [], bytesFetched: 0, bytesCopiedLocally: 0, incomplete: 0 };
    const ctx: ApplyContext = { folderId, root, fetch: noFetch, report, dirModes: [], landedRows: [], onSettled };
    try {
      await this.applySlices(ctx, this.pathsToPlan(folderId, paths), makeFetch);
    } finally {
      await this.recordLanded(ctx);
    }
    return report;
  }

  /** The paths a pass plans, in order: `paths` (sorted, once each), or every path that may need work. */
  private pathsToPlan(folderId: string, paths: readonly string[] | undefined): string[] {
    return paths ? [...new Set(paths)].sort(cmp) : this.candidates(folderId);
  }

  /**
   * Plans and applies `list` a slice at a time. A slice's directories are made before its
   * files are queued; the next slice is planned once the queue is nearly through the files
   * before it, so planning thousands of paths never holds up the first fetches. Writes run
   * several at once (each waits on its own fsyncs, and the disk serves them together), except
   * a path under (or, case aside, equal to) another written path: it goes after, in order, so
   * it sees what that write made (a symlink parent is refused, a file parent is in the way).
   * Writes before deletes: a renamed file is written from the old file's bytes, then the old
   * one goes.
   */
  private async applySlices(ctx: ApplyContext, list: readonly string[], makeFetch: (plan: MaterializePlan, pathsLeft: number) => FetchChunk): Promise<void> {
    const report = ctx.report;
    const postponed: [ApplyContext, MaterializeAction][] = [];
    const settled = (a: MaterializeAction, outcome: Outcome) => {
      if (a.missingChunks.length > 0 && outcome !== 'done' && outcome !== 'noop') report.incomplete++;
      ctx.onSettled?.(a);
    };
    const write = async ([c, a]: [ApplyContext, MaterializeAction]) => {
      const outcome = await this.run(c, a, () => this.writeEntry(c, a, false));
      if (outcome === 'postpone') postponed.push([c, a]);
      else settled(a, outcome);
    };
    const queue = new WeightedQueue<[ApplyContext, MaterializeAction]>(WRITE_CAPACITY, ([, a]) => writeWeight(a), write);
    const order = new WriteOrder();
    const after: [ApplyContext, MaterializeAction][] = [];
    const deletes: [ApplyContext, MaterializeAction][] = [];
    const depth = (p: string) => p.split('/').length;

    for (let i = 0; i < list.length; i += PLAN_SLICE) {
      if (i > 0) await queue.backlogAtMost(PLAN_AHEAD);
      const plan = this.plan(ctx.folderId, list.slice(i, i + PLAN_SLICE));
      for (const p of plan.problems) this.problem(ctx.folderId, p, p.origin, report);
      report.skipped += plan.ignored.length;
      // The slice's own fetch; everything else (report, rows waiting, directory modes) is the pass's.
      const sliceCtx: ApplyContext = { ...ctx, fetch: makeFetch(plan, Math.max(0, list.length - i - PLAN_SLICE)) };
      const dirs = plan.actions.filter((a) => a.action === 'mkdir').sort((a, b) => depth(a.path) - depth(b.path) || cmp(a.path, b.path));
      for (const a of dirs) await this.run(sliceCtx, a, () => this.makeDir(sliceCtx, a));
      for (const a of plan.actions.filter((x) => x.action === 'write' || x.action === 'symlink').sort((x, y) => cmp(x.path, y.path))) {
        if (order.independent(a.path)) queue.push([sliceCtx, a]);
        else after.push([sliceCtx, a]);
      }
      for (const a of plan.actions) if (a.action === 'delete') deletes.push([sliceCtx, a]);
    }
    await queue.drained();
    for (const item of after) await write(item);
    postponed.sort(([, a], [, b]) => cmp(a.path, b.path));
    await this.recordLanded(ctx); // the deletes below read rows of their own
    // Deepest first, so a directory is emptied before it is removed.
    deletes.sort(([, a], [, b]) => depth(b.path) - depth(a.path) || cmp(b.path, a.path));
    for (const [c, a] of deletes) await this.run(c, a, () => this.remove(c, a));
    // Files that replace a directory whose contents were only removed by the deletes above.
    for (const [c, a] of postponed) settled(a, await this.run(c, a, () => this.writeEntry(c, a, true)));
    // Directory modes last: a read-only directory is created writable so its files can land first.
    for (const d of ctx.dirModes.reverse()) await this.run(ctx, d.action, () => this.finishDir(ctx, d.action, d.abs));
  }

  private writeEntry(ctx: ApplyContext, a: MaterializeAction, lastTry: boolean): Promise<Outcome> {
    return a.action === 'write' ? this.writeFile(ctx, a, lastTry) : this.writeSymlink(ctx, a, lastTry);
  }

  /** Runs one path's work, turning its failure into a problem so the rest proceeds. */
  private async run(ctx: ApplyContext, a: MaterializeAction, work: () => Promise<Outcome>): Promise<Outcome> {
    try {
      const outcome = await work();
      if (outcome === 'conflict') this.conflict(ctx, a);
      return outcome;
    } catch (err) {
      if (err instanceof LocalChange) {
        this.conflict(ctx, a);
        return 'conflict';
      }
      if (err instanceof PathProblem) {
        this.problem(ctx.folderId, { path: a.path, code: err.code, message: err.message }, a.version.author, ctx.report);
        return 'skipped';
      }
      const e = isCanopyError(err) ? err : errnoCode(err) ? fromFsError(err, 'materializing', a.path) : new CanopyError('IO_ERROR', `materializing ${a.path} failed: ${String(err)}`);
      this.problem(ctx.folderId, { path: a.path, code: e.code, message: e.message }, a.version.author, ctx.report);
      return 'skipped';
    }
  }

  // ---------------------------------------------------------------- files

  /**
   * Where a write goes, if it may go there: parents made, and the destination checked to be
   * what the working copy last reflected (else a local edit: a conflict, never overwritten)
   * and not a directory that still has entries.
   */
  private async claimDestination(ctx: ApplyContext, a: MaterializeAction, lastTry: boolean) {
    const { abs, parent } = await this.prepareParents(ctx, a.path);
    const row = this.plannedRows.has(a) ? this.plannedRows.get(a) : this.row(ctx.folderId, a.path);
    const before = await this.destination(abs, row);
    if (before.state === 'changed') return 'conflict' as const;
    if (before.state === 'matches' && before.entry.kind === 'dir' && !(await isEmptyDir(abs))) return this.dirInTheWay(ctx, a, lastTry);
    return { abs, row, before, parent };
  }

  private async writeFile(ctx: ApplyContext, a: MaterializeAction, lastTry: boolean): Promise<Outcome> {
    const v = a.version;
    const target = await this.claimDestination(ctx, a, lastTry);
    if (typeof target === 'string') return target;
    const { abs, row, before, parent } = target;

    const chunks = a.chunks ?? this.deps.versions.chunks(v.id);
    const missing = new Set(a.missingChunks.map((c) => c.hash));
    const tmp = path.join(path.dirname(abs), this.tempName());
    // A plain fd rather than a FileHandle: the cheap calls on it below (fchmod, futimes, fstat,
    // close, small writes) are made synchronously, which for thousands of small files saves
    // more time than anything else here (a trip through the thread pool costs more than the
    // call). Creating the file and fsync, the slow ones, stay asynchronous. Big files are
    // written past the page cache (file-sink.ts).
    const sink = await openFileSink(tmp, v.size);
    let closed = false;
    let written: Stats;
    try {
      // The next chunk is read (or fetched) and verified while this one is written.
      const load = (i: number): Promise<Buffer> | undefined => {
        const c = chunks[i];
        // A repeated chunk (runs of zeros in disk images) is reused, not read or fetched again.
        if (!c || chunks[i - 1]?.hash === c.hash) return undefined;
        const p = this.chunkBytes(ctx, a, c, missing);
        p.catch(() => undefined); // awaited in its turn; if an earlier chunk fails first, dropped
        return p;
      };
      let lastData: Buffer | undefined;
      let next = load(0);
      for (let i = 0; i < chunks.length; i++) {
        const c = chunks[i] as ChunkRef;
        const pending = next;
        next = load(i + 1);
        const data = pending ? await pending : (lastData as Buffer);
        if (data.byteLength !== c.size) throw new PathProblem('BAD_VERSION', `${a.path}: chunk ${c.hash.slice(0, 12)} is ${data.byteLength} bytes, the version says ${c.size}`);
        lastData = data;
        // Zero chunks are left as holes: sparse files stay sparse, and the file reads the same.
        if (!isAllZero(data)) await sink.write(data, c.offset);
      }
      await sink.end(v.size);
      const fd = sink.fd;
      const owner = await this.ownerToSet(abs, before, parent);
      if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
      fs.fchmodSync(fd, v.mode & MODE_MASK);
      // Seconds as a float keep sub-millisecond precision that a Date would drop.
      fs.futimesSync(fd, Date.now() / 1000, v.mtimeMs / 1000);
      written = fs.fstatSync(fd);
      await this.flusher.flush(fd, v.size, path.dirname(abs), written.dev);
      closed = true;
      fs.closeSync(fd);

      const newHashes = new Set(chunks.map((c) => c.hash));
      if (before.state === 'matches') await this.preserveOld(ctx, a.path, row as LocalRow, newHashes);
      await this.recheck(abs, row, before);
      if (before.state === 'matches' && before.entry.kind === 'dir') await rmdirReplaced(abs);
      // Replacing a big file frees its blocks inside the rename (0.4-0.5 s per GiB here): off
      // this thread, which serves peers meanwhile. A small one is renamed at once (cheaper
      // than a trip through the thread pool).
      if (before.state === 'matches' && before.st.size >= DIRECT_MIN_BYTES) await fsp.rename(tmp, abs);
      else fs.renameSync(tmp, abs);
    } catch (err) {
      if (!closed) await sink.close();
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    await this.landed(ctx, a, abs, written);
    ctx.report.written++;
    return 'done';
  }

  /**
   * One chunk's verified bytes: copied from a local source if any has it, else fetched and
   * checked. A chunk the plan found in no local source (`missing`) is fetched first, without
   * looking again (a store lookup and a query per chunk of every new file), and looked for
   * locally only if the fetch fails (it may have arrived since).
   */
  private async chunkBytes(ctx: ApplyContext, a: MaterializeAction, c: ChunkRef, missing: ReadonlySet<string>): Promise<Buffer> {
    const copy = async () => {
      const local = await this.deps.local.read(c.hash);
      if (local) ctx.report.bytesCopiedLocally += local.byteLength;
      return local;
    };
    if (!missing.has(c.hash)) {
      const local = await copy();
      if (local) return local;
    }
    let data: Buffer;
    try {
      data = await ctx.fetch(c.hash, c.size);
    } catch (err) {
      const local = missing.has(c.hash) ? await copy() : undefined;
      if (local) return local;
      const msg = err instanceof Error ? err.message : String(err);
      throw new CanopyError(isCanopyError(err) ? err.code : 'IO_ERROR', `${a.path}: could not fetch chunk ${c.hash.slice(0, 12)}: ${msg}`, { path: a.path, hash: c.hash }, { cause: err });
    }
    if (!(data instanceof Uint8Array) || data.byteLength !== c.size || (ctx.fetch.verified !== true && blake3Hex(data) !== c.hash)) {
      throw new CanopyError('CORRUPT_CHUNK', `${a.path}: a fetched chunk ${c.hash.slice(0, 12)} did not match its hash; nothing was written`, { path: a.path, hash: c.hash });
    }
    ctx.report.bytesFetched += data.byteLength;
    // A JavaScript caller may hand back a plain Uint8Array; view it as a Buffer without copying.
    const bytes: Uint8Array = data;
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  // ---------------------------------------------------------------- symlinks

  private async writeSymlink(ctx: ApplyContext, a: MaterializeAction, lastTry: boolean): Promise<Outcome> {
    const v = a.version;
    const target = await this.claimDestination(ctx, a, lastTry);
    if (typeof target === 'string') return target;
    const { abs, row, before, parent } = target;

    const tmp = path.join(path.dirname(abs), this.tempName());
    let written: Stats;
    try {
      // Created at a temp name and renamed into place: rename replaces a symlink without following it.
      await fsp.symlink(v.target as string, tmp);
      const owner = await this.ownerToSet(abs, before, parent);
      if (owner) await fsp.lchown(tmp, owner.uid, owner.gid);
      await fsp.lutimes(tmp, Date.now() / 1000, v.mtimeMs / 1000);
      written = await fsp.lstat(tmp);
      if (before.state === 'matches') await this.preserveOld(ctx, a.path, row as LocalRow, new Set());
      await this.recheck(abs, row, before);
      if (before.state === 'matches' && before.entry.kind === 'dir') await rmdirReplaced(abs);
      await fsp.rename(tmp, abs);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    await this.landed(ctx, a, abs, written);
    ctx.report.symlinks++;
    return 'done';
  }

  private dirInTheWay(ctx: ApplyContext, a: MaterializeAction, lastTry: boolean): Outcome {
    if (!lastTry) return 'postpone';
    this.problem(ctx.folderId, { path: a.path, code: 'DIR_NOT_EMPTY', message: `${a.path} is a directory that still has entries; it is replaced once it is empty` }, a.version.author, ctx.report);
    return 'skipped';
  }

  // ---------------------------------------------------------------- directories

  private async makeDir(ctx: ApplyContext, a: MaterializeAction): Promise<Outcome> {
    const { abs } = await this.prepareParents(ctx, a.path);
    const row = this.row(ctx.folderId, a.path);
    const st = await lstatOrUndefined(abs);
    const rowPresent = row !== undefined && row.kind !== 'tombstone';
    if (!st) {
      if (rowPresent) return 'conflict'; // deleted here and not scanned yet
      await this.mkdirOwned(abs);
    } else if (st.isDirectory()) {
      // A directory holds no bytes (its entries are paths of their own), so one found with
      // no row is adopted; one whose row says another kind or mode was changed here.
      if (rowPresent && (row.kind !== 'dir' || row.mode !== (st.mode & 0o7777))) return 'conflict';
    } else {
      const before = await this.destination(abs, row);
      if (before.state !== 'matches') return 'conflict';
      await this.preserveOld(ctx, a.path, row as LocalRow, new Set());
      await this.recheck(abs, row, before);
      await fsp.unlink(abs);
      await this.mkdirOwned(abs);
    }
    ctx.dirModes.push({ action: a, abs });
    ctx.report.dirs++;
    return 'done';
  }

  /** Gives a directory its version's mode and records it (after its contents were written). */
  private async finishDir(ctx: ApplyContext, a: MaterializeAction, abs: string): Promise<Outcome> {
    const st = await fsp.lstat(abs);
    if (!st.isDirectory()) throw new LocalChange();
    await fsp.chmod(abs, a.version.mode & MODE_MASK);
    await this.landed(ctx, a, abs, await fsp.lstat(abs));
    return 'done';
  }

  /** mkdir that keeps the owner writable (see finishDir) and, as root, the parent's owner. */
  private async mkdirOwned(abs: string): Promise<void> {
    await fsp.mkdir(abs, { mode: 0o700 });
    if (this.isRoot) {
      const parent = await fsp.lstat(path.dirname(abs));
      await fsp.lchown(abs, parent.uid, parent.gid);
    }
  }

  /**
   * Checks the path (no symlinked parents) and creates missing parent directories one at a
   * time, never following anything. Returns the absolute destination, and the parent
   * directory's stats when it had to lstat it (not for the folder's root).
   */
  private async prepareParents(ctx: ApplyContext, rel: string): Promise<{ abs: string; parent: Stats | undefined }> {
    // The checks of resolveInside (paths.ts), made by the loop below as it goes: one lstat per parent.
    const reason = checkRemotePath(rel);
    if (reason) throw new CanopyError('BAD_PATH', `refused path ${JSON.stringify(rel)}: ${reason}`, { path: rel });
    const segs = rel.split('/');
    const abs = path.join(path.resolve(ctx.root), ...segs);
    let cur = path.resolve(ctx.root);
    let parent: Stats | undefined;
    for (let i = 0; i < segs.length - 1; i++) {
      cur = path.join(cur, segs[i] as string);
      let st = await lstatOrUndefined(cur);
      if (!st) {
        try {
          await fsp.mkdir(cur, { mode: 0o755 });
          if (this.isRoot) {
            const parent = await fsp.lstat(path.dirname(cur));
            await fsp.lchown(cur, parent.uid, parent.gid);
          }
        } catch (err) {
          if (errnoCode(err) !== 'EEXIST') throw err;
        }
        st = await fsp.lstat(cur);
      }
      if (!st.isDirectory()) {
        throw new CanopyError('BAD_PATH', `refused path ${JSON.stringify(rel)}: its parent ${JSON.stringify(segs.slice(0, i + 1).join('/'))} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}`, { path: rel });
      }
      parent = st;
    }
    return { abs, parent };
  }

  /**
   * The owner a new entry must be given, or undefined when there is nothing to chown: as
   * root, the owner of what it replaces, else of its directory, unless the entry is created
   * with that owner already (ownedAsCreated).
   */
  private async ownerToSet(abs: string, before: Destination, parent: Stats | undefined): Promise<Stats | undefined> {
    if (!this.isRoot) return undefined;
    const dir = parent ?? (await fsp.lstat(path.dirname(abs)));
    const owner = before.state === 'matches' ? before.st : dir;
    return ownedAsCreated(owner, dir) ? undefined : owner;
  }

  // ---------------------------------------------------------------- deletes

  private async remove(ctx: ApplyContext, a: MaterializeAction): Promise<Outcome> {
    const abs = await resolveInside(ctx.root, a.path);
    const row = this.row(ctx.folderId, a.path);
    const before = await this.destination(abs, row);
    if (before.state === 'changed') {
      // Gone here too (deleted on both sides): nothing to keep, the tombstone is the state.
      if (!before.st) {
        this.recordTombstone(ctx, a);
        return 'noop';
      }
      return 'conflict';
    }
    if (before.state === 'absent') {
      this.recordTombstone(ctx, a);
      return 'noop';
    }
    if (before.entry.kind === 'dir') {
      try {
        await fsp.rmdir(abs);
      } catch (err) {
        if (errnoCode(err) === 'ENOTEMPTY' || errnoCode(err) === 'EEXIST') {
          this.problem(ctx.folderId, { path: a.path, code: 'DIR_NOT_EMPTY', message: `${a.path} was deleted on another device but still has entries here; it is kept` }, a.version.author, ctx.report);
          return 'skipped';
        }
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
    } else {
      await this.preserveOld(ctx, a.path, row as LocalRow, new Set());
      await this.recheck(abs, row, before);
      await fsp.unlink(abs);
    }
    await syncDir(path.dirname(abs));
    this.recordTombstone(ctx, a);
    ctx.report.deleted++;
    return 'done';
  }

  private recordTombstone(ctx: ApplyContext, a: MaterializeAction): void {
    this.deps.db.transaction(() => {
      // The scanner's own "known absent" row.
      this.stmt.upsertRow.run(ctx.folderId, a.path, 'tombstone', 0, 0, 0, 0, a.version.id);
      this.stmt.clearProblem.run(ctx.folderId, a.path);
    })();
  }

  // ---------------------------------------------------------------- shared steps

  /**
   * Copies into the store every chunk of the old content (the row's version) that the new
   * content does not contain and that no other local source holds right now (verified),
   * reading it from the file about to be replaced. Bytes that no longer match mean the file
   * changed since it was indexed: a conflict. A full store throws QUOTA_EXCEEDED/DISK_FULL,
   * and the file is left as it is.
   */
  private async preserveOld(ctx: ApplyContext, rel: string, row: LocalRow, keep: ReadonlySet<string>): Promise<void> {
    if (row.kind !== 'file') return;
    const done = new Set<string>();
    for (const c of this.deps.versions.chunks(row.version_id)) {
      if (keep.has(c.hash) || done.has(c.hash)) continue;
      done.add(c.hash);
      if (this.deps.store.has(c.hash)) continue;
      if (await this.deps.local.readFromWorkingCopy(c.hash, { folderId: ctx.folderId, path: rel })) continue;
      const data = await this.deps.local.readAt({ folderId: ctx.folderId, path: rel, offset: c.offset, size: c.size }, c.hash);
      if (!data) throw new LocalChange();
      await this.deps.store.put(c.hash, data);
    }
  }

  /** What is at the destination, compared with its fast-path row. */
  private async destination(abs: string, row: LocalRow | undefined): Promise<Destination> {
    const st = await lstatOrUndefined(abs);
    const rowPresent = row !== undefined && row.kind !== 'tombstone';
    if (!st) return rowPresent ? { state: 'changed', st: undefined } : { state: 'absent' };
    const entry = entryFromStats('', st);
    if (!rowPresent || !entry || !unchanged(row, entry)) return { state: 'changed', st };
    return { state: 'matches', st, entry };
  }

  /** Just before the rename or unlink: the destination must still be exactly what was checked. */
  private async recheck(abs: string, row: LocalRow | undefined, before: Destination): Promise<void> {
    const now = await this.destination(abs, row);
    if (now.state !== before.state) throw new LocalChange();
    if (now.state === 'matches' && before.state === 'matches' && (now.st.ino !== before.st.ino || now.st.mtimeMs !== before.st.mtimeMs || now.st.size !== before.st.size)) throw new LocalChange();
  }

  /**
   * After a rename: the fast-path row, recorded with its batch (recordLanded). The row
   * describes the inode that was written (`written`: its stats taken before the rename, equal
   * to an lstat of the result), so if a local program replaced the file in the instant after
   * the rename, the row does not match it and the next scan records that edit instead of
   * missing it.
   */
  private async landed(ctx: ApplyContext, a: MaterializeAction, abs: string, written: Stats): Promise<void> {
    // Rows are written in batches, one transaction each (thousands of small files otherwise
    // cost a transaction apiece). A crash before a batch is written loses nothing: the files
    // are whole and in place, and the next scan adopts them as the versions they are.
    ctx.landedRows.push({ path: a.path, dir: path.dirname(abs), entry: entryFromStats(a.path, written) as WalkEntry, versionId: a.version.id });
    if (ctx.landedRows.length >= LANDED_BATCH) await this.recordLanded(ctx);
  }

  /**
   * Writes the fast-path rows of the files landed so far (see landed), once their directories
   * are flushed: a directory entry must be on disk before a row says so, otherwise a crash
   * could leave the old file under a row naming the new version, and a scan would then record
   * the old bytes as a successor of the new version. One fsync per directory per batch, not
   * one per file (small files arrive by the hundred per directory).
   */
  private async recordLanded(ctx: ApplyContext): Promise<void> {
    if (ctx.landedRows.length === 0) return;
    const rows = ctx.landedRows.splice(0);
    const dirs = [...new Set(rows.map((r) => r.dir))];
    const synced = await Promise.allSettled(dirs.map((d) => this.syncDirGrouped(d)));
    const failed = new Set<string>();
    synced.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const dir = dirs[i] as string;
      failed.add(dir);
      // The files are in place, but not known to be durable: no row, so the next scan looks at them again.
      const e = errnoCode(r.reason) ? fromFsError(r.reason, 'flushing', dir) : new CanopyError('IO_ERROR', `flushing ${dir} failed: ${String(r.reason)}`);
      const rel = path.relative(ctx.root, dir).split(path.sep).join('/');
      this.problem(ctx.folderId, { path: rel, code: e.code, message: e.message }, null, ctx.report);
    });
    this.deps.db.transaction(() => {
      for (const { path: rel, dir, entry, versionId } of rows) {
        if (failed.has(dir)) continue;
        this.stmt.upsertRow.run(ctx.folderId, rel, entry.kind, entry.size, entry.mtimeMs, entry.ino, entry.mode, versionId);
        this.stmt.clearProblem.run(ctx.folderId, rel);
      }
    })();
  }

  /** fsyncs of a directory: one not started yet, which every caller until it starts shares. */
  private readonly dirSyncQueued = new Map<string, Promise<void>>();
  private readonly dirSyncRunning = new Map<string, Promise<void>>();

  /**
   * fsync of a directory, shared (group commit): a caller joins the fsync that has not
   * started yet, or queues one behind the running one. Either way the fsync it waits for
   * starts after the call, so it covers every entry the caller changed before calling.
   */
  private syncDirGrouped(dir: string): Promise<void> {
    const queued = this.dirSyncQueued.get(dir);
    if (queued) return queued;
    const before = this.dirSyncRunning.get(dir) ?? Promise.resolve();
    const next = before.catch(() => undefined).then(() => {
      this.dirSyncQueued.delete(dir);
      const run = syncDir(dir);
      this.dirSyncRunning.set(dir, run);
      void run.catch(() => undefined).then(() => {
        if (this.dirSyncRunning.get(dir) === run) this.dirSyncRunning.delete(dir);
      });
      return run;
    });
    this.dirSyncQueued.set(dir, next);
    return next;
  }

  private conflict(ctx: ApplyContext, a: MaterializeAction): void {
    ctx.report.conflicts++;
    this.deps.onConflict?.({ folderId: ctx.folderId, path: a.path, versionId: a.version.id });
  }

  private problem(folderId: string, p: MaterializeProblem, origin: string | null, report: MaterializeReport): void {
    this.stmt.putProblem.run(folderId, p.path, origin, p.code, p.message, Date.now());
    report.problems.push({ path: p.path, code: p.code, message: p.message });
    report.skipped++;
    this.deps.onProblem?.({ folderId, path: p.path, code: p.code, message: p.message });
  }

  /** row() of each of `paths` that has one, in batched queries. */
  private rows(folderId: string, paths: readonly string[]): Map<string, LocalRow> {
    const rows = manyAtOnce(paths, (json) => this.stmt.rowsOfMany.all(json, folderId) as (LocalRow & { path: string })[]);
    return new Map(rows.map(({ path: p, ...row }) => [p, row]));
  }

  private row(folderId: string, rel: string): LocalRow | undefined {
    return this.stmt.row.get(folderId, rel) as LocalRow | undefined;
  }

  private requireRoot(folderId: string): string {
    const root = this.deps.folderRoot(folderId);
    if (root === undefined) throw new CanopyError('NOT_FOUND', `folder "${folderId}" is not attached on this device`, { folderId });
    return root;
  }
}

interface ApplyContext {
  folderId: string;
  root: string;
  fetch: FetchChunk;
  report: MaterializeReport;
  dirModes: { action: MaterializeAction; abs: string }[];
  /** Fast-path rows of files already in place, not yet written (see landed), with the directory each is in. */
  landedRows: { path: string; dir: string; entry: WalkEntry; versionId: string }[];
  onSettled: ((action: MaterializeAction) => void) | undefined;
}

type Destination =
  | { state: 'absent' }
  | { state: 'changed'; st: Stats | undefined }
  | { state: 'matches'; st: Stats; entry: WalkEntry };

/** The version's chunk list must tile the file exactly; a peer's metadata is checked, not trusted. */
function checkChunkList(v: Version, chunks: ChunkRef[]): string | undefined {
  if (!Number.isSafeInteger(v.size) || v.size < 0) return `size ${v.size} is not valid`;
  if (chunks.length !== v.chunkCount) return 'its chunk list is incomplete';
  let offset = 0;
  for (const c of chunks) {
    if (!HASH_RE.test(c.hash)) return `chunk name ${JSON.stringify(c.hash.slice(0, 80))} is not a hash`;
    if (c.offset !== offset) return `chunk ${c.hash.slice(0, 12)} is at offset ${c.offset}, expected ${offset}`;
    if (!Number.isSafeInteger(c.size) || c.size <= 0 || c.size > MAX_CHUNK_BYTES) return `chunk ${c.hash.slice(0, 12)} has size ${c.size}`;
    offset += c.size;
  }
  if (offset !== v.size) return `its chunks add up to ${offset} bytes, the version says ${v.size}`;
  return undefined;
}

function checkSymlinkTarget(target: string | null): string | undefined {
  if (target === null || target === '') return 'symlink has no target';
  if (target.includes('\0')) return 'symlink target contains a NUL byte';
  if (Buffer.byteLength(target, 'utf8') > MAX_PATH_BYTES) return `symlink target is longer than ${MAX_PATH_BYTES} bytes`;
  return undefined;
}

/** Like the scanner: ignored if the path or any parent directory matches `.canopyignore`. */
function ignoredLocally(rel: string, isDir: boolean, matcher: IgnoreMatcher): boolean {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) if (matcher.ignores(parts.slice(0, i).join('/'), true)) return true;
  return matcher.ignores(rel, isDir);
}

const ZEROS = Buffer.alloc(64 * 1024);

function isAllZero(data: Uint8Array): boolean {
  for (let off = 0; off < data.byteLength; off += ZEROS.byteLength) {
    const n = Math.min(ZEROS.byteLength, data.byteLength - off);
    if (Buffer.compare(data.subarray(off, off + n), ZEROS.subarray(0, n)) !== 0) return false;
  }
  return true;
}

/**
 * lstat, or undefined if nothing is there. Synchronous underneath: an lstat is a few
 * microseconds of metadata lookup, a thread-pool trip costs more, and the materializer
 * makes several per file.
 */
async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  return fs.lstatSync(p, { throwIfNoEntry: false });
}

/**
 * Whether an entry this process creates in `dir` already has `owner`'s uid and gid: its
 * own euid, and the directory's group if the directory is setgid, else its own egid. Then
 * there is nothing to chown (a syscall per file saved when root writes into its own folder).
 */
export function ownedAsCreated(owner: Pick<Stats, 'uid' | 'gid'>, dir: Pick<Stats, 'mode' | 'gid'> | undefined): boolean {
  if (!dir) return false;
  const gid = dir.mode & 0o2000 ? dir.gid : process.getegid?.();
  return owner.uid === process.geteuid?.() && owner.gid === gid;
}

/** Removes the empty directory a file or symlink replaces; an entry that appeared meanwhile is a local change. */
async function rmdirReplaced(abs: string): Promise<void> {
  try {
    await fsp.rmdir(abs);
  } catch (err) {
    if (errnoCode(err) === 'ENOTEMPTY' || errnoCode(err) === 'EEXIST') throw new LocalChange();
    throw err;
  }
}

async function isEmptyDir(p: string): Promise<boolean> {
  const dir = await fsp.opendir(p);
  try {
    return (await dir.read()) === null;
  } finally {
    await dir.close().catch(() => undefined);
  }
}

async function syncDir(dir: string): Promise<void> {
  // Windows cannot open a directory to flush it; NTFS journals the rename itself.
  if (process.platform === 'win32') return;
  const fh = await fsp.open(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The fetch of a pass before its first slice is planned: every slice brings its own. */
const noFetch: FetchChunk = () => Promise.reject(new CanopyError('IO_ERROR', 'no fetch function for this part of the pass'));

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
