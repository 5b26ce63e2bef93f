/**
 * The scanner: brings the index of one folder in line with what is on disk.
 *
 * A walk lists what exists; the fast path (same kind, size, mtime and inode as last time)
 * skips unchanged files without reading them; changed files are chunked and hashed in the
 * worker pool; each batch of results is recorded in one transaction (new versions, the
 * fast-path rows, problems), so a crash mid-scan loses at most a batch of work and the next
 * scan converges. Files that change while being read are retried and never recorded
 * half-written; unreadable files and directories keep their previous versions.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../db/index.js';
import type { HashPool, FileHashResult } from '../chunking/pool.js';
import { errnoCode } from '../errors/index.js';
import type { Versions, ChunkRef, NewLocalVersion, Version } from '../versions/index.js';
import type { RecentChunks } from '../store/recent.js';
import { loadIgnore, type IgnoreMatcher } from './ignore.js';
import { BatchLstat, entryFromStats, readTargets, specialFileProblem, STAT_BATCH, walk, type WalkEntry, type WalkProblem } from './walk.js';

export interface ScanFolder {
  id: string;
  path: string;
}

export interface ScanProblem {
  path: string;
  code: string;
  message: string;
}

export interface ScanReport {
  folderId: string;
  /** Totals of the folder's index after the scan. */
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** What this scan changed. */
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
  /** Files found identical to the preferred head other devices made (no new version). */
  adopted: number;
  hashedFiles: number;
  hashedBytes: number;
  seconds: number;
  /** hashedBytes per second of the whole scan, in MiB/s. */
  mibPerSecond: number;
  problems: ScanProblem[];
}

export interface ScanProgress {
  folderId: string;
  phase: 'walk' | 'hash' | 'done';
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface ScannerDeps {
  db: Db;
  versions: Versions;
  pool: HashPool;
  /** How often a file that keeps changing while read is retried before it is reported. */
  unstableRetries: number;
  onProgress?: (p: ScanProgress) => void;
  /**
   * Files the user wrote or edited here (a new version recorded from the working copy), told
   * inside the transaction that records them. Not called for files the sync wrote.
   */
  onLocalWrites?: (folderId: string, paths: readonly string[]) => void;
  /** Where the bytes of small files just hashed are kept for serving (the pool hands them over). */
  recentChunks?: RecentChunks;
}

/** The scanner's fast-path row (`local_files`): what the working copy reflected when last indexed. */
export interface IndexRow {
  path: string;
  kind: string;
  size: number;
  mtime_ms: number;
  ino: number;
  mode: number;
  version_id: string;
}

const BATCH_FILES = 1024;
/**
 * The first batch is smaller, and each next one twice as big up to BATCH_FILES: other
 * devices start fetching and writing a big new tree once its first batch is recorded and
 * sent, instead of after a full batch was hashed.
 */
const FIRST_BATCH_FILES = 128;
/** Files up to this size are one or two chunks: a previous chunk list saves nothing there. */
const HINT_MIN_BYTES = 8 * 1024 * 1024;
const BATCH_BYTES = 512 * 1024 * 1024;

export class Scanner {
  private readonly stmt;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: ScannerDeps) {
    const db = deps.db;
    this.stmt = {
      rowsAll: db.prepare('SELECT path, kind, size, mtime_ms, ino, mode, version_id FROM local_files WHERE folder_id = ?'),
      // A range the primary key can serve ([root, root0)), then the root itself or what lies
      // under root/ (an OR across the range would scan the whole folder for every root).
      rowsUnder: db.prepare(`SELECT path, kind, size, mtime_ms, ino, mode, version_id FROM local_files
        WHERE folder_id = ? AND path >= ? AND path < ? AND (path = ? OR path > ?)`),
      upsertRow: db.prepare(`INSERT INTO local_files (folder_id, path, kind, size, mtime_ms, ino, mode, version_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (folder_id, path) DO UPDATE SET
        kind = excluded.kind, size = excluded.size, mtime_ms = excluded.mtime_ms, ino = excluded.ino, mode = excluded.mode, version_id = excluded.version_id`),
      chunkList: db.prepare('SELECT chunk FROM version_chunks WHERE version_id = ? ORDER BY idx').pluck(),
      putProblem: db.prepare(`INSERT INTO scan_problems (folder_id, path, code, message, seen_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (folder_id, path) DO UPDATE SET code = excluded.code, message = excluded.message, seen_at = excluded.seen_at`),
      clearProblem: db.prepare('DELETE FROM scan_problems WHERE folder_id = ? AND path = ?'),
      clearProblemsUnder: db.prepare('DELETE FROM scan_problems WHERE folder_id = ? AND (path = ? OR (path > ? AND path < ?))'),
      clearAllProblems: db.prepare('DELETE FROM scan_problems WHERE folder_id = ?'),
      totals: db.prepare(`SELECT sum(kind = 'file') AS files, sum(kind = 'dir') AS dirs, sum(kind = 'symlink') AS symlinks,
        coalesce(sum(size), 0) AS bytes FROM local_files WHERE folder_id = ? AND kind != 'tombstone'`),
      markScanned: db.prepare('UPDATE local_folders SET last_scan_at = ? WHERE folder_id = ?'),
    };
  }

