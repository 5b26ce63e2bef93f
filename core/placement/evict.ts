/**
 * The eviction choice, as a pure function: which stored chunks to drop to free a number of
 * bytes, by strategy (lru, priority, redundant, hybrid). Never a pinned chunk, never a
 * copy whose loss would leave fewer verified replicas than the chunk's minimum.
 */
import type { EvictionStrategy } from '../config/schema.js';
import type { Priority } from '../folders/index.js';
import { PRIORITY_RANK } from './priorities.js';

export interface EvictCandidate {
  hash: string;
  size: number;
  lastAccess: number;
  pinned: boolean;
  priority: Priority;
  /** Verified replicas on other devices (this device's copy not counted). */
  verifiedElsewhere: number;
  minimum: number;
  /** Placement wants this device to hold it. */
  designatedHere: boolean;
  /** No kept version references it any more (garbage): always safe to drop. */
  unreferenced?: boolean;
}

export interface EvictChoice {
  evict: EvictCandidate[];
  freedBytes: number;
  /** Bytes asked for that could not be freed (0 when the target was met). */
  shortBytes: number;
  /** Why the rest could not go, by reason, in bytes. */
  kept: { pinned: number; belowMinimum: number };
}

/** Whether dropping this copy keeps every promise. */
export function evictable(c: EvictCandidate): boolean {
  return !c.pinned && (c.unreferenced === true || c.verifiedElsewhere >= c.minimum);
}

/** Orders candidates: the ones to drop first come first. */
export function evictionOrder(strategy: EvictionStrategy): (a: EvictCandidate, b: EvictCandidate) => number {
  const lru = (a: EvictCandidate, b: EvictCandidate) => a.lastAccess - b.lastAccess || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0);
  const garbage = (a: EvictCandidate, b: EvictCandidate) => Number(b.unreferenced === true) - Number(a.unreferenced === true);
  const priority = (a: EvictCandidate, b: EvictCandidate) => PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority];
  const redundancy = (a: EvictCandidate, b: EvictCandidate) => (b.verifiedElsewhere - b.minimum) - (a.verifiedElsewhere - a.minimum);
  const notMine = (a: EvictCandidate, b: EvictCandidate) => Number(a.designatedHere) - Number(b.designatedHere);
  const chain = (...fs: ((a: EvictCandidate, b: EvictCandidate) => number)[]) => (a: EvictCandidate, b: EvictCandidate) => {
    for (const f of fs) {
      const d = f(a, b);
      if (d !== 0) return d;
    }
    return 0;
  };
  switch (strategy) {
    case 'lru': return chain(garbage, lru);
    case 'priority': return chain(garbage, priority, lru);
    case 'redundant': return chain(garbage, redundancy, lru);
    case 'hybrid': return chain(garbage, notMine, priority, redundancy, lru);
  }
}

/** Picks chunks to drop until `needBytes` are freed, or as many as may go. */
export function chooseEvictions(candidates: readonly EvictCandidate[], needBytes: number, strategy: EvictionStrategy): EvictChoice {
  const kept = { pinned: 0, belowMinimum: 0 };
  const allowed: EvictCandidate[] = [];
  for (const c of candidates) {
    if (c.pinned) kept.pinned += c.size;
    else if (!evictable(c)) kept.belowMinimum += c.size;
    else allowed.push(c);
  }
  allowed.sort(evictionOrder(strategy));
  const evict: EvictCandidate[] = [];
  let freedBytes = 0;
  for (const c of allowed) {
    if (freedBytes >= needBytes) break;
    evict.push(c);
    freedBytes += c.size;
  }
  return { evict, freedBytes, shortBytes: Math.max(0, needBytes - freedBytes), kept };
}
