/**
 * Capacity facts: what each device says about its store (quota, use, reserve, whether it
 * lends space to others, whether it is full), as kept in the `devices.capacity` column,
 * and what they mean for placement: may this device receive a chunk, and with what weight.
 */
import type { Trust } from '../config/schema.js';
import type { DataClass } from '../folders/index.js';

export interface CapacityFacts {
  maxBytes: number;
  usedBytes: number;
  reservedBytes: number;
  shareExcess: boolean;
  /** The device said nothing more can go (quota or disk floor reached and nothing evictable). */
  full: boolean;
  /** When the device reported these facts (its clock; informational). */
  at: number;
}

/** A device that never reported capacity still counts: with this much assumed free space. */
export const UNKNOWN_FREE_BYTES = 1024 ** 3;

const MAX_REASONABLE = Number.MAX_SAFE_INTEGER;

/** Parses stored facts; anything malformed (a hostile or old peer) reads as "unknown". */
export function parseFacts(json: string | null): CapacityFacts | null {
  if (!json) return null;
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const num = (x: unknown) => (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 && x <= MAX_REASONABLE ? x : undefined);
  const maxBytes = num(o.maxBytes);
  const usedBytes = num(o.usedBytes);
  if (maxBytes === undefined || usedBytes === undefined) return null;
  return {
    maxBytes, usedBytes, reservedBytes: num(o.reservedBytes) ?? 0,
    shareExcess: o.shareExcess !== false, full: o.full === true, at: num(o.at) ?? 0,
  };
}

/** Bytes the device lends to other devices' chunks now. */
export function freeForOthers(f: CapacityFacts | null): number {
  if (!f) return UNKNOWN_FREE_BYTES;
  if (f.full || !f.shareExcess) return 0;
  return Math.max(0, f.maxBytes - f.usedBytes - f.reservedBytes);
}

/** Bytes the device still takes for chunks it owns (its reserve counts for those). */
export function freeForOwn(f: CapacityFacts | null): number {
  if (!f) return UNKNOWN_FREE_BYTES;
  if (f.full) return 0;
  return Math.max(0, f.maxBytes - f.usedBytes);
}

/**
 * Placement weight from free bytes, rounded to quarter powers of two: small changes in use
 * (every stored chunk changes it) then leave placement alone, so chunks do not wander.
 */
export function weightOf(freeBytes: number): number {
  if (!(freeBytes > 0)) return 0;
  const mib = Math.max(freeBytes / (1024 * 1024), 1 / 1024);
  return 2 ** (Math.round(Math.log2(mib) * 4) / 4);
}

/** storage-only devices never receive plaintext of sensitive or critical folders. */
export function trustAllows(trust: Trust, dataClass: DataClass): boolean {
  return trust === 'owner' || dataClass === 'standard' || dataClass === 'public';
}
