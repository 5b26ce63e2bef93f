/**
 * Which peers a device stays connected to when it may keep only `max_peers` of them, and
 * how long it waits before trying a lost peer again. Pure functions: the sync service
 * applies them (DESIGN.md section 3: "a configurable nearest subset (by labels); failed
 * peers are retried with backoff").
 */

export interface PeerCandidate {
  deviceId: string;
  labels: Readonly<Record<string, string>>;
}

/** How near a peer is: the count of label key=value pairs it shares with this device. */
export function nearness(mine: Readonly<Record<string, string>>, theirs: Readonly<Record<string, string>>): number {
  let shared = 0;
  for (const [k, v] of Object.entries(mine)) if (Object.hasOwn(theirs, k) && theirs[k] === v) shared++;
  return shared;
}

/**
 * Peers nearest first: most shared labels, then the lower device id, so every run (and
 * every device looking at the same facts) orders them the same way.
 */
export function rankPeers<T extends PeerCandidate>(mine: Readonly<Record<string, string>>, peers: readonly T[]): T[] {
  return peers
    .map((p) => ({ p, n: nearness(mine, p.labels) }))
    .sort((a, b) => b.n - a.n || (a.p.deviceId < b.p.deviceId ? -1 : a.p.deviceId > b.p.deviceId ? 1 : 0))
    .map((x) => x.p);
}

/** Splits connected peers into those kept under the cap and those to drop (the farthest). */
export function overCap<T extends PeerCandidate>(mine: Readonly<Record<string, string>>, peers: readonly T[], cap: number): { keep: T[]; drop: T[] } {
  const ranked = rankPeers(mine, peers);
  return { keep: ranked.slice(0, cap), drop: ranked.slice(cap) };
}

export interface BackoffOptions {
  /** Delay before the first retry. */
  baseMs: number;
  /** No delay grows past this (a peer that is away for days is still tried this often). */
  maxMs: number;
}

export const RECONNECT_BACKOFF: BackoffOptions = { baseMs: 2000, maxMs: 5 * 60_000 };

/**
 * Delay before retry number `attempt` (0 = the first after a loss): base x 2^attempt,
 * capped, with "equal jitter" (between half and all of it, `random` in [0, 1)) so devices
 * that lost the same peer at once do not all knock at the same moment.
 */
export function retryDelayMs(attempt: number, random: number, opts: BackoffOptions = RECONNECT_BACKOFF): number {
  const exp = Math.min(opts.maxMs, opts.baseMs * 2 ** Math.min(Math.max(0, Math.floor(attempt)), 30));
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(exp / 2 + (exp / 2) * r);
}
