import { useId, useState, type FormEvent } from 'react';
import type { Priority, SettingsInfo } from '../../../core/api/types.js';
import { useAction, useCall } from '../use-call.js';
import { ActionStatus, CallProblem } from './CallProblem.js';

const PRIORITY_ORDER: readonly Priority[] = ['critical', 'high', 'normal', 'low', 'expendable'];
const INTERVALS = [
  ['audit_interval', 'auditInterval', 'Audit every'],
  ['repair_interval', 'repairInterval', 'Repair every'],
  ['scrub_interval', 'scrubInterval', 'Scrub every'],
  ['cleanup_interval', 'cleanupInterval', 'Clean up every'],
  ['gc_interval', 'gcInterval', 'Garbage-collect every'],
  ['offline_grace', 'offlineGrace', 'Device gone after'],
] as const;

/** Milliseconds as config.toml writes them: "2h", "30m", "1d". */
export function durationText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** "site:2, power:1" as diversity rules in config.toml's form; undefined when malformed. */
export function parseDiversity(text: string): { label: string; min_distinct: number }[] | undefined {
  const rules = text.split(',').map((s) => s.trim()).filter(Boolean).map((r) => /^([A-Za-z0-9_.-]+)\s*:\s*(\d+)$/.exec(r));
  if (rules.some((m) => m === null)) return undefined;
  return rules.map((m) => ({ label: (m as RegExpExecArray)[1] as string, min_distinct: Number((m as RegExpExecArray)[2]) }));
}

/**
 * This device's replication factors, diversity rules, job schedules and how long on-demand
 * folders keep used files (`settings.get` /
 * `settings.set`, written to config.toml). Invalid values come back from the API's
 * config.toml schema and are shown; nothing is written then.
 */
export function SettingsForm() {
  const [rev, setRev] = useState(0);
  const settings = useCall('settings.get', {}, String(rev));
  return (
    <article className="card" aria-labelledby="replication-title">
      <h2 id="replication-title">Replication and schedules</h2>
      {settings.state === 'error' && <CallProblem error={settings.error} what="Reading the settings" onRetry={settings.reload} />}
      {settings.data && <SettingsFields settings={settings.data} onSaved={() => setRev((n) => n + 1)} />}
    </article>
  );
}

function SettingsFields({ settings, onSaved }: { settings: SettingsInfo; onSaved: () => void }) {
  const save = useAction('settings.set');
  const uid = useId();
  const [copies, setCopies] = useState<Record<Priority, string>>(() => Object.fromEntries(PRIORITY_ORDER.map((p) => [p, String(settings.replication[p])])) as Record<Priority, string>);
  const [diversity, setDiversity] = useState(settings.replication.diversity.map((d) => `${d.label}:${d.minDistinct}`).join(', '));
  const [intervals, setIntervals] = useState<Record<string, string>>(() => Object.fromEntries(INTERVALS.map(([key, field]) => [key, durationText(settings.jobs[field])])));
  // How long on-demand folders keep a used file ([placement] keep_recent); "0" = forever.
  const [keepRecent, setKeepRecent] = useState(settings.placement && (settings.placement.keepRecent === 0 ? '0' : durationText(settings.placement.keepRecent)));
  const [restart, setRestart] = useState<string[]>([]);
  const rules = parseDiversity(diversity);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!rules) return;
    const replication: Record<string, unknown> = { diversity: rules };
    for (const p of PRIORITY_ORDER) replication[p] = Number(copies[p]);
    const r = await save.run({ replication, jobs: { ...intervals }, ...(keepRecent === undefined ? {} : { placement: { keep_recent: keepRecent } }) });
    if (r) {
      setRestart(r.restartNeeded);
      onSaved();
    }
  };
  return (
    <form onSubmit={(e) => void submit(e)} aria-label="Replication and schedules" className="settings-form">
      <fieldset>
        <legend>Copies per priority</legend>
        {PRIORITY_ORDER.map((p) => (
          <label key={p}>{p}{' '}
            <input type="number" min={1} max={16} value={copies[p]} onChange={(e) => setCopies({ ...copies, [p]: e.target.value })} aria-label={`Copies for ${p}`} />
          </label>
        ))}
      </fieldset>
      <label>Diversity rules{' '}
        <input value={diversity} onChange={(e) => setDiversity(e.target.value)} placeholder="site:2" aria-invalid={rules === undefined} aria-describedby={`${uid}-div`} />
      </label>
      <p id={`${uid}-div`} className="hint">label:count, e.g. <code>site:2</code>: a chunk’s copies span at least that many values of the label</p>
      <fieldset>
        <legend>Schedules</legend>
        {INTERVALS.map(([key, , text]) => (
          <label key={key}>{text}{' '}
            <input value={intervals[key] ?? ''} onChange={(e) => setIntervals({ ...intervals, [key]: e.target.value })} aria-label={text} size={6} />
          </label>
        ))}
        {keepRecent !== undefined && (
          <label>Keep used on-demand files for{' '}
            <input value={keepRecent} onChange={(e) => setKeepRecent(e.target.value)} aria-label="Keep used on-demand files for" size={6} title="0 = forever" />
          </label>
        )}
      </fieldset>
      <p className="muted small">
        These live in this device’s <code>config.toml</code>. Set the copies alike on every device: each device places chunks with its own factors.
        Schedules apply from each job’s next run; the garbage-collection interval after a restart.
        An on-demand file opened or written here stays that long after its last use, then cleanup frees it (0 = forever).
      </p>
      <button type="submit" className="primary" disabled={save.pending || rules === undefined}>Save settings</button>
      <ActionStatus pending={save.pending} error={save.error} what="Saving the settings" />
      {restart.length > 0 && <p role="status">Saved. Restart Canopy for {restart.join(', ')} to take effect.</p>}
      {save.result && restart.length === 0 && <p role="status" className="muted">Saved.</p>}
    </form>
  );
}
