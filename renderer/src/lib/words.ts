/**
 * What the numbers mean, in plain words: mesh health, device storage bars, sync progress,
 * what moving the quota slider will do. Pure functions, unit-tested.
 */
import type { DeviceInfo, PlacementHealth, QuotaChange, QuotaInfo, SyncInfo } from '../../../core/api/types.js';
import { formatBytes, formatCount, fraction } from '../format.js';

/** "1.2 MiB/s"; "—" when nothing moves. */
export function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond > 0 && Number.isFinite(bytesPerSecond) ? `${formatBytes(bytesPerSecond)}/s` : '—';
}

/** "about 7 s left", "about 3 min left", "about 2 h left"; '' when unknown. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s left`;
  if (seconds < 3600) return `about ${Math.round(seconds / 60)} min left`;
  return `about ${Math.round(seconds / 3600)} h left`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${formatCount(n)} ${n === 1 ? one : many}`;

/** The mesh's replication health as one sentence a person can act on. */
export function healthWords(health: PlacementHealth | null): { level: 'ok' | 'warn' | 'unknown'; text: string } {
  if (!health) return { level: 'unknown', text: 'Replication health is not known yet: placement has not run on this device.' };
  if (health.chunks === 0) return { level: 'ok', text: 'Nothing to replicate yet.' };
  const issues: string[] = [];
  const has = (n: number) => (n === 1 ? 'has' : 'have');
  if (health.underReplicated > 0) issues.push(`${plural(health.underReplicated, 'chunk')} ${has(health.underReplicated)} fewer copies than wanted`);
  if (health.shortfall > 0) issues.push(`${plural(health.shortfall, 'chunk')} cannot get enough copies because too few devices are eligible`);
  if (health.misplaced > 0) issues.push(`${plural(health.misplaced, 'chunk')} ${health.misplaced === 1 ? 'sits' : 'sit'} on the wrong devices`);
  if (health.repairQueue > 0) issues.push(`${plural(health.repairQueue, 'repair')} queued`);
  if (issues.length === 0) return { level: 'ok', text: `All ${plural(health.chunks, 'chunk')} have every copy they should.` };
  return { level: 'warn', text: `${issues.join('; ')}.` };
}

export interface BarSegment {
  key: 'own' | 'replicas' | 'cache' | 'free';
  label: string;
  bytes: number;
  /** Share of the bar, 0..1. */
  share: number;
}

/**
 * One device's stacked storage bar: its owner's files, replicas held for others, cache,
 * and what is left within the quota. Overfull stores scale to what they hold.
 */
export function storageBar(usage: { ownBytes: number; replicaBytes: number; cacheBytes: number }, quotaBytes: number): BarSegment[] {
  const own = Math.max(0, usage.ownBytes);
  const replicas = Math.max(0, usage.replicaBytes);
  const cache = Math.max(0, usage.cacheBytes);
  const used = own + replicas + cache;
  const free = Math.max(0, quotaBytes - used);
  const whole = Math.max(used + free, 1);
  const seg = (key: BarSegment['key'], label: string, bytes: number): BarSegment => ({ key, label, bytes, share: fraction(bytes, whole) });
  return [seg('own', "Owner's files", own), seg('replicas', 'Replicas for others', replicas), seg('cache', 'Cache', cache), seg('free', 'Free within quota', free)];
}

export interface DeviceBar {
  segments: BarSegment[];
  /** exact: the breakdown by reason; total: only what the device holds; none: nothing reported. */
  known: 'exact' | 'total' | 'none';
  full: boolean;
}

/** What each device's bar is made of, from what the device knows: its own quota for itself, the mesh's capacity facts for the others. */
export function deviceBars(devices: readonly DeviceInfo[], health: PlacementHealth | null, quota: QuotaInfo | null, localStore: { bytes: number; maxBytes: number } | null): Map<string, DeviceBar> {
  const out = new Map<string, DeviceBar>();
  for (const d of devices) {
    if (d.isLocal && quota) {
      out.set(d.id, { segments: storageBar(quota.usage, quota.maxBytes), known: 'exact', full: quota.full });
      continue;
    }
    const fact = health?.devices.find((x) => x.id === d.id);
    if (fact) {
      // Only the total is known for another device; a 'total' bar keeps it in the replicas slot, shown as "Stored".
      out.set(d.id, { segments: storageBar({ ownBytes: 0, replicaBytes: fact.heldBytes, cacheBytes: 0 }, fact.quotaBytes), known: 'total', full: fact.full });
    } else if (d.storage) {
      // The device's own report (sent on every connection): its store's total against its quota.
      out.set(d.id, { segments: storageBar({ ownBytes: 0, replicaBytes: d.storage.usedBytes, cacheBytes: 0 }, d.storage.maxBytes), known: 'total', full: d.storage.full });
    } else if (d.isLocal && localStore) {
      out.set(d.id, { segments: storageBar({ ownBytes: 0, replicaBytes: localStore.bytes, cacheBytes: 0 }, localStore.maxBytes), known: 'total', full: localStore.bytes >= localStore.maxBytes && localStore.maxBytes > 0 });
    } else {
      out.set(d.id, { segments: [], known: 'none', full: false });
    }
  }
  return out;
}

