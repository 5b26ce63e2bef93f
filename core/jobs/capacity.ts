/**
 * How full each device is, as the jobs see it: this device from its own store, the others
 * from the capacity facts they announce (placement's `devices.capacity` facts). Unknown
 * stays unknown (null), never zero: a device that said nothing is not "full".
 */
import type { Engine } from '../engine/index.js';
import { parseFacts } from '../placement/index.js';

export interface Capacity {
  maxBytes: number | null;
  usedBytes: number | null;
  /** Room left: quota minus use (less when the disk is shorter, 0 when the device says it is full). */
  freeBytes: number | null;
}

export function deviceCapacity(engine: Engine, id: string): Capacity {
  if (id === engine.identity.deviceId) {
    const u = engine.store.usage();
    return { maxBytes: u.maxBytes, usedBytes: u.bytes, freeBytes: Math.max(0, Math.min(u.maxBytes - u.bytes, u.diskFreeBytes)) };
  }
  const raw = engine.db.prepare('SELECT capacity FROM devices WHERE id = ?').pluck().get(id) as string | null | undefined;
  const facts = parseFacts(raw ?? null);
  if (!facts) return { maxBytes: null, usedBytes: null, freeBytes: null };
  return { maxBytes: facts.maxBytes, usedBytes: facts.usedBytes, freeBytes: facts.full ? 0 : Math.max(0, facts.maxBytes - facts.usedBytes) };
}
