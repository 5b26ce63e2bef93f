/**
 * How the UI writes numbers, sizes, times and progress. Pure functions, unit-tested.
 */
import type { StatusInfo } from '../../core/api/types.js';
import type { ScanState } from './store.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** "3.2 GiB": binary units, one decimal below 100 of a unit, whole numbers above. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '—';
  if (bytes < 0) return `-${formatBytes(-bytes)}`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  let shown = value >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
  if (shown >= 1024 && unit < UNITS.length - 1) {
    shown = Math.round((value / 1024) * 10) / 10;
    unit++;
  }
  return `${shown} ${UNITS[unit]}`;
}

const counts = new Intl.NumberFormat('en-US');

/** "12,345". */
export function formatCount(n: number): string {
  return Number.isFinite(n) ? counts.format(n) : '—';
}

/** part/total clamped to 0..1; 0 when the total is not positive. */
export function fraction(part: number, total: number): number {
  if (!(total > 0) || !Number.isFinite(part)) return 0;
  return Math.min(1, Math.max(0, part / total));
}

/** "42%", or "<1%" for a small but non-zero share. */
export function formatPercent(f: number): string {
  if (f > 0 && f < 0.01) return '<1%';
  return `${Math.round(f * 100)}%`;
}

/** "never", "just now", "5 min ago", "3 h ago", "2 d ago", else the date. */
export function formatWhen(ts: number | null, now: number): string {
  if (ts === null || !Number.isFinite(ts) || ts <= 0) return 'never';
  const s = Math.round((now - ts) / 1000);
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 14) return `${d} d ago`;
  return new Date(ts).toISOString().slice(0, 10);
}

/** Full local date and time, for a tooltip next to a relative time. */
export function formatTimestamp(ts: number | null): string {
  return ts === null || !Number.isFinite(ts) || ts <= 0 ? 'never scanned' : new Date(ts).toLocaleString();
}

export type UsageLevel = 'ok' | 'high' | 'full';

export interface Usage {
  used: number;
  max: number;
  fraction: number;
  level: UsageLevel;
  label: string;
}

/** The chunk store against its quota. A quota of 0 (or none) reads as full if anything is stored. */
export function storeUsage(store: StatusInfo['store']): Usage {
  const used = Math.max(0, store.bytes);
  const max = Math.max(0, store.maxBytes);
  const f = max > 0 ? fraction(used, max) : used > 0 ? 1 : 0;
  const level: UsageLevel = f >= 1 ? 'full' : f >= 0.9 ? 'high' : 'ok';
  return { used, max, fraction: f, level, label: `${formatBytes(used)} of ${formatBytes(max)} (${formatPercent(f)})` };
}

/** How far a scan is, 0..1: by bytes while hashing (bytes are the slow part), else by files. */
export function scanFraction(s: ScanState): number {
  if (s.phase === 'done') return 1;
  if (s.phase === 'hash' && s.bytesTotal > 0) return fraction(s.bytesDone, s.bytesTotal);
  return fraction(s.filesDone, s.filesTotal);
}

/** "Hashing 12 of 40 files (3.1 MiB of 20 MiB)". */
export function scanLabel(s: ScanState): string {
  switch (s.phase) {
    case 'walk':
      if (s.filesTotal === 0 && s.filesDone === 0) return 'Starting the scan…';
      return s.filesTotal > 0 ? `Looking at ${formatCount(s.filesDone)} of ${formatCount(s.filesTotal)} files` : `Looking for changes (${formatCount(s.filesDone)} files so far)`;
    case 'hash':
      return `Hashing ${formatCount(s.filesDone)} of ${formatCount(s.filesTotal)} files (${formatBytes(s.bytesDone)} of ${formatBytes(s.bytesTotal)})`;
    case 'done':
      return `Finishing (${formatCount(s.filesTotal)} files)`;
  }
}

/** "home, fibre" style list of labels, as `k=v` pairs in key order. */
export function labelPairs(labels: Record<string, string>): string[] {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k] ?? ''}`);
}
