/**
 * Fetches chunks from connected devices: different chunks from several holders in
 * parallel, best-ranked first (EWMA latency, throughput, failures, with some exploration),
 * a cap on requests in flight per peer, and a read-ahead window so a file's next chunks
 * are on their way while the current one is written.
 */
import { CanopyError, isCanopyError } from '../errors/index.js';
import type { ChunkDelivery } from './delivery.js';
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

/** A fetch waiting for a request slot; `ticket` is its place in line, kept when it has to wait again. */
interface SlotWaiter {
  ticket: number;
  /** Called by release() or poke(): the fetch looks for a slot again, and counts as `waking` until it has. */
  wake(): void;
}

/** What the fetcher needs of a connected device: a PeerSession, or a stand-in in tests. */
export type FetchPeer = Pick<PeerSession, 'deviceId' | 'closed' | 'hello' | 'stats' | 'inflight' | 'inflightBytes' | 'request'>;

/** One request several callers may be waiting on; `askers` counts them, so the delivery lets its bytes go after the last has taken them. */
interface SharedFetch {
  askers: number;
  delivery: Promise<ChunkDelivery>;
}

export class ChunkFetcher {
  private readonly inflight = new Map<string, SharedFetch>();
  /**
   * Fetches waiting for a request slot, oldest first, served strictly in that order.
   *
   * Order matters because files are written in chunk order: a chunk that is overtaken
   * holds up the writer while everything asked after it arrives and piles up in memory.
   * When any fetch could take a freed slot, a large chunk (up to 4 MiB) lost every one of
   * them to the smaller chunks asked after it, which still fitted under the byte cap: over
   * Hyperswarm the writer of a 1 GiB file then stood still for up to 0.6 s at a time while
   * 60 MiB of later chunks waited in memory, long enough to be promoted to V8's old space
   * and cost a full garbage collection each time.
   */
  private waiters: SlotWaiter[] = [];
  private nextTicket = 0;
  /** Waiters woken whose turn has not run yet: a newcomer must not take the slot meant for them. */
  private waking = 0;

  constructor(
    private readonly peers: () => FetchPeer[], private readonly download: RateLimiter, private readonly maxInflight = MAX_INFLIGHT_PER_PEER,
    /** Devices known to hold a chunk (replica facts): asked first, in rank order, so sharded chunks cost no misses. */
    private readonly holders?: (hash: string) => ReadonlySet<string>,
  ) {}

  /** One chunk, from whichever connected device has it. Concurrent asks share one request. */
  get(hash: string, size: number): Promise<Buffer> {
    return this.share(hash, size).then((d) => d.take());
  }

  /**
   * A fetch function for writing files in order: asking for chunk i also starts the next
   * chunks of `order` (up to the read-ahead window), so the network never idles. The window
   * holds deliveries, not bytes: each chunk's bytes are taken only when its turn is asked
   * for, by a promise made then (delivery.ts).
   */
  sequential(order: readonly ChunkRef[]): ((hash: string, size: number) => Promise<Buffer>) & { readonly verified: true } {
    const ahead = new Map<string, Promise<ChunkDelivery>>();
    // Asked for before the window reached them (files written side by side): not prefetched again.
    const taken = new Set<string>();
    let next = 0;
    let windowBytes = 0;
    const fill = () => {
      while (next < order.length && windowBytes < READ_AHEAD_BYTES && ahead.size < READ_AHEAD_CHUNKS) {
        const c = order[next++] as ChunkRef;
        if (ahead.has(c.hash) || taken.has(c.hash)) continue;
        const p = this.share(c.hash, c.size);
        p.catch(() => undefined);
        ahead.set(c.hash, p);
        windowBytes += c.size;
      }
    };
    const fetch = (hash: string, size: number) => {
      fill();
      const p = ahead.get(hash) ?? this.share(hash, size);
      if (ahead.delete(hash)) windowBytes -= size;
      else taken.add(hash);
      fill();
      return p.then((d) => d.take());
    };
    // Every chunk comes from PeerSession.request, which checks its size and hash on receipt.
    return Object.assign(fetch, { verified: true as const });
  }

