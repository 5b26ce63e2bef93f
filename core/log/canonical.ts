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
  if (value instanceof RawJson) return value.text;
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as Json)}`).join(',')}}`;
}

export function canonicalBytes(value: Json): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}
