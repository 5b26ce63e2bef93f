/**
 * Scrub: rehashes every chunk in the chunk store at the configured rate, so bit rot is
 * found before the chunk is needed. A bad chunk is quarantined (the store moves it aside)
 * and healed: from this device's own working copy when a file there still holds those
 * bytes, else fetched again from a device that holds it.
 *
 * Working-copy files are not scrubbed. They are the user's files: a mismatch there almost
 * always means the file was edited and the scanner has not run yet, and the scanner (not a
 * background job) is what turns edits into versions. Their bytes are never trusted either:
 * every read of a chunk from the working copy is rehashed before it is served or stored.
 */
import fsp from 'node:fs/promises';
import { blake3Hex } from '../chunking/hash.js';
import { errnoCode } from '../errors/index.js';
import { checkAborted, pacer, type JobContext, type JobOutcome } from './context.js';

type Check = 'ok' | 'corrupt' | 'missing';

export async function scrub(ctx: JobContext): Promise<JobOutcome> {
  const { store } = ctx.engine;
  const chunks = store.list();
  const total = chunks.length;
  const pace = pacer(ctx.config.scrubRate, ctx.signal);
  const counts = { checked: 0, checkedBytes: 0, corrupt: 0, missing: 0, healedLocally: 0, refetched: 0, unhealed: 0, unreferenced: 0 };
  const failures: string[] = [];
  ctx.progress(0, total);
  for (const { hash, size } of chunks) {
    checkAborted(ctx.signal);
    const result = await checkChunk(store.chunkPath(hash), hash);
    // Dropped meanwhile (cleanup, eviction): gone on purpose, not lost.
    if (result === 'missing' && !store.has(hash) && !isQuarantined(ctx, hash)) continue;
    counts.checked += 1;
    counts.checkedBytes += size;
    if (result !== 'ok') {
      counts[result] += 1;
      // Healed at once, not at the end: a scrub of a large store at a gentle rate takes hours.
      if (!ctx.dryRun) {
        const outcome = await heal(ctx, hash);
        if (outcome === 'local') counts.healedLocally += 1;
        else if (outcome === 'fetched') counts.refetched += 1;
        else if (outcome === 'unreferenced') counts.unreferenced += 1;
        else {
          counts.unhealed += 1;
          failures.push(`${hash.slice(0, 12)}: ${outcome.failed}`);
        }
      }
    }
    ctx.progress(counts.checked, total);
    await pace(size);
  }
  return { counts, ok: counts.unhealed === 0, message: scrubMessage(ctx.dryRun, counts, failures) };
}

/** Reads and rehashes one stored chunk without touching the store's state (dry runs too). */
async function checkChunk(file: string, hash: string): Promise<Check> {
  let data: Buffer;
  try {
    data = await fsp.readFile(file);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'missing';
    // Unreadable (EIO on a failing disk) is as bad as corrupt: the chunk cannot be served.
    return 'corrupt';
  }
  return blake3Hex(data) === hash ? 'ok' : 'corrupt';
}

/** Quarantined by the store (a bad read anywhere), as opposed to dropped on purpose. */
function isQuarantined(ctx: JobContext, hash: string): boolean {
  return ctx.engine.db.prepare('SELECT 1 FROM stored_chunks WHERE hash = ? AND quarantined = 1').get(hash) !== undefined;
}

type HealOutcome = 'local' | 'fetched' | 'unreferenced' | { failed: string };

async function heal(ctx: JobContext, hash: string): Promise<HealOutcome> {
  const { store } = ctx.engine;
  // The store's own verified read quarantines a corrupt file and forgets a vanished one.
  try {
    const state = await store.verify(hash);
    if (state === 'ok') return 'local'; // rewritten meanwhile (a fetch put good bytes back)
    // Dropped on purpose since it was checked (cleanup, eviction): fetching it back would undo that.
    if (state === 'missing' && !isQuarantined(ctx, hash)) return 'unreferenced';
  } catch (err) {
    return { failed: `could not quarantine it: ${err instanceof Error ? err.message : String(err)}` };
  }
  const fromFile = await ctx.readFromWorkingCopy(hash);
  if (fromFile) {
    try {
      await store.put(hash, fromFile);
      return 'local';
    } catch (err) {
      return { failed: `could not store it again: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  // A chunk no kept version references any more is not worth fetching back.
  if (ctx.placement && ctx.placement.forChunk(hash) === null) return 'unreferenced';
  if (!ctx.sync) return { failed: 'quarantined; no daemon is running to fetch it again (it will be fetched when one runs)' };
  try {
    const r = await ctx.sync.fetchChunks([hash], { signal: ctx.signal });
    if (r.fetched > 0 && store.has(hash)) return 'fetched';
    // Peers must not count this device as a holder of bytes it no longer has.
    await ctx.sync.announceDropped([hash]);
    // fetched but not stored: a working-copy file is indexed as holding it, yet its bytes differ (edited, not yet rescanned)
    return { failed: r.failed[0]?.reason ?? 'not fetched: a working-copy file is indexed as holding it but no longer does (edited since the last scan)' };
  } catch (err) {
    return { failed: err instanceof Error ? err.message : String(err) };
  }
}

function scrubMessage(dryRun: boolean, c: Record<string, number>, failures: string[]): string {
  const found = (c.corrupt ?? 0) + (c.missing ?? 0);
  const head = `checked ${c.checked} chunks (${c.checkedBytes} bytes): ${found} bad`;
  if (dryRun) return `${head} (dry run: nothing quarantined or fetched)`;
  if (found === 0) return head;
  const healed = `${c.healedLocally} healed from the working copy, ${c.refetched} fetched again, ${c.unreferenced} no longer needed`;
  return failures.length ? `${head}; ${healed}; ${failures.length} not healed: ${failures.slice(0, 5).join('; ')}` : `${head}; ${healed}`;
}
