/**
 * Freeing a file of an on-demand folder on this device (it becomes online-only): the one
 * path that `canopy free` and the expiry of files no longer recently used both take.
 *
 * Nothing is lost by it: chunks placement designates this device for move from the file
 * into the chunk store first; every other chunk must have its minimum of verified copies
 * elsewhere; and a working copy edited since it was last scanned is never removed (the
 * edit is not a version yet, so removing the file would lose it).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Engine } from '../engine/index.js';
import { CanopyError, errnoCode, fromFsError } from '../errors/index.js';
import { unchanged, type IndexRow } from '../scan/index.js';
import { entryFromStats } from '../scan/walk.js';
import { LocalChunks } from '../sync/local-chunks.js';
import type { OnDemand } from './on-demand.js';
import type { PlacementView } from './view.js';

export interface FreeDeps {
  engine: Engine;
  view: PlacementView;
  onDemand: OnDemand;
  /** Told once a file went, so peers learn what this device now holds. */
  holdingsChanged?: (() => void) | undefined;
}

/** Why a free was refused, in the CONFLICT error's `details.reason`. */
export type FreeRefusal = 'pinned' | 'changed' | 'copies';

/** The preferred head of a file and its chunks; NOT_FOUND or BAD_ARGUMENT when it is not a file. */
export function fileHead(engine: Engine, folderId: string, rel: string): { chunks: { hash: string; size: number }[] } {
  if (rel === '') throw new CanopyError('BAD_ARGUMENT', 'give a file inside the folder, e.g. FOLDER/notes.txt');
  const head = engine.versions.preferredHead(folderId, rel);
  if (!head || head.kind === 'tombstone') throw new CanopyError('NOT_FOUND', `no file at ${folderId}/${rel}`);
  if (head.kind !== 'file') throw new CanopyError('BAD_ARGUMENT', `${folderId}/${rel} is a ${head.kind}, not a file`);
  return { chunks: engine.versions.chunks(head.id) };
}

/**
 * Makes `folderId/rel` online-only here, or throws CONFLICT (with `details.reason`) when it
 * may not go now. `dryRun` makes every check and changes nothing.
 */
export async function freeOnDemandFile(deps: FreeDeps, folderId: string, rel: string, opts: { dryRun?: boolean } = {}): Promise<void> {
  const { engine, onDemand } = deps;
  const { chunks } = fileHead(engine, folderId, rel);
  if (!onDemand.isOnDemand(folderId)) throw new CanopyError('BAD_ARGUMENT', `folder ${folderId} keeps every file here (full mode); only files of on-demand folders can be freed`);
  if (onDemand.pinned(folderId, rel)) refuse('pinned', `${folderId}/${rel} is pinned here; unpin it first (canopy unpin)`);
  const root = engine.requireAttached(folderId).local.path;
  if (opts.dryRun) {
    await checkUnedited(engine, root, folderId, rel);
    await keepDesignated(deps, folderId, rel, chunks, true);
    return;
  }
  await keepDesignated(deps, folderId, rel, chunks, false);
  await engine.scanner.withFolderLock(folderId, async () => {
    // Under the lock no scan runs: what the disk holds now is what would be removed.
    await checkUnedited(engine, root, folderId, rel);
    // The row goes with the file, so the next scan sees neither and records no deletion.
    engine.db.prepare('DELETE FROM local_files WHERE folder_id = ? AND path = ?').run(folderId, rel);
    onDemand.forget(folderId, rel);
    await fsp.rm(path.join(root, rel), { force: true });
  });
  deps.holdingsChanged?.();
}

function refuse(reason: FreeRefusal, message: string, details: Record<string, unknown> = {}): never {
  throw new CanopyError('CONFLICT', message, { reason, ...details });
}

/**
 * Chunks placement wants here move from the file into the store (not in a dry run); every
 * other chunk must have its minimum of verified copies elsewhere.
 */
async function keepDesignated(deps: FreeDeps, folderId: string, rel: string, chunks: { hash: string }[], dryRun: boolean): Promise<void> {
  const { engine } = deps;
  const local = new LocalChunks(engine.db, engine.store, (id) => engine.folders.get(id)?.local?.path);
  const me = engine.identity.deviceId;
  for (const hash of new Set(chunks.map((c) => c.hash))) {
    const p = deps.view.forChunk(hash);
    if (!p || engine.store.has(hash)) continue;
    if (p.designated.includes(me)) {
      if (dryRun) continue;
      const data = await local.readFromWorkingCopy(hash);
      if (!data) refuse('changed', `${folderId}/${rel} changed since it was indexed; scan it before freeing it`);
      await engine.store.put(hash, data);
      continue;
    }
    const elsewhere = p.holders.filter((h) => h !== me).length;
    if (elsewhere < p.minimum) {
      refuse('copies', `not freeing ${folderId}/${rel}: chunk ${hash.slice(0, 12)} has ${elsewhere} verified copies elsewhere and needs ${p.minimum}; try again once it has replicated`, { hash, elsewhere, minimum: p.minimum });
    }
  }
}

/** Refuses when the file on disk is not what the index says (an edit the scanner has not recorded yet). */
async function checkUnedited(engine: Engine, root: string, folderId: string, rel: string): Promise<void> {
  const row = engine.db.prepare('SELECT path, kind, size, mtime_ms, ino, mode, version_id FROM local_files WHERE folder_id = ? AND path = ?').get(folderId, rel) as IndexRow | undefined;
  let st;
  try {
    st = await fsp.lstat(path.join(root, rel));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return; // nothing here to lose
    throw fromFsError(err, 'checking', path.join(root, rel));
  }
  const entry = entryFromStats(rel, st);
  if (!row || row.kind === 'tombstone' || !entry || !unchanged(row, entry)) {
    refuse('changed', `${folderId}/${rel} was changed here since it was last scanned; it is kept until the scan records the change (canopy scan)`);
  }
}
