/**
 * The API's job commands (`job.run`, `job.reports`), the `job.progress` / `job.report`
 * events and `status.health`, over `core/jobs`. A one-shot CLI run (no daemon) gets jobs
 * of its own without sync: audit, scrub and dry runs work; repair and cleanup say they
 * need the daemon. Placement then counts devices as live by when they were last seen.
 */
import type { Engine } from '../engine/index.js';
import { Jobs } from '../jobs/index.js';
import { createPlacementView } from '../placement/index.js';
import type { ApiEvent, JobReport, PlacementHealth, Params } from './types.js';

export class JobsApi {
  readonly jobs: Jobs;

  constructor(engine: Engine, jobs: Jobs | undefined, emit: (e: ApiEvent) => void) {
    this.jobs = jobs ?? new Jobs(engine, { placement: () => createPlacementView(engine) });
    this.jobs.on('progress', (p) => emit({ type: 'job.progress', ...p }));
    this.jobs.on('report', (report) => emit({ type: 'job.report', report }));
  }

  run(p: Params<'job.run'>): Promise<JobReport> {
    return this.jobs.run(p.job, { dryRun: p.dryRun ?? false });
  }

  reports(): JobReport[] {
    return this.jobs.latestReports();
  }

  health(): PlacementHealth | null {
    return this.jobs.health();
  }
}
