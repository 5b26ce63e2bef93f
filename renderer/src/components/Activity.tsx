import { useId, useState } from 'react';
import type { EvictionStrategy, JobName, JobReport, QuotaInfo } from '../../../core/api/types.js';
import { formatBytes, formatCount, formatTimestamp, fraction, formatPercent } from '../format.js';
import { useCanopy } from '../store-context.js';
import { useAction, useCall } from '../use-call.js';
import { ActionStatus, CallProblem } from './CallProblem.js';
import { QuotaSlider } from './QuotaSlider.js';
import { SettingsForm } from './SettingsForm.js';

const JOBS: readonly { job: Exclude<JobName, 'gc'>; what: string }[] = [
  { job: 'audit', what: 'checks that every chunk has its copies' },
  { job: 'repair', what: 'makes the missing copies' },
  { job: 'scrub', what: 'reads every local chunk back and heals corrupt ones' },
  { job: 'cleanup', what: 'drops chunks nothing needs here any more' },
];

/** Activity and settings: job reports, running a job, garbage collection, quota and syncing. */
export function Activity() {
  return (
    <section aria-labelledby="activity-title">
      <h1 id="activity-title">Activity and settings</h1>
      <div className="cards two">
        <JobsCard />
        <article className="card" aria-labelledby="quota-title">
          <h2 id="quota-title">Quota</h2>
          <QuotaSlider />
          <QuotaOptions />
        </article>
      </div>
      <ReportsCard />
      <div className="cards two">
        <SyncCard />
        <SettingsForm />
      </div>
    </section>
  );
}

function JobsCard() {
  const run = useAction('job.run');
  const gc = useAction('gc');
  const running = useCanopy((s) => s.jobs);
  const [dryRun, setDryRun] = useState(false);
  const uid = useId();
  return (
    <article className="card" aria-labelledby="jobs-title">
      <h2 id="jobs-title">Run a job</h2>
      <label className="check">
        <input type="checkbox" checked={dryRun} onChange={(e) => setDryRun(e.target.checked)} aria-describedby={`${uid}-dry`} /> Dry run
      </label>
      <p id={`${uid}-dry`} className="hint">only report what the job would do</p>
      <ul className="job-list">
        {JOBS.map(({ job, what }) => {
          const p = running[job];
          return (
            <li key={job}>
              <button type="button" onClick={() => void run.run({ job, dryRun })} disabled={run.pending || p !== undefined}>
                Run {job}
              </button>{' '}
              <span className="muted">{what}</span>
              {p && <progress max={1} value={fraction(p.done, p.total)} aria-label={`${job} progress`} aria-valuetext={`${formatCount(p.done)} of ${formatCount(p.total)} (${formatPercent(fraction(p.done, p.total))})`} />}
            </li>
          );
        })}
        <li>
          <button type="button" onClick={() => void gc.run({ dryRun })} disabled={gc.pending}>Collect garbage</button>{' '}
          <span className="muted">drops old versions and deleted files past their retention</span>
        </li>
      </ul>
      <ActionStatus pending={run.pending} error={run.error} what="Running the job" />
      <ActionStatus pending={gc.pending} error={gc.error} what="Collecting garbage" />
      {run.result && <p role="status">{run.result.job}: {run.result.message}</p>}
      {gc.result && (
        <p role="status">
          {gc.result.dryRun ? 'Would free' : 'Freed'} {formatBytes(gc.result.bytesFreed)}: {formatCount(gc.result.versionsRemoved)} versions, {formatCount(gc.result.tombstonesRemoved)} deleted files,{' '}
          {formatCount(gc.result.chunksRemoved)} chunks.
        </p>
      )}
    </article>
  );
}

