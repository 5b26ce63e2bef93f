/**
 * Cleanup: drops this device's chunk-store copies that are above their target, keeping the
 * configured retained overhead. The rule that keeps every chunk at or above its minimum even
 * when several devices clean up at the same moment:
 *
 * - a device only drops a copy of a chunk it is NOT designated for (designated devices
 *   never drop in cleanup, so concurrent cleanups can never take designated copies away);
 * - and only when at least `minimum` designated live devices other than itself hold it,
 *   confirmed freshly just before the drop, which is then announced. Each is asked "which
 *   of these chunks do you hold?" (sync/holds.ts: a claim from its index, a few bytes per
 *   chunk, asked in rounds of many chunks); only a device that does not answer is asked the
 *   old way, to serve the chunk so its bytes can be verified. Just before each drop the
 *   chunk's placement is looked at again: a chunk now designated here stays, and only
 *   devices still designated count.
 *
 * "Deleting first on the devices with the least free space": of the extra holders of a
 * chunk (live, not designated), only the `holders - factor` with the least free space drop
 * theirs, so copies stay where room is plentiful. Of what this device may drop, the
 * retained overhead (a fraction of those bytes) is kept, the most recently used first.
 * Working-copy files are never touched: a chunk a local file still holds is not dropped,
 * nor a chunk of a path this device pins.
 */
import { checkAborted, requirePlacement, requireSync, type JobContext, type JobOutcome } from './context.js';
import type { ChunkPlacement, JobsSync, PlacementView } from './seam.js';
import { deviceCapacity } from './capacity.js';
import { pinnedChunks } from '../placement/index.js';

export interface CleanupInput {
  localId: string;
  live: ReadonlySet<string>;
  /** Free bytes a device can still take (quota or disk, whichever is less); null when unknown. */
  freeBytes(deviceId: string): number | null;
  /** 0..1: the share of droppable bytes to keep anyway. */
  retainedOverhead: number;
}

/** A chunk this device holds in its chunk store (and not in its working copy). */
export interface StoredChunk extends ChunkPlacement {
  lastAccess: number;
}

export interface CleanupDrop {
  hash: string;
  size: number;
  /** Designated live devices holding it, to confirm `minimum` of before dropping. */
  confirmWith: string[];
  minimum: number;
}

export interface CleanupPlan {
  drops: CleanupDrop[];
  retained: number;
  retainedBytes: number;
  /** Chunks held here above target that another (fuller) extra holder drops instead. */
  leftToFullerDevices: number;
  /** Above target, but fewer than the minimum designated devices hold it: kept. */
  keptForMinimum: number;
}

/** Pure: what this device may drop now, given every chunk it stores. */
export function planCleanup(stored: Iterable<StoredChunk>, input: CleanupInput): CleanupPlan {
  const candidates: (CleanupDrop & { lastAccess: number })[] = [];
  let leftToFullerDevices = 0;
  let keptForMinimum = 0;
  for (const c of stored) {
    const verdict = judge(c, input);
    if (verdict === 'keep') continue;
    if (verdict === 'minimum') keptForMinimum += 1;
    else if (verdict === 'fuller') leftToFullerDevices += 1;
    else candidates.push({ hash: c.hash, size: c.size, confirmWith: verdict, minimum: c.minimum, lastAccess: c.lastAccess });
  }
  // Keep the retained overhead: the most recently used candidates, up to that share of bytes.
  const totalBytes = candidates.reduce((s, c) => s + c.size, 0);
  const keepBytes = Math.max(0, Math.min(1, input.retainedOverhead)) * totalBytes;
  candidates.sort((a, b) => b.lastAccess - a.lastAccess || (a.hash < b.hash ? -1 : 1));
  let retainedBytes = 0;
  let retained = 0;
  const drops: CleanupDrop[] = [];
  for (const c of candidates) {
    if (retainedBytes + c.size <= keepBytes) {
      retainedBytes += c.size;
      retained += 1;
    } else {
      drops.push({ hash: c.hash, size: c.size, confirmWith: c.confirmWith, minimum: c.minimum });
    }
  }
  return { drops, retained, retainedBytes, leftToFullerDevices, keptForMinimum };
}

