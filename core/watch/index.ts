/**
 * Watches one folder with chokidar and turns bursts of filesystem events into scans of
 * just the touched paths. Events are debounced (a save is often several events) but never
 * postponed forever: a folder that changes non-stop is still scanned every `maxWaitMs`.
 * The scanner decides what actually changed; the watcher only says where to look.
 *
 * Only directories are watched. A directory's own watch already reports every change to
 * the entries in it, by name (chokidar's 'raw' events), so watching each file as well, as
 * chokidar does by default, only costs: a stat and a watch per file when a tree appears
 * (10,000 new files cost the sender more than scanning them), and one kernel watch per
 * file, which on Linux runs out at max_user_watches (8,192 on many systems).
 */
import type { Stats } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { loadIgnore, IGNORE_FILE, type IgnoreMatcher } from '../scan/ignore.js';
import { NewDirRelister } from './relist.js';

/** How long a directory that appeared after start counts as new (see foundByWalk). */
const NEW_DIR_MS = 5000;
/**
 * A file's ctime comes from the kernel's coarse clock, which may lag the time of the change
 * by a tick (1 to 10 ms); a file counts as older than a scan only by more than this.
 */
const CTIME_SLACK_MS = 50;
/** A directory that appeared is listed again this long after chokidar last listed an entry of it (see NewDirRelister). */
const RELIST_MS = 1000;

export interface WatchOptions {
  debounceMs: number;
  maxWaitMs?: number;
  onChanges: (relPaths: string[]) => Promise<void>;
  onError: (message: string) => void;
}

export class FolderWatcher {
  private readonly watcher: FSWatcher;
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private firstPendingAt = 0;
  private running: Promise<void> = Promise.resolve();
  private matcher: IgnoreMatcher;
  private closed = false;
  readonly ready: Promise<void>;
  /** When the first walk was done (the initial scan covers what it found). */
  private readyAt: number | undefined;
  /** Per directory, when chokidar's walk first listed it (see foundByWalk). */
  private readonly dirFirstRead = new Map<string, number>();
  /** Paths whose scan failed and was asked for once more, and when (see flush). */
  private readonly retried = new Map<string, number>();
  /** Paths handed to the scanner in the last NEW_DIR_MS, and when (see foundByWalk). */
  private readonly askedAt = new Map<string, number>();
  private readonly relister = new NewDirRelister({ delayMs: RELIST_MS, onMissed: (dir, name, isDir) => this.missedByWalk(dir, name, isDir) });

  /** The root and a separator: what the path of everything under it starts with (see rel). */
  private readonly rootPrefix: string;

  constructor(private readonly root: string, private readonly opts: WatchOptions) {
    const resolved = path.resolve(root);
    this.rootPrefix = resolved.endsWith(path.sep) ? resolved : resolved + path.sep;
    this.matcher = this.loadMatcher();
    this.watcher = watch(root, {
      ignoreInitial: true,
      followSymlinks: false,
      // The scanner handles files still being written (it retries unstable reads).
      awaitWriteFinish: false,
      ignored: (p, stats) => {
        const rel = this.rel(p);
        if (rel === '') return false;
        if (stats) this.relister.listed(p);
        // Anything but a directory is seen through its directory's events (onEntryEvent).
        if (stats && !stats.isDirectory()) {
          this.foundByWalk(p, stats.ctimeMs);
          return true;
        }
        return this.matcher.ignores(rel, stats?.isDirectory() ?? false);
      },
    });
    this.watcher.on('all', (event, p, stats) => this.onDirEvent(event, p, stats));
    this.watcher.on('raw', (_event, name, details) => this.onEntryEvent(name, details));
    this.watcher.on('error', (err) => this.opts.onError(err instanceof Error ? err.message : String(err)));
    this.watcher.on('unlinkDir', (p) => this.dirFirstRead.delete(p));
    this.watcher.on('addDir', (p) => this.relister.appeared(p));
    this.ready = new Promise((resolve) => this.watcher.once('ready', () => {
      this.readyAt = Date.now();
      resolve();
    }));
  }

  /** What chokidar watches: each watched directory with the entries it tracks there (for tests and diagnostics). */
  watchedEntries(): Record<string, string[]> {
    return this.watcher.getWatched();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.relister.close();
    await this.watcher.close();
    await this.running.catch(() => undefined);
  }

  /**
   * A change reported by a directory's watch: `name` is the entry that changed. (For a change
   * to the directory itself it is the directory's own name, so the path touched is that name
   * under itself: the scanner finds nothing there, at the cost of one lstat, and the
   * directory's 'all' event covers the change.)
   */
  private onEntryEvent(name: unknown, details: unknown): void {
    const dir = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
    if (typeof name !== 'string' || name === '' || typeof dir !== 'string') return;
    const rel = this.rel(path.join(dir, name));
    if (rel !== '' && !rel.startsWith('..')) this.touchEntry(rel);
  }

  /**
   * chokidar's report of a directory (the only kind it reports: files are ignored there and
   * seen through their directory's raw events). It comes once chokidar has lstat'ed the
   * directory, tens of milliseconds after the raw event of its name: if that is still
   * pending, the report adds nothing and must not restart the debounce. A directory listed
   * in a tree whose scan was asked for after the directory last changed is left to that
   * scan, as foundByWalk leaves files.
   */
  private onDirEvent(event: string, p: string, stats: Stats | undefined): void {
    const rel = this.rel(p);
    if (this.pending.has(rel)) return;
    if (event === 'addDir' && stats && scannedSince(this.askedAt, rel, stats.ctimeMs)) return;
    this.touch(rel);
  }

