/**
 * Tests of the FastCDC chunker: the cut rule's invariants, streaming == one-shot, boundary
 * stability under edits, and golden values that freeze the chunking format.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { isCanopyError } from '../errors/index.js';
import { Chunker, DEFAULT_CHUNKING, chunkLengths, gearTable, validateChunkingParams } from './fastcdc.js';
import type { ChunkingParams } from './fastcdc.js';
import { blake3Hex } from './hash.js';

const SMALL: ChunkingParams = { minSize: 64, avgSize: 256, maxSize: 1024 };
const MEDIUM: ChunkingParams = { minSize: 1024, avgSize: 4096, maxSize: 16384 };
const MiB = 1024 * 1024;

/** Seeded pseudo-random bytes (xorshift32, little-endian), so failures reproduce on any machine. */
function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length + 3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
    out[i + 1] = (x >>> 8) & 255;
    out[i + 2] = (x >>> 16) & 255;
    out[i + 3] = x >>> 24;
  }
  return out.subarray(0, length);
}

function streamLengths(data: Uint8Array, cuts: number[], params: ChunkingParams): number[] {
  const chunker = new Chunker(params);
  const out: number[] = [];
  let prev = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    out.push(...chunker.push(data.subarray(prev, cut)));
    prev = cut;
  }
  out.push(...chunker.push(data.subarray(prev)));
  out.push(...chunker.finish());
  return out;
}

function chunkHashes(data: Uint8Array, params: ChunkingParams): string[] {
  const hashes: string[] = [];
  let offset = 0;
  for (const len of chunkLengths(data, params)) {
    hashes.push(blake3Hex(data.subarray(offset, offset + len)));
    offset += len;
  }
  return hashes;
}

function expectSizesValid(lengths: number[], total: number, params: ChunkingParams): void {
  expect(lengths.reduce((a, b) => a + b, 0)).toBe(total);
  lengths.forEach((len, i) => {
    expect(len).toBeGreaterThan(0);
    expect(len).toBeLessThanOrEqual(params.maxSize);
    if (i < lengths.length - 1) expect(len).toBeGreaterThanOrEqual(params.minSize);
  });
}

function badArgument(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(isCanopyError(thrown, 'BAD_ARGUMENT')).toBe(true);
}

describe('chunking params', () => {
  it('accepts the defaults and sane custom params', () => {
    expect(DEFAULT_CHUNKING).toEqual({ minSize: 256 * 1024, avgSize: MiB, maxSize: 4 * MiB });
    validateChunkingParams(DEFAULT_CHUNKING);
    validateChunkingParams(SMALL);
    validateChunkingParams({ minSize: 1000, avgSize: 3000, maxSize: 10000 });
  });

  it('rejects impossible params with BAD_ARGUMENT', () => {
    badArgument(() => new Chunker({ minSize: 4096, avgSize: 4096, maxSize: 16384 }));
    badArgument(() => new Chunker({ minSize: 1024, avgSize: 16384, maxSize: 16384 }));
    badArgument(() => new Chunker({ minSize: 8192, avgSize: 4096, maxSize: 16384 }));
    badArgument(() => new Chunker({ minSize: 16, avgSize: 256, maxSize: 1024 }));
    badArgument(() => new Chunker({ minSize: 1024.5, avgSize: 4096, maxSize: 16384 }));
    badArgument(() => new Chunker({ minSize: 1024, avgSize: Number.NaN, maxSize: 16384 }));
    badArgument(() => new Chunker({ minSize: 1024, avgSize: 4096, maxSize: 2 * 1024 * MiB }));
    badArgument(() => chunkLengths(new Uint8Array(10), { minSize: -1, avgSize: 4096, maxSize: 16384 }));
  });
});

