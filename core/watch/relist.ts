/**
 * Closes a gap in chokidar's handling of a directory that appears: it lists the directory
 * first and watches it after, so an entry made or removed in between is seen by neither
 * (until something else changes there, or the periodic full rescan). For each directory
 * that appeared, this remembers what chokidar listed in it and, once chokidar has been
 * quiet about it for `delayMs` (its watch long in place), lists it again: every name that
 * differs is reported.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface RelistOptions {
  delayMs: number;
  /** A name in `dir` that chokidar's listing missed or that is gone since: `isDir` if it is a directory now. */
  onMissed: (dir: string, name: string, isDir: boolean) => void;
}

interface Pending {
  names: Set<string>;
  last: number;
  timer: NodeJS.Timeout | undefined;
}

export class NewDirRelister {
  private readonly dirs = new Map<string, Pending>();
  private closed = false;

  constructor(private readonly opts: RelistOptions) {}

  /** A directory appeared (chokidar's addDir, before it lists it). */
  appeared(dir: string): void {
    if (this.closed || this.dirs.has(dir)) return;
    const p: Pending = { names: new Set(), last: Date.now(), timer: undefined };
    this.dirs.set(dir, p);
    this.arm(dir, p, this.opts.delayMs);
  }

  /** chokidar listed `entry` (an absolute path): remembered if its directory appeared. */
  listed(entry: string): void {
    const p = this.dirs.get(path.dirname(entry));
    if (!p) return;
    p.names.add(path.basename(entry));
    p.last = Date.now();
  }

  close(): void {
    this.closed = true;
    for (const p of this.dirs.values()) clearTimeout(p.timer);
    this.dirs.clear();
  }

  private arm(dir: string, p: Pending, ms: number): void {
    p.timer = setTimeout(() => this.due(dir, p), ms);
    p.timer.unref();
  }

  private due(dir: string, p: Pending): void {
    const quietFor = Date.now() - p.last;
    if (quietFor < this.opts.delayMs) return this.arm(dir, p, this.opts.delayMs - quietFor);
    this.dirs.delete(dir);
    void fs.promises.readdir(dir, { withFileTypes: true }).then(
      (entries) => {
        if (this.closed) return;
        const now = new Set<string>();
        for (const e of entries) {
          now.add(e.name);
          if (!p.names.has(e.name)) this.opts.onMissed(dir, e.name, e.isDirectory());
        }
        for (const name of p.names) if (!now.has(name)) this.opts.onMissed(dir, name, false);
      },
      () => undefined, // gone or unreadable: its parent's watch reports that
    );
  }
}
