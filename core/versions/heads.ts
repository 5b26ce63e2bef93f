/**
 * Which head of a path the working copy shows when there are several (a conflict).
 * Every device must pick the same one from the same metadata, so the choice uses only
 * signed, replicated facts: confirmed beats provisional, then the head that has seen more
 * history (vector weight), then creation time, and finally the version id as the tie
 * breaker. Wall-clock time alone never decides.
 */
import { vectorWeight, type VersionVector } from './vector.js';

export interface HeadCandidate {
  id: string;
  state: 'provisional' | 'confirmed';
  vector: VersionVector;
  createdAt: number;
}

export function compareHeads(a: HeadCandidate, b: HeadCandidate): number {
  if (a.state !== b.state) return a.state === 'confirmed' ? -1 : 1;
  const w = vectorWeight(b.vector) - vectorWeight(a.vector);
  if (w !== 0) return w;
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function preferredHead<T extends HeadCandidate>(heads: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const h of heads) if (best === undefined || compareHeads(h, best) < 0) best = h;
  return best;
}
