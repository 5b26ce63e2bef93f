import { formatBytes, formatPercent } from '../format.js';
import type { BarSegment } from '../lib/words.js';

/**
 * One device's storage as a stacked bar (owner's files, replicas for others, cache, free
 * within quota), with a text legend so the numbers never depend on colour alone.
 */
export function StorageBar({ segments, label, known }: { segments: BarSegment[]; label: string; known: 'exact' | 'total' | 'none' }) {
  if (known === 'none' || segments.length === 0) return <p className="muted bar-unknown">Storage not reported yet.</p>;
  const shown = known === 'exact' ? segments : segments.filter((s) => s.key === 'replicas' || s.key === 'free');
  const description = shown.map((s) => `${known === 'total' && s.key === 'replicas' ? 'Stored' : s.label} ${formatBytes(s.bytes)}`).join(', ');
  return (
    <div className="storage">
      <div className="stacked-bar" role="img" aria-label={`${label}: ${description}`}>
        {shown.map((s) =>
          s.share > 0 ? <span key={s.key} className={`seg seg-${known === 'total' && s.key === 'replicas' ? 'held' : s.key}`} style={{ width: formatPercent(s.share) === '<1%' ? '1%' : `${s.share * 100}%` }} /> : null,
        )}
      </div>
      <ul className="legend" aria-hidden="true">
        {shown.map((s) => (
          <li key={s.key}>
            <span className={`swatch seg-${known === 'total' && s.key === 'replicas' ? 'held' : s.key}`} />
            {known === 'total' && s.key === 'replicas' ? 'Stored' : s.label} <strong>{formatBytes(s.bytes)}</strong>
          </li>
        ))}
      </ul>
    </div>
  );
}
