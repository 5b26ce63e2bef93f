import { describe, expect, it } from 'vitest';
import type { Hello } from '../net/messages.js';
import { ChunkDelivery } from './delivery.js';
import { ChunkFetcher, type FetchPeer } from './fetcher.js';
import { PeerStats } from './peer-stats.js';
import { RateLimiter } from './rate-limit.js';

const MiB = 1024 * 1024;

/** A connected device that records the requests it gets and answers them when the test says. */
class RecordingPeer implements FetchPeer {
  readonly deviceId = 'd'.repeat(64);
  readonly closed = false;
  readonly hello = {} as Hello;
  readonly stats = new PeerStats();
  readonly asked: string[] = [];
  readonly deliveries: ChunkDelivery[] = [];
  private readonly open = new Map<string, { size: number; resolve: (d: ChunkDelivery) => void }>();

  inflight(): number {
    return this.open.size;
  }

  inflightBytes(): number {
    let n = 0;
    for (const r of this.open.values()) n += r.size;
    return n;
  }

  request(hash: string, size: number): Promise<ChunkDelivery> {
    this.asked.push(hash);
    return new Promise((resolve) => this.open.set(hash, { size, resolve }));
  }

  /** Sends the bytes of `hash` (its name, repeated to its size). */
  answer(hash: string): void {
    const r = this.open.get(hash);
    if (!r) throw new Error(`${hash} was not asked for`);
    this.open.delete(hash);
    const d = new ChunkDelivery(Buffer.alloc(r.size, hash));
    this.deliveries.push(d);
    r.resolve(d);
  }
}

const settle = () => new Promise<void>((r) => setImmediate(r));

describe('ChunkFetcher', () => {
  it('asks for chunks in the order they were wanted: a big one waiting for room is not overtaken by smaller ones after it', async () => {
    const peer = new RecordingPeer();
    const fetcher = new ChunkFetcher(() => [peer], new RateLimiter(0), 256);
    // 30 MiB of small chunks fill most of the 32 MiB a peer may be asked for at once; the
    // 4 MiB chunk after them does not fit until 2 MiB more has arrived, and the small ones
    // behind it would.
    const order = [
      ...Array.from({ length: 30 }, (_, i) => ({ hash: `s${i}`, size: MiB })),
      { hash: 'big', size: 4 * MiB },
      ...Array.from({ length: 10 }, (_, i) => ({ hash: `t${i}`, size: MiB })),
    ];
    const fetch = fetcher.sequential(order);
    const first = fetch('s0', MiB);
    await settle();
    expect(peer.asked).toEqual(order.slice(0, 30).map((c) => c.hash));

    peer.answer('s0');
    await first;
    await settle();
    // 29 MiB out: still no room for 4 MiB, and nothing may go before it.
    expect(peer.asked).toHaveLength(30);

    peer.answer('s1');
    await settle();
    // 28 MiB out: the big chunk goes first, then as many after it as fit.
    expect(peer.asked.slice(30)).toEqual(['big']);
    peer.answer('s2');
    peer.answer('s3');
    await settle();
    expect(peer.asked.slice(30)).toEqual(['big', 't0', 't1']);
    expect(peer.asked).toEqual(order.slice(0, peer.asked.length).map((c) => c.hash));
  });

  it('lets the bytes of a chunk go once it is taken, and shares one request among those who asked at once', async () => {
    const peer = new RecordingPeer();
    const fetcher = new ChunkFetcher(() => [peer], new RateLimiter(0), 256);
    const fetch = fetcher.sequential([{ hash: 'a', size: 10 }, { hash: 'b', size: 10 }]);
    const a = fetch('a', 10);
    const b1 = fetcher.get('b', 10);
    const b2 = fetcher.get('b', 10);
    await settle();
    expect(peer.asked).toEqual(['a', 'b']);
    peer.answer('a');
    peer.answer('b');
    expect((await a).toString()).toBe('a'.repeat(10));
    expect((await b1).toString()).toBe('b'.repeat(10));
    expect((await b2).toString()).toBe('b'.repeat(10));
    // The read-ahead window asked for 'b' too (a third asker), and has not taken it yet.
    const [da, db] = peer.deliveries as [ChunkDelivery, ChunkDelivery];
    expect(() => da.take()).toThrow(/taken more often/);
    expect((await fetch('b', 10)).toString()).toBe('b'.repeat(10));
    expect(() => db.take()).toThrow(/taken more often/);
  });

  it('asks again for a chunk whose earlier request has settled, instead of finding its bytes taken', async () => {
    const peer = new RecordingPeer();
    const fetcher = new ChunkFetcher(() => [peer], new RateLimiter(0), 256);
    const first = fetcher.get('c', 4);
    await settle();
    peer.answer('c');
    expect((await first).toString()).toBe('cccc');
    const again = fetcher.get('c', 4);
    await settle();
    expect(peer.asked).toEqual(['c', 'c']);
    peer.answer('c');
    expect((await again).toString()).toBe('cccc');
  });
});

describe('ChunkDelivery', () => {
  it('hands its bytes to as many takers as it expects, then holds them no longer', () => {
    const d = new ChunkDelivery(Buffer.from('xyz'));
    d.expectTakers(2);
    expect(d.take().toString()).toBe('xyz');
    expect(d.take().toString()).toBe('xyz');
    expect(() => d.take()).toThrow(/taken more often/);
  });
});
