/**
 * Which files of an on-demand folder this device materializes: pinned paths, and files that
 * were used here (opened, or written in the working copy) within `placement.keep_recent`.
 * Every other file is online-only: listed from metadata, its chunks held wherever placement
 * puts them. Owns the `recent_files` clock and the choice of which used files have expired.
 */
import type { Db } from '../db/index.js';
import { mostSpecific } from './priorities.js';

/** A file of an on-demand folder that this device holds in its working copy, as expiry sees it. */
export interface HeldFile {
  folderId: string;
  path: string;
  /** When it was last used here; null when no use was ever recorded (held from before, or pinned then unpinned). */
  usedAt: number | null;
  pinned: boolean;
  /** The working copy reflects the preferred head (not an older version or another branch). */
  atHead: boolean;
}

/** Why a held file stays: used within keep_recent, pinned, its clock only starts now, or the working copy is not at the head. */
export type StayReason = 'recent' | 'pinned' | 'untracked' | 'behind';

export interface ExpiryChoice {
  /** Old, unpinned, at the head: to be freed (the free itself checks the disk and the copies elsewhere). */
  expire: HeldFile[];
  /** Files with no recorded use: their clock starts now, so they expire keep_recent from now. */
  track: HeldFile[];
  stay: Record<StayReason, number>;
}

/**
 * Pure: which held files expire at `now` when used files stay `keepRecentMs` (0 = forever).
 * A file expires once it has not been used for longer than keepRecentMs.
 */
export function chooseExpired(files: Iterable<HeldFile>, keepRecentMs: number, now: number): ExpiryChoice {
  const out: ExpiryChoice = { expire: [], track: [], stay: { recent: 0, pinned: 0, untracked: 0, behind: 0 } };
  for (const f of files) {
    if (f.pinned) out.stay.pinned += 1;
    else if (f.usedAt === null) {
      out.stay.untracked += 1;
      out.track.push(f);
    } else if (keepRecentMs <= 0 || now - f.usedAt <= keepRecentMs) out.stay.recent += 1;
    else if (!f.atHead) out.stay.behind += 1;
    else out.expire.push(f);
  }
  return out;
}

export interface HeldRow {
  folderId: string;
  path: string;
  versionId: string;
  usedAt: number | null;
}

export class OnDemand {
  private readonly stmt;

  constructor(db: Db) {
    this.stmt = {
      mode: db.prepare('SELECT mode FROM local_folders WHERE folder_id = ?').pluck(),
      pins: db.prepare('SELECT path FROM pins WHERE folder_id = ?'),
      recent: db.prepare('SELECT 1 FROM recent_files WHERE folder_id = ? AND path = ?').pluck(),
      markUsed: db.prepare('INSERT INTO recent_files (folder_id, path, used_at) VALUES (?, ?, ?) ON CONFLICT (folder_id, path) DO UPDATE SET used_at = excluded.used_at'),
      startClock: db.prepare('INSERT OR IGNORE INTO recent_files (folder_id, path, used_at) VALUES (?, ?, ?)'),
      forget: db.prepare('DELETE FROM recent_files WHERE folder_id = ? AND path = ?'),
      held: db.prepare(`SELECT lf.folder_id AS folderId, lf.path, lf.version_id AS versionId, rf.used_at AS usedAt
        FROM local_files lf JOIN local_folders f ON f.folder_id = lf.folder_id AND f.mode = 'on-demand'
        LEFT JOIN recent_files rf ON rf.folder_id = lf.folder_id AND rf.path = lf.path
        WHERE lf.kind = 'file' ORDER BY lf.folder_id, lf.path`),
      // Uses of files no longer here (deleted, or opened but never fetched): the file is not to come back.
      staleUses: db.prepare(`SELECT rf.folder_id AS folderId, rf.path FROM recent_files rf
        JOIN local_folders f ON f.folder_id = rf.folder_id AND f.mode = 'on-demand'
        WHERE rf.used_at < ? AND NOT EXISTS (SELECT 1 FROM local_files lf WHERE lf.folder_id = rf.folder_id AND lf.path = rf.path AND lf.kind = 'file')`),
    };
  }

  isOnDemand(folderId: string): boolean {
    return this.stmt.mode.get(folderId) === 'on-demand';
  }

  pinned(folderId: string, path: string): boolean {
    return mostSpecific(this.stmt.pins.all(folderId) as { path: string }[], path) !== undefined;
  }

  /** True for a file this device leaves online-only (not pinned, not used here). */
  onlineOnly(folderId: string, path: string): boolean {
    if (!this.isOnDemand(folderId)) return false;
    if (this.stmt.recent.get(folderId, path) !== undefined) return false;
    return !this.pinned(folderId, path);
  }

  markUsed(folderId: string, path: string, now = Date.now()): void {
    this.stmt.markUsed.run(folderId, path, now);
  }

  /** Files written here by the user (the scanner recorded a new version): used now, in on-demand folders only. */
  markWritten(folderId: string, paths: readonly string[], now: number): void {
    if (paths.length === 0 || !this.isOnDemand(folderId)) return;
    for (const p of paths) this.stmt.markUsed.run(folderId, p, now);
  }

  /** Starts the clock of a held file with no recorded use (it expires keep_recent from `now`). */
  startClock(folderId: string, path: string, now: number): void {
    this.stmt.startClock.run(folderId, path, now);
  }

  forget(folderId: string, path: string): void {
    this.stmt.forget.run(folderId, path);
  }

  /** Every file of an on-demand folder that the working copy holds, with its last use. */
  heldFiles(): HeldRow[] {
    return this.stmt.held.all() as HeldRow[];
  }

  /** Recorded uses older than `before` of files the working copy does not hold. */
  staleUses(before: number): { folderId: string; path: string }[] {
    return this.stmt.staleUses.all(before) as { folderId: string; path: string }[];
  }
}
