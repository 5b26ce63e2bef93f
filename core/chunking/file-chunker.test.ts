/**
 * Tests of chunkFileSync: same chunks and hashes as chunking the bytes in memory, chunks
 * straddling read blocks, edge sizes, typed errors, and files that change while read.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isCanopyError } from '../errors/index.js';
import type { ErrorCode } from '../errors/index.js';
import { DEFAULT_CHUNKING, chunkLengths } from './fastcdc.js';
import type { ChunkingParams } from './fastcdc.js';
import { READ_BLOCK_SIZE, chunkFileSync } from './file-chunker.js';
import type { FileChunk } from './file-chunker.js';
import { blake3Hex } from './hash.js';

const MEDIUM: ChunkingParams = { minSize: 1024, avgSize: 4096, maxSize: 16384 };
const MiB = 1024 * 1024;

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

/** What chunkFileSync must return for these bytes: one-shot chunking + hashing in memory. */
function expectedChunks(data: Uint8Array, params: ChunkingParams): FileChunk[] {
  const chunks: FileChunk[] = [];
  let offset = 0;
  for (const size of chunkLengths(data, params)) {
    chunks.push({ hash: blake3Hex(data.subarray(offset, offset + size)), offset, size });
    offset += size;
  }
  return chunks;
}

function errorCode(fn: () => unknown): ErrorCode | 'none' | 'not-canopy' {
  try {
    fn();
    return 'none';
  } catch (err) {
    return isCanopyError(err) ? err.code : 'not-canopy';
  }
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'canopy-chunker-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function writeFile(name: string, data: Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

describe('chunkFileSync', () => {
  it('matches in-memory chunking for a file bigger than the read block (default params)', () => {
    const data = seededBytes(24 * MiB + 17, 1);
    expect(data.length).toBeGreaterThan(2 * READ_BLOCK_SIZE);
    const p = writeFile('big.bin', data);
    const r = chunkFileSync(p);
    expect(r.chunks).toEqual(expectedChunks(data, DEFAULT_CHUNKING));
    expect(r.chunks.length).toBeGreaterThan(10);
    const st = fs.statSync(p);
    expect(r).toMatchObject({ size: data.length, mtimeMs: st.mtimeMs, ino: st.ino, mode: st.mode });
  });

  it('matches in-memory chunking when chunks straddle many tiny read blocks', () => {
    const data = seededBytes(300_000, 2);
    const p = writeFile('straddle.bin', data);
    const expected = expectedChunks(data, MEDIUM);
    for (const blockSize of [1, 7, 777, 4096, 65536]) {
      expect(chunkFileSync(p, MEDIUM, { blockSize }).chunks).toEqual(expected);
    }
  });

  it('gives no chunks for an empty file and one for a 1-byte file', () => {
    const empty = chunkFileSync(writeFile('empty.bin', new Uint8Array(0)));
    expect(empty.size).toBe(0);
    expect(empty.chunks).toEqual([]);

    const one = chunkFileSync(writeFile('one.bin', new Uint8Array([0x5a])));
    expect(one.size).toBe(1);
    expect(one.chunks).toEqual([{ hash: blake3Hex(new Uint8Array([0x5a])), offset: 0, size: 1 }]);
  });

  it('hands back the bytes of a one-chunk file within keepUpTo, exactly the bytes that hashed to the chunk, and no others', () => {
    // One chunk, read in one block: the bytes come back, and hash to the one chunk.
    const small = seededBytes(4096, 11);
    const kept = chunkFileSync(writeFile('small.bin', small), MEDIUM, undefined, undefined, 64 * 1024);
    expect(kept.chunks).toHaveLength(1);
    expect(Buffer.compare(kept.bytes as Buffer, Buffer.from(small))).toBe(0);
    expect(blake3Hex(kept.bytes as Buffer)).toBe(kept.chunks[0]?.hash);
    // Not asked for, over the limit, several chunks, or read in several blocks: none.
    expect(chunkFileSync(writeFile('small2.bin', small), MEDIUM).bytes).toBeUndefined();
    expect(chunkFileSync(writeFile('small3.bin', small), MEDIUM, undefined, undefined, 4095).bytes).toBeUndefined();
    const several = chunkFileSync(writeFile('several.bin', seededBytes(60 * 1024, 12)), MEDIUM, undefined, undefined, 64 * 1024);
    expect(several.chunks.length).toBeGreaterThan(1);
    expect(several.bytes).toBeUndefined();
    expect(chunkFileSync(writeFile('blocks.bin', small), MEDIUM, { blockSize: 1000 }, undefined, 64 * 1024).bytes).toBeUndefined();
    expect(chunkFileSync(writeFile('empty2.bin', new Uint8Array(0)), MEDIUM, undefined, undefined, 64 * 1024).bytes).toBeUndefined();
  });

  it('reports typed errors: NOT_FOUND, IO_ERROR for non-files, BAD_ARGUMENT for bad params', () => {
    expect(errorCode(() => chunkFileSync(path.join(dir, 'missing.bin')))).toBe('NOT_FOUND');
    expect(errorCode(() => chunkFileSync(path.join(dir, 'no-such-dir', 'x')))).toBe('NOT_FOUND');
    expect(errorCode(() => chunkFileSync(dir))).toBe('IO_ERROR');
    const target = writeFile('target.bin', new Uint8Array(10));
    const link = path.join(dir, 'link.bin');
    fs.symlinkSync(target, link);
    expect(errorCode(() => chunkFileSync(link))).toBe('IO_ERROR');
    expect(errorCode(() => chunkFileSync(target, { minSize: 10, avgSize: 5, maxSize: 1 }))).toBe('BAD_ARGUMENT');
  });

  it('throws UNSTABLE_FILE when the file grows while being read', () => {
    const p = writeFile('grows.bin', seededBytes(100_000, 3));
    let appended = false;
    const code = errorCode(() =>
      chunkFileSync(p, MEDIUM, {
        blockSize: 10_000,
        afterBlock: () => {
          if (!appended) fs.appendFileSync(p, 'more');
          appended = true;
        },
      }),
    );
    expect(code).toBe('UNSTABLE_FILE');
  });

  it('throws UNSTABLE_FILE when the file shrinks while being read', () => {
    const p = writeFile('shrinks.bin', seededBytes(100_000, 4));
    const code = errorCode(() => chunkFileSync(p, MEDIUM, { blockSize: 10_000, afterBlock: () => fs.truncateSync(p, 20_000) }));
    expect(code).toBe('UNSTABLE_FILE');
  });

  it('throws UNSTABLE_FILE when the file is rewritten in place (same size, new mtime)', () => {
    const p = writeFile('rewritten.bin', seededBytes(100_000, 5));
    const old = fs.statSync(p);
    let done = false;
    const code = errorCode(() =>
      chunkFileSync(p, MEDIUM, {
        blockSize: 10_000,
        afterBlock: () => {
          if (done) return;
          done = true;
          const fd = fs.openSync(p, 'r+');
          fs.writeSync(fd, new Uint8Array([1, 2, 3]), 0, 3, 50_000);
          fs.closeSync(fd);
          // Make sure the mtime moves even on a coarse-clock filesystem.
          fs.utimesSync(p, old.atime, new Date(old.mtimeMs + 5000));
        },
      }),
    );
    expect(code).toBe('UNSTABLE_FILE');
    // Once it is left alone it chunks fine again.
    expect(chunkFileSync(p, MEDIUM).size).toBe(100_000);
  });

  // ~20 s, nearly all of it the kernel zero-filling 4 GiB of page cache for the hole, so
  // opt-in: CANOPY_SLOW_TESTS=1. Guards against offsets ever being squeezed into 32 bits.
  it.runIf(process.env.CANOPY_SLOW_TESTS === '1')('handles offsets beyond 4 GiB (sparse file)', { timeout: 120_000 }, () => {
    const p = path.join(dir, 'sparse.bin');
    const tail = seededBytes(3 * MiB, 6);
    const size = 4 * 1024 * MiB + 5 * MiB + 123;
    const fd = fs.openSync(p, 'w');
    try {
      fs.ftruncateSync(fd, size);
      fs.writeSync(fd, tail, 0, tail.length, size - tail.length);
    } finally {
      fs.closeSync(fd);
    }
    const r = chunkFileSync(p);
    expect(r.size).toBe(size);
    let offset = 0;
    for (const c of r.chunks) {
      expect(c.offset).toBe(offset);
      offset += c.size;
    }
    expect(offset).toBe(size);
    // The chunks that reach past 4 GiB: their hashes must be those of the bytes really there.
    const rfd = fs.openSync(p, 'r');
    try {
      const beyond = r.chunks.filter((c) => c.offset + c.size > 4 * 1024 * MiB);
      expect(beyond.filter((c) => c.offset > 4 * 1024 * MiB).length).toBeGreaterThan(0);
      for (const c of beyond) {
        const buf = Buffer.alloc(c.size);
        expect(fs.readSync(rfd, buf, 0, c.size, c.offset)).toBe(c.size);
        expect(c.hash).toBe(blake3Hex(buf));
      }
    } finally {
      fs.closeSync(rfd);
      fs.rmSync(p);
    }
  });
});

describe('chunkFileSync with the previous content\'s chunks as a hint', () => {
  /** Random edits of `data`: inserts, deletes, overwrites, at the start, middle and end. */
  function edits(data: Uint8Array, seed: number): { name: string; bytes: Uint8Array }[] {
    const cat = (...parts: Uint8Array[]) => Buffer.concat(parts);
    const at = (f: number) => Math.floor(data.length * f);
    const junk = (n: number, s: number) => seededBytes(n, seed * 31 + s);
    return [
      { name: 'unchanged', bytes: data },
      { name: 'one byte inserted in the middle', bytes: cat(data.subarray(0, at(0.5)), Uint8Array.of(42), data.subarray(at(0.5))) },
      { name: 'bytes deleted early', bytes: cat(data.subarray(0, at(0.1)), data.subarray(at(0.1) + 777)) },
      { name: 'bytes overwritten late', bytes: cat(data.subarray(0, at(0.8)), junk(5000, 1), data.subarray(at(0.8) + 5000)) },
      { name: 'prepended', bytes: cat(junk(3, 2), data) },
      { name: 'appended', bytes: cat(data, junk(20000, 3)) },
      { name: 'truncated', bytes: data.subarray(0, at(0.7)) },
      { name: 'several edits', bytes: cat(data.subarray(0, at(0.2)), junk(100, 4), data.subarray(at(0.3), at(0.6)), data.subarray(at(0.65))) },
      { name: 'all new', bytes: junk(data.length, 5) },
      { name: 'empty', bytes: new Uint8Array(0) },
    ];
  }

  for (const [label, params, size] of [['medium params', MEDIUM, 300_000], ['default params', DEFAULT_CHUNKING, 9 * MiB + 5]] as const) {
    it(`gives exactly the chunks of a full rechunk after any edit (${label})`, () => {
      const p = path.join(dir, `hinted-${label.replace(' ', '-')}.bin`);
      for (const seed of [1, 2]) {
        const data = seededBytes(size, seed);
        fs.writeFileSync(p, data);
        const previous = chunkFileSync(p, params).chunks;
        for (const e of edits(data, seed)) {
          fs.writeFileSync(p, e.bytes);
          const full = chunkFileSync(p, params).chunks;
          expect(full).toEqual(expectedChunks(e.bytes, params));
          expect(chunkFileSync(p, params, undefined, previous).chunks, e.name).toEqual(full);
          // Tiny read blocks: hinted chunks straddle many reads too.
          expect(chunkFileSync(p, params, { blockSize: 4096 }, previous).chunks, `${e.name}, tiny blocks`).toEqual(full);
        }
      }
    });
  }

  it('is not misled by a hint that does not describe the file (wrong hashes, impossible sizes)', () => {
    const p = path.join(dir, 'bad-hint.bin');
    const data = seededBytes(200_000, 9);
    fs.writeFileSync(p, data);
    const full = chunkFileSync(p, MEDIUM).chunks;
    const hints = [
      full.map((c) => ({ ...c, hash: '0'.repeat(64) })),
      [{ hash: blake3Hex(data.subarray(0, 10)), size: 10 }, ...full],
      [{ hash: blake3Hex(data), size: data.length + 1 }],
      [{ hash: blake3Hex(data), size: data.length }], // right bytes as a last chunk, but a content cut comes earlier
      full.slice(0, -1).map((c, i) => (i === 3 ? { ...c, size: c.size + 1 } : c)),
    ];
    for (const h of hints) expect(chunkFileSync(p, MEDIUM, undefined, h).chunks).toEqual(full);
  });

  it('still throws UNSTABLE_FILE when the file changes while the hinted part is read', () => {
    const p = path.join(dir, 'hinted-unstable.bin');
    fs.writeFileSync(p, seededBytes(400_000, 3));
    const previous = chunkFileSync(p, MEDIUM).chunks;
    const code = errorCode(() => chunkFileSync(p, MEDIUM, { blockSize: 4096, afterBlock: (n) => n > 100_000 && n < 110_000 && fs.appendFileSync(p, 'more') }, previous));
    expect(code).toBe('UNSTABLE_FILE');
  });
});
