/**
 * Canonical JSON: the byte form of every signed log entry. Keys are sorted at every level
 * and no whitespace is written, so the same entry gives the same bytes (and the same
 * signature and version id) on every device, whatever order its fields were built in.
 */
export type Json = null | boolean | number | string | RawJson | Json[] | { [key: string]: Json | undefined };

/**
 * A value already in canonical form, embedded as is. Lets a caller that needs both a part's
 * own bytes (to hash it) and the whole entry's bytes (to sign it) serialize the part once.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

export function canonicalJson(value: Json): string {
  // A value whose keys are in order already (a body parsed from canonical bytes, one built in
  // key order) is serialized natively: the same string in about 60% of the time.
  return inCanonicalOrder(value) ? JSON.stringify(value) : sortedJson(value);
}

function sortedJson(value: Json): string {
  if (value instanceof RawJson) return value.text;
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  // Plain loops and string appends: every version is serialized by its author and again by
  // each device that checks it, and map/filter/join cost twice as much here.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + sortedJson(value[i] as Json);
    return `${out}]`;
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  for (const k of keys) {
    const v = value[k];
    if (v === undefined) continue;
    out += (out.length === 1 ? '' : ',') + JSON.stringify(k) + ':' + sortedJson(v);
  }
  return `${out}}`;
}

/**
 * Whether JSON.stringify gives the canonical form: only plain objects and arrays, finite
 * numbers, no undefined, and every object's keys in the order the sort above would put them
 * (JSON.stringify writes keys in enumeration order; a RawJson or anything unusual says no).
 */
function inCanonicalOrder(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!inCanonicalOrder(value[i])) return false;
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  let prev: string | undefined;
  for (const k of Object.keys(value)) {
    if (prev !== undefined && !(prev < k)) return false;
    if (!inCanonicalOrder((value as Record<string, unknown>)[k])) return false;
    prev = k;
  }
  return true;
}

export function canonicalBytes(value: Json): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}
