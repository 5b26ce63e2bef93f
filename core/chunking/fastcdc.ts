/**
 * FastCDC content-defined chunking: where a byte stream is cut into chunks.
 *
 * Owns the cut-point rule and nothing else (no hashing, no I/O). The rule is part of the
 * on-disk/on-wire format: two devices that chunk the same bytes must cut them at the same
 * places forever, or deduplication across devices silently stops working. So the gear
 * table, the mask rule and the cut rule below are frozen; `fastcdc.test.ts` pins them with
 * golden values. Changing any of them is a format change, not a refactor.
 *
 * The algorithm is FastCDC with normalized chunking (Xia et al., USENIX ATC 2016; extended
 * in IEEE TPDS 2020):
 *  - a gear rolling hash `h = (h << 1) + GEAR[byte]` in wrapping 32-bit arithmetic;
 *  - the first `minSize` bytes of every chunk are skipped without hashing (cut-point
 *    skipping): a chunk can never end there, so hashing them would be wasted work;
 *  - from `minSize` up to `avgSize` a harder mask (MaskS, avg bits + 2) is tested, after
 *    `avgSize` an easier one (MaskL, avg bits - 2) — "normalization level 2" from the
 *    paper — which pulls chunk sizes towards `avgSize` and narrows their spread;
 *  - a chunk is cut after the byte at which `(h & mask) === 0`, or at `maxSize`.
 * The hash restarts from 0 at `minSize` in every chunk, so a cut point depends only on the
 * bytes since the previous cut point: that is what keeps boundaries stable after an edit.
 */

import { CanopyError } from '../errors/index.js';

export interface ChunkingParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

export const DEFAULT_CHUNKING: Readonly<ChunkingParams> = Object.freeze({
  minSize: 256 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 4 * 1024 * 1024,
});

/**
 * Seed of the gear table. The table is derived from it, not pasted in as 256 literals, so
 * it can be reviewed in one line; the generator is frozen together with the seed.
 */
const GEAR_SEED = 0x43616e6f; // "Cano"

/**
 * The gear table: 256 pseudo-random 32-bit words, stored as int32 so the hot loop stays in
 * V8's small-integer/int32 fast paths. Generator: a Weyl sequence (step 0x9E3779B9, the
 * golden ratio) from GEAR_SEED, each step passed through MurmurHash3's 32-bit finalizer
 * (fmix32). Both are fixed, portable integer arithmetic, so every platform gets the same
 * table.
 *
 * Deliberately a private module-level const used directly in `scan`: V8 then treats it as a
 * constant (known length 256, so `GEAR[x & 255]` needs no bounds check), which measured
 * ~20% faster than reading it through an exported binding or a local alias. It is also
 * never handed out, so nothing can mutate it; `gearTable()` returns a copy.
 */
const GEAR = (() => {
  const table = new Int32Array(256);
  let state = GEAR_SEED | 0;
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    table[i] = z;
  }
  return table;
})();

/** A copy of the gear table, for tests that pin the chunking format. */
export function gearTable(): Int32Array {
  return GEAR.slice();
}

/** Chunk lengths are plain numbers; this keeps one chunk well inside what a Buffer can hold. */
const MAX_MAX_SIZE = 1024 * 1024 * 1024;
/** Below this the 32-byte gear window is wider than the region being searched. */
const MIN_MIN_SIZE = 64;

/**
 * A mask of the `bits` highest bits of the 32-bit hash. The high bits are used because in a
 * gear hash bit k depends only on the last k+1 bytes: the top bits see the widest window.
 */
function topBitsMask(bits: number): number {
  return bits >= 32 ? -1 : ~((1 << (32 - bits)) - 1) | 0;
}

/** Throws BAD_ARGUMENT unless the params describe a chunker that can actually run. */
export function validateChunkingParams(params: ChunkingParams): void {
  const { minSize, avgSize, maxSize } = params;
  for (const [name, v] of [['minSize', minSize], ['avgSize', avgSize], ['maxSize', maxSize]] as const) {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new CanopyError('BAD_ARGUMENT', `chunking ${name} must be a positive integer, got ${String(v)}`, { [name]: v });
    }
  }
  if (minSize < MIN_MIN_SIZE) {
    throw new CanopyError('BAD_ARGUMENT', `chunking minSize must be at least ${MIN_MIN_SIZE} bytes, got ${minSize}`, { minSize });
  }
  if (!(minSize < avgSize && avgSize < maxSize)) {
    throw new CanopyError('BAD_ARGUMENT', `chunking sizes must satisfy minSize < avgSize < maxSize, got ${minSize} / ${avgSize} / ${maxSize}`, {
      minSize,
      avgSize,
      maxSize,
    });
  }
  if (maxSize > MAX_MAX_SIZE) {
    throw new CanopyError('BAD_ARGUMENT', `chunking maxSize must be at most ${MAX_MAX_SIZE} bytes, got ${maxSize}`, { maxSize });
  }
}

/** True where a Uint32Array reads bytes little-endian, which the word-at-a-time scan assumes. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Below this many bytes, setting up a word view costs more than it saves. */
const WORD_SCAN_MIN = 64;

