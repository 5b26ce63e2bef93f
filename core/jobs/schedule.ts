/**
 * When jobs run by themselves in a daemon: each on its configured interval (counted from
 * its last finished run, so a restart does not rerun everything at once), the audit also
 * when a device has been offline longer than the grace period, and repair right after any
 * audit (scheduled or asked for) that found chunks this device should fetch.
 */
import type { JobReport } from '../api/types.js';
import type { JobsConfig } from '../config/schema.js';
import type { RunnableJob } from './context.js';
import type { JobRunner } from './runner.js';

/** A job that never ran waits this long after startup (or its interval, if shorter). */
const FIRST_RUN_DELAY_MS = 60_000;
/**
 * Just started, a device cannot tell a peer that is gone from one that has not reconnected
 * yet: no job starts before this (or the offline grace, if shorter), and a peer counts as
 * offline at most since this device started.
 */
const STARTUP_QUIET_MS = 60_000;
/** The offline check runs this often at most (a quarter of the grace, for short test graces). */
const OFFLINE_CHECK_MAX_MS = 30_000;
const OFFLINE_CHECK_MIN_MS = 250;

export interface OfflineDevice {
  id: string;
  /** When it was last connected (or added, if never). */
  since: number;
}

export interface SchedulerDeps {
  runner: JobRunner;
  config: JobsConfig;
  lastFinishedAt(job: RunnableJob): number | null;
  /** Paired devices not connected now. */
  offlineDevices(): OfflineDevice[];
  log(line: string): void;
  now?: () => number;
}

export class JobScheduler {
  private readonly timers = new Map<RunnableJob, NodeJS.Timeout>();
  private offlineTimer: NodeJS.Timeout | undefined;
  /** Devices whose going past the grace period has already triggered an audit. */
  private readonly noticed = new Set<string>();
  private readonly inFlight = new Set<RunnableJob>();
  private readonly again = new Set<RunnableJob>();
  private stopped = false;
  private startedAt = 0;

  constructor(private readonly deps: SchedulerDeps) {}

  private get now(): number {
    return (this.deps.now ?? Date.now)();
  }

  start(): void {
    const { config } = this.deps;
    this.startedAt = this.now;
    const quiet = Math.min(STARTUP_QUIET_MS, config.offlineGrace);
    for (const job of ['audit', 'repair', 'scrub', 'cleanup'] as const) {
      const interval = this.interval(job);
      const last = this.deps.lastFinishedAt(job);
      const delay = Math.max(quiet, last === null ? Math.min(interval, FIRST_RUN_DELAY_MS) : last + interval - this.now);
      this.schedule(job, delay);
    }
    const every = Math.min(OFFLINE_CHECK_MAX_MS, Math.max(OFFLINE_CHECK_MIN_MS, config.offlineGrace / 4));
    this.offlineTimer = setInterval(() => this.checkOffline(), every);
    this.offlineTimer.unref();
    this.deps.runner.on('report', this.queueRepairs);
  }

  /** Every audit (scheduled or asked for) queues the repairs it found. */
  private readonly queueRepairs = (report: JobReport): void => {
    if (report.job === 'audit' && report.ok && !report.dryRun && (report.counts.repairQueue ?? 0) > 0) {
      this.trigger('repair', `audit found ${report.counts.repairQueue} chunks to fetch`);
    }
  };

  stop(): void {
    this.stopped = true;
    this.deps.runner.off('report', this.queueRepairs);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    clearInterval(this.offlineTimer);
  }

  /** Runs a job now, outside its timer (an event asked for it); errors are logged, not thrown. */
  trigger(job: RunnableJob, why: string): void {
    if (this.stopped) return;
    this.deps.log(`${job}: starting (${why})`);
    void this.runLogged(job);
  }

  /** Read at each run, so an interval changed through `settings.set` applies from the next run. */
  private interval(job: RunnableJob): number {
    const c = this.deps.config;
    return { audit: c.auditInterval, repair: c.repairInterval, scrub: c.scrubInterval, cleanup: c.cleanupInterval }[job];
  }

  private schedule(job: RunnableJob, delay: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      void this.runLogged(job).finally(() => this.schedule(job, this.interval(job)));
    }, delay);
    timer.unref();
    this.timers.set(job, timer);
  }

  private async runLogged(job: RunnableJob): Promise<void> {
    // Already running: it may have started before what asks now (an audit that found more to
    // repair), so one more run follows it, however many ask meanwhile.
    if (this.inFlight.has(job)) {
      this.again.add(job);
      return;
    }
    this.inFlight.add(job);
    try {
      const report = await this.deps.runner.run(job);
      if (!report.ok || report.job !== 'scrub' || (report.counts.corrupt ?? 0) + (report.counts.missing ?? 0) > 0) this.deps.log(`${job}: ${report.message}`);
    } catch (err) {
      if (!this.deps.runner.stopped) this.deps.log(`${job} could not run: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.inFlight.delete(job);
      if (this.again.delete(job) && !this.stopped) void this.runLogged(job);
    }
  }

  /** An audit when a device crosses the grace period (once per absence). */
  private checkOffline(): void {
    const offline = this.deps.offlineDevices();
    const ids = new Set(offline.map((d) => d.id));
    for (const id of [...this.noticed]) if (!ids.has(id)) this.noticed.delete(id);
    const crossed = offline.filter((d) => !this.noticed.has(d.id) && this.now - Math.max(d.since, this.startedAt) > this.deps.config.offlineGrace);
    if (crossed.length === 0) return;
    for (const d of crossed) this.noticed.add(d.id);
    this.trigger('audit', `${crossed.length} ${crossed.length === 1 ? 'device' : 'devices'} offline longer than the grace period: ${crossed.map((d) => d.id.slice(0, 8)).join(', ')}`);
  }
}
