/**
 * How full each device is, as the jobs see it: this device from its own store, the others
 * from the capacity facts their hello carried (the `devices.capacity` JSON that sync keeps).
 * Unknown stays unknown (null), never zero: a device that said nothing is not "full".
 */
import type { Engine } from '../engine/index.js';

export interface Capacity {
  maxBytes: number | null;
  usedBytes: number | null;
  /** Room left: quota minus use, or less when the disk is shorter. */
  freeBytes: number | null;
}

export function deviceCapacity(engine: Engine, id: string): Capacity {
  if (id === engine.identity.deviceId) {
    const u = engine.store.usage();
    return { maxBytes: u.maxBytes, usedBytes: u.bytes, freeBytes: Math.max(0, Math.min(u.maxBytes - u.bytes, u.diskFreeBytes)) };
  }
  const raw = engine.db.prepare('SELECT capacity FROM devices WHERE id = ?').pluck().get(id) as string | null | undefined;
  return parseCapacity(raw ?? null);
}

export function parseCapacity(raw: string | null): Capacity {
  let facts: Record<string, unknown> = {};
  if (raw) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed && typeof parsed === 'object') facts = parsed as Record<string, unknown>;
    } catch {
      // unreadable facts are unknown facts
    }
  }
  const maxBytes = num(facts.maxBytes) ?? num(facts.storeMaxBytes);
  const usedBytes = num(facts.usedBytes) ?? num(facts.storeUsedBytes);
  const freeBytes = num(facts.freeBytes) ?? (maxBytes !== null && usedBytes !== null ? Math.max(0, maxBytes - usedBytes) : null);
  return { maxBytes, usedBytes, freeBytes };
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}