  /**
   * A file chokidar's walk listed. In a directory that appeared after the watcher started,
   * and only while it is new, the file is reported: it may have been written after the scan
   * of the directory began and before the directory's own watch existed, and no event would
   * tell of it. (chokidar used to report such files as 'add' events.)
   *
   * Not when the file last changed (its ctime: content, mode, name) well before a scan of it
   * or a directory above it was asked for: that scan lists the file afterwards and sees it
   * as it is. A tree moved in is listed by chokidar while its scan already runs, and each of
   * its files used to be scanned a second time (10,000 of them took the sender 1.2 s, while
   * the other devices were waiting for it to serve the files).
   */
  private foundByWalk(file: string, ctimeMs: number): void {
    const dir = path.dirname(file);
    const now = Date.now();
    let first = this.dirFirstRead.get(dir);
    if (first === undefined) this.dirFirstRead.set(dir, (first = now));
    if (this.readyAt === undefined || first < this.readyAt || now - first > NEW_DIR_MS) return;
    const rel = this.rel(file);
    if (scannedSince(this.askedAt, rel, ctimeMs)) return;
    this.touchEntry(rel);
  }

  /**
   * An entry of a directory that appeared, made or removed while chokidar listed the
   * directory and before it watched it: scanned, and a directory made then is watched too.
   */
  private missedByWalk(dir: string, name: string, isDir: boolean): void {
    const abs = path.join(dir, name);
    const rel = this.rel(abs);
    if (this.closed || rel.startsWith('..') || this.matcher.ignores(rel, isDir)) return;
    this.touch(rel);
    if (isDir) this.watcher.add(abs);
  }

  /** An entry seen through its directory: touched unless ignored (as chokidar leaves ignored directories unwatched). */
  private touchEntry(rel: string): void {
    if (!this.matcher.ignores(rel, false)) this.touch(rel);
  }

  private touch(rel: string): void {
    if (this.closed) return;
    if (rel === IGNORE_FILE) this.matcher = this.loadMatcher();
    // The scan of a pending directory walks all of it: what chokidar's walk of a tree just
    // moved in reports under it adds nothing, and must not hold that scan back by
    // restarting the debounce with every entry (10,000 files kept it waiting 0.6 s).
    if (this.pendingAncestor(rel)) return;
    if (this.pending.size === 0) this.firstPendingAt = Date.now();
    this.pending.add(rel);
    clearTimeout(this.timer);
    const maxWait = this.opts.maxWaitMs ?? Math.max(2000, this.opts.debounceMs * 5);
    const wait = Math.max(0, Math.min(this.opts.debounceMs, this.firstPendingAt + maxWait - Date.now()));
    this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Whether `rel` lies under a pending path (the folder itself included). */
  private pendingAncestor(rel: string): boolean {
    if (this.pending.has('')) return rel !== '';
    for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) {
      if (this.pending.has(rel.slice(0, i))) return true;
    }
    return false;
  }

  private flush(): void {
    const paths = [...this.pending];
    this.pending = new Set();
    const now = Date.now();
    for (const [p, at] of this.askedAt) if (now - at > NEW_DIR_MS) this.askedAt.delete(p);
    for (const [p, at] of this.retried) if (now - at > NEW_DIR_MS) this.retried.delete(p);
    for (const p of paths) this.askedAt.set(p, now);
    this.running = this.running
      .then(() => (this.closed ? undefined : this.opts.onChanges(paths)))
      .catch((err: unknown) => {
        // That scan covers nothing: what chokidar lists under these paths is reported again.
        // What it listed there while the scan was pending or running was left to that scan,
        // so the paths are asked for once more (once: a folder that stays unreadable is not
        // retried in a loop; the periodic rescan finds what it holds).
        for (const p of paths) if (this.askedAt.get(p) === now) this.askedAt.delete(p);
        this.opts.onError(`scan after change failed: ${err instanceof Error ? err.message : String(err)}`);
        for (const p of paths) {
          if (this.retried.has(p)) continue;
          this.retried.set(p, Date.now());
          this.touch(p);
        }
      });
  }

  /**
   * `p` relative to the root, with '/' separators. A path under the root (nearly all of
   * them: chokidar's paths and raw event names are joined, so normalized) is a slice of it;
   * path.relative cost a tree of 10,000 files 80 ms.
   */
  private rel(p: string): string {
    const under = p.startsWith(this.rootPrefix) && !p.endsWith(path.sep);
    const rel = under ? p.slice(this.rootPrefix.length) : path.relative(this.root, p);
    return path.sep === '/' ? rel : rel.split(path.sep).join('/');
  }

  private loadMatcher(): IgnoreMatcher {
    try {
      return loadIgnore(this.root);
    } catch (err) {
      this.opts.onError(err instanceof Error ? err.message : String(err));
      return { ignores: () => false };
    }
  }
}

/**
 * Whether a scan asked for at `askedAt` (per path, '' for the whole folder) covers `rel` as
 * it last changed at `ctimeMs`: a scan of `rel` or of a directory above it was asked for
 * more than CTIME_SLACK_MS after that change, so it lists the file after the change.
 * (A clock set back could make a new change look old; the periodic full rescan finds it.)
 */
export function scannedSince(askedAt: ReadonlyMap<string, number>, rel: string, ctimeMs: number): boolean {
  const covers = (p: string) => {
    const at = askedAt.get(p);
    return at !== undefined && ctimeMs < at - CTIME_SLACK_MS;
  };
  if (covers('') || covers(rel)) return true;
  for (let i = rel.indexOf('/'); i > 0; i = rel.indexOf('/', i + 1)) if (covers(rel.slice(0, i))) return true;
  return false;
}
