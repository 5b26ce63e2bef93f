/**
 * What one job run gets to work with, and what it hands back. Jobs are plain async
 * functions of a context: the runner owns scheduling, one-at-a-time, cancellation,
 * progress events and stored reports, so each job only says what it does.
 */
import type { Engine } from '../engine/index.js';
import type { JobsConfig } from '../config/schema.js';
import type { PlacementHealth } from '../api/types.js';
import { CanopyError } from '../errors/index.js';
import type { JobsSync, PlacementView } from './seam.js';

export type RunnableJob = 'audit' | 'repair' | 'scrub' | 'cleanup';

export interface JobContext {
  engine: Engine;
  config: JobsConfig;
  /** Null when this build has no placement: jobs that need it say so. */
  placement: PlacementView | null;
  /** Absent when no daemon runs: nothing can be fetched from or confirmed with peers. */
  sync: JobsSync | undefined;
  /** The verified bytes of a chunk from this device's working copy, if a file there still holds it. */
  readFromWorkingCopy(hash: string): Promise<Buffer | undefined>;
  /** Whether a working-copy file is indexed as holding the chunk (no disk access). */
  workingCopyHolds(hash: string): boolean;
  dryRun: boolean;
  signal: AbortSignal;
  progress(done: number, total: number): void;
  now(): number;
}

export interface JobOutcome {
  counts: Record<string, number>;
  message: string;
  /** False when the job ran but could not do all it should (e.g. chunks it could not heal). */
  ok?: boolean;
  health?: PlacementHealth;
}

export type Job = (ctx: JobContext) => Promise<JobOutcome>;

export function requirePlacement(ctx: JobContext): PlacementView {
  if (!ctx.placement) throw new CanopyError('NOT_IMPLEMENTED', 'placement is not available in this build, so chunk placement cannot be checked');
  return ctx.placement;
}

/** Jobs that change other devices' copies or fetch from them need the running daemon's sync. */
export function requireSync(ctx: JobContext, job: RunnableJob): JobsSync {
  if (!ctx.sync) {
    throw new CanopyError('DAEMON_UNREACHABLE', `${job} needs the running daemon (it talks to other devices); start \`canopy daemon\`, or use --dry-run to see what it would do`);
  }
  return ctx.sync;
}

/** Throws if the run was cancelled (shutdown): jobs call it between units of work. */
export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new CanopyError('IO_ERROR', 'cancelled: Canopy is shutting down', { cancelled: true });
}

/** Waits `ms`, or less if the run is cancelled. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Keeps a loop at `bytesPerSecond` (0 = unlimited): after each unit of work, sleeps until
 * the bytes done so far would have taken that long. Scrub uses it so rehashing a large
 * store never competes with the user for the disk.
 */
export function pacer(bytesPerSecond: number, signal: AbortSignal, now: () => number = () => performance.now()): (bytes: number) => Promise<void> {
  const start = now();
  let done = 0;
  return async (bytes) => {
    done += bytes;
    if (bytesPerSecond <= 0) return;
    const dueMs = (done / bytesPerSecond) * 1000;
    await pause(dueMs - (now() - start), signal);
  };
}
