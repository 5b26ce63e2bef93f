import { formatBytes } from '../format.js';
import { healthWords } from '../lib/words.js';
import { useEffect } from 'react';
import { useCanopy, useCanopyStore } from '../store-context.js';
import { QuotaSlider } from './QuotaSlider.js';

/** The tray's small popover (index.html#tray): status in one line and the quota slider. */
export function TrayPopover() {
  const store = useCanopyStore();
  useEffect(() => store.getState().start(), [store]);
  // Escape closes the popover as a menu would (the desktop app also hides it on blur).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && window.close();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  const status = useCanopy((s) => s.status);
  const sync = status?.sync ?? null;
  const line = !status ? 'Connecting…' : sync?.paused ? 'Syncing is paused' : `${status.device.name}: ${formatBytes(status.store.bytes)} stored`;
  return (
    <main id="main" className="tray" aria-label="Canopy quick settings">
      <p className="tray-status"><strong>{line}</strong></p>
      <p className="muted small">{healthWords(status?.health ?? null).text}</p>
      <QuotaSlider compact />
    </main>
  );
}