  /**
   * Scans `roots` (paths relative to the folder, '' for all of it). Scans of one folder run
   * one at a time, in the order they were asked for.
   */
  scan(folder: ScanFolder, roots: readonly string[] = ['']): Promise<ScanReport> {
    return this.withFolderLock(folder.id, () => this.scanNow(folder, roots));
  }

  /**
   * Runs `fn` when no scan or other locked work of the folder is running, in the order
   * asked. The materializer writes under this lock too, so a scan never sees a half-done
   * write and a write never races a scan's view of the same file.
   */
  withFolderLock<T>(folderId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(folderId) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    this.locks.set(folderId, run);
    void run.finally(() => {
      if (this.locks.get(folderId) === run) this.locks.delete(folderId);
    }).catch(() => undefined);
    return run;
  }

  private async scanNow(folder: ScanFolder, rawRoots: readonly string[]): Promise<ScanReport> {
    const started = performance.now();
    const roots = normalizeRoots(rawRoots);
    const report: ScanReport = {
      folderId: folder.id, files: 0, dirs: 0, symlinks: 0, bytes: 0, added: 0, changed: 0, removed: 0, unchanged: 0, adopted: 0,
      hashedFiles: 0, hashedBytes: 0, seconds: 0, mibPerSecond: 0, problems: [],
    };
    const matcher = loadIgnore(folder.path);
    const indexed = this.loadIndex(folder.id, roots);
    const seen = new Map<string, WalkEntry>();
    const unreadable: string[] = [];
    const walkProblems: WalkProblem[] = [];
    this.progress({ folderId: folder.id, phase: 'walk', filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 });
    await this.collectAll(folder.path, roots, matcher, seen, unreadable, walkProblems);

    const toHash: WalkEntry[] = [];
    const direct: WalkEntry[] = [];
    for (const entry of seen.values()) {
      const row = indexed.get(entry.rel);
      if (row && unchanged(row, entry)) report.unchanged++;
      else if (entry.kind === 'file') toHash.push(entry);
      else direct.push(entry);
    }
    const gone = [...indexed.values()].filter((row) => row.kind !== 'tombstone' && !seen.has(row.path) && !underAny(row.path, unreadable) && !matcher.ignores(row.path, row.kind === 'dir'));

    this.deps.db.transaction(() => {
      this.clearProblems(folder.id, roots);
      for (const p of walkProblems) this.problem(folder.id, p, report);
      const batch = new PendingBatch(folder.id);
      for (const entry of direct) this.recordEntry(batch, entry, indexed.get(entry.rel), [], report);
      for (const row of gone) this.recordRemoval(batch, row, report);
      this.flush(batch);
    })();

    await this.hashAndRecord(folder, toHash, indexed, report);

    this.deps.db.transaction(() => {
      const t = this.stmt.totals.get(folder.id) as { files: number | null; dirs: number | null; symlinks: number | null; bytes: number };
      Object.assign(report, { files: t.files ?? 0, dirs: t.dirs ?? 0, symlinks: t.symlinks ?? 0, bytes: t.bytes });
      this.stmt.markScanned.run(Date.now(), folder.id);
    })();
    report.seconds = (performance.now() - started) / 1000;
    report.mibPerSecond = report.seconds > 0 ? report.hashedBytes / 1048576 / report.seconds : 0;
    this.progress({ folderId: folder.id, phase: 'done', filesDone: report.hashedFiles, filesTotal: toHash.length, bytesDone: report.hashedBytes, bytesTotal: report.hashedBytes });
    return report;
  }

