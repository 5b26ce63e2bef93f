/**
 * Expiry of on-demand files that are no longer recently used: the first step of cleanup
 * (daily, and `canopy cleanup [--dry-run]`). A file an on-demand folder holds here because
 * it was opened or written here, unused for longer than `placement.keep_recent`, not pinned
 * and at its folder's head, is freed through the very path `canopy free` takes
 * (core/placement/free.ts). When that refuses (an edit not scanned yet, too few verified
 * copies elsewhere) the file stays and the next run tries again; the report says why.
 */
import { formatDuration } from '../config/index.js';
import { isCanopyError } from '../errors/index.js';
import { chooseExpired, freeOnDemandFile, OnDemand, type FreeRefusal, type HeldFile } from '../placement/index.js';
import { checkAborted, requirePlacement, requireSync, type Job, type JobContext } from './context.js';

/** What one expiry pass did, under `expire*` keys of the cleanup report's counts. */
export interface ExpiryCounts {
  /** Old, unpinned files at their head that the pass tried to free. */
  expireCandidates: number;
  expireFreed: number;
  expireWouldFree: number;
  expireKeptRecent: number;
  expireKeptPinned: number;
  /** Held with no recorded use: their clock started with this pass. */
  expireKeptUntracked: number;
  /** The working copy holds another version than the head (a newer one on its way, or a branch). */
  expireKeptBehind: number;
  /** Edited here since the last scan: kept until the scan records the edit (which makes it recent). */
  expireKeptEdited: number;
  /** Some chunk lacks its minimum of verified copies elsewhere. */
  expireKeptFewCopies: number;
  expireFailed: number;
  /** Recorded uses of files no longer here, dropped so they are not fetched again. */
  expireForgotten: number;
}

/** Cleanup with the expiry pass first: one report, both parts' counts and messages. */
export function withExpiry(job: Job): Job {
  return async (ctx) => {
    // Fail before changing anything when the job itself cannot run.
    requirePlacement(ctx);
    if (!ctx.dryRun) requireSync(ctx, 'cleanup');
    const expiry = await expireOnDemand(ctx);
    const rest = await job(ctx);
    // A file that failed to go for another reason than a refusal means the run could not do all it should.
    const failed = expiry.counts.expireFailed > 0 ? { ok: false } : {};
    return { ...rest, ...failed, counts: { ...rest.counts, ...expiry.counts }, message: `${rest.message}; ${expiry.message}` };
  };
}

export async function expireOnDemand(ctx: JobContext): Promise<{ counts: ExpiryCounts; message: string }> {
  const { engine, dryRun } = ctx;
  const keep = engine.config.placement.keepRecent;
  const counts: ExpiryCounts = {
    expireCandidates: 0, expireFreed: 0, expireWouldFree: 0, expireKeptRecent: 0, expireKeptPinned: 0, expireKeptUntracked: 0,
    expireKeptBehind: 0, expireKeptEdited: 0, expireKeptFewCopies: 0, expireFailed: 0, expireForgotten: 0,
  };
  if (keep <= 0) return { counts, message: 'on-demand files stay once used (placement.keep_recent = 0)' };
  const now = ctx.now();
  const onDemand = new OnDemand(engine.db);
  const choice = chooseExpired(heldFiles(ctx, onDemand), keep, now);
  Object.assign(counts, {
    expireCandidates: choice.expire.length, expireKeptRecent: choice.stay.recent, expireKeptPinned: choice.stay.pinned,
    expireKeptUntracked: choice.stay.untracked, expireKeptBehind: choice.stay.behind,
  });
  if (!dryRun) {
    for (const f of choice.track) onDemand.startClock(f.folderId, f.path, now);
    for (const u of onDemand.staleUses(now - keep)) {
      onDemand.forget(u.folderId, u.path);
      counts.expireForgotten += 1;
    }
  }
  const deps = { engine, view: requirePlacement(ctx), onDemand, holdingsChanged: () => ctx.sync?.replicaFacts?.changed() };
  let firstFailure: string | undefined;
  ctx.progress(0, choice.expire.length);
  for (const [i, f] of choice.expire.entries()) {
    checkAborted(ctx.signal);
    try {
      await freeOnDemandFile(deps, f.folderId, f.path, { dryRun });
      if (dryRun) counts.expireWouldFree += 1;
      else counts.expireFreed += 1;
    } catch (err) {
      const why = refusal(err);
      if (why === 'changed') counts.expireKeptEdited += 1;
      else if (why === 'copies') counts.expireKeptFewCopies += 1;
      else if (why === 'pinned') counts.expireKeptPinned += 1;
      else {
        counts.expireFailed += 1;
        firstFailure ??= `${f.folderId}/${f.path}: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    ctx.progress(i + 1, choice.expire.length);
  }
  return { counts, message: expiryMessage(counts, keep, dryRun, firstFailure) };
}

/** The held files of on-demand folders, with what expiry needs to know of each. */
function heldFiles(ctx: JobContext, onDemand: OnDemand): HeldFile[] {
  const { versions } = ctx.engine;
  return onDemand.heldFiles().map((r) => ({
    folderId: r.folderId, path: r.path, usedAt: r.usedAt,
    pinned: onDemand.pinned(r.folderId, r.path),
    atHead: versions.preferredHead(r.folderId, r.path)?.id === r.versionId,
  }));
}

function refusal(err: unknown): FreeRefusal | undefined {
  if (!isCanopyError(err, 'CONFLICT')) return undefined;
  const reason = err.details?.['reason'];
  return reason === 'changed' || reason === 'copies' || reason === 'pinned' ? reason : undefined;
}

function expiryMessage(c: ExpiryCounts, keep: number, dryRun: boolean, firstFailure: string | undefined): string {
  const n = (k: number, what: string) => `${k} ${what}`;
  const freed = dryRun ? `would free ${c.expireWouldFree}` : `freed ${c.expireFreed}`;
  const kept = [
    c.expireKeptEdited && n(c.expireKeptEdited, 'edited since the last scan'),
    c.expireKeptFewCopies && n(c.expireKeptFewCopies, 'with too few copies elsewhere'),
    c.expireKeptPinned && n(c.expireKeptPinned, 'pinned'),
    c.expireKeptRecent && n(c.expireKeptRecent, 'recently used'),
    c.expireKeptUntracked && n(c.expireKeptUntracked, `with no recorded use (kept ${formatDuration(keep)} from now)`),
    c.expireKeptBehind && n(c.expireKeptBehind, 'not at their latest version'),
    c.expireFailed && n(c.expireFailed, `that failed (${firstFailure ?? 'unknown error'})`),
  ].filter((x): x is string => typeof x === 'string');
  return `on-demand files unused for ${formatDuration(keep)}: ${freed}${kept.length ? `, kept ${kept.join(', ')}` : ''}${dryRun ? ' (dry run)' : ''}`;
}
