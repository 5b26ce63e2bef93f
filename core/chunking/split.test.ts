/**
 * Tests of chunking one file on two threads (split.ts): whatever the data, the split point
 * and when the helper's chunks arrive, the result is exactly one thread's; with the real
 * helper thread the worker stops reading soon after the middle; and it goes on alone, with
 * the same result, when the halves never fall into step, the file changed, or the helper died.
 */

import fs from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isCanopyError } from '../errors/index.js';
import { seededBytes, tmpDir } from '../testing/index.js';
import type { ChunkingParams } from './fastcdc.js';
import { READ_BLOCK_SIZE, chunkFileSync } from './file-chunker.js';
import type { FileChunk, FileChunks, FileIdentity, TailJoin } from './file-chunker.js';
import { TailHelper, TailJoiner } from './split.js';

const SMALL: ChunkingParams = { minSize: 64, avgSize: 256, maxSize: 1024 };
const MEDIUM: ChunkingParams = { minSize: 1024, avgSize: 4096, maxSize: 16384 };
const MiB = 1024 * 1024;

const dir = tmpDir('canopy-split-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes `data` to a file of the test directory; returns its path. */
function writeFile(name: string, data: Uint8Array): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return file;
}

/** The file's chunks cut by a chunker started at `from`, taken for a cut point (the helper's half). */
function tailChunks(p: string, params: ChunkingParams, from: number, blockSize?: number): FileChunk[] {
  const st = fs.statSync(p);
  const hooks = blockSize === undefined ? undefined : { blockSize };
  return chunkFileSync(p, params, hooks, undefined, 0, { role: 'tail', from, expect: st }).chunks;
}

/** The stat fields that say which content of a file was read. */
function pick(st: fs.Stats): FileIdentity {
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

/** Sleeps the thread without spinning: the head's chunker is synchronous, like a hash worker's. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Pieces the data is made of: random bytes, one repeated byte (cut only at maxSize), or a repeated short pattern. */
const piece = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 6000 }),
  fc.record({ byte: fc.integer({ min: 0, max: 255 }), length: fc.integer({ min: 1, max: 9000 }) }).map(({ byte, length }) => new Uint8Array(length).fill(byte)),
  fc.record({ pattern: fc.uint8Array({ minLength: 1, maxLength: 40 }), times: fc.integer({ min: 1, max: 300 }) }).map(({ pattern, times }) => {
    const out = new Uint8Array(pattern.length * times);
    for (let i = 0; i < times; i++) out.set(pattern, i * pattern.length);
    return out;
  }),
);

/**
 * Chunks `p` as the split worker does, with the helper's chunks cut from `at` and handed over
 * after `pollsBeforeArrival` polls; says whether the worker took them.
 */
function chunkSplit(p: string, params: ChunkingParams, at: number, blockSize: number, pollsBeforeArrival: number): { result: FileChunks; joined: boolean } {
  const tail = tailChunks(p, params, at, blockSize);
  let polls = 0;
  let joined = false;
  const joiner = new TailJoiner(at, () => (polls++ < pollsBeforeArrival ? undefined : tail));
  const counting: TailJoin = { at, join: (chunks) => (joined = joiner.join(chunks)) };
  const result = chunkFileSync(p, params, { blockSize }, undefined, 0, { role: 'head', join: () => counting });
  return { result, joined };
}

const blockSizes = fc.constantFrom(97, 4096, READ_BLOCK_SIZE);
const paramSets = fc.constantFrom(SMALL, MEDIUM);

