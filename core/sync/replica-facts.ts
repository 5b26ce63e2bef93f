/**
 * Replica facts over the sync channel: this device tells its peers what it holds (its whole
 * holding on connect, then what it gained and dropped as it changes) and its capacity, and
 * records what peers say into the `replicas` table and `devices.capacity`, so every
 * device's placement view knows who holds what and who has room.
 *
 * The local holding is not kept in `replicas`: the store and the working copy are its
 * truth (localHoldings), and announcements are the difference from what was last said.
 */
import type { Engine } from '../engine/index.js';
import type { Capacity } from '../net/messages.js';
import { localFacts, localHoldings } from '../placement/index.js';
import type { PeerSession } from './session.js';

/** Announcements wait this long to gather changes (a materialize pass stores many chunks). */
const ANNOUNCE_DELAY_MS = 500;
/**
 * ...and at least this many times what working out the holding took last time: it is read
 * whole (every chunk of the store and the working copies), so a device holding millions of
 * chunks must not spend its time re-reading them every half second while files arrive.
 */
const ANNOUNCE_COST_FACTOR = 20;
/** Capacity and holdings are re-checked this often anyway (evictions, scans, edits). */
const REFRESH_MS = 20_000;

export class ReplicaFacts {
  private announced: Set<string> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refresh: NodeJS.Timeout | undefined;
  private lastCapacity = '';
  /** How long the last announcement took to work out the holding (ms). */
  private lastCostMs = 0;
  /** Sessions whose inventory is arriving: when it started (rows older than that go at the end). */
  private readonly inventoryStart = new WeakMap<PeerSession, number>();
  private readonly stmt;

  constructor(private readonly engine: Engine, private readonly sessions: () => PeerSession[], private readonly log: (line: string) => void) {
    const db = engine.db;
    this.stmt = {
      upsert: db.prepare('INSERT INTO replicas (chunk, device_id, verified_at) VALUES (?, ?, ?) ON CONFLICT (chunk, device_id) DO UPDATE SET verified_at = excluded.verified_at'),
      remove: db.prepare('DELETE FROM replicas WHERE chunk = ? AND device_id = ?'),
      removeOlder: db.prepare('DELETE FROM replicas WHERE device_id = ? AND verified_at < ?'),
      capacity: db.prepare('UPDATE devices SET capacity = ?, last_seen = ? WHERE id = ? AND is_local = 0'),
    };
  }

  start(): void {
    this.refresh = setInterval(() => this.announceNow(), REFRESH_MS);
    this.refresh.unref();
  }

  stop(): void {
    clearInterval(this.refresh);
    clearTimeout(this.timer);
  }

  /** A peer said hello: it gets our whole holding and our capacity. */
  greet(session: PeerSession): void {
    this.announceNow();
    session.sendInventory([...(this.announced ?? [])]);
    session.sendCapacity(this.capacity());
  }

  /** Something local changed (chunks stored, dropped, files written or scanned): tell peers soon. */
  changed(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.announceNow();
    }, announceDelay(this.lastCostMs));
    this.timer.unref();
  }

  /** Sends every peer what changed since the last announcement, and capacity when it moved. */
  announceNow(): void {
    const started = performance.now();
    const now = localHoldings(this.engine.db);
    this.lastCostMs = performance.now() - started;
    const before = this.announced;
    this.announced = now;
    const peers = this.sessions().filter((s) => s.hello && !s.closed);
    if (before) {
      const gained = [...now].filter((h) => !before.has(h));
      const lost = [...before].filter((h) => !now.has(h));
      for (const s of peers) {
        if (gained.length > 0) s.sendHave(gained);
        if (lost.length > 0) s.sendDrop(lost);
      }
    }
    const cap = this.capacity();
    const key = JSON.stringify({ ...cap, usedBytes: Math.round(cap.usedBytes / (1024 * 1024)) });
    if (key !== this.lastCapacity) {
      this.lastCapacity = key;
      for (const s of peers) s.sendCapacity(cap);
    }
  }

  capacity(): Capacity {
    const f = localFacts(this.engine);
    return { maxBytes: f.maxBytes, usedBytes: f.usedBytes, reservedBytes: f.reservedBytes, shareExcess: f.shareExcess, full: f.full };
  }

  // --- what peers say ---

  onHave(s: PeerSession, hashes: string[]): void {
    const at = Date.now();
    this.engine.db.transaction(() => {
      for (const h of hashes) this.stmt.upsert.run(h, s.deviceId, at);
    })();
  }

  onDrop(s: PeerSession, hashes: string[]): void {
    this.engine.db.transaction(() => {
      for (const h of hashes) this.stmt.remove.run(h, s.deviceId);
    })();
  }

  onInventory(s: PeerSession, hashes: string[], final: boolean): void {
    let start = this.inventoryStart.get(s);
    if (start === undefined) {
      start = Date.now();
      this.inventoryStart.set(s, start);
    }
    const at = Math.max(Date.now(), start);
    this.engine.db.transaction(() => {
      for (const h of hashes) this.stmt.upsert.run(h, s.deviceId, at);
      // The whole holding has arrived: what it did not name, it no longer holds.
      if (final) this.stmt.removeOlder.run(s.deviceId, start);
    })();
    if (final) {
      this.inventoryStart.delete(s);
      this.log(`device ${s.deviceId.slice(0, 8)} holds ${this.engine.db.prepare('SELECT count(*) FROM replicas WHERE device_id = ?').pluck().get(s.deviceId) as number} chunks`);
    }
  }

  onCapacity(s: PeerSession, facts: Capacity): void {
    this.stmt.capacity.run(JSON.stringify({ ...facts, at: Date.now() }), Date.now(), s.deviceId);
  }
}

/** How long a change waits before it is announced, given what the last holding took to read (ms). */
export function announceDelay(lastCostMs: number): number {
  return Math.max(ANNOUNCE_DELAY_MS, Math.ceil(ANNOUNCE_COST_FACTOR * lastCostMs));
}
