/**
 * `canopy audit|repair|scrub|cleanup [--dry-run] [--json]` and `canopy jobs [--json]`:
 * run a background job now (through the daemon when one runs) and show stored reports.
 * Without --json, a job run through the daemon shows its progress on stderr.
 */
import type { Command } from 'commander';
import type { CanopyClient, JobReport } from '../api/types.js';
import type { RunnableJob } from '../jobs/index.js';
import { withClient } from './client.js';

const JOBS: { name: RunnableJob; does: string }[] = [
  { name: 'audit', does: 'count under-, over- and mis-placed chunks against placement; queue repairs' },
  { name: 'repair', does: 'fetch the chunks placement designates this device for and it lacks' },
  { name: 'scrub', does: 'rehash stored chunks; quarantine bad ones and fetch them again' },
  { name: 'cleanup', does: 'drop copies above target here (never below the minimum), keeping the retained overhead; first free on-demand files unused for placement.keep_recent' },
];

export function registerJobCommands(program: Command, homeOf: (cmd: Command) => string): void {
  for (const job of JOBS) {
    program.command(job.name)
      .description(`${job.does} (runs now; also scheduled in the daemon)`)
      .option('--dry-run', 'only say what it would do')
      .option('--json', 'print JSON')
      .action(async (o: { dryRun?: boolean; json?: boolean }, cmd: Command) => {
        const report = await withClient(homeOf(cmd), (c) => runWithProgress(c, job.name, o.dryRun ?? false, !o.json));
        if (o.json) print(JSON.stringify(report, null, 2));
        else print(formatReport(report));
      });
  }
  program.command('jobs')
    .description('the last report of each background job')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const reports = await withClient(homeOf(cmd), (c) => c.call('job.reports', {}));
      if (o.json) print(JSON.stringify(reports, null, 2));
      else print(reports.length ? reports.map(formatReport).join('\n') : 'No job has run yet.');
    });
}

async function runWithProgress(c: CanopyClient, job: RunnableJob, dryRun: boolean, showProgress: boolean): Promise<JobReport> {
  const off = showProgress && process.stderr.isTTY
    ? c.subscribe((e) => {
      if (e.type === 'job.progress' && e.job === job) process.stderr.write(`\r${job}: ${e.done}/${e.total}\u001b[K`);
    })
    : () => undefined;
  try {
    return await c.call('job.run', { job, dryRun });
  } finally {
    off();
    if (showProgress && process.stderr.isTTY) process.stderr.write('\r\u001b[K');
  }
}

export function formatReport(r: JobReport): string {
  const when = new Date(r.finishedAt).toISOString();
  const secs = ((r.finishedAt - r.startedAt) / 1000).toFixed(1);
  const counts = Object.entries(r.counts).map(([k, v]) => `${k}=${v}`).join(' ');
  return `${r.job}${r.dryRun ? ' (dry run)' : ''}: ${r.ok ? 'ok' : 'FAILED'} at ${when} in ${secs} s: ${r.message}${counts ? `\n  ${counts}` : ''}`;
}

function print(s: string): void {
  process.stdout.write(`${s}\n`);
}
