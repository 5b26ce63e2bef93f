/**
 * Confirmed state (DESIGN.md section 5): a version is confirmed once a majority of the
 * mesh's non-revoked devices hold it. "Holds" is decided only from replicated, signed
 * facts so every device computes the same state from the same log:
 * - the author holds its own versions;
 * - any other device holds a version once its latest signed `ack` entry says it holds its
 *   origin's log up to the version's seq (entries are held contiguously, so "up to seq N"
 *   means every entry before it too).
 *
 * A device appends an `ack` (its whole log vector) after it applied other devices'
 * versions. Acks never trigger acks, so two devices do not ping-pong. The state is
 * recomputed from scratch per author (a revoked or added device can move a version either
 * way), which keeps it a pure function of the replicated facts.
 */
import type { Db } from '../db/index.js';
import type { ChangeLog } from '../log/index.js';

export interface ChangedPath {
  folderId: string;
  path: string;
}

export class Confirmations {
  readonly onAck = (device: string, vector: Readonly<Record<string, number>>): void => this.recordAck(device, vector);

  private readonly stmt;

  constructor(private readonly db: Db, private readonly log: ChangeLog, private readonly localDevice: string) {
    this.stmt = {
      active: db.prepare('SELECT id FROM devices WHERE revoked_at IS NULL').pluck(),
      acks: db.prepare('SELECT device_id AS device, origin, seq FROM device_acks'),
      // Skip-scan over versions_by_author_state: one seek per author, not a pass over every version.
      authors: db.prepare(`WITH RECURSIVE a(author) AS (
          SELECT (SELECT min(author) FROM versions)
          UNION ALL SELECT (SELECT min(author) FROM versions WHERE author > a.author) FROM a WHERE a.author IS NOT NULL)
        SELECT author FROM a WHERE author IS NOT NULL`).pluck(),
      upsertAck: db.prepare(`INSERT INTO device_acks (device_id, origin, seq) VALUES (?, ?, ?)
        ON CONFLICT (device_id, origin) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > device_acks.seq`),
      ownAcks: db.prepare('SELECT origin, seq FROM device_acks WHERE device_id = ?'),
      // Skip-scan over the (origin, seq) key: one seek per origin (as LogIngest.vector).
      logVector: db.prepare(`WITH RECURSIVE o(origin) AS (
          SELECT (SELECT min(origin) FROM change_log)
          UNION ALL SELECT (SELECT min(origin) FROM change_log WHERE origin > o.origin) FROM o WHERE o.origin IS NOT NULL)
        SELECT origin, (SELECT max(seq) FROM change_log c WHERE c.origin = o.origin) AS seq FROM o WHERE origin IS NOT NULL`),
      // Only paths with another head: the state decides between heads (DESIGN.md section 5), so
      // a single head stays preferred either way. (10,000 new files confirmed at once made the
      // author re-check all 10,000 paths.)
      flipHeads: db.prepare(`SELECT DISTINCT h.folder_id AS folderId, h.path AS path FROM versions v JOIN heads h ON h.version_id = v.id
        WHERE v.author = ? AND ((v.state = 'provisional' AND v.origin_seq <= ?) OR (v.state = 'confirmed' AND v.origin_seq > ?))
        AND EXISTS (SELECT 1 FROM heads o WHERE o.folder_id = h.folder_id AND o.path = h.path AND o.version_id != h.version_id)`),
      confirm: db.prepare(`UPDATE versions SET state = 'confirmed' WHERE author = ? AND state = 'provisional' AND origin_seq <= ?`),
      unconfirm: db.prepare(`UPDATE versions SET state = 'provisional' WHERE author = ? AND state = 'confirmed' AND origin_seq > ?`),
    };
  }

  /** Records a device's signed acknowledgement (only ever moves forward). */
  recordAck(device: string, vector: Readonly<Record<string, number>>): void {
    for (const [origin, seq] of Object.entries(vector)) this.stmt.upsertAck.run(device, origin, seq);
  }

  /**
   * Appends this device's ack when it holds other origins' entries it has not acknowledged
   * yet. Call inside the transaction that applied them.
   */
  acknowledge(): boolean {
    const acked = new Map((this.stmt.ownAcks.all(this.localDevice) as { origin: string; seq: number }[]).map((r) => [r.origin, r.seq]));
    const vector: Record<string, number> = {};
    let news = false;
    for (const r of this.stmt.logVector.all() as { origin: string; seq: number }[]) {
      if (r.origin === this.localDevice) continue;
      vector[r.origin] = r.seq;
      if (r.seq > (acked.get(r.origin) ?? 0)) news = true;
    }
    if (!news) return false;
    this.log.append('ack', (seq) => ({ t: 'ack', author: this.localDevice, seq, createdAt: Date.now(), vector }));
    this.recordAck(this.localDevice, vector);
    return true;
  }

  /** LogIngest's hook: the end of a batch that applied entries. */
  afterBatch(applied: { versions: boolean }): ChangedPath[] {
    if (applied.versions) this.acknowledge();
    return this.recompute();
  }

  /**
   * Recomputes every version's state from the acks and the membership; returns the paths
   * with several heads of which one changed state (their preferred head may have changed).
   */
  recompute(): ChangedPath[] {
    const active = new Set(this.stmt.active.all() as string[]);
    const majority = Math.floor(Math.max(active.size, 1) / 2) + 1;
    const byOrigin = new Map<string, number[]>();
    for (const a of this.stmt.acks.all() as { device: string; origin: string; seq: number }[]) {
      if (!active.has(a.device) || a.device === a.origin) continue;
      const list = byOrigin.get(a.origin) ?? [];
      list.push(a.seq);
      byOrigin.set(a.origin, list);
    }
    const changed = new Map<string, ChangedPath>();
    for (const author of this.stmt.authors.all() as string[]) {
      const upTo = confirmedUpTo(byOrigin.get(author) ?? [], active.size === 0 || active.has(author), majority);
      for (const c of this.stmt.flipHeads.all(author, upTo, upTo) as ChangedPath[]) changed.set(`${c.folderId}\0${c.path}`, c);
      this.stmt.confirm.run(author, upTo);
      this.stmt.unconfirm.run(author, upTo);
    }
    return [...changed.values()];
  }
}

/**
 * The highest seq of an origin that `majority` devices hold, given the other devices' ack
 * seqs for it and whether the author itself still counts.
 */
export function confirmedUpTo(otherAcks: readonly number[], authorCounts: boolean, majority: number): number {
  const need = majority - (authorCounts ? 1 : 0);
  if (need <= 0) return Number.MAX_SAFE_INTEGER;
  const sorted = [...otherAcks].sort((a, b) => b - a);
  return sorted[need - 1] ?? 0;
}
