/**
 * Audit: compares where every chunk is (verified holders) with where placement says it
 * should be, counting under-, over- and mis-placed chunks, and this device's repair queue
 * (chunks it is designated for but does not hold). Its figures are the `health` of
 * `canopy status`. Holders on devices gone past the offline grace do not count: placement
 * has already moved their share to other devices, and repair fetches it there.
 */
import type { PlacementHealth } from '../api/types.js';
import type { Engine } from '../engine/index.js';
import { checkAborted, requirePlacement, type JobContext, type JobOutcome } from './context.js';
import type { ChunkPlacement } from './seam.js';
import { deviceCapacity } from './capacity.js';

export interface ChunkHealth {
  /** Verified holders that still count (live devices). */
  liveHolders: number;
  /** Fewer live copies than placement can give it (factor, less any shortfall). */
  under: boolean;
  /** Fewer live copies than the minimum cleanup and eviction must leave. */
  belowMinimum: boolean;
  /** More live copies than the factor (cleanup's work). */
  over: boolean;
  /** Copies on devices placement did not choose while a designated device lacks one. */
  misplaced: boolean;
  /** Too few eligible devices for the factor. */
  shortfall: boolean;
  /** This device is designated and does not hold it: repair fetches it. */
  repairHere: boolean;
}

/** Pure: one chunk's health against its placement. */
export function classifyChunk(p: ChunkPlacement, live: ReadonlySet<string>, localId: string): ChunkHealth {
  const holders = new Set(p.holders.filter((d) => live.has(d)));
  const designated = new Set(p.designated.filter((d) => live.has(d)));
  const target = Math.max(0, p.factor - p.shortfall);
  const designatedHolding = [...designated].filter((d) => holders.has(d)).length;
  const strayHolders = [...holders].filter((d) => !designated.has(d)).length;
  return {
    liveHolders: holders.size,
    under: holders.size < target,
    belowMinimum: holders.size < Math.min(p.minimum, target),
    over: holders.size > p.factor,
    misplaced: strayHolders > 0 && designatedHolding < designated.size,
    shortfall: p.shortfall > 0,
    repairHere: designated.has(localId) && !p.holders.includes(localId),
  };
}

export interface AuditCounts {
  chunks: number;
  bytes: number;
  underReplicated: number;
  belowMinimum: number;
  overReplicated: number;
  misplaced: number;
  shortfall: number;
  repairQueue: number;
  repairQueueBytes: number;
}

/** Pure: the audit's counts and the bytes each device holds, over every chunk. */
export function auditChunks(chunks: Iterable<ChunkPlacement>, live: ReadonlySet<string>, localId: string, onChunk?: () => void): { counts: AuditCounts; heldBytes: Map<string, number> } {
  const counts: AuditCounts = { chunks: 0, bytes: 0, underReplicated: 0, belowMinimum: 0, overReplicated: 0, misplaced: 0, shortfall: 0, repairQueue: 0, repairQueueBytes: 0 };
  const heldBytes = new Map<string, number>();
  for (const p of chunks) {
    const h = classifyChunk(p, live, localId);
    counts.chunks += 1;
    counts.bytes += p.size;
    if (h.under) counts.underReplicated += 1;
    if (h.belowMinimum) counts.belowMinimum += 1;
    if (h.over) counts.overReplicated += 1;
    if (h.misplaced) counts.misplaced += 1;
    if (h.shortfall) counts.shortfall += 1;
    if (h.repairHere) {
      counts.repairQueue += 1;
      counts.repairQueueBytes += p.size;
    }
    for (const d of new Set(p.holders)) heldBytes.set(d, (heldBytes.get(d) ?? 0) + p.size);
    onChunk?.();
  }
  return { counts, heldBytes };
}

export async function audit(ctx: JobContext): Promise<JobOutcome> {
  const placement = requirePlacement(ctx);
  const live = new Set(placement.liveDevices());
  const all = [...placement.chunks()];
  let done = 0;
  ctx.progress(0, all.length);
  const { counts, heldBytes } = auditChunks(all, live, placement.localDeviceId, () => {
    done += 1;
    if (done % 4096 === 0) ctx.progress(done, all.length);
  });
  checkAborted(ctx.signal);
  ctx.progress(all.length, all.length);
  const devices = devicesHealth(ctx.engine, heldBytes);
  const gone = devices.filter((d) => !live.has(d.id)).length;
  const health: PlacementHealth = {
    chunks: counts.chunks, underReplicated: counts.underReplicated, overReplicated: counts.overReplicated, misplaced: counts.misplaced,
    shortfall: counts.shortfall, repairQueue: counts.repairQueue, devices, computedAt: ctx.now(),
  };
  return {
    counts: { ...counts, devicesLive: live.size, devicesGone: gone },
    health,
    message: `${counts.chunks} chunks: ${counts.underReplicated} under-replicated (${counts.belowMinimum} below minimum), ${counts.overReplicated} over-replicated, ` +
      `${counts.misplaced} misplaced, ${counts.shortfall} short of eligible devices; ${counts.repairQueue} to fetch here; ${gone === 0 ? 'every device counts' : `${gone} ${gone === 1 ? 'device' : 'devices'} not counting (offline past the grace period or revoked)`}`,
  };
}

/** Bytes each paired device holds (by the replica facts) against its quota (by its capacity facts). */
function devicesHealth(engine: Engine, heldBytes: Map<string, number>): PlacementHealth['devices'] {
  const rows = engine.db.prepare('SELECT id, name FROM devices WHERE revoked_at IS NULL ORDER BY name, id').all() as { id: string; name: string }[];
  return rows.map((r) => {
    const cap = deviceCapacity(engine, r.id);
    const quotaBytes = cap.maxBytes ?? 0;
    return { id: r.id, name: r.name, heldBytes: heldBytes.get(r.id) ?? 0, quotaBytes, full: cap.freeBytes !== null && quotaBytes > 0 && cap.freeBytes <= 0 };
  });
}
