/**
 * Holder questions: the bitfield's checks, what a device answers from its index, and a real
 * session asking a scripted peer (in memory, over a real Noise stream pair) that answers
 * well, badly, with an error, or not at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { duplexPair } from 'node:stream';
import NoiseSecretStream from '@hyperswarm/secret-stream';
import type { SecretStream } from 'hyperswarm';
import Protomux from 'protomux';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blake3Hex } from '../chunking/hash.js';
import { Engine } from '../engine/index.js';
import { PROTOCOL_VERSION, SYNC_PROTOCOL, type ErrorMessage, type HoldsAnswer, type HoldsQuestion } from '../net/messages.js';
import { hostileMessages, Raw, type HostileSend } from '../testing/hostile-peer.js';
import { seededBytes, tmpDir, waitFor, writeSeededFile } from '../testing/index.js';
import { fromBitfield, HeldHere, toBitfield } from './holds.js';
import { RateLimiter } from './rate-limit.js';
import { PeerSession } from './session.js';

describe('the answer bitfield', () => {
  it('round-trips any answer', () => {
    fc.assert(fc.property(fc.array(fc.boolean(), { maxLength: 300 }), (held) => {
      expect(fromBitfield(held.length, toBitfield(held))).toEqual(held);
    }));
  });

  it('refuses a bitfield of the wrong length or with bits past the hashes asked about', () => {
    expect(() => fromBitfield(9, new Uint8Array(1))).toThrow(/1 bytes for 9 hashes/);
    expect(() => fromBitfield(8, new Uint8Array(2))).toThrow(/2 bytes for 8 hashes/);
    expect(() => fromBitfield(3, new Uint8Array([0b1000]))).toThrow(/past the hashes/);
    expect(fromBitfield(3, new Uint8Array([0b101]))).toEqual([true, false, true]);
  });
});

describe('what a device says it holds', () => {
  let dir: string;
  let engine: Engine;
  beforeEach(() => {
    dir = tmpDir('canopy-holds-');
    engine = Engine.init(path.join(dir, 'home'), { name: 'here' });
  });
  afterEach(async () => {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('yes for the chunk store and indexed, unchanged working-copy files; no once the file changed unindexed, or for anything else', async () => {
    const stored = seededBytes('stored', 5000);
    await engine.store.put(blake3Hex(stored), stored);
    const folder = path.join(dir, 'files');
    const file = path.join(folder, 'a.bin');
    writeSeededFile(file, 40_000, 'holds-wc');
    engine.folders.add({ path: folder, id: 'docs' });
    await engine.scan('docs');
    const inFile = blake3Hex(fs.readFileSync(file));
    const held = new HeldHere(engine.db, engine.store, (id) => engine.folders.get(id)?.local?.path);
    const other = blake3Hex(seededBytes('nowhere', 100));
    expect(await held.check([blake3Hex(stored), inFile, other])).toEqual([true, true, false]);
    // Same bytes, other mtime: the index no longer vouches for the file (nothing is read to find out).
    fs.utimesSync(file, new Date(), new Date(Date.now() - 60_000));
    expect(await held.check([inFile])).toEqual([false]);
    fs.rmSync(file);
    expect(await held.check([inFile, blake3Hex(stored)])).toEqual([false, true]);
  });
});

/** A real PeerSession (the asker) and a scripted peer on the other end of an in-memory Noise stream pair. */
async function sessionWithScriptedPeer(answer: (q: HoldsQuestion, send: HostileSend) => void): Promise<{ session: PeerSession; peerErrors: ErrorMessage[]; logs: string[]; close(): void }> {
  const [rawA, rawB] = duplexPair();
  const a = new NoiseSecretStream(true, rawA);
  const b = new NoiseSecretStream(false, rawB);
  for (const s of [a, b]) s.on('error', () => undefined);
  const logs: string[] = [];
  const session = new PeerSession({ stream: a as unknown as SecretStream, publicKey: Buffer.alloc(32), deviceId: 'peer', member: true }, {
    hello: () => ({ protocol: PROTOCOL_VERSION, deviceId: 'asker', name: 'asker', labels: {}, vector: [], storeMaxBytes: 0, storeUsedBytes: 0 }),
    onHello: () => undefined, onEntries: () => undefined, onVector: () => undefined, onClose: () => undefined,
    serveChunk: async () => undefined, log: (line) => logs.push(line),
  }, new RateLimiter(0));
  const channel = Protomux.from(b as unknown as SecretStream).createChannel({ protocol: SYNC_PROTOCOL, unique: true });
  if (!channel) throw new Error('no channel');
  const peerErrors: ErrorMessage[] = [];
  let send: HostileSend | undefined;
  send = hostileMessages(channel, {
    holdsQuestion: (q) => answer(q, send as HostileSend),
    error: (e) => peerErrors.push(e),
  });
  channel.open();
  send.hello.send({ protocol: PROTOCOL_VERSION, deviceId: 'peer', name: 'peer', labels: {}, vector: [], storeMaxBytes: 0, storeUsedBytes: 0 });
  await waitFor(() => session.hello !== undefined, 'the session to hear the peer\'s hello');
  return { session, peerErrors, logs, close: () => {
    session.close();
    a.destroy();
    b.destroy();
  } };
}

