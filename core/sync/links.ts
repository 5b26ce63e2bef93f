/**
 * Which mesh devices this device stays connected to: at most `max_peers` of them, the
 * nearest by labels (peer-cap.ts ranks them), and lost ones tried again with backoff.
 *
 * Dropping a peer over the cap bans its key in Hyperswarm (so neither side's swarm
 * reconnects it straight away), and the ban is lifted when a slot frees. The exception:
 * when a materialize pass could not get chunks from the connected peers, every dropped
 * peer is let back in as a temporary extra (the cap is raised for them) until a pass
 * completes, since the devices we dropped may be the only holders. This keeps one code path
 * for "connected peers" (fetcher, replica facts, log relay) instead of a second kind of
 * short-lived connection.
 */
import { overCap, retryDelayMs, type PeerCandidate } from './peer-cap.js';

export interface LinksHost {
  cap: number;
  myLabels(): Readonly<Record<string, string>>;
  labelsOf(deviceId: string): Readonly<Record<string, string>>;
  nameOf(deviceId: string): string;
  /** Devices with an open session. */
  connected(): string[];
  /** Still a paired device (revoked ones are not retried). */
  isMember(deviceId: string): boolean;
  /** Online, not paused, not stopped. */
  active(): boolean;
  /** Closes the device's session and connection and keeps its swarm from reconnecting. */
  drop(deviceId: string): void;
  /** Lifts that ban. */
  allow(deviceId: string): void;
  /** Looks the mesh topic up again, so the swarm dials the devices it finds. */
  lookAgain(): void;
  log(line: string): void;
  random?: () => number;
}

export class PeerLinks {
  /** Dropped over the cap (banned), by device id. */
  private readonly capped = new Set<string>();
  /** Let back in above the cap because chunks were missing. */
  private readonly extras = new Set<string>();
  private readonly attempts = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly host: LinksHost) {}

  /** A session opened: keep the nearest `cap` peers (extras aside), drop the rest. */
  opened(deviceId: string): void {
    this.capped.delete(deviceId);
    this.enforce();
  }

  /** The peer said hello: the link works, so its backoff starts over. */
  succeeded(deviceId: string): void {
    this.attempts.delete(deviceId);
    clearTimeout(this.timers.get(deviceId));
    this.timers.delete(deviceId);
  }

  /** A session closed. Dropped-over-cap peers stay away; others are retried with backoff, and a freed slot lets the dropped back. */
  lost(deviceId: string): void {
    this.extras.delete(deviceId);
    if (this.capped.has(deviceId) || !this.host.active()) return;
    if (this.host.isMember(deviceId)) this.scheduleRetry(deviceId);
    if (this.capped.size > 0 && this.counted().length < this.host.cap) this.release([...this.capped], 'a slot is free');
  }

  /**
   * Chunks no connected peer could give: let the dropped peers back in, above the cap, until
   * a pass completes. With `holders` (devices known to hold those chunks), only those.
   */
  needMore(holders?: ReadonlySet<string>): void {
    if (!this.host.active()) return;
    const wanted = [...this.capped].filter((id) => !holders || holders.has(id));
    if (wanted.length === 0) return;
    for (const id of wanted) this.extras.add(id);
    this.release(wanted, `chunks are missing that connected peers do not have; max_peers ${this.host.cap} raised for them until they arrive`);
  }

  /** A pass completed: extras count again, and the cap holds. */
  settled(): void {
    if (this.extras.size === 0) return;
    this.extras.clear();
    this.enforce();
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private counted(): string[] {
    return this.host.connected().filter((id) => !this.extras.has(id));
  }

  private enforce(): void {
    const peers: PeerCandidate[] = this.counted().map((deviceId) => ({ deviceId, labels: this.host.labelsOf(deviceId) }));
    if (peers.length <= this.host.cap) return;
    const { keep, drop } = overCap(this.host.myLabels(), peers, this.host.cap);
    const kept = keep.map((p) => this.host.nameOf(p.deviceId)).join(', ');
    for (const p of drop) {
      this.capped.add(p.deviceId);
      this.host.log(`peer cap: max_peers is ${this.host.cap}; dropping the farthest device ${this.host.nameOf(p.deviceId)} (${p.deviceId.slice(0, 8)}, labels ${labelText(p.labels)}), keeping ${kept}`);
      this.host.drop(p.deviceId);
    }
  }

  private release(ids: string[], why: string): void {
    const n = ids.length;
    this.host.log(`peer cap: letting ${n} dropped ${n === 1 ? 'device' : 'devices'} connect again: ${why}`);
    for (const id of ids) {
      this.host.allow(id);
      this.capped.delete(id);
    }
    this.host.lookAgain();
  }

  private scheduleRetry(deviceId: string): void {
    if (this.timers.has(deviceId)) return;
    const attempt = this.attempts.get(deviceId) ?? 0;
    const delay = retryDelayMs(attempt, (this.host.random ?? Math.random)());
    const timer = setTimeout(() => {
      this.timers.delete(deviceId);
      if (!this.host.active() || this.host.connected().includes(deviceId) || this.capped.has(deviceId) || !this.host.isMember(deviceId)) return;
      this.attempts.set(deviceId, attempt + 1);
      this.host.lookAgain();
      this.scheduleRetry(deviceId);
    }, delay);
    timer.unref();
    this.timers.set(deviceId, timer);
  }
}

function labelText(labels: Readonly<Record<string, string>>): string {
  const s = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  return s || 'none';
}