  /**
   * Lists what exists under `roots` into `seen`. The roots themselves are lstat'ed STAT_BATCH
   * at a time: a change to thousands of single files is a scan of thousands of roots, and
   * 5,000 of them took 0.8-1.3 s one lstat after another, 0.1-0.2 s in batches.
   */
  private async collectAll(folderPath: string, roots: readonly string[], matcher: IgnoreMatcher, seen: Map<string, WalkEntry>, unreadable: string[], problems: WalkProblem[]): Promise<void> {
    // One for the whole listing: a filesystem found slow stays treated as slow.
    const stat = new BatchLstat();
    for (let i = 0; i < roots.length; i += STAT_BATCH) {
      const batch = roots.slice(i, i + STAT_BATCH);
      const stats = await stat.many(folderPath, batch.filter((r) => r !== ''));
      let next = 0;
      for (const root of batch) await this.collect(folderPath, root, root === '' ? undefined : stats[next++], matcher, seen, unreadable, problems, stat);
    }
  }

  /** Lists what exists under one root into `seen`, given the root's lstat result (its Stats or the error; none for the whole folder). */
  private async collect(folderPath: string, root: string, st: unknown, matcher: IgnoreMatcher, seen: Map<string, WalkEntry>, unreadable: string[], problems: WalkProblem[], stat: BatchLstat): Promise<void> {
    if (root !== '') {
      if (!(st instanceof fs.Stats)) {
        if (errnoCode(st) !== 'ENOENT') {
          unreadable.push(root);
          problems.push({ path: root, code: 'IO_ERROR', message: `cannot stat: ${st instanceof Error ? st.message : String(st)}` });
        }
        return;
      }
      if (underIgnoredDir(root, matcher)) return;
      const entry = entryFromStats(root, st);
      if (!entry) {
        if (!matcher.ignores(root, false)) problems.push(specialFileProblem(root, st));
        return;
      }
      if (matcher.ignores(root, entry.kind === 'dir')) return;
      await readTargets(folderPath, [entry], problems);
      seen.set(root, entry);
      if (entry.kind !== 'dir') return;
    }
    const result = await walk(folderPath, root, matcher, stat);
    for (const e of result.entries) seen.set(e.rel, e);
    unreadable.push(...result.unreadable);
    problems.push(...result.problems);
  }

  /** Hashes changed files in batches, recording each batch while the next one is hashed. */
  private async hashAndRecord(folder: ScanFolder, files: WalkEntry[], indexed: Map<string, IndexRow>, report: ScanReport): Promise<void> {
    const bytesTotal = files.reduce((s, f) => s + f.size, 0);
    const batches = makeBatches(files);
    let pending = batches.length > 0 ? this.hashBatch(folder, batches[0] as WalkEntry[], indexed) : undefined;
    let retry: WalkEntry[] = [];
    for (let i = 0; i < batches.length; i++) {
      const results = await (pending as Promise<FileHashResult[]>);
      pending = i + 1 < batches.length ? this.hashBatch(folder, batches[i + 1] as WalkEntry[], indexed) : undefined;
      retry = retry.concat(this.recordBatch(folder.id, batches[i] as WalkEntry[], results, indexed, report, false));
      this.progress({ folderId: folder.id, phase: 'hash', filesDone: report.hashedFiles, filesTotal: files.length, bytesDone: report.hashedBytes, bytesTotal });
    }
    // Files that changed while being read: wait for the writer to settle, then try again.
    for (let attempt = 1; retry.length > 0 && attempt <= this.deps.unstableRetries; attempt++) {
      await new Promise((r) => setTimeout(r, 200 * attempt));
      const results = await this.hashBatch(folder, retry, indexed);
      retry = this.recordBatch(folder.id, retry, results, indexed, report, attempt === this.deps.unstableRetries);
    }
  }

  /**
   * Hashes a batch in the pool. A big file this device indexed before goes with the chunks
   * its chunker cut then, so an edit rechunks only around what changed (chunkFileSync).
   */
  private hashBatch(folder: ScanFolder, batch: WalkEntry[], indexed: Map<string, IndexRow>): Promise<FileHashResult[]> {
    const previous = batch.map((e) => {
      const row = indexed.get(e.rel);
      if (!row || row.kind !== 'file' || row.size <= HINT_MIN_BYTES) return undefined;
      return this.deps.versions.ownChunks(row.version_id);
    });
    return this.deps.pool.hashFiles(batch.map((e) => path.join(folder.path, e.rel)), previous);
  }

