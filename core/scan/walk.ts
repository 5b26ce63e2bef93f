/**
 * Walks a folder (or a subtree of it) and lstat()s what it finds, without following
 * symlinks. Problems (unreadable directories, names that are not valid UTF-8) are returned,
 * not thrown: one bad entry must not stop the scan, and an unreadable directory must not
 * look like a deleted one, so its path is reported separately.
 */
import fs, { type Stats } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { errnoCode } from '../errors/index.js';
import type { IgnoreMatcher } from './ignore.js';

export type EntryKind = 'file' | 'dir' | 'symlink';

export interface WalkEntry {
  rel: string;
  /** 'tombstone' only in the scanner's own rows: the path is known to be absent. */
  kind: EntryKind | 'tombstone';
  size: number;
  mtimeMs: number;
  ino: number;
  mode: number;
  /** Where a symlink points (symlinks are recorded, never followed). */
  target?: string;
}

export interface WalkProblem {
  path: string;
  code: 'IO_ERROR' | 'BAD_PATH';
  message: string;
}

export interface WalkResult {
  entries: WalkEntry[];
  problems: WalkProblem[];
  /** Directories that could not be read: what was indexed under them is kept as it is. */
  unreadable: string[];
}

export const STAT_BATCH = 128;
/**
 * The callback lstat, promisified: fs/promises' lstat costs twice the CPU per call (0.26
 * against 0.13 CPU-s for 10,000 files here), and a tree that just appeared is lstat'ed
 * while the device is busiest.
 */
const lstat = promisify(fs.lstat);
/** A batch of synchronous lstats that takes this long means a slow filesystem: the rest go through the thread pool. */
const SLOW_SYNC_MS = 10;

/**
 * lstat()s batches of paths. On a local disk an lstat is a few microseconds, and a trip
 * through the thread pool costs more than the call: walking 10,000 files took 115-129 ms
 * and 0.14 CPU-s with lstatSync against 206-261 ms and 0.27-0.30 CPU-s pooled, here. So a
 * batch is lstat'ed synchronously, and the event loop gets a turn between batches. Once
 * the lstats of one batch take SLOW_SYNC_MS (a network mount), the rest of the walk goes
 * through the thread pool, so a slow filesystem never stalls the engine thread for long.
 */
export class BatchLstat {
  private pooled = false;

  /** `slowMs`: how long a batch's synchronous lstats may take before the pool takes over (tests pass 0). */
  constructor(private readonly slowMs = SLOW_SYNC_MS) {}

  /** Each path's Stats, or the error its lstat gave. At most STAT_BATCH at a time is the caller's to keep. */
  async many(root: string, rels: readonly string[]): Promise<(Stats | unknown)[]> {
    if (this.pooled) return lstatPooled(root, rels);
    const out: (Stats | unknown)[] = [];
    const started = performance.now();
    for (const rel of rels) {
      if (performance.now() - started >= this.slowMs) {
        this.pooled = true;
        out.push(...(await lstatPooled(root, rels.slice(out.length))));
        return out;
      }
      try {
        out.push(fs.lstatSync(path.join(root, rel)));
      } catch (err) {
        out.push(err);
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
    return out;
  }

  /** Whether this walk's lstats went to the thread pool (tests, diagnostics). */
  get usesPool(): boolean {
    return this.pooled;
  }
}

export function entryFromStats(rel: string, st: Stats): WalkEntry | undefined {
  const kind: EntryKind | undefined = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : undefined;
  if (!kind) return undefined;
  return { rel, kind, size: kind === 'file' ? st.size : 0, mtimeMs: st.mtimeMs, ino: st.ino, mode: st.mode & 0o7777 };
}

/** Sockets, FIFOs and devices have no content to sync; say so rather than skip silently. */
export function specialFileProblem(rel: string, st: Stats): WalkProblem {
  const what = st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isBlockDevice() || st.isCharacterDevice() ? 'a device' : 'special';
  return { path: rel, code: 'BAD_PATH', message: `not a regular file, directory or symlink (${what}); not synced` };
}

/** Walks `root/startRel` ('' = the whole folder); the start directory itself is not listed. */
export async function walk(root: string, startRel: string, matcher: IgnoreMatcher, stat = new BatchLstat()): Promise<WalkResult> {
  const out: WalkResult = { entries: [], problems: [], unreadable: [] };
  const stack: string[] = [startRel];
  while (stack.length > 0) {
    const dirRel = stack.pop() as string;
    const names = await readNames(root, dirRel, out);
    const firstOfDir = out.entries.length;
    for (let i = 0; i < names.length; i += STAT_BATCH) {
      const batch = names.slice(i, i + STAT_BATCH);
      const stats = await stat.many(root, batch);
      batch.forEach((rel, j) => {
        const st = stats[j];
        if (!(st instanceof fs.Stats)) {
          // Vanished between readdir and lstat: not a problem, the file is simply gone.
          if (errnoCode(st) !== 'ENOENT') out.problems.push({ path: rel, code: 'IO_ERROR', message: `cannot stat: ${(st as Error).message}` });
          return;
        }
        const entry = entryFromStats(rel, st as Stats);
        if (!entry) {
          if (!matcher.ignores(rel, false)) out.problems.push(specialFileProblem(rel, st as Stats));
          return;
        }
        if (matcher.ignores(rel, entry.kind === 'dir')) return;
        out.entries.push(entry);
        if (entry.kind === 'dir') stack.push(rel);
      });
    }
    await readTargets(root, out.entries.slice(firstOfDir), out.problems);
  }
  return out;
}

/** lstat()s `rels` under `root` at once through the thread pool: each result is the Stats or the error. */
function lstatPooled(root: string, rels: readonly string[]): Promise<(Stats | unknown)[]> {
  return Promise.all(rels.map((rel) => lstat(path.join(root, rel)).catch((err: unknown) => err)));
}

/** Fills in `target` for the symlinks among `entries` that do not have one yet. */
export async function readTargets(root: string, entries: WalkEntry[], problems: WalkProblem[]): Promise<void> {
  for (const e of entries) {
    if (e.kind !== 'symlink' || e.target !== undefined) continue;
    try {
      e.target = await fsp.readlink(path.join(root, e.rel));
    } catch (err) {
      problems.push({ path: e.rel, code: 'IO_ERROR', message: `cannot read symlink: ${(err as Error).message}` });
      e.target = '';
    }
  }
}

async function readNames(root: string, dirRel: string, out: WalkResult): Promise<string[]> {
  let raw: Buffer[];
  try {
    raw = await fsp.readdir(path.join(root, dirRel), { encoding: 'buffer' });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    out.unreadable.push(dirRel);
    out.problems.push({ path: dirRel || '.', code: 'IO_ERROR', message: `cannot read directory: ${(err as Error).message}` });
    return [];
  }
  const names: string[] = [];
  for (const buf of raw) {
    const name = buf.toString('utf8');
    const rel = dirRel ? `${dirRel}/${name}` : name;
    if (!Buffer.from(name, 'utf8').equals(buf)) {
      out.problems.push({ path: rel, code: 'BAD_PATH', message: `name is not valid UTF-8 (bytes ${buf.toString('hex')}); rename it to sync it` });
      continue;
    }
    names.push(rel);
  }
  return names;
}
