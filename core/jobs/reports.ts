/**
 * Stored job reports: one `job_runs` row per run, written when the run starts (status
 * `running`) and completed when it ends, so a crash mid-run leaves a visible `interrupted`
 * row rather than nothing. The audit's report also carries the health figures, so
 * `canopy status` can show them even when no daemon runs.
 */
import type { Db } from '../db/index.js';
import type { JobName, JobReport, PlacementHealth } from '../api/types.js';

/** Runs kept per job: enough history to look back on, without a table that grows forever (repair runs every 10 minutes). */
const KEEP_RUNS = 200;

export type RunStatus = 'running' | 'ok' | 'failed' | 'cancelled' | 'interrupted';

interface Row { job: string; started_at: number; finished_at: number | null; status: RunStatus; report: string | null }

export class JobReports {
  private readonly stmt;

  constructor(private readonly db: Db) {
    this.stmt = {
      begin: db.prepare("INSERT INTO job_runs (job, started_at, status) VALUES (?, ?, 'running')"),
      finish: db.prepare('UPDATE job_runs SET finished_at = ?, status = ?, report = ? WHERE id = ?'),
      latest: db.prepare(`SELECT job, started_at, finished_at, status, report FROM job_runs r
        WHERE id = (SELECT max(id) FROM job_runs r2 WHERE r2.job = r.job AND r2.status != 'running') ORDER BY job`),
      latestHealth: db.prepare(`SELECT report FROM job_runs WHERE job = 'audit' AND status = 'ok' AND report LIKE '%"health"%' ORDER BY id DESC LIMIT 1`).pluck(),
      prune: db.prepare(`DELETE FROM job_runs WHERE job = ? AND id <= (SELECT id FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT 1 OFFSET ${KEEP_RUNS})`),
      lastFinished: db.prepare("SELECT max(finished_at) FROM job_runs WHERE job = ? AND status IN ('ok', 'failed')").pluck(),
    };
    // Runs left `running` by a process that died were interrupted, not still going.
    db.prepare("UPDATE job_runs SET status = 'interrupted', finished_at = started_at WHERE status = 'running'").run();
  }

  begin(job: JobName, startedAt: number): number {
    return Number(this.stmt.begin.run(job, startedAt).lastInsertRowid);
  }

  finish(id: number, status: RunStatus, report: JobReport): void {
    this.stmt.finish.run(report.finishedAt, status, JSON.stringify(report), id);
    this.stmt.prune.run(report.job, report.job);
  }

  /** The last finished run of each job, newest report per job. */
  latest(): JobReport[] {
    return (this.stmt.latest.all() as Row[]).map(toReport);
  }

  /** When the job last finished a run (ok or failed), for the scheduler; null if never. */
  lastFinishedAt(job: JobName): number | null {
    return (this.stmt.lastFinished.get(job) as number | null) ?? null;
  }

  /** The health figures of the last successful audit, if any stored. */
  latestHealth(): PlacementHealth | null {
    const raw = this.stmt.latestHealth.get() as string | undefined;
    if (!raw) return null;
    try {
      return (JSON.parse(raw) as JobReport).health ?? null;
    } catch {
      return null;
    }
  }
}

function toReport(r: Row): JobReport {
  if (r.report) {
    try {
      return JSON.parse(r.report) as JobReport;
    } catch {
      // fall through: a report we cannot read is shown as such, not hidden
    }
  }
  return {
    job: r.job as JobName, dryRun: false, startedAt: r.started_at, finishedAt: r.finished_at ?? r.started_at, ok: false, counts: {},
    message: r.status === 'interrupted' ? 'interrupted: the process stopped while this job ran' : `no readable report (${r.status})`,
  };
}