  /** Wakes every request waiting for a free peer slot (a peer connected). */
  poke(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) this.wakeOne(x);
  }

  /**
   * The delivery of one chunk, with this caller counted among its takers (it takes once).
   * A request already under way for the chunk is shared; it leaves `inflight` as it
   * settles, so an ask after that starts a new one instead of finding the bytes taken.
   */
  private share(hash: string, size: number): Promise<ChunkDelivery> {
    let s = this.inflight.get(hash);
    if (!s) {
      const shared: SharedFetch = { askers: 0, delivery: this.fetchFromAny(hash, size).then(
        (d) => {
          this.inflight.delete(hash);
          d.expectTakers(shared.askers);
          return d;
        },
        (err: unknown) => {
          this.inflight.delete(hash);
          throw err;
        },
      ) };
      this.inflight.set(hash, shared);
      s = shared;
    }
    s.askers++;
    return s.delivery;
  }

  /** A slot came free (a request ended, or a woken fetch took one and there may be room for more): the oldest waiter tries for it. */
  private release(): void {
    const w = this.waiters.shift();
    if (w) this.wakeOne(w);
  }

  private wakeOne(w: SlotWaiter): void {
    this.waking++;
    w.wake();
  }

  /**
   * Waits in line (by `ticket`) until release() or poke() wakes this fetch, or a second
   * has passed anyway (then it leaves the line, so a later release() wakes a fetch that is
   * still waiting). Resolves true when woken; the caller then takes itself off `waking`.
   */
  private waitTurn(ticket: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const w: SlotWaiter = {
        ticket,
        wake: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, 1000);
      timer.unref();
      // A fetch that waits again keeps its place: in front of everyone asked after it.
      let at = this.waiters.length;
      while (at > 0 && (this.waiters[at - 1] as SlotWaiter).ticket > ticket) at--;
      this.waiters.splice(at, 0, w);
    });
  }

  private async fetchFromAny(hash: string, size: number): Promise<ChunkDelivery> {
    const tried = new Set<string>();
    let lastError: unknown;
    let known: ReadonlySet<string> | undefined;
    // Tokens first: between finding a peer with a free slot and sending the request (which
    // takes the slot) nothing may yield, or every concurrent fetch sees the same free slot.
    await this.download.take(size);
    // Set once this fetch has to wait for a slot: its place in line from then on.
    let ticket: number | undefined;
    let woken = false;
    for (;;) {
      const candidates = rankPeers(this.peers().filter((p) => !p.closed && p.hello && !tried.has(p.deviceId)));
      // Only an order among several candidates needs it (a query per chunk otherwise wasted), once per fetch.
      if (candidates.length > 1) known ??= this.holders?.(hash);
      // A stable sort: known holders first, each group still in EWMA rank (exploration included).
      const holders = known;
      if (holders && holders.size > 0) candidates.sort((a, b) => Number(holders.has(b.deviceId)) - Number(holders.has(a.deviceId)));
      if (candidates.length === 0) {
        // This fetch gives up; if it was woken for a free slot, the next waiter gets the slot.
        if (woken) this.release();
        if (lastError) throw lastError;
        throw new CanopyError('NOT_FOUND', `no connected device has chunk ${hash.slice(0, 12)} right now`);
      }
      // A newcomer gets in line behind fetches already waiting, even where it would fit.
      const inLine = ticket === undefined && (this.waiters.length > 0 || this.waking > 0);
      const peer = inLine ? undefined : candidates.find((p) => p.inflight() === 0 || (p.inflight() < this.maxInflight && p.inflightBytes() + size <= MAX_INFLIGHT_BYTES_PER_PEER));
      if (!peer) {
        ticket ??= this.nextTicket++;
        woken = await this.waitTurn(ticket);
        if (woken) this.waking--;
        continue;
      }
      // Woken and served: the slot freed may have room for the next in line too.
      if (woken) this.release();
      woken = false;
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
