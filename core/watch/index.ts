/**
 * Watches one folder with chokidar and turns bursts of filesystem events into scans of
 * just the touched paths. Events are debounced (a save is often several events) but never
 * postponed forever: a folder that changes non-stop is still scanned every `maxWaitMs`.
 * The scanner decides what actually changed; the watcher only says where to look.
 */
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { loadIgnore, IGNORE_FILE, type IgnoreMatcher } from '../scan/ignore.js';

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

  constructor(private readonly root: string, private readonly opts: WatchOptions) {
    this.matcher = this.loadMatcher();
    this.watcher = watch(root, {
      ignoreInitial: true,
      followSymlinks: false,
      // The scanner handles files still being written (it retries unstable reads).
      awaitWriteFinish: false,
      ignored: (p, stats) => {
        const rel = this.rel(p);
        return rel !== '' && this.matcher.ignores(rel, stats?.isDirectory() ?? false);
      },
    });
    this.watcher.on('all', (_event, p) => this.touch(this.rel(p)));
    this.watcher.on('error', (err) => this.opts.onError(err instanceof Error ? err.message : String(err)));
    this.ready = new Promise((resolve) => this.watcher.once('ready', () => resolve()));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.watcher.close();
    await this.running.catch(() => undefined);
  }

  private touch(rel: string): void {
    if (this.closed) return;
    if (rel === IGNORE_FILE) this.matcher = this.loadMatcher();
    if (this.pending.size === 0) this.firstPendingAt = Date.now();
    this.pending.add(rel);
    clearTimeout(this.timer);
    const maxWait = this.opts.maxWaitMs ?? Math.max(2000, this.opts.debounceMs * 5);
    const wait = Math.max(0, Math.min(this.opts.debounceMs, this.firstPendingAt + maxWait - Date.now()));
    this.timer = setTimeout(() => this.flush(), wait);
  }

  private flush(): void {
    const paths = [...this.pending];
    this.pending = new Set();
    this.running = this.running
      .then(() => (this.closed ? undefined : this.opts.onChanges(paths)))
      .catch((err: unknown) => this.opts.onError(`scan after change failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  private rel(p: string): string {
    return path.relative(this.root, p).split(path.sep).join('/');
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
