/**
 * The session's write batching, over an in-memory Noise stream pair: small messages sent in
 * one turn of the event loop leave as one write, in order; a big chunk is never folded into
 * a batch. (That a cut-off's reason still reaches the peer after batched requests is
 * hostile.test.ts's to show, over a real network.)
 */
import { describe, expect, it } from 'vitest';
import type { ChunkRequest } from '../net/messages.js';
import { sessionWithScriptedPeer } from '../testing/session-pair.js';
import { seededBytes, waitFor } from '../testing/index.js';
import { blake3Hex } from '../chunking/hash.js';

/** Counts the writes the session's side makes on the raw pipe from now on. */
function countWrites(raw: { write: (...args: never[]) => boolean }): { count: () => number } {
  let n = 0;
  const write = raw.write.bind(raw);
  raw.write = ((...args: never[]) => {
    n++;
    return write(...args);
  }) as typeof raw.write;
  return { count: () => n };
}

describe('session write batching', () => {
  it('sends 200 chunk requests made in one turn as a few writes, every one arriving in order', async () => {
    const got: ChunkRequest[] = [];
    const t = await sessionWithScriptedPeer(() => ({ request: (r) => got.push(r) }));
    try {
      const writes = countWrites(t.rawA as never);
      const hashes = Array.from({ length: 200 }, (_, i) => blake3Hex(Buffer.from(String(i))));
      for (const h of hashes) t.session.request(h, 10, 60_000).catch(() => undefined);
      await waitFor(() => got.length === 200, 'the peer to receive every request');
      expect(got.map((r) => Buffer.from(r.hash).toString('hex'))).toEqual(hashes);
      expect(writes.count()).toBeLessThanOrEqual(3);
    } finally {
      t.close();
    }
  });

  it('serves small chunks batched and a big chunk on its own, each verified on arrival', async () => {
    const small = seededBytes('small', 4096);
    const big = seededBytes('big', 2 * 1024 * 1024);
    const byHash = new Map([small, big].map((b) => [blake3Hex(b), b]));
    // The session serves; the scripted peer asks and records what comes back.
    const data = new Map<number, Uint8Array>();
    const t = await sessionWithScriptedPeer(() => ({ data: (d) => data.set(d.id, d.data) }), { serveChunk: async (hash) => byHash.get(hash) });
    try {
      const ask = (id: number, b: Buffer) => t.send.request.send({ id, hash: Buffer.from(blake3Hex(b), 'hex'), size: b.length });
      ask(1, small);
      ask(2, big);
      ask(3, small);
      await waitFor(() => data.size === 3, 'all three chunks');
      expect(Buffer.from(data.get(1) as Uint8Array).equals(small)).toBe(true);
      expect(Buffer.from(data.get(2) as Uint8Array).equals(big)).toBe(true);
      expect(Buffer.from(data.get(3) as Uint8Array).equals(small)).toBe(true);
    } finally {
      t.close();
    }
  });
});