describe('TailJoiner', () => {
  it('gives exactly one thread\'s chunks for any data, split point, read block size and arrival of the helper\'s chunks', () => {
    let runs = 0;
    fc.assert(
      fc.property(
        fc.array(piece, { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat({ max: 20 }),
        paramSets,
        blockSizes,
        (pieces, splitFraction, pollsBeforeArrival, params, blockSize) => {
          const data = Buffer.concat(pieces);
          const p = writeFile(`prop-${runs++}.bin`, data);
          const alone = chunkFileSync(p, params);
          const { result } = chunkSplit(p, params, Math.floor(data.length * splitFraction), blockSize, pollsBeforeArrival);
          fs.rmSync(p);
          expect(result.chunks).toEqual(alone.chunks);
          expect(result.size).toBe(alone.size);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('joins the helper\'s chunks, and still gives one thread\'s, on random data with a long tail after the split', () => {
    // Random bytes cut every few KiB, so the two threads fall into step within a few chunks
    // of the split: far fewer than the 512 KiB left after it. Every run must join, which is
    // what makes the property above exercise the join and not only the worker alone.
    let runs = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 600_000, max: 1_200_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat({ max: 20 }),
        paramSets,
        blockSizes,
        (size, splitFraction, pollsBeforeArrival, params, blockSize) => {
          const p = writeFile(`join-${runs}.bin`, seededBytes(`join-${runs++}`, size));
          const at = Math.floor((size - 512 * 1024) * splitFraction);
          const alone = chunkFileSync(p, params);
          const { result, joined } = chunkSplit(p, params, at, blockSize, pollsBeforeArrival);
          fs.rmSync(p);
          expect(joined).toBe(true);
          expect(result.chunks).toEqual(alone.chunks);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('leaves the worker to chunk alone when the helper could not chunk the file', () => {
    const p = writeFile('no-tail.bin', seededBytes('no-tail', 200_000));
    const alone = chunkFileSync(p, MEDIUM);
    const split = chunkFileSync(p, MEDIUM, undefined, undefined, 0, { role: 'head', join: () => new TailJoiner(100_000, () => null) });
    expect(split.chunks).toEqual(alone.chunks);
  });
});

describe('the helper\'s half', () => {
  it('refuses a file that is no longer the one the worker saw, before or while reading it', () => {
    const p = writeFile('changed.bin', seededBytes('changed', 300_000));
    const st = fs.statSync(p);
    const code = (fn: () => unknown): string => {
      try {
        fn();
        return 'none';
      } catch (err) {
        return isCanopyError(err) ? err.code : 'not-canopy';
      }
    };
    expect(code(() => chunkFileSync(p, MEDIUM, undefined, undefined, 0, { role: 'tail', from: 1000, expect: { ...pick(st), size: st.size + 1 } }))).toBe('UNSTABLE_FILE');
    expect(code(() => chunkFileSync(p, MEDIUM, undefined, undefined, 0, { role: 'tail', from: 1000, expect: { ...pick(st), mtimeMs: st.mtimeMs - 1000 } }))).toBe('UNSTABLE_FILE');
    const rewrite = { afterBlock: () => fs.utimesSync(p, new Date(), new Date(Date.now() + 5000)) };
    expect(code(() => chunkFileSync(p, MEDIUM, { blockSize: 4096, ...rewrite }, undefined, 0, { role: 'tail', from: 1000, expect: pick(st) }))).toBe('UNSTABLE_FILE');
  });

  it('starts at `from` and runs to the end of the file', () => {
    const data = seededBytes('from', 500_000);
    const p = writeFile('from.bin', data);
    const tail = tailChunks(p, MEDIUM, 123_456);
    expect(tail[0]?.offset).toBe(123_456);
    const last = tail.at(-1) as FileChunk;
    expect(last.offset + last.size).toBe(data.length);
  });
});

describe('TailHelper (a real helper thread)', () => {
  const helper = new TailHelper(4 * MiB);
  let big: string;
  let alone: FileChunks;
  beforeAll(() => {
    big = writeFile('big.bin', seededBytes('big', 48 * MiB));
    alone = chunkFileSync(big, MEDIUM);
  });

  /** Chunks `p` as a hash worker does, giving the helper time past the middle; returns the chunks and how far the worker read. */
  function chunkWithHelper(p: string, params: ChunkingParams): { chunks: FileChunk[]; readUpTo: number; at: number | undefined } {
    let at: number | undefined;
    let readUpTo = 0;
    const hooks = {
      afterBlock: (bytesRead: number) => {
        readUpTo = bytesRead;
        // A worker past the middle is about as far as the helper; here the helper boots under
        // tsx, so it gets time: up to 200 ms a block, 4.8 s over the second half of the big
        // file, which a loaded CI machine needed (20 ms a block once left a new helper unused).
        if (at !== undefined && bytesRead >= at) pause(200);
      },
    };
    const join = (file: FileIdentity): TailJoin | undefined => {
      const j = helper.split(p, params, file);
      at = j?.at;
      return j;
    };
    const r = chunkFileSync(p, params, hooks, undefined, 0, { role: 'head', join });
    return { chunks: r.chunks, readUpTo, at };
  }

  it('has the helper chunk the second half: the worker stops reading soon after the middle, with the chunks one thread cuts', () => {
    const { chunks, readUpTo, at } = chunkWithHelper(big, MEDIUM);
    expect(at).toBe(24 * MiB);
    expect(chunks).toEqual(alone.chunks);
    // Random data falls into step within a chunk or two (16 KiB at most each here); a few read blocks allowed for the helper's start.
    expect(readUpTo).toBeLessThan(24 * MiB + 40 * READ_BLOCK_SIZE);
  });

  it('does not split a file below its threshold', () => {
    const p = writeFile('small.bin', seededBytes('small', 3 * MiB));
    const { chunks, at } = chunkWithHelper(p, MEDIUM);
    expect(at).toBeUndefined();
    expect(chunks).toEqual(chunkFileSync(p, MEDIUM).chunks);
  });

  it('chunks on alone to the end, with the same chunks, when the halves never fall into step', () => {
    // A random prefix, then one repeated byte: cut only at maxSize (12,000 here), so the
    // helper's cuts, from a 1 MiB boundary, stay out of phase with the worker's to the end.
    const params: ChunkingParams = { minSize: 1000, avgSize: 4000, maxSize: 12_000 };
    const data = Buffer.concat([seededBytes('prefix', 777), Buffer.alloc(10 * MiB, 7)]);
    const p = writeFile('never.bin', data);
    const one = chunkFileSync(p, params).chunks;
    const at = 5 * MiB;
    const tailStarts = new Set(tailChunks(p, params, at).map((c) => c.offset));
    expect(one.some((c) => c.offset >= at && tailStarts.has(c.offset))).toBe(false); // the premise
    const { chunks, readUpTo, at: splitAt } = chunkWithHelper(p, params);
    expect(splitAt).toBe(at);
    expect(chunks).toEqual(one);
    expect(readUpTo).toBe(data.length);
  });

  it('goes on alone when its helper thread dies, and starts a new helper for the next file', async () => {
    const reach = helper as unknown as { worker: Worker | undefined };
    const first = reach.worker;
    expect(first).toBeDefined();
    // Killed while the worker chunks: it never answers.
    let killed: Promise<number> | undefined;
    let readUpToAlone = 0;
    const join = (file: FileIdentity): TailJoin | undefined => {
      const j = helper.split(big, MEDIUM, file);
      killed = first?.terminate();
      return j;
    };
    const hooks = { afterBlock: (n: number) => void (readUpToAlone = n) };
    const r = chunkFileSync(big, MEDIUM, hooks, undefined, 0, { role: 'head', join });
    expect(r.chunks).toEqual(alone.chunks);
    expect(readUpToAlone).toBe(48 * MiB);
    await killed;
    await new Promise((resolve) => setImmediate(resolve));
    const { chunks, readUpTo } = chunkWithHelper(big, MEDIUM);
    expect(reach.worker).toBeDefined();
    expect(reach.worker).not.toBe(first);
    expect(chunks).toEqual(alone.chunks);
    expect(readUpTo).toBeLessThan(48 * MiB);
  });
});