describe('chunkLengths', () => {
  it('gives nothing for an empty stream and one chunk for a short one', () => {
    expect(chunkLengths(new Uint8Array(0))).toEqual([]);
    expect(chunkLengths(new Uint8Array(1))).toEqual([1]);
    expect(chunkLengths(seededBytes(100_000, 1))).toEqual([100_000]);
    const c = new Chunker(SMALL);
    expect(c.push(new Uint8Array(0))).toEqual([]);
    expect(c.finish()).toEqual([]);
  });

  it('keeps every chunk within [min, max] (last may be shorter) and covers all bytes, on any data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 20_000 }), fc.constantFrom(SMALL, MEDIUM), (data, params) => {
        expectSizesValid(chunkLengths(data, params), data.length, params);
      }),
      { numRuns: 200 },
    );
    // Low-entropy data: constant bytes never hit the mask, so every chunk is maxSize.
    const zeros = chunkLengths(new Uint8Array(10_000), SMALL);
    expectSizesValid(zeros, 10_000, SMALL);
  });

  it('respects the bounds at the default params on 32 MiB of random data', () => {
    const data = seededBytes(32 * MiB, 7);
    expectSizesValid(chunkLengths(data), data.length, DEFAULT_CHUNKING);
  });

  it('is deterministic', () => {
    const data = seededBytes(2 * MiB, 3);
    expect(chunkLengths(data, MEDIUM)).toEqual(chunkLengths(data.slice(), MEDIUM));
  });

  it('averages near avgSize on random data', () => {
    const small = chunkLengths(seededBytes(16 * MiB, 11), MEDIUM);
    const smallAvg = (16 * MiB) / small.length;
    expect(smallAvg).toBeGreaterThan(0.9 * MEDIUM.avgSize);
    expect(smallAvg).toBeLessThan(1.4 * MEDIUM.avgSize);

    // Only ~50 chunks at the defaults, so a looser band.
    const big = chunkLengths(seededBytes(64 * MiB, 12));
    const bigAvg = (64 * MiB) / big.length;
    expect(bigAvg).toBeGreaterThan(0.75 * DEFAULT_CHUNKING.avgSize);
    expect(bigAvg).toBeLessThan(1.6 * DEFAULT_CHUNKING.avgSize);
  });

  it('works with an avgSize that is not a power of two', () => {
    const params = { minSize: 1000, avgSize: 3000, maxSize: 10000 };
    const lengths = chunkLengths(seededBytes(4 * MiB, 5), params);
    expectSizesValid(lengths, 4 * MiB, params);
    const avg = (4 * MiB) / lengths.length;
    expect(avg).toBeGreaterThan(0.7 * 3000);
    expect(avg).toBeLessThan(1.6 * 3000);
  });

  it('cuts the same wherever the data sits in memory (aligned or not)', () => {
    const data = seededBytes(300_000, 9);
    const expected = chunkLengths(data, MEDIUM);
    for (let shift = 1; shift < 8; shift++) {
      const host = new Uint8Array(data.length + shift);
      host.set(data, shift);
      expect(chunkLengths(host.subarray(shift), MEDIUM)).toEqual(expected);
    }
  });
});

describe('Chunker streaming', () => {
  it('cuts exactly like chunkLengths however the stream is split', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 30_000 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.constantFrom(SMALL, MEDIUM),
        (data, rawCuts, params) => {
          const cuts = rawCuts.map((c) => (data.length === 0 ? 0 : c % (data.length + 1)));
          expect(streamLengths(data, cuts, params)).toEqual(chunkLengths(data, params));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('cuts exactly like chunkLengths on large random data split at random places', () => {
    const data = seededBytes(24 * MiB, 21);
    const expected = chunkLengths(data);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: data.length }), { maxLength: 60 }), (cuts) => {
        expect(streamLengths(data, cuts, DEFAULT_CHUNKING)).toEqual(expected);
      }),
      { numRuns: 10 },
    );
  });

  it('handles byte-at-a-time pushes and is reusable after finish()', () => {
    const data = seededBytes(5000, 4);
    const chunker = new Chunker(SMALL);
    const out: number[] = [];
    for (let i = 0; i < data.length; i++) out.push(...chunker.push(data.subarray(i, i + 1)));
    out.push(...chunker.finish());
    expect(out).toEqual(chunkLengths(data, SMALL));
    const again = [...chunker.push(data), ...chunker.finish()];
    expect(again).toEqual(out);
  });
});

