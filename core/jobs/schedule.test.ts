/** The schedule with stand-in jobs (counting their runs) over a real runner and report store. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/index.js';
import type { JobsConfig } from '../config/schema.js';
import { tmpDir, waitFor } from '../testing/index.js';
import type { Job, RunnableJob } from './context.js';
import { JobReports } from './reports.js';
import { JobRunner } from './runner.js';
import { JobScheduler, type OfflineDevice } from './schedule.js';

let dir: string;
let db: Db;
let scheduler: JobScheduler | undefined;
let runner: JobRunner | undefined;

beforeEach(() => {
  dir = tmpDir('canopy-schedule-');
  db = openDatabase(path.join(dir, 'canopy.db'));
});
afterEach(async () => {
  scheduler?.stop();
  await runner?.stop();
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;
const config = (over: Partial<JobsConfig> = {}): JobsConfig => ({
  auditInterval: HOUR, repairInterval: HOUR, scrubInterval: HOUR, scrubRate: 0, cleanupInterval: HOUR, gcInterval: HOUR, offlineGrace: 400, retainedOverhead: 0, ...over,
});

function setup(opts: { config: JobsConfig; offline: () => OfflineDevice[]; jobs?: Partial<Record<RunnableJob, Job>> }): Record<RunnableJob, number> {
  const runs: Record<RunnableJob, number> = { audit: 0, repair: 0, scrub: 0, cleanup: 0 };
  const counting = (job: RunnableJob): Job => async (ctx) => {
    runs[job] += 1;
    return opts.jobs?.[job]?.(ctx) ?? { counts: {}, message: 'ok' };
  };
  const reports = new JobReports(db);
  runner = new JobRunner({ audit: counting('audit'), repair: counting('repair'), scrub: counting('scrub'), cleanup: counting('cleanup') }, reports, () => ({}) as never);
  scheduler = new JobScheduler({ runner, config: opts.config, lastFinishedAt: (j) => reports.lastFinishedAt(j), offlineDevices: opts.offline, log: () => undefined });
  scheduler.start();
  return runs;
}

describe('job schedule', () => {
  it('a device offline past the grace period starts one audit per absence, and an audit with a repair queue starts a repair', async () => {
    let offline: OfflineDevice[] = [{ id: 'laptop', since: Date.now() - 10 * HOUR }];
    const runs = setup({ config: config(), offline: () => offline, jobs: { audit: async () => ({ counts: { repairQueue: 3 }, message: 'three to fetch' }) } });
    await waitFor(() => runs.audit === 1 && runs.repair === 1, 'the audit and the repair it starts', 10_000);
    await new Promise((r) => setTimeout(r, 800));
    expect(runs.audit).toBe(1); // still offline: not audited again
    offline = [];
    await new Promise((r) => setTimeout(r, 400)); // back: the next absence counts anew
    offline = [{ id: 'laptop', since: Date.now() }];
    await waitFor(() => runs.audit === 2, 'a second audit for the second absence', 10_000);
    expect(runs.scrub + runs.cleanup).toBe(0); // hourly jobs have not come due
  });

  it('a device just started waits the grace period before calling anyone gone', async () => {
    const runs = setup({ config: config({ offlineGrace: 1500 }), offline: () => [{ id: 'desktop', since: 0 }] });
    await new Promise((r) => setTimeout(r, 1000));
    expect(runs.audit).toBe(0);
    await waitFor(() => runs.audit === 1, 'the audit once the grace has passed since startup', 10_000);
  });

  it('runs each job on its own interval, and only the jobs that came due', async () => {
    const runs = setup({ config: config({ scrubInterval: 300, offlineGrace: 100 }), offline: () => [] });
    await waitFor(() => runs.scrub >= 2, 'two scrubs', 10_000);
    expect(runs.audit + runs.repair + runs.cleanup).toBe(0);
  });

  it('an audit asked for by hand queues its repairs too', async () => {
    const runs = setup({ config: config(), offline: () => [], jobs: { audit: async () => ({ counts: { repairQueue: 2 }, message: '' }) } });
    await runner?.run('audit');
    await waitFor(() => runs.repair === 1, 'the repair the audit queued', 10_000);
    await runner?.run('audit', { dryRun: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(runs.repair).toBe(1); // a dry run queues nothing
  });

  it('asked again while running (an audit found more to repair), a job runs once more afterwards', async () => {
    let release: () => void = () => undefined;
    let audits = 0;
    const runs = setup({
      config: config(), offline: () => (audits < 2 ? [{ id: `d${audits}`, since: 0 }] : []),
      jobs: {
        audit: async () => ({ counts: { repairQueue: 1 + audits++ }, message: '' }),
        repair: () => new Promise((r) => (release = () => r({ counts: {}, message: '' }))),
      },
    });
    await waitFor(() => runs.repair === 1 && audits === 2, 'a repair running while a second audit asks for one', 10_000);
    release();
    await waitFor(() => runs.repair === 2, 'the second repair', 10_000);
    release();
  });
});
