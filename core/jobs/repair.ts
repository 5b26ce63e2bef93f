/**
 * Repair: this device fetches every chunk placement designates it for and it lacks.
 * Replication is pull-based (DESIGN.md section 3), so each device repairs its own share;
 * when a device is gone past the offline grace, placement stops counting it and designates
 * another device, whose repair then fetches the share the lost device held.
 */
import { checkAborted, requirePlacement, requireSync, type JobContext, type JobOutcome } from './context.js';
import { classifyChunk } from './audit.js';

/** Chunks are handed to the fetcher in batches of about this many bytes: big enough to keep
 * every holder busy (the fetcher spreads a batch over them), small enough for steady progress. */
const BATCH_BYTES = 256 * 1024 * 1024;
const BATCH_CHUNKS = 4096;

export async function repair(ctx: JobContext): Promise<JobOutcome> {
  const placement = requirePlacement(ctx);
  const live = new Set(placement.liveDevices());
  const local = placement.localDeviceId;
  const queue: { hash: string; size: number }[] = [];
  for (const p of placement.chunks()) if (classifyChunk(p, live, local).repairHere) queue.push({ hash: p.hash, size: p.size });
  const queuedBytes = queue.reduce((s, c) => s + c.size, 0);
  if (ctx.dryRun || queue.length === 0) {
    return {
      counts: { queued: queue.length, queuedBytes, repaired: 0, repairedBytes: 0, failed: 0 },
      message: queue.length === 0 ? 'nothing to repair: this device holds every chunk it is designated for' : `would fetch ${queue.length} chunks (${queuedBytes} bytes) (dry run)`,
    };
  }
  const sync = requireSync(ctx, 'repair');
  const sizes = new Map(queue.map((c) => [c.hash, c.size]));
  let repaired = 0;
  let repairedBytes = 0;
  const failed: { hash: string; reason: string }[] = [];
  ctx.progress(0, queue.length);
  for (const batch of batches(queue)) {
    checkAborted(ctx.signal);
    const r = await sync.fetchChunks(batch.map((c) => c.hash), { signal: ctx.signal });
    const failedHere = new Set(r.failed.map((f) => f.hash));
    failed.push(...r.failed);
    for (const c of batch) {
      if (failedHere.has(c.hash)) continue;
      repaired += 1;
      repairedBytes += sizes.get(c.hash) ?? 0;
    }
    ctx.progress(repaired + failed.length, queue.length);
  }
  return {
    counts: { queued: queue.length, queuedBytes, repaired, repairedBytes, failed: failed.length },
    ok: failed.length === 0,
    message: `fetched ${repaired} of ${queue.length} chunks (${repairedBytes} bytes)` +
      (failed.length ? `; ${failed.length} failed: ${failed.slice(0, 5).map((f) => `${f.hash.slice(0, 12)}: ${f.reason}`).join('; ')}` : ''),
  };
}

function* batches<T extends { size: number }>(items: T[]): Generator<T[]> {
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    batch.push(item);
    bytes += item.size;
    if (bytes >= BATCH_BYTES || batch.length >= BATCH_CHUNKS) {
      yield batch;
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length) yield batch;
}
