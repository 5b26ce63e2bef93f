/**
 * Fetches chunks from connected devices: different chunks from several holders in
 * parallel, best-ranked first (EWMA latency, throughput, failures, with some exploration),
 * a cap on requests in flight per peer, and a read-ahead window so a file's next chunks
 * are on their way while the current one is written.
 */
import { CanopyError, isCanopyError } from '../errors/index.js';
import { rankPeers } from './peer-stats.js';
import type { RateLimiter } from './rate-limit.js';
import type { PeerSession } from './session.js';

export interface ChunkRef {
  hash: string;
  size: number;
}

const MAX_INFLIGHT_PER_PEER = 16;
/**
 * Bytes of chunks asked of one peer at once, beside the count (network.max_inflight_requests):
 * many small chunks may be on their way together (so replies travel in batches), large ones
 * only as many as this covers. A request is always allowed when nothing else is in flight.
 */
export const MAX_INFLIGHT_BYTES_PER_PEER = 32 * 1024 * 1024;
const READ_AHEAD_BYTES = 64 * 1024 * 1024;
/** Small files have tiny chunks: the window is capped in count too, so few requests ever wait for a slot. */
const READ_AHEAD_CHUNKS = 256;

export class ChunkFetcher {
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private waiters: (() => void)[] = [];

  constructor(
    private readonly peers: () => PeerSession[], private readonly download: RateLimiter, private readonly maxInflight = MAX_INFLIGHT_PER_PEER,
    /** Devices known to hold a chunk (replica facts): asked first, in rank order, so sharded chunks cost no misses. */
    private readonly holders?: (hash: string) => ReadonlySet<string>,
  ) {}

  /** One chunk, from whichever connected device has it. Concurrent asks share one request. */
  get(hash: string, size: number): Promise<Buffer> {
    const existing = this.inflight.get(hash);
    if (existing) return existing;
    const p = this.fetchFromAny(hash, size).finally(() => this.inflight.delete(hash));
    this.inflight.set(hash, p);
    return p;
  }

  /**
   * A fetch function for writing files in order: asking for chunk i also starts the next
   * chunks of `order` (up to the read-ahead window), so the network never idles.
   */
  sequential(order: readonly ChunkRef[]): ((hash: string, size: number) => Promise<Buffer>) & { readonly verified: true } {
    const ahead = new Map<string, Promise<Buffer>>();
    // Asked for before the window reached them (files written side by side): not prefetched again.
    const taken = new Set<string>();
    let next = 0;
    let windowBytes = 0;
    const fill = () => {
      while (next < order.length && windowBytes < READ_AHEAD_BYTES && ahead.size < READ_AHEAD_CHUNKS) {
        const c = order[next++] as ChunkRef;
        if (ahead.has(c.hash) || taken.has(c.hash)) continue;
        const p = this.get(c.hash, c.size);
        p.catch(() => undefined);
        ahead.set(c.hash, p);
        windowBytes += c.size;
      }
    };
    const fetch = (hash: string, size: number) => {
      fill();
      const p = ahead.get(hash) ?? this.get(hash, size);
      if (ahead.delete(hash)) windowBytes -= size;
      else taken.add(hash);
      fill();
      return p;
    };
    // Every chunk comes from PeerSession.request, which checks its size and hash on receipt.
    return Object.assign(fetch, { verified: true as const });
  }

  /** Wakes every request waiting for a free peer slot (a peer connected). */
  poke(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** A request ended: one slot is free, so one waiter (the oldest) gets to try for it. */
  private release(): void {
    this.waiters.shift()?.();
  }

  private async fetchFromAny(hash: string, size: number): Promise<Buffer> {
    const tried = new Set<string>();
    let lastError: unknown;
    let known: ReadonlySet<string> | undefined;
    // Tokens first: between finding a peer with a free slot and sending the request (which
    // takes the slot) nothing may yield, or every concurrent fetch sees the same free slot.
    await this.download.take(size);
    for (;;) {
      const candidates = rankPeers(this.peers().filter((p) => !p.closed && p.hello && !tried.has(p.deviceId)));
      // Only an order among several candidates needs it (a query per chunk otherwise wasted), once per fetch.
      if (candidates.length > 1) known ??= this.holders?.(hash);
      // A stable sort: known holders first, each group still in EWMA rank (exploration included).
      const holders = known;
      if (holders && holders.size > 0) candidates.sort((a, b) => Number(holders.has(b.deviceId)) - Number(holders.has(a.deviceId)));
      if (candidates.length === 0) {
        // This fetch gives up; if it was woken for a free slot, the next waiter gets the slot.
        this.release();
        if (lastError) throw lastError;
        throw new CanopyError('NOT_FOUND', `no connected device has chunk ${hash.slice(0, 12)} right now`);
      }
      const peer = candidates.find((p) => p.inflight() === 0 || (p.inflight() < this.maxInflight && p.inflightBytes() + size <= MAX_INFLIGHT_BYTES_PER_PEER));
      if (!peer) {
        await new Promise<void>((resolve) => {
          // Woken by a freed slot, or after a second anyway (then it leaves the queue, so a
          // later release() wakes a waiter that is still waiting).
          const timer = setTimeout(() => {
            const i = this.waiters.indexOf(wake);
            if (i >= 0) this.waiters.splice(i, 1);
            resolve();
          }, 1000);
          timer.unref();
          const wake = () => {
            clearTimeout(timer);
            resolve();
          };
          this.waiters.push(wake);
        });
        continue;
      }
      tried.add(peer.deviceId);
      try {
        return await peer.request(hash, size);
      } catch (err) {
        lastError = err;
        if (!isCanopyError(err)) throw err;
      } finally {
        this.release();
      }
    }
  }
}