/** The hash after the last `scan` call; a module slot instead of a returned object, to allocate nothing. */
let scanHash = 0;

/**
 * Rolls the gear hash over `data[start..end)` starting from hash `h`; returns the index of
 * the first byte after which `(h & mask) === 0`, or -1. Leaves the hash in `scanHash`.
 *
 * This is the hot loop of the whole sync engine. On little-endian machines it reads four
 * bytes per Uint32Array load, which measured roughly twice as fast in V8 as byte loads
 * (and faster than the paper's two-bytes-per-step trick, which only saves loop overhead).
 */
function scan(data: Uint8Array, start: number, end: number, h: number, mask: number): number {
  let i = start;
  if (LITTLE_ENDIAN && end - start >= WORD_SCAN_MIN) {
    while (((data.byteOffset + i) & 3) !== 0) {
      h = ((h << 1) + (GEAR[data[i]!] as number)) | 0;
      if ((h & mask) === 0) {
        scanHash = h;
        return i;
      }
      i++;
    }
    const words = (end - i) >>> 2;
    const w = new Uint32Array(data.buffer, data.byteOffset + i, words);
    for (let k = 0; k < words; k++) {
      const x = w[k]!;
      h = ((h << 1) + (GEAR[x & 255] as number)) | 0;
      if ((h & mask) === 0) {
        scanHash = h;
        return i + 4 * k;
      }
      h = ((h << 1) + (GEAR[(x >>> 8) & 255] as number)) | 0;
      if ((h & mask) === 0) {
        scanHash = h;
        return i + 4 * k + 1;
      }
      h = ((h << 1) + (GEAR[(x >>> 16) & 255] as number)) | 0;
      if ((h & mask) === 0) {
        scanHash = h;
        return i + 4 * k + 2;
      }
      h = ((h << 1) + (GEAR[x >>> 24] as number)) | 0;
      if ((h & mask) === 0) {
        scanHash = h;
        return i + 4 * k + 3;
      }
    }
    i += words * 4;
  }
  for (; i < end; i++) {
    h = ((h << 1) + (GEAR[data[i]!] as number)) | 0;
    if ((h & mask) === 0) {
      scanHash = h;
      return i;
    }
  }
  scanHash = h;
  return -1;
}

/**
 * Streaming chunker. Cut points are a pure function of the byte stream: the same bytes
 * give the same chunk lengths however they are split across `push` calls, because all
 * state that matters (bytes into the current chunk, rolling hash) carries over between
 * calls.
 */
export class Chunker {
  readonly #minSize: number;
  readonly #avgSize: number;
  readonly #maxSize: number;
  readonly #maskS: number;
  readonly #maskL: number;
  /** Bytes of the current, not yet cut chunk seen so far. */
  #pos = 0;
  /** Gear hash of the current chunk; only meaningful once #pos >= minSize. */
  #hash = 0;

  constructor(params: ChunkingParams = DEFAULT_CHUNKING) {
    validateChunkingParams(params);
    this.#minSize = params.minSize;
    this.#avgSize = params.avgSize;
    this.#maxSize = params.maxSize;
    // Rounded so avg sizes that are not powers of two still get the nearest mask.
    const bits = Math.round(Math.log2(params.avgSize));
    this.#maskS = topBitsMask(Math.min(bits + 2, 32));
    this.#maskL = topBitsMask(Math.max(bits - 2, 1));
  }

  /** Feeds the next bytes of the stream; returns the lengths of the chunks completed by them, in order. */
  push(data: Uint8Array): number[] {
    const out: number[] = [];
    const n = data.length;
    const minSize = this.#minSize;
    const avgSize = this.#avgSize;
    const maxSize = this.#maxSize;
    let pos = this.#pos;
    let h = this.#hash;
    let i = 0;
    while (i < n) {
      if (pos < minSize) {
        const skip = Math.min(minSize - pos, n - i);
        i += skip;
        pos += skip;
        if (pos < minSize) break;
      }
      const inNormal = pos < avgSize;
      const mask = inNormal ? this.#maskS : this.#maskL;
      const limit = inNormal ? avgSize : maxSize;
      const end = i + Math.min(limit - pos, n - i);
      const hit = scan(data, i, end, h, mask);
      if (hit >= 0) {
        out.push(pos + (hit - i) + 1);
        i = hit + 1;
        pos = 0;
        h = 0;
      } else {
        pos += end - i;
        i = end;
        h = scanHash;
        if (pos === maxSize) {
          out.push(maxSize);
          pos = 0;
          h = 0;
        }
      }
    }
    this.#pos = pos;
    this.#hash = h;
    return out;
  }

  /** Ends the stream: returns the length of the last chunk (none for an empty stream) and resets for a new stream. */
  finish(): number[] {
    const last = this.#pos;
    this.#pos = 0;
    this.#hash = 0;
    return last > 0 ? [last] : [];
  }
}

/** One-shot chunking of a whole buffer; identical to streaming the same bytes through a Chunker. */
export function chunkLengths(data: Uint8Array, params: ChunkingParams = DEFAULT_CHUNKING): number[] {
  const chunker = new Chunker(params);
  const lengths = chunker.push(data);
  for (const len of chunker.finish()) lengths.push(len);
  return lengths;
}
