/**
 * Version vectors: per device, how many of that device's changes a version has seen.
 * Causality between two versions is decided only here (never by timestamps): one
 * dominates the other, or they are concurrent and so become branches.
 */
export type VersionVector = Readonly<Record<string, number>>;

export type Causality = 'equal' | 'before' | 'after' | 'concurrent';

/** How `a` relates to `b`: 'before' means a happened before b (b dominates a). */
export function compareVectors(a: VersionVector, b: VersionVector): Causality {
  let aAhead = false;
  let bAhead = false;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[key] ?? 0;
    const y = b[key] ?? 0;
    if (x > y) aAhead = true;
    else if (y > x) bAhead = true;
    if (aAhead && bAhead) return 'concurrent';
  }
  if (aAhead) return 'after';
  if (bAhead) return 'before';
  return 'equal';
}

/** The least vector that dominates all of `vectors` (element-wise max). */
export function mergeVectors(vectors: readonly VersionVector[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of vectors) {
    for (const [key, n] of Object.entries(v)) {
      if (n > (out[key] ?? 0)) out[key] = n;
    }
  }
  return out;
}

/**
 * The vector of a new version by `author` on top of `parents`: it dominates every parent.
 * The author's entry becomes `counter` (its log sequence), which only grows, so two edits
 * by one device are always ordered.
 */
export function nextVector(parents: readonly VersionVector[], author: string, counter: number): Record<string, number> {
  const merged = mergeVectors(parents);
  merged[author] = Math.max(counter, (merged[author] ?? 0) + 1);
  return merged;
}

/** Sum of all counters: how much history a version has seen; used only to order heads. */
export function vectorWeight(v: VersionVector): number {
  let sum = 0;
  for (const n of Object.values(v)) sum += n;
  return sum;
}
