/**
 * Background jobs (DESIGN.md section 4): audit, repair, scrub and cleanup (which first frees
 * on-demand files no longer recently used, expire.ts). Owns running them (one run of each at
 * a time, cancelled at shutdown), their schedule in the daemon, their progress events and
 * their stored reports. What chunks should be where comes from placement, fetching and
 * announcing from sync, through the seam in `seam.ts`.
 */
import { EventEmitter } from 'node:events';
import type { Engine } from '../engine/index.js';
import type { JobReport, PlacementHealth } from '../api/types.js';
import { LocalChunks } from '../sync/local-chunks.js';
import { audit } from './audit.js';
import { cleanup } from './cleanup.js';
import { withExpiry } from './expire.js';
import type { RunnableJob } from './context.js';
import { repair } from './repair.js';
import { JobReports } from './reports.js';
import { JobRunner, type RunnerEvents } from './runner.js';
import { JobScheduler } from './schedule.js';
import { scrub } from './scrub.js';
import type { JobsSync, PlacementView } from './seam.js';

export type { RunnableJob } from './context.js';
export type { ChunkPlacement, JobsSync, PlacementView } from './seam.js';

export interface JobsOptions {
  /** The placement view, built fresh for each run (placement changes as devices come and go). */
  placement?: (() => PlacementView) | undefined;
  /** The running sync; absent for one-shot CLI commands. */
  sync?: JobsSync | undefined;
  log?: (line: string) => void;
}

export class Jobs extends EventEmitter<RunnerEvents> {
  private readonly runner: JobRunner;
  private readonly reports: JobReports;
  private scheduler: JobScheduler | undefined;

  constructor(private readonly engine: Engine, private readonly opts: JobsOptions = {}) {
    super();
    this.reports = new JobReports(engine.db);
    const local = new LocalChunks(engine.db, engine.store, (id) => engine.folders.get(id)?.local?.path);
    this.runner = new JobRunner({ audit, repair, scrub, cleanup: withExpiry(cleanup) }, this.reports, () => ({
      engine, config: engine.config.jobs, placement: opts.placement?.() ?? null, sync: opts.sync,
      readFromWorkingCopy: (hash) => local.readFromWorkingCopy(hash),
      workingCopyHolds: (hash) => local.locations(hash).length > 0,
      now: () => Date.now(),
    }));
    this.runner.on('progress', (p) => this.emit('progress', p));
    this.runner.on('report', (r) => this.emit('report', r));
  }

  run(job: RunnableJob, opts: { dryRun?: boolean } = {}): Promise<JobReport> {
    return this.runner.run(job, opts);
  }

  /** The last stored report of each job that ever ran. */
  latestReports(): JobReport[] {
    return this.runner.latestReports();
  }

  /** The last audit's figures, or null before any audit ran. */
  health(): PlacementHealth | null {
    return this.runner.health();
  }

  /** Starts the schedule (daemon and desktop app only). */
  startSchedule(online: () => Set<string>): void {
    const log = this.opts.log ?? (() => undefined);
    this.scheduler = new JobScheduler({
      runner: this.runner, config: this.engine.config.jobs, log,
      lastFinishedAt: (job) => this.reports.lastFinishedAt(job),
      offlineDevices: () => {
        const connected = online();
        return this.engine.mesh.devices()
          .filter((d) => !d.isLocal && d.revokedAt === null && !connected.has(d.id))
          .map((d) => ({ id: d.id, since: d.lastSeen ?? d.addedAt }));
      },
    });
    this.scheduler.start();
  }

  /** Stops the schedule and cancels running jobs; resolves when they have stopped. */
  async stop(): Promise<void> {
    this.scheduler?.stop();
    await this.runner.stop();
  }
}