  /** Records one batch of hash results in one transaction; returns the entries to retry. */
  private recordBatch(folderId: string, batch: WalkEntry[], results: FileHashResult[], indexed: Map<string, IndexRow>, report: ScanReport, lastTry: boolean): WalkEntry[] {
    const retry: WalkEntry[] = [];
    this.deps.db.transaction(() => {
      const pending = new PendingBatch(folderId);
      batch.forEach((entry, i) => {
        const r = results[i] as FileHashResult;
        const row = indexed.get(entry.rel);
        if (r.ok) {
          report.hashedFiles++;
          report.hashedBytes += r.size;
          const fresh: WalkEntry = { rel: entry.rel, kind: 'file', size: r.size, mtimeMs: r.mtimeMs, ino: r.ino, mode: r.mode & 0o7777 };
          this.recordEntry(pending, fresh, row, r.chunks, report);
          if (r.bytes && r.chunks.length === 1) this.deps.recentChunks?.put((r.chunks[0] as ChunkRef).hash, r.bytes);
          this.stmt.clearProblem.run(folderId, entry.rel);
        } else if (r.error.code === 'UNSTABLE_FILE' && !lastTry) {
          retry.push(entry);
        } else if (r.error.code === 'NOT_FOUND') {
          // Deleted between the walk and the read: a delete like any other.
          if (row) this.recordRemoval(pending, row, report);
        } else {
          const message = r.error.code === 'UNSTABLE_FILE' ? 'file kept changing while it was read; it will be indexed once it settles' : r.error.message;
          this.problem(folderId, { path: entry.rel, code: r.error.code, message }, report);
        }
      });
      this.flush(pending);
    })();
    return retry;
  }

  /**
   * Records what the walk found at one path. Parents are only versions this working copy
   * has reflected (its fast-path row, which may be a tombstone): a file that appears where
   * other devices have versions this device never materialized is adopted when identical to
   * the preferred head, and otherwise becomes a branch beside it, never a successor.
   */
  private recordEntry(batch: PendingBatch, entry: WalkEntry, row: IndexRow | undefined, chunks: readonly ChunkRef[], report: ScanReport): void {
    if (row && row.kind === entry.kind && !this.contentChanged(row.version_id, row, entry, chunks)) {
      batch.keep(entry, row.version_id);
      report.unchanged++;
      return;
    }
    if (!row) {
      const head = this.deps.versions.preferredHead(batch.folderId, entry.rel);
      if (head && head.kind === entry.kind && !this.contentChanged(head.id, head, entry, chunks)) {
        batch.keep(entry, head.id);
        report.adopted++;
        return;
      }
    }
    batch.change(entry, {
      folderId: batch.folderId, path: entry.rel, kind: entry.kind, size: entry.size, mtimeMs: entry.mtimeMs, mode: entry.mode, chunks,
      target: entry.target, parentIds: row ? [row.version_id] : [],
    });
    if (row && row.kind !== 'tombstone') report.changed++;
    else report.added++;
  }

  /** A touched file whose bytes and mode did not change is not a new version. */
  private contentChanged(versionId: string, known: { mode: number; size: number }, entry: WalkEntry, chunks: readonly ChunkRef[]): boolean {
    if (known.mode !== entry.mode || known.size !== entry.size) return true;
    if (entry.kind === 'dir') return false;
    if (entry.kind === 'symlink') return this.deps.versions.get(versionId)?.target !== entry.target;
    const old = this.stmt.chunkList.all(versionId) as string[];
    return old.length !== chunks.length || old.some((h, i) => h !== chunks[i]?.hash);
  }

  private recordRemoval(batch: PendingBatch, row: IndexRow, report: ScanReport): void {
    batch.tombstone(row.path, { folderId: batch.folderId, path: row.path, kind: 'tombstone', size: 0, mtimeMs: Date.now(), mode: 0, chunks: [], parentIds: [row.version_id] });
    report.removed++;
  }