/** One chunk: 'keep' (not above target, or designated here), why it stays, or whom to confirm with. */
function judge(c: StoredChunk, input: CleanupInput): 'keep' | 'minimum' | 'fuller' | string[] {
  const { localId, live } = input;
  if (c.designated.includes(localId)) return 'keep';
  const holders = new Set(c.holders.filter((d) => live.has(d)));
  holders.add(localId);
  if (holders.size <= c.factor) return 'keep';
  const designated = new Set(c.designated.filter((d) => live.has(d)));
  const confirmWith = [...designated].filter((d) => d !== localId && holders.has(d)).sort();
  if (confirmWith.length < c.minimum) return 'minimum';
  const extras = [...holders].filter((d) => !designated.has(d)).sort((a, b) => byLeastFree(a, b, input.freeBytes));
  const dropping = holders.size - c.factor;
  const rank = extras.indexOf(localId);
  return rank >= 0 && rank < dropping ? confirmWith : 'fuller';
}

/** Least free space first; unknown free space counts as plenty (it is not known to be short); ties by id. */
function byLeastFree(a: string, b: string, free: (d: string) => number | null): number {
  const fa = free(a) ?? Number.POSITIVE_INFINITY;
  const fb = free(b) ?? Number.POSITIVE_INFINITY;
  if (fa !== fb) return fa < fb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Drops are announced to peers in batches of this many. */
const ANNOUNCE_BATCH = 256;
/**
 * Drops are confirmed in rounds of this many chunks: one question per designated holder per
 * round, answered moments before the round's drops (a fresh claim, not a remembered fact).
 */
const CONFIRM_ROUND = 1024;

/** What confirming one round found: each device's claims by hash (a hash it did not answer about is absent). */
type Claims = Map<string, Map<string, boolean>>;

interface ConfirmTally {
  /** Holder claims that counted toward a drop (answers to the cheap question). */
  claims: number;
  /** Chunks a silent holder was asked to serve instead (their bytes moved). */
  transfers: number;
}

export async function cleanup(ctx: JobContext): Promise<JobOutcome> {
  const placement = requirePlacement(ctx);
  const { engine } = ctx;
  const stored = storedChunks(ctx, placement.chunks());
  // One look at each device's facts per run (the comparator asks for them over and over).
  const free = new Map<string, number | null>();
  const freeBytes = (id: string) => {
    if (!free.has(id)) free.set(id, deviceCapacity(engine, id).freeBytes);
    return free.get(id) ?? null;
  };
  const plan = planCleanup(stored, {
    localId: placement.localDeviceId, live: new Set(placement.liveDevices()), retainedOverhead: ctx.config.retainedOverhead, freeBytes,
  });
  const planned = plan.drops.reduce((s, d) => s + d.size, 0);
  const base = { candidates: plan.drops.length + plan.retained, retained: plan.retained, retainedBytes: plan.retainedBytes, leftToFullerDevices: plan.leftToFullerDevices, keptForMinimum: plan.keptForMinimum };
  if (ctx.dryRun) {
    return { counts: { ...base, wouldDrop: plan.drops.length, wouldFreeBytes: planned, dropped: 0, freedBytes: 0, unconfirmed: 0 }, message: `would drop ${plan.drops.length} copies (${planned} bytes), keeping ${plan.retained} as retained overhead (dry run)` };
  }
  const sync = requireSync(ctx, 'cleanup');
  let dropped = 0;
  let freedBytes = 0;
  let unconfirmed = 0;
  let done = 0;
  const tally: ConfirmTally = { claims: 0, transfers: 0 };
  let announce: string[] = [];
  ctx.progress(0, plan.drops.length);
  try {
    for (let i = 0; i < plan.drops.length; i += CONFIRM_ROUND) {
      checkAborted(ctx.signal);
      const round = plan.drops.slice(i, i + CONFIRM_ROUND);
      const claims = await askRound(sync, round, ctx.signal);
      for (const d of round) {
        checkAborted(ctx.signal);
        if (await confirmed(ctx, sync, placement, d, claims, tally)) {
          await engine.store.delete(d.hash);
          dropped += 1;
          freedBytes += d.size;
          announce.push(d.hash);
          if (announce.length >= ANNOUNCE_BATCH) {
            await sync.announceDropped(announce);
            announce = [];
          }
        } else unconfirmed += 1;
        ctx.progress(++done, plan.drops.length);
      }
    }
  } finally {
    if (announce.length) await sync.announceDropped(announce);
  }
  return {
    counts: { ...base, wouldDrop: plan.drops.length, wouldFreeBytes: planned, dropped, freedBytes, unconfirmed, holderClaims: tally.claims, confirmTransfers: tally.transfers },
    message: `dropped ${dropped} copies (${freedBytes} bytes), kept ${plan.retained} as retained overhead` +
      (unconfirmed ? `, kept ${unconfirmed} whose designated holders could not all be confirmed now` : '') +
      (tally.transfers ? `; ${tally.transfers} confirmations moved the chunk (holders that did not answer the question)` : ''),
  };
}

/** Asks every designated holder of the round, at once, which of its chunks it holds. */
async function askRound(sync: JobsSync, round: readonly CleanupDrop[], signal: AbortSignal): Promise<Claims> {
  const perDevice = new Map<string, string[]>();
  for (const d of round) {
    for (const device of d.confirmWith) {
      const list = perDevice.get(device) ?? [];
      list.push(d.hash);
      perDevice.set(device, list);
    }
  }
  const answers = await Promise.all([...perDevice].map(async ([device, hashes]) =>
    [device, await sync.askHolders(device, hashes, signal).catch(() => new Map<string, boolean>())] as const));
  return new Map(answers);
}

/**
 * Whether `minimum` designated holders other than this device hold the chunk: their fresh
 * claims first, then, for holders that did not answer, the verified transfer. Placement is
 * looked at again first: a chunk designated here now stays, and a device no longer
 * designated does not count.
 */
async function confirmed(ctx: JobContext, sync: JobsSync, placement: PlacementView, d: CleanupDrop, claims: Claims, tally: ConfirmTally): Promise<boolean> {
  const now = placement.forChunk(d.hash);
  if (!now || now.designated.includes(placement.localDeviceId)) return false;
  const designated = new Set(now.designated);
  const candidates = d.confirmWith.filter((device) => designated.has(device));
  let yes = 0;
  const silent: string[] = [];
  for (const device of candidates) {
    const claim = claims.get(device)?.get(d.hash);
    if (claim === true) yes += 1;
    else if (claim === undefined) silent.push(device);
  }
  if (yes >= d.minimum) {
    tally.claims += d.minimum;
    return true;
  }
  const claimed = yes;
  for (const device of silent) {
    if (yes >= d.minimum) break;
    tally.transfers += 1;
    if (await sync.confirmHolder(device, d.hash, d.size, ctx.signal).catch(() => false)) yes += 1;
  }
  if (yes >= d.minimum) tally.claims += claimed;
  return yes >= d.minimum;
}

/** The chunks this device holds only in its chunk store and does not pin (a working-copy file holding one keeps it too). */
function storedChunks(ctx: JobContext, all: Iterable<ChunkPlacement>): StoredChunk[] {
  const pinned = pinnedChunks(ctx.engine);
  const access = new Map((ctx.engine.db.prepare('SELECT hash, last_access FROM stored_chunks WHERE quarantined = 0').all() as { hash: string; last_access: number }[])
    .map((r) => [r.hash, r.last_access]));
  const out: StoredChunk[] = [];
  for (const p of all) {
    const lastAccess = access.get(p.hash);
    if (lastAccess === undefined || pinned.has(p.hash) || ctx.workingCopyHolds(p.hash)) continue;
    out.push({ ...p, lastAccess });
  }
  return out;
}
