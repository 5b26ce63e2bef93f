/**
 * Garbage collection of history (DESIGN.md section 4, "gc"; config `[retention]`):
 * - a tombstone head older than `retention.tombstones` is dropped; when it was the path's
 *   only head the file is gone everywhere, so the path's whole history goes with it. A
 *   device that comes back after longer than that gets the delete from the (append-only)
 *   logs and drops the path too, so nothing is resurrected; an edit it made meanwhile is
 *   a head of its own and stays (nothing is lost);
 * - older versions beyond `max_versions_per_path` or `max_version_age` are dropped; heads
 *   and the version the working copy reflects are always kept;
 * - mark and sweep of the chunk store: a stored chunk that no kept version lists is
 *   removed once it has been untouched for `gc_grace` (a chunk fetched just before its
 *   version's metadata arrives is not swept from under it).
 * Emergency mode (free disk below `retention.emergency_free`): only heads and reflected
 * versions are kept and the grace period is skipped.
 *
 * Every device collects on its own clock; heads never depend on it (only expired
 * tombstones, which every device drops the same way once it is past retention).
 */
import type { Engine } from '../engine/index.js';
import type { GcReport } from '../api/types.js';

export interface GcOptions {
  dryRun?: boolean | undefined;
  /** Overrides the engine's clock (tests). */
  now?: number | undefined;
  /** Forces emergency mode on or off; default: from the disk's free space. */
  emergency?: boolean | undefined;
}

interface VersionRow {
  id: string;
  folder_id: string;
  path: string;
  kind: string;
  created_at: number;
  rank: number;
  head: number;
  reflected: number;
}

class DryRun extends Error {}

export async function collectGarbage(engine: Engine, opts: GcOptions = {}): Promise<GcReport> {
  const started = performance.now();
  const now = opts.now ?? engine.now();
  const r = engine.config.retention;
  const emergency = opts.emergency ?? engine.store.usage().diskFreeBytes < r.emergencyFree;
  const dryRun = opts.dryRun === true;
  const report: GcReport = { dryRun, emergency, tombstonesRemoved: 0, versionsRemoved: 0, chunksRemoved: 0, bytesFreed: 0, seconds: 0 };
  const db = engine.db;
  let sweep: { hash: string; size: number }[] = [];
  try {
    db.transaction(() => {
      const drop = dropper(engine);
      for (const t of db.prepare(`SELECT v.id, v.folder_id, v.path FROM heads h JOIN versions v ON v.id = h.version_id
          WHERE v.kind = 'tombstone' AND v.created_at < ?`).all(now - r.tombstones) as { id: string; folder_id: string; path: string }[]) {
        drop.version(t.id);
        report.tombstonesRemoved++;
        const left = db.prepare('SELECT count(*) FROM heads WHERE folder_id = ? AND path = ?').pluck().get(t.folder_id, t.path) as number;
        if (left === 0) report.versionsRemoved += drop.path(t.folder_id, t.path);
      }
      for (const v of db.prepare(`SELECT v.id, v.folder_id, v.path, v.kind, v.created_at,
            row_number() OVER (PARTITION BY v.folder_id, v.path ORDER BY v.created_at DESC, v.id) AS rank,
            EXISTS (SELECT 1 FROM heads h WHERE h.version_id = v.id) AS head,
            EXISTS (SELECT 1 FROM local_files f WHERE f.folder_id = v.folder_id AND f.path = v.path AND f.version_id = v.id) AS reflected
          FROM versions v`).all() as VersionRow[]) {
        if (v.head || v.reflected || keeps(v, now, r, emergency)) continue;
        drop.version(v.id);
        report.versionsRemoved++;
      }
      const grace = emergency ? 0 : r.gcGrace;
      sweep = db.prepare(`SELECT s.hash, s.size FROM stored_chunks s WHERE s.quarantined = 0 AND max(s.stored_at, s.last_access) <= ?
          AND NOT EXISTS (SELECT 1 FROM version_chunks c WHERE c.chunk = s.hash)`).all(now - grace) as { hash: string; size: number }[];
      if (dryRun) throw new DryRun();
    })();
  } catch (err) {
    if (!(err instanceof DryRun)) throw err;
  }
  const stillUsed = db.prepare('SELECT 1 FROM version_chunks WHERE chunk = ? LIMIT 1').pluck();
  for (const c of sweep) {
    // A version listing it may have arrived since the mark (sync runs beside gc).
    if (!dryRun && stillUsed.get(c.hash) !== undefined) continue;
    if (!dryRun) await engine.store.delete(c.hash);
    report.chunksRemoved++;
    report.bytesFreed += c.size;
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/** Whether history settings keep a non-head version. */
function keeps(v: VersionRow, now: number, r: Engine['config']['retention'], emergency: boolean): boolean {
  if (emergency) return false;
  if (r.maxVersionsPerPath > 0 && v.rank > r.maxVersionsPerPath) return false;
  if (r.maxVersionAge > 0 && v.created_at < now - r.maxVersionAge) return false;
  return true;
}

/**
 * Removing versions. Children keep naming a removed parent in version_parents (a merge never
 * loses a parent, and a late child of it still cannot make it a head again).
 */
function dropper(engine: Engine) {
  const db = engine.db;
  const stmt = {
    chunks: db.prepare('DELETE FROM version_chunks WHERE version_id = ?'),
    parents: db.prepare('DELETE FROM version_parents WHERE version_id = ?'),
    head: db.prepare('DELETE FROM heads WHERE version_id = ?'),
    version: db.prepare('DELETE FROM versions WHERE id = ?'),
    // A file the working copy still shows keeps its version until the delete is materialized.
    ofPath: db.prepare(`SELECT id FROM versions v WHERE folder_id = ? AND path = ? AND NOT EXISTS (SELECT 1 FROM local_files f
      WHERE f.folder_id = v.folder_id AND f.path = v.path AND f.version_id = v.id AND f.kind != 'tombstone')`).pluck(),
    // The fast-path row of a deleted file only remembers the tombstone; it goes with it.
    deletedRow: db.prepare(`DELETE FROM local_files WHERE folder_id = ? AND path = ? AND kind = 'tombstone'`),
  };
  const version = (id: string) => {
    stmt.chunks.run(id);
    stmt.parents.run(id);
    stmt.head.run(id);
    return stmt.version.run(id).changes;
  };
  return {
    version,
    path(folderId: string, path: string): number {
      let n = 0;
      for (const id of stmt.ofPath.all(folderId, path) as string[]) n += version(id);
      stmt.deletedRow.run(folderId, path);
      return n;
    },
  };
}
