/**
 * Which head of a path the working copy shows when there are several (a conflict).
 * Every device must pick the same one from the same metadata, so the choice uses only
 * signed, replicated facts (DESIGN.md section 5):
 * 1. a head that keeps the file beats a tombstone: delete against edit is a conflict, and
 *    until the user settles it the edit stays in the working copy (never a loss from view);
 * 2. the latest confirmed head, else the latest provisional head ("latest" by the author's
 *    signed creation time: heads are concurrent, so causality has nothing to say here);
 * 3. ties broken by version id.
 */
import type { VersionVector } from './vector.js';

export interface HeadCandidate {
  id: string;
  state: 'provisional' | 'confirmed';
  kind?: 'file' | 'dir' | 'symlink' | 'tombstone';
  vector: VersionVector;
  createdAt: number;
}

export function compareHeads(a: HeadCandidate, b: HeadCandidate): number {
  const aGone = a.kind === 'tombstone';
  const bGone = b.kind === 'tombstone';
  if (aGone !== bGone) return aGone ? 1 : -1;
  if (a.state !== b.state) return a.state === 'confirmed' ? -1 : 1;
  return latestFirst(a, b);
}

/** Newest creation time first, then the version id: the order of "latest" among concurrent versions. */
export function latestFirst(a: { id: string; createdAt: number }, b: { id: string; createdAt: number }): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export function preferredHead<T extends HeadCandidate>(heads: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const h of heads) if (best === undefined || compareHeads(h, best) < 0) best = h;
  return best;
}

/** What two heads hold, for telling a real conflict from the same state reached twice. */
export interface HeadContent {
  kind: 'file' | 'dir' | 'symlink' | 'tombstone';
  size: number;
  target: string | null;
  /** The ordered chunk hashes (files only). */
  chunks: readonly string[];
}

/**
 * Several heads are a conflict only when they disagree. Two devices that both create the
 * same directory offline, or save the same bytes, or delete the same file, reach one state
 * by two routes: nothing needs the user, so such a path is not listed or notified (its
 * heads stay in the DAG, and the next change of the path joins them).
 */
export function headsDisagree(heads: readonly HeadContent[]): boolean {
  const [first, ...rest] = heads;
  if (!first) return false;
  return rest.some((h) => h.kind !== first.kind || h.size !== first.size || h.target !== first.target
    || h.chunks.length !== first.chunks.length || h.chunks.some((c, i) => c !== first.chunks[i]));
}
