import { scanFraction, scanLabel } from '../format.js';
import { scanSpeedWords } from '../lib/words.js';
import { useNow } from '../use-now.js';
import type { ScanState } from '../store.js';

/** A running scan of one folder: a native <progress> plus what it is doing, in words. */
export function ScanProgress({ scan, folderLabel }: { scan: ScanState; folderLabel: string }) {
  const f = scanFraction(scan);
  const now = useNow(1000);
  const speed = scanSpeedWords(scan, now);
  const label = speed ? `${scanLabel(scan)} ${speed}` : scanLabel(scan);
  // While walking, the total is still growing: show an indeterminate bar.
  const determinate = scan.phase !== 'walk' || scan.filesTotal > 0;
  return (
    <div className="scan-progress">
      <progress
        aria-label={`Scan of ${folderLabel}`}
        aria-valuetext={label}
        max={1}
        {...(determinate ? { value: f } : {})}
      />
      <span className="scan-label">{label}</span>
    </div>
  );
}