function ReportsCard() {
  const rev = useCanopy((s) => s.rev.jobs);
  const reports = useCall('job.reports', {}, String(rev));
  const recent = useCanopy((s) => s.recentReports);
  const list: JobReport[] = reports.data ?? recent;
  return (
    <article className="card spaced" aria-labelledby="reports-title">
      <h2 id="reports-title">Job reports</h2>
      {reports.state === 'error' && <CallProblem error={reports.error} what="Loading the job reports" onRetry={reports.reload} />}
      {list.length === 0 ? (
        reports.state !== 'error' && <p className="muted">No job has run yet.</p>
      ) : (
        <ol className="reports">
          {list.map((r) => (
            <li key={`${r.job}-${r.startedAt}`} className={r.ok ? undefined : 'failed'}>
              <strong>{r.job}</strong>
              {r.dryRun && <span className="badge">dry run</span>} <span className={r.ok ? 'ok-text' : 'warn'}>{r.ok ? 'ok' : 'needs attention'}</span>{' '}
              <span className="muted">{formatTimestamp(r.finishedAt)}</span>
              <div>{r.message}</div>
              {Object.keys(r.counts).length > 0 && (
                <div className="muted small">
                  {Object.entries(r.counts)
                    .map(([k, v]) => `${k} ${formatCount(v)}`)
                    .join(', ')}
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
    </article>
  );
}

const STRATEGIES: readonly EvictionStrategy[] = ['hybrid', 'lru', 'priority', 'redundant'];

function QuotaOptions() {
  const rev = useCanopy((s) => s.rev.quota);
  const quota = useCall('quota.get', {}, String(rev));
  const set = useAction('quota.set');
  const q = quota.data;
  if (!q) return null;
  const change = async (patch: Partial<Pick<QuotaInfo, 'autoEvict' | 'shareExcess' | 'evictionStrategy'>>) => {
    if (await set.run(patch)) quota.reload();
  };
  return (
    <div className="quota-options">
      <dl className="facts">
        <dt>Own files</dt>
        <dd>{formatBytes(q.usage.ownBytes)}</dd>
        <dt>Replicas for others</dt>
        <dd>{formatBytes(q.usage.replicaBytes)}</dd>
        <dt>Cache</dt>
        <dd>{formatBytes(q.usage.cacheBytes)}</dd>
        <dt>Pinned</dt>
        <dd>{formatBytes(q.usage.pinnedBytes)}</dd>
      </dl>
      <label className="check">
        <input type="checkbox" checked={q.autoEvict} onChange={(e) => void change({ autoEvict: e.target.checked })} /> Free space by itself when full
      </label>
      <label className="check">
        <input type="checkbox" checked={q.shareExcess} onChange={(e) => void change({ shareExcess: e.target.checked })} /> Lend unused space to other devices
      </label>
      <label className="inline-field">
        Evict first{' '}
        <select value={q.evictionStrategy} onChange={(e) => void change({ evictionStrategy: e.target.value as EvictionStrategy })}>
          {STRATEGIES.map((s) => (
            <option key={s} value={s}>{s}</option>
          ))}
        </select>
      </label>
      <ActionStatus pending={set.pending} error={set.error} what="Changing the quota settings" />
    </div>
  );
}

function SyncCard() {
  const sync = useCanopy((s) => s.status?.sync ?? null);
  const refresh = useCanopy((s) => s.refresh);
  const pause = useAction('sync.pause');
  const resume = useAction('sync.resume');
  return (
    <article className="card" aria-labelledby="sync-title">
      <h2 id="sync-title">Syncing</h2>
      {!sync ? (
        <p className="muted">No daemon runs for this device, so nothing syncs.</p>
      ) : (
        <>
          <p>{sync.paused ? 'Paused: connections are closed, nothing is lost.' : `Running, ${formatCount(sync.peers.length)} ${sync.peers.length === 1 ? 'device' : 'devices'} connected.`}</p>
          {sync.paused ? (
            <button type="button" onClick={() => void resume.run({}).then(() => refresh())}>Resume syncing</button>
          ) : (
            <button type="button" onClick={() => void pause.run({}).then(() => refresh())}>Pause syncing</button>
          )}
        </>
      )}
      <ActionStatus pending={pause.pending || resume.pending} error={pause.error ?? resume.error} what="Pausing or resuming" />
    </article>
  );
}
