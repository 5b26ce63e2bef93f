import { useEffect, useId, useState } from 'react';
import type { QuotaInfo } from '../../../core/api/types.js';
import { formatBytes } from '../format.js';
import { quotaChangeWords, quotaNowWords } from '../lib/words.js';
import { useCanopy } from '../store-context.js';
import { useAction, useCall } from '../use-call.js';
import { ActionStatus, CallProblem } from './CallProblem.js';

const GIB = 1024 ** 3;

/** The slider's range: up to what the disk could hold, in steps of 1 GiB (or 1/100 of the range for small disks). */
export function sliderRange(q: Pick<QuotaInfo, 'maxBytes' | 'diskFreeBytes' | 'usage'>): { max: number; step: number } {
  const possible = q.usage.totalBytes + q.diskFreeBytes;
  const max = Math.max(q.maxBytes, possible, GIB);
  const step = max >= 100 * GIB ? GIB : Math.max(1024 * 1024, Math.round(max / 100));
  return { max, step };
}

/**
 * The quota slider (tray popover and settings): says what moving it will do, from a dry
 * run of quota.set, before anything happens; Apply makes it so.
 */
export function QuotaSlider({ compact = false }: { compact?: boolean }) {
  const rev = useCanopy((s) => s.rev.quota);
  const quota = useCall('quota.get', {}, String(rev));
  const preview = useAction('quota.set');
  const apply = useAction('quota.set');
  const [value, setValue] = useState<number | null>(null);
  const uid = useId();
  const q = quota.data;

  useEffect(() => {
    if (q) setValue(q.maxBytes);
  }, [q]);

  // A dry run a moment after the slider stops moving.
  const previewRun = preview.run;
  useEffect(() => {
    if (!q || value === null || value === q.maxBytes) return;
    const t = setTimeout(() => void previewRun({ maxBytes: value, dryRun: true }), 250);
    return () => clearTimeout(t);
  }, [q, value, previewRun]);

  if (quota.state === 'error') return <CallProblem error={quota.error} what="Reading the quota" onRetry={quota.reload} />;
  if (!q || value === null) return <p className="muted">Loading the quota…</p>;
  const { max, step } = sliderRange(q);
  const changed = value !== q.maxBytes;
  const words = !changed ? quotaNowWords(q) : preview.result && preview.result.quota.maxBytes === value ? quotaChangeWords(preview.result) : 'Working out what this would free…';

  return (
    <div className={`quota-slider${compact ? ' compact' : ''}`}>
      <label htmlFor={`${uid}-slider`}>
        Storage quota: <strong>{formatBytes(value)}</strong>
      </label>
      <input
        id={`${uid}-slider`}
        type="range"
        min={0}
        max={max}
        step={step}
        value={value}
        aria-valuetext={formatBytes(value)}
        aria-describedby={`${uid}-words`}
        onChange={(e) => setValue(Number(e.target.value))}
      />
      <p id={`${uid}-words`} className="quota-words" role="status" aria-live="polite" data-testid="quota-words">
        {preview.error && changed ? '' : words}
      </p>
      {changed && <ActionStatus pending={false} error={preview.error} what="Previewing the change" />}
      <div className="row-buttons">
        <button type="button" className="primary" disabled={!changed || apply.pending} onClick={() => void apply.run({ maxBytes: value }).then((r) => r && quota.reload())}>
          Apply
        </button>
        <button type="button" className="ghost" disabled={!changed} onClick={() => setValue(q.maxBytes)}>
          Reset
        </button>
      </div>
      <ActionStatus pending={apply.pending} error={apply.error} what="Changing the quota" />
      {apply.result && !changed && <p className="muted">{quotaChangeWords(apply.result)}</p>}
    </div>
  );
}