/** The quota slider's promise: what applying this quota will do, in one sentence. */
export function quotaChangeWords(change: QuotaChange): string {
  const { evict } = change;
  const target = formatBytes(change.quota.maxBytes);
  if (evict.freesBytes <= 0 && evict.unfreeableBytes <= 0) return `Nothing needs to go: everything fits in ${target}.`;
  const parts: string[] = [];
  if (evict.freesUnpinnedCacheBytes > 0) parts.push(`frees about ${formatBytes(evict.freesUnpinnedCacheBytes)} of unpinned cache`);
  const other = evict.freesBytes - evict.freesUnpinnedCacheBytes;
  if (other > 0) parts.push(`hands about ${formatBytes(other)} of replicas over to other devices`);
  let text = parts.length > 0 ? `${change.dryRun ? 'Applying this ' : 'This '}${parts.join(' and ')}` : 'Nothing can be freed';
  if (evict.unfreeableBytes > 0) text += `; ${formatBytes(evict.unfreeableBytes)} cannot go${evict.reason ? ` (${reasonWords(evict.reason)})` : ''}`;
  return `${text}.`;
}

/**
 * The engine's reason for what cannot be evicted, for people: its byte counts in units
 * ("1000000 bytes are pinned" reads "977 KiB are pinned"), without the opening "N bytes
 * cannot be freed:" that the sentence around it already says.
 */
export function reasonWords(reason: string): string {
  return reason.replace(/^\d+ bytes cannot be freed: /, '').replace(/\b(\d+) bytes\b/g, (_m, n: string) => formatBytes(Number(n)));
}

/** The quota's state in one sentence: its size, what is in use, and whether the store is over it. */
export function quotaNowWords(q: Pick<QuotaInfo, 'maxBytes' | 'full' | 'usage'>): string {
  const now = `Now ${formatBytes(q.maxBytes)}; ${formatBytes(q.usage.totalBytes)} in use`;
  const over = q.usage.totalBytes - q.maxBytes;
  if (!q.full && over <= 0) return `${now}.`;
  return over > 0 ? `${now}: full, ${formatBytes(over)} over (pinned, or still needed for its copies).` : `${now}: full.`;
}

/** One folder's incoming sync, in words: "3 files (700 MiB) to receive at 100 MiB/s, about 7 s left". */
export function syncWords(sync: SyncInfo | null, folderId: string): string | null {
  if (!sync) return null;
  const f = sync.folders.find((x) => x.folderId === folderId);
  if (!f || f.neededFiles === 0) return null;
  const eta = formatEta(sync.etaSeconds);
  const rate = sync.rateIn > 0 ? ` at ${formatRate(sync.rateIn)}` : sync.paused ? ' (paused)' : sync.peers.length === 0 ? ' (waiting for a device that has them)' : '';
  return `${plural(f.neededFiles, 'file')} (${formatBytes(f.neededBytes)}) to receive${rate}${eta ? `, ${eta}` : ''}`;
}

/** A hashing scan's speed and time left, from when it started: "at 48 MiB/s, about 9 s left"; '' until it can tell. */
export function scanSpeedWords(scan: { phase: string; bytesDone: number; bytesTotal: number; startedAt?: number }, now: number): string {
  if (scan.phase !== 'hash' || scan.startedAt === undefined || scan.bytesDone <= 0) return '';
  const seconds = (now - scan.startedAt) / 1000;
  if (seconds < 1) return '';
  const rate = scan.bytesDone / seconds;
  const left = scan.bytesTotal > scan.bytesDone ? (scan.bytesTotal - scan.bytesDone) / rate : 0;
  return `at ${formatRate(rate)}${left > 0 ? `, ${formatEta(left)}` : ''}`;
}

/** How many chunks lack copies, in words: "1 chunk is short of copies." / "3 chunks are short of copies." */
export function shortOfCopiesWords(n: number): string {
  return n === 1 ? '1 chunk is short of copies.' : `${formatCount(n)} chunks are short of copies.`;
}
