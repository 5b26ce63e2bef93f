/**
 * Two real sessions over an in-memory Noise stream pair: chunk requests and replies, and how
 * they travel (small messages of one turn share a frame, large ones go alone, frames stay
 * bounded).
 */
import { duplexPair, type Duplex } from 'node:stream';
import NoiseSecretStream from '@hyperswarm/secret-stream';
import type { SecretStream } from 'hyperswarm';
import { afterEach, describe, expect, it } from 'vitest';
import { blake3Hex } from '../chunking/hash.js';
import { PROTOCOL_VERSION } from '../net/messages.js';
import { seededBytes, waitFor } from '../testing/index.js';
import { RateLimiter } from './rate-limit.js';
import { PeerSession, type SessionHandlers } from './session.js';

/** Sizes of the writes a side made to the raw stream under its Noise stream: one per encrypted frame. */
function countWrites(raw: Duplex): number[] {
  const sizes: number[] = [];
  const write = raw.write.bind(raw) as (chunk: Buffer, ...rest: unknown[]) => boolean;
  raw.write = ((chunk: Buffer, ...rest: unknown[]) => {
    sizes.push(chunk.length);
    return write(chunk, ...rest);
  }) as typeof raw.write;
  return sizes;
}

function handlers(name: string, chunks: Map<string, Buffer>): SessionHandlers {
  return {
    hello: () => ({ protocol: PROTOCOL_VERSION, deviceId: name, name, labels: {}, vector: [], storeMaxBytes: 0, storeUsedBytes: 0 }),
    onHello: () => undefined, onEntries: () => undefined, onVector: () => undefined, onClose: () => undefined,
    serveChunk: async (hash) => chunks.get(hash),
    log: () => undefined,
  };
}

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** The asker (`a`) and the holder (`b`) of `chunks`, hellos exchanged, and the raw writes of each side from then on. */
async function pair(chunks: Map<string, Buffer>) {
  const [rawA, rawB] = duplexPair();
  const sa = new NoiseSecretStream(true, rawA);
  const sb = new NoiseSecretStream(false, rawB);
  for (const s of [sa, sb]) s.on('error', () => undefined);
  const conn = (stream: NoiseSecretStream, deviceId: string) => ({ stream: stream as unknown as SecretStream, publicKey: Buffer.alloc(32), deviceId, member: true });
  const a = new PeerSession(conn(sa, 'b'), handlers('a', new Map()), new RateLimiter(0));
  const b = new PeerSession(conn(sb, 'a'), handlers('b', chunks), new RateLimiter(0));
  open.push({ close: () => {
    a.close();
    b.close();
    sa.destroy();
    sb.destroy();
  } });
  await waitFor(() => a.hello !== undefined && b.hello !== undefined, 'both hellos');
  return { a, b, writesA: countWrites(rawA), writesB: countWrites(rawB) };
}

function chunkSet(count: number, size: number, seed: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const data = seededBytes(`${seed}-${i}`, size);
    out.set(blake3Hex(data), data);
  }
  return out;
}

describe('chunk requests between two sessions', () => {
  it('small requests and replies of one turn share frames, and every chunk arrives checked', async () => {
    const chunks = chunkSet(200, 4096, 'small');
    const { a, writesA, writesB } = await pair(chunks);
    const got = await Promise.all([...chunks].map(([hash, data]) => a.request(hash, data.length)));
    expect(got.map((d) => blake3Hex(d.take()))).toEqual([...chunks.keys()]);
    expect(a.inflight()).toBe(0);
    expect(a.inflightBytes()).toBe(0);
    // 200 requests went out in one turn: one frame, or a few. Unbatched, each was a frame.
    expect(writesA.length).toBeLessThanOrEqual(4);
    // The replies are served a few at a time, so they share fewer frames, but far fewer than one each.
    expect(writesB.length).toBeLessThan(100);
  });

  it('a batch is cut at 256 KiB, so no frame grows with the number of chunks asked for', async () => {
    const chunks = chunkSet(300, 16 * 1024, 'medium');
    const { a, writesB } = await pair(chunks);
    await Promise.all([...chunks].map(([hash, data]) => a.request(hash, data.length)));
    // 4.7 MiB in all; a frame is at most one batch plus the message that did not fit.
    expect(writesB.reduce((s, n) => s + n, 0)).toBeGreaterThan(300 * 16 * 1024);
    expect(Math.max(...writesB)).toBeLessThan(256 * 1024 + 17 * 1024 + 1024);
  });

  it('a large chunk goes in a frame of its own', async () => {
    const chunks = chunkSet(3, 1024 * 1024, 'large');
    const { a, writesB } = await pair(chunks);
    const got = await Promise.all([...chunks].map(([hash, data]) => a.request(hash, data.length)));
    expect(got.map((d) => blake3Hex(d.take()))).toEqual([...chunks.keys()]);
    expect(writesB.filter((n) => n >= 1024 * 1024)).toHaveLength(3);
    expect(Math.max(...writesB)).toBeLessThan(1024 * 1024 + 1024);
  });

  it('a request for a chunk the peer does not hold is refused by the peer, and the others still arrive', async () => {
    const chunks = chunkSet(5, 4096, 'some');
    const { a } = await pair(chunks);
    const missing = blake3Hex(seededBytes('absent', 4096));
    const results = await Promise.allSettled([...[...chunks].map(([hash]) => a.request(hash, 4096)), a.request(missing, 4096)]);
    expect(results.slice(0, 5).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(results[5]).toMatchObject({ status: 'rejected', reason: { code: 'NOT_FOUND' } });
    await waitFor(() => a.inflight() === 0, 'nothing left in flight');
    expect(a.inflightBytes()).toBe(0);
  });
});
