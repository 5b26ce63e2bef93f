/**
 * Which files of an on-demand folder this device materializes: pinned paths, and files that
 * were used here (opened, or already in the working copy). Every other file is online-only:
 * listed from metadata, its chunks held wherever placement puts them.
 */
import type { Db } from '../db/index.js';
import { mostSpecific } from './priorities.js';

export class OnDemand {
  private readonly stmt;

  constructor(db: Db) {
    this.stmt = {
      mode: db.prepare('SELECT mode FROM local_folders WHERE folder_id = ?').pluck(),
      pins: db.prepare('SELECT path FROM pins WHERE folder_id = ?'),
      recent: db.prepare('SELECT 1 FROM recent_files WHERE folder_id = ? AND path = ?').pluck(),
      markUsed: db.prepare('INSERT INTO recent_files (folder_id, path, used_at) VALUES (?, ?, ?) ON CONFLICT (folder_id, path) DO UPDATE SET used_at = excluded.used_at'),
      forget: db.prepare('DELETE FROM recent_files WHERE folder_id = ? AND path = ?'),
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

  forget(folderId: string, path: string): void {
    this.stmt.forget.run(folderId, path);
  }
}
