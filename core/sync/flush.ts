/**
 * Makes newly written files durable before they are renamed into place, small files
 * together.
 *
 * One fsync per file costs a journal commit per file, and for small files that is most of
 * what writing them costs: 10,000 files of 4 KiB took 2.4 s and 3 CPU-seconds with an fsync
 * each (8 or 128 at a time alike), against 1.1 s and 0.8 CPU-seconds with one syncfs(2) per
 * few hundred, on this machine's ext4. So on Linux, files up to GROUP_MAX_BYTES are flushed
 * in groups: one syncfs of their filesystem for every file that became ready while the
 * previous one ran. The guarantee is the same as an fsync each: when a file's flush
 * resolves, its bytes and metadata are on disk. Node has no syncfs binding; `sync -f DIR`
 * (coreutils 8.24, 2015, and busybox) makes that one call, run by a long-lived shell
 * (SyncHelper).
 *
 * Only on filesystems whose syncfs flushes everything an fsync would (GROUP_FILESYSTEMS):
 * on FUSE (ntfs-3g, sshfs) syncfs does not reach the filesystem's own flush, so a file
 * there gets its fsync.
 *
 * Bigger files, other platforms, and a `sync -f` that fails get an fsync per file. A
 * failure before any group flush succeeded means the command is missing or different: the
 * groups stop for good. A later failure (a disk error) falls back for that group only,
 * where each file's own fsync reports its own error.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';

/** Files up to this size are flushed in groups; bigger ones are mostly their own data, and get an fsync each. */
export const GROUP_MAX_BYTES = 1024 * 1024;
/**
 * A group starts at least this long after the previous one on the same filesystem: each
 * syncfs costs the shell loop a start of `sync` (a few ms of CPU), and a journal commit,
 * so fast groups of a few files each would cost more than they save.
 */
const MIN_GAP_MS = 20;

/**
 * Filesystems (statfs f_type) where one syncfs makes every file written durable: ext2/3/4,
 * XFS, Btrfs, F2FS, tmpfs (nothing to flush). Anything else gets an fsync per file.
 */
const GROUP_FILESYSTEMS = new Set([0xef53, 0x58465342, 0x9123683e, 0xf2f52010, 0x01021994]);

/** Runs syncfs(2) on the filesystem holding `dir`; rejects if it could not. */
export type SyncFilesystem = (dir: string) => Promise<void>;

const fsync = promisify(fs.fsync);

/**
 * The shell loop that runs the syncfs calls. A process start from Node forks the daemon
 * itself on its main thread (1.5 ms each here, 0.4 s for the 10,000 files); from a small
 * shell it costs the shell, on another core. One line per directory in, one line out:
 * "ok", or "fail" and what `sync` said.
 */
const HELPER_SCRIPT = 'while IFS= read -r d; do if out=$(sync -f -- "$d" 2>&1); then echo ok; else echo "fail $out" | tr "\\n" " "; echo; fi; done';
/** The shell loop ends after this long without work (it is started again when needed). */
const HELPER_IDLE_MS = 10_000;

interface Refable {
  ref(): void;
  unref(): void;
}

/** Runs `sync -f` for one directory at a time in a long-lived shell (see HELPER_SCRIPT). */
class SyncHelper {
  private child: ChildProcessWithoutNullStreams | undefined;
  private waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private out = '';
  private idle: NodeJS.Timeout | undefined;

  run(dir: string): Promise<void> {
    // One line per request: a name with a line break in it cannot be sent.
    if (dir.includes('\n')) return Promise.reject(new Error(`cannot pass a directory name with a line break to sync -f: ${JSON.stringify(dir)}`));
    clearTimeout(this.idle);
    const child = this.child ?? this.start();
    // Held open while a flush waits on it (a CLI run must not exit mid-flush), not when idle.
    if (this.waiting.length === 0) this.hold(child, true);
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      child.stdin.write(`${dir}\n`);
    });
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn('sh', ['-c', HELPER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    this.child = child;
    this.out = '';
    // Idle, the shell must never keep a daemon or a CLI run from exiting; it ends with its stdin.
    this.hold(child, false);
    (child.stdin as unknown as Partial<Refable>).unref?.();
    (child.stderr as unknown as Partial<Refable>).unref?.();
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => this.onOutput(text));
    child.stderr.resume();
    child.stdin.on('error', () => undefined); // a dead shell: reported by 'close' below
    child.on('error', (err) => this.stopped(child, err));
    child.on('close', (code, signal) => this.stopped(child, new Error(`the sync -f shell ended (${signal ?? `exit code ${code}`})`)));
    return child;
  }

  private onOutput(text: string): void {
    this.out += text;
    for (let nl = this.out.indexOf('\n'); nl >= 0; nl = this.out.indexOf('\n')) {
      const line = this.out.slice(0, nl);
      this.out = this.out.slice(nl + 1);
      const w = this.waiting.shift();
      if (line === 'ok') w?.resolve();
      else w?.reject(new Error(line.replace(/^fail /, '').trim() || 'sync -f failed'));
    }
    if (this.waiting.length === 0 && this.child) {
      this.hold(this.child, false);
      clearTimeout(this.idle);
      this.idle = setTimeout(() => this.child?.stdin.end(), HELPER_IDLE_MS);
      this.idle.unref();
    }
  }

  /** Whether the shell and its output keep the process alive. */
  private hold(child: ChildProcessWithoutNullStreams, on: boolean): void {
    const out = child.stdout as unknown as Partial<Refable>;
    if (on) {
      child.ref();
      out.ref?.();
    } else {
      child.unref();
      out.unref?.();
    }
  }

  private stopped(child: ChildProcessWithoutNullStreams, err: Error): void {
    if (this.child !== child) return;
    this.child = undefined;
    clearTimeout(this.idle);
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w.reject(err);
  }
}