  /** Writes a batch: its new versions as one signed log entry, then the fast-path rows. */
  private flush(batch: PendingBatch): void {
    const versions = this.deps.versions.recordLocalBatch(batch.changes);
    for (const r of batch.rows) {
      if (!r.entry) continue;
      const versionId = r.versionId ?? (versions[r.changeIndex as number] as Version).id;
      this.stmt.upsertRow.run(batch.folderId, r.entry.rel, r.entry.kind, r.entry.size, r.entry.mtimeMs, r.entry.ino, r.entry.mode, versionId);
    }
    this.deps.onLocalWrites?.(batch.folderId, batch.changes.filter((c) => c.kind === 'file').map((c) => c.path));
  }

  private problem(folderId: string, p: ScanProblem, report: ScanReport): void {
    this.stmt.putProblem.run(folderId, p.path, p.code, p.message, Date.now());
    report.problems.push(p);
  }

  private clearProblems(folderId: string, roots: string[]): void {
    for (const root of roots) {
      if (root === '') this.stmt.clearAllProblems.run(folderId);
      else this.stmt.clearProblemsUnder.run(folderId, root, `${root}/`, `${root}0`);
    }
  }

  private loadIndex(folderId: string, roots: string[]): Map<string, IndexRow> {
    const rows: IndexRow[] = roots.includes('')
      ? (this.stmt.rowsAll.all(folderId) as IndexRow[])
      : roots.flatMap((r) => this.stmt.rowsUnder.all(folderId, r, `${r}0`, r, `${r}/`) as IndexRow[]);
    return new Map(rows.map((r) => [r.path, r]));
  }

  private progress(p: ScanProgress): void {
    this.deps.onProgress?.(p);
  }
}

/** One transaction's worth of changes, collected so they are signed and written together. */
class PendingBatch {
  readonly changes: NewLocalVersion[] = [];
  readonly rows: { path: string; entry?: WalkEntry; versionId?: string; changeIndex?: number }[] = [];

  constructor(readonly folderId: string) {}

  change(entry: WalkEntry, change: NewLocalVersion): void {
    this.rows.push({ path: entry.rel, entry, changeIndex: this.changes.push(change) - 1 });
  }

  keep(entry: WalkEntry, versionId: string): void {
    this.rows.push({ path: entry.rel, entry, versionId });
  }

  /** The working copy no longer has the path: its row remembers the tombstone as its state. */
  tombstone(path: string, tombstone: NewLocalVersion): void {
    const entry: WalkEntry = { rel: path, kind: 'tombstone', size: 0, mtimeMs: 0, ino: 0, mode: 0 };
    this.rows.push({ path, entry, changeIndex: this.changes.push(tombstone) - 1 });
  }
}

/**
 * The fast-path rule: same kind, size, mtime, inode and mode means "not edited since it was
 * indexed". The materializer uses it too, to tell a local edit it must not overwrite.
 */
export function unchanged(row: Omit<IndexRow, 'path'>, e: WalkEntry): boolean {
  if (row.kind !== e.kind) return false;
  if (e.kind === 'dir') return row.mode === e.mode;
  return row.size === e.size && row.mtime_ms === e.mtimeMs && row.ino === e.ino && row.mode === e.mode;
}

/** Roots relative to the folder with '/' separators, without duplicates or nested repeats. */
export function normalizeRoots(roots: readonly string[]): string[] {
  const clean = [...new Set(roots.map((r) => r.split(path.sep).join('/').replace(/^\/+|\/+$/g, '')))].sort();
  if (clean.includes('') || clean.length === 0) return [''];
  // Drop roots inside another root: look up each root's ancestors (not every other root).
  const all = new Set(clean);
  return clean.filter((r) => {
    for (let i = r.indexOf('/'); i >= 0; i = r.indexOf('/', i + 1)) if (all.has(r.slice(0, i))) return false;
    return true;
  });
}

function underAny(p: string, dirs: readonly string[]): boolean {
  return dirs.some((d) => d === '' || p === d || p.startsWith(`${d}/`));
}

function underIgnoredDir(rel: string, matcher: IgnoreMatcher): boolean {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i++) if (matcher.ignores(parts.slice(0, i).join('/'), true)) return true;
  return false;
}

function makeBatches(files: WalkEntry[]): WalkEntry[][] {
  const out: WalkEntry[][] = [];
  let cur: WalkEntry[] = [];
  let bytes = 0;
  for (const f of files) {
    const limit = Math.min(BATCH_FILES, FIRST_BATCH_FILES * 2 ** out.length);
    if (cur.length > 0 && (cur.length >= limit || bytes + f.size > BATCH_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(f);
    bytes += f.size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
