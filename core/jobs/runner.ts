/**
 * Runs jobs: at most one run of each job at a time (a second ask while one runs gets that
 * run's report, or waits for it when it asks for something different), every run
 * cancellable at shutdown, progress as events, and every report stored.
 */
import { EventEmitter } from 'node:events';
import type { JobReport, PlacementHealth } from '../api/types.js';
import { CanopyError, isCanopyError } from '../errors/index.js';
import type { Job, JobContext, RunnableJob } from './context.js';
import type { JobReports, RunStatus } from './reports.js';

export interface RunnerEvents {
  progress: [{ job: RunnableJob; done: number; total: number }];
  report: [JobReport];
}

/** Progress events are thinned to this many per second per job (a scrub has many chunks). */
const PROGRESS_EVERY_MS = 250;

type ContextBase = Omit<JobContext, 'dryRun' | 'signal' | 'progress'>;

export class JobRunner extends EventEmitter<RunnerEvents> {
  private readonly running = new Map<RunnableJob, { dryRun: boolean; done: Promise<JobReport> }>();
  private readonly abort = new AbortController();
  private lastHealth: PlacementHealth | null;

  constructor(private readonly jobs: Record<RunnableJob, Job>, private readonly reports: JobReports, private readonly context: () => ContextBase) {
    super();
    this.lastHealth = reports.latestHealth();
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  isRunning(job: RunnableJob): boolean {
    return this.running.has(job);
  }

  /** Runs a job now (or joins the run of it already going) and resolves with its report. */
  async run(job: RunnableJob, opts: { dryRun?: boolean } = {}): Promise<JobReport> {
    const dryRun = opts.dryRun ?? false;
    for (;;) {
      if (this.stopped) throw new CanopyError('IO_ERROR', `${job} not started: Canopy is shutting down`);
      const current = this.running.get(job);
      if (!current) break;
      if (current.dryRun === dryRun) return current.done;
      await current.done.catch(() => undefined);
    }
    const done = this.execute(job, dryRun).finally(() => this.running.delete(job));
    this.running.set(job, { dryRun, done });
    return done;
  }

  latestReports(): JobReport[] {
    return this.reports.latest();
  }

  /** The last audit's health figures (restored from the stored report after a restart). */
  health(): PlacementHealth | null {
    return this.lastHealth;
  }

  /** Cancels every run and waits for them to finish (their reports say `cancelled`). */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all([...this.running.values()].map((r) => r.done.catch(() => undefined)));
  }

  private async execute(job: RunnableJob, dryRun: boolean): Promise<JobReport> {
    const startedAt = Date.now();
    const id = this.reports.begin(job, startedAt);
    let lastProgress = 0;
    const progress = (done: number, total: number) => {
      const now = performance.now();
      if (done < total && now - lastProgress < PROGRESS_EVERY_MS) return;
      lastProgress = now;
      this.emit('progress', { job, done, total });
    };
    let report: JobReport;
    let status: RunStatus;
    try {
      const outcome = await this.jobs[job]({ ...this.context(), dryRun, signal: this.abort.signal, progress });
      status = outcome.ok === false ? 'failed' : 'ok';
      report = { job, dryRun, startedAt, finishedAt: Date.now(), ok: outcome.ok ?? true, counts: outcome.counts, message: outcome.message };
      if (outcome.health) {
        report.health = outcome.health;
        if (!dryRun) this.lastHealth = outcome.health;
      }
    } catch (err) {
      const cancelled = this.stopped;
      status = cancelled ? 'cancelled' : 'failed';
      const message = cancelled ? 'cancelled: Canopy is shutting down' : describe(err);
      report = { job, dryRun, startedAt, finishedAt: Date.now(), ok: false, counts: {}, message };
      this.reports.finish(id, status, report);
      this.emit('report', report);
      // A job that could not run at all (no daemon, no placement) answers the caller with that error.
      if (!cancelled && isCanopyError(err) && (err.code === 'DAEMON_UNREACHABLE' || err.code === 'NOT_IMPLEMENTED')) throw err;
      return report;
    }
    this.reports.finish(id, status, report);
    this.emit('report', report);
    return report;
  }
}

function describe(err: unknown): string {
  if (isCanopyError(err)) return err.message;
  return `internal error: ${err instanceof Error ? err.message : String(err)}`;
}