const HASHES = ['11', '22', '33'].map((x) => x.repeat(32));

describe('a session asking which chunks a peer holds', () => {
  it('resolves with the peer\'s claims, in order', async () => {
    const t = await sessionWithScriptedPeer((q, send) => send.holdsAnswer.send({ id: q.id, count: q.hashes.length, held: toBitfield(q.hashes.map((h) => h[0] !== 0x22)) }));
    try {
      expect(await t.session.askHolds(HASHES)).toEqual([true, false, true]);
      expect(t.session.closed).toBe(false);
      expect(t.session.stats.bytesIn).toBe(0);
    } finally {
      t.close();
    }
  });

  const broken: [string, (q: HoldsQuestion) => HoldsAnswer | Raw, RegExp][] = [
    ['covers another number of hashes', (q) => ({ id: q.id, count: q.hashes.length + 1, held: new Uint8Array(1) }), /covers 4 hashes, the question asked about 3/],
    ['has a bitfield of the wrong size', (q) => ({ id: q.id, count: q.hashes.length, held: new Uint8Array(2) }), /2 bytes for 3 hashes/],
    ['sets bits past the hashes', (q) => ({ id: q.id, count: q.hashes.length, held: new Uint8Array([0xff]) }), /past the hashes/],
    ['answers a question never asked', (q) => ({ id: q.id + 1000, count: q.hashes.length, held: new Uint8Array(1) }), /never asked/],
  ];
  for (const [what, reply, reason] of broken) {
    it(`cuts off a peer whose answer ${what}, and the question fails`, async () => {
      const t = await sessionWithScriptedPeer((q, send) => send.holdsAnswer.send(reply(q)));
      try {
        const asked = t.session.askHolds(HASHES, 30_000);
        await expect(asked).rejects.toThrow(/disconnected/);
        expect(t.session.closed).toBe(true);
        // The reason is logged (that the error message reaches the peer first is hostile.test.ts's to show, over a real network).
        expect(t.logs.find((l) => l.startsWith('cutting off device peer: PROTOCOL: '))).toMatch(reason);
      } finally {
        t.close();
      }
    });
  }

  it('fails the question, and keeps the peer, when it answers with an error or not at all', async () => {
    const t = await sessionWithScriptedPeer((q, send) => {
      if (q.hashes.length === 1) send.error.send({ id: q.id, code: 'IO_ERROR', message: 'disk went away' });
      // Two hashes: silence, as from a device that does not know the question.
    });
    try {
      await expect(t.session.askHolds(HASHES.slice(0, 1))).rejects.toThrow(/disk went away/);
      await expect(t.session.askHolds(HASHES.slice(0, 2), 300)).rejects.toThrow(/in time/);
      expect(t.session.closed).toBe(false);
      expect(t.peerErrors).toEqual([]);
      await expect(t.session.askHolds(Array.from({ length: 4097 }, () => HASHES[0] as string))).rejects.toThrow(/at most 4096/);
    } finally {
      t.close();
    }
  });
});