const helper = new SyncHelper();

/** The real syncfs: `sync -f DIR`, run by one shell loop per process. */
export const syncFilesystem: SyncFilesystem = (dir) => helper.run(dir);

interface Waiter {
  fd: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One filesystem's group: the files waiting for the next syncfs, and whether one runs. */
interface Group {
  dir: string;
  waiting: Waiter[];
  running: boolean;
  timer: NodeJS.Timeout | undefined;
  lastStart: number;
}

export interface GroupFlushOptions {
  /** Default: `sync -f` on Linux, none elsewhere (every file gets its own fsync). */
  syncFilesystem?: SyncFilesystem | undefined;
  /** Filesystem types (statfs f_type) flushed in groups; default GROUP_FILESYSTEMS. */
  filesystemTypes?: ReadonlySet<number>;
  /** Told once when group flushing stops for good, and why. */
  onFallback?: (message: string) => void;
}

export class GroupFlush {
  private readonly groups = new Map<number, Group>();
  /** Per device: whether its filesystem is one of GROUP_FILESYSTEMS. */
  private readonly groupable = new Map<number, boolean>();
  private sync: SyncFilesystem | undefined;
  private succeeded = false;

  constructor(private readonly opts: GroupFlushOptions = {}) {
    this.sync = 'syncFilesystem' in opts ? opts.syncFilesystem : process.platform === 'linux' ? syncFilesystem : undefined;
  }

  /**
   * Resolves once the file open at `fd` is on disk. `dir` is its directory and `dev` the
   * device it is on (fstat), so one syncfs covers exactly the files of one filesystem. The
   * caller keeps `fd` open until this settles.
   */
  flush(fd: number, size: number, dir: string, dev: number): Promise<void> {
    if (!this.sync || size > GROUP_MAX_BYTES || !this.isGroupable(dir, dev)) return fsync(fd);
    let g = this.groups.get(dev);
    if (!g) this.groups.set(dev, (g = { dir, waiting: [], running: false, timer: undefined, lastStart: 0 }));
    g.dir = dir;
    const group = g;
    const done = new Promise<void>((resolve, reject) => group.waiting.push({ fd, resolve, reject }));
    this.schedule(group);
    return done;
  }

  private isGroupable(dir: string, dev: number): boolean {
    let ok = this.groupable.get(dev);
    if (ok === undefined) {
      try {
        ok = (this.opts.filesystemTypes ?? GROUP_FILESYSTEMS).has(fs.statfsSync(dir).type);
      } catch {
        ok = false;
      }
      this.groupable.set(dev, ok);
    }
    return ok;
  }

  private schedule(g: Group): void {
    if (g.running || g.timer || g.waiting.length === 0) return;
    g.timer = setTimeout(() => void this.start(g), Math.max(0, g.lastStart + MIN_GAP_MS - Date.now()));
  }

  private async start(g: Group): Promise<void> {
    g.timer = undefined;
    const batch = g.waiting;
    g.waiting = [];
    g.running = true;
    g.lastStart = Date.now();
    try {
      await this.flushGroup(g.dir, batch);
    } finally {
      g.running = false;
      this.schedule(g);
    }
  }

  private async flushGroup(dir: string, batch: Waiter[]): Promise<void> {
    const sync = this.sync;
    if (sync) {
      try {
        await sync(dir);
        this.succeeded = true;
        for (const w of batch) w.resolve();
        return;
      } catch (err) {
        if (!this.succeeded && this.sync) {
          this.sync = undefined;
          this.opts.onFallback?.(`flushing small files together (sync -f) is not available here, so each file gets its own fsync: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    // Each file on its own: its own error, if any, goes to its own writer.
    await Promise.all(batch.map((w) => fsync(w.fd).then(w.resolve, w.reject)));
  }
}