describe('boundary stability', () => {
  const base = seededBytes(32 * MiB, 42);
  const middle = 16 * MiB + 12345;

  function changedChunks(before: Uint8Array, after: Uint8Array, params: ChunkingParams): { lost: number; total: number } {
    const a = chunkHashes(before, params);
    const b = new Set(chunkHashes(after, params));
    return { lost: a.filter((h) => !b.has(h)).length, total: a.length };
  }

  it('an insertion in the middle changes only the chunks around it', () => {
    const extra = seededBytes(7, 99);
    const edited = new Uint8Array(base.length + extra.length);
    edited.set(base.subarray(0, middle), 0);
    edited.set(extra, middle);
    edited.set(base.subarray(middle), middle + extra.length);
    const { lost, total } = changedChunks(base, edited, DEFAULT_CHUNKING);
    expect(total).toBeGreaterThan(20);
    expect(lost).toBeLessThanOrEqual(2);
    expect(lost).toBeGreaterThanOrEqual(1);
  });

  it('a deletion in the middle changes only the chunks around it', () => {
    const edited = new Uint8Array(base.length - 5);
    edited.set(base.subarray(0, middle), 0);
    edited.set(base.subarray(middle + 5), middle);
    const { lost } = changedChunks(base, edited, DEFAULT_CHUNKING);
    expect(lost).toBeLessThanOrEqual(2);
    expect(lost).toBeGreaterThanOrEqual(1);
  });

  it('many scattered edits each cost only a couple of chunks (small params)', () => {
    const data = seededBytes(4 * MiB, 77);
    let edited = data;
    const edits = 20;
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(((e + 0.5) / edits) * edited.length);
      const next = new Uint8Array(edited.length + 3);
      next.set(edited.subarray(0, at), 0);
      next.set([1, 2, 3], at);
      next.set(edited.subarray(at), at + 3);
      edited = next;
    }
    const { lost, total } = changedChunks(data, edited, MEDIUM);
    expect(total).toBeGreaterThan(500);
    expect(lost).toBeLessThanOrEqual(edits * 3);
  });
});

describe('chunking format (golden values: a change here breaks dedup across devices)', () => {
  it('gear table is the frozen one', () => {
    const table = gearTable();
    expect(table.length).toBe(256);
    expect(Array.from(table.subarray(0, 4), (v) => v >>> 0)).toEqual(GOLDEN_GEAR_HEAD);
    const le = new Uint8Array(1024);
    const view = new DataView(le.buffer);
    table.forEach((v, i) => view.setInt32(i * 4, v, true));
    expect(blake3Hex(le)).toBe(GOLDEN_GEAR_HASH);
    table[0] = 0; // a copy: the real table is untouchable
    expect(gearTable()[0]! >>> 0).toBe(GOLDEN_GEAR_HEAD[0]);
  });

  it('cut points of seeded data are the frozen ones', () => {
    expect(chunkLengths(seededBytes(8 * MiB, 2024))).toEqual(GOLDEN_DEFAULT_LENGTHS);
    expect(chunkLengths(seededBytes(64 * 1024, 2025), MEDIUM)).toEqual(GOLDEN_MEDIUM_LENGTHS);
  });
});

const GOLDEN_GEAR_HEAD = [389510260, 2358876388, 2475503521, 934815306];
/** BLAKE3 of the whole table as 256 little-endian 32-bit words. */
const GOLDEN_GEAR_HASH = '70ded7b4a5d466cb3323840050c48c9fac9cafa0be6091c7280cce39321ab1c5';
const GOLDEN_DEFAULT_LENGTHS = [1461323, 1474288, 1387483, 1432496, 1071305, 1426006, 135707];
const GOLDEN_MEDIUM_LENGTHS = [4502, 4538, 4929, 7122, 4273, 2805, 1218, 4893, 4191, 4167, 6245, 5569, 4797, 4501, 1786];
