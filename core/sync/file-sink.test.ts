/**
 * FileSink on real files: what is written reads back byte for byte, through O_DIRECT or the
 * page cache; skipped zero ranges read as zeros (a hole where they cover whole blocks); and
 * a filesystem that refuses a direct write gets the file through the page cache instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seededBytes, tmpDir } from '../testing/index.js';
import { AlignedPool, DIRECT_MIN_BYTES, openFileSink } from './file-sink.js';

let dir: string;
beforeEach(() => {
  dir = tmpDir('canopy-sink-');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const hasDirect = process.platform === 'linux' && fs.constants.O_DIRECT !== undefined;

/** Writes `content` through a sink in pieces of `sizes` (cycled), skipping the pieces that are all zeros. */
async function writeThrough(file: string, content: Buffer, sizes: number[], opts: Parameters<typeof openFileSink>[2] = {}) {
  const sink = await openFileSink(file, content.byteLength, opts);
  let off = 0;
  for (let i = 0; off < content.byteLength; i++) {
    const n = Math.min(sizes[i % sizes.length] as number, content.byteLength - off);
    const piece = content.subarray(off, off + n);
    if (piece.some((b) => b !== 0)) await sink.write(piece, off);
    off += n;
  }
  await sink.end(content.byteLength);
  const direct = sink.direct;
  fs.fsyncSync(sink.fd);
  await sink.close();
  return { direct, stat: fs.statSync(file) };
}

describe('FileSink', () => {
  it.skipIf(!hasDirect)('writes a big file of an unaligned size past the page cache, byte for byte', async () => {
    const content = seededBytes('sink-big', DIRECT_MIN_BYTES + 12_345);
    const file = path.join(dir, 'big.tmp');
    const { direct, stat } = await writeThrough(file, content, [1_048_577, 65_536, 3_000_001]);
    expect(direct).toBe(true);
    expect(stat.size).toBe(content.byteLength);
    expect(fs.readFileSync(file).equals(content)).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
  });

  it('writes a small file through the page cache', async () => {
    const content = seededBytes('sink-small', 100_000);
    const file = path.join(dir, 'small.tmp');
    const { direct } = await writeThrough(file, content, [30_000]);
    expect(direct).toBe(false);
    expect(fs.readFileSync(file).equals(content)).toBe(true);
  });

  it('refuses to create over an existing file', async () => {
    const file = path.join(dir, 'taken');
    fs.writeFileSync(file, 'mine');
    await expect(openFileSink(file, DIRECT_MIN_BYTES)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(openFileSink(file, 10)).rejects.toMatchObject({ code: 'EEXIST' });
    expect(fs.readFileSync(file, 'utf8')).toBe('mine');
  });

  it.skipIf(!hasDirect)('leaves skipped zeros of whole blocks as a hole and writes shorter runs as zeros', async () => {
    const data = seededBytes('sink-holes', 12 * 1024 * 1024);
    // A 4 MiB run of zeros in the middle, 3,000 zero bytes near the start, and 1 MiB of zeros at the end.
    data.fill(0, 4 * 1024 * 1024, 8 * 1024 * 1024);
    data.fill(0, 10_000, 13_000);
    data.fill(0, 11 * 1024 * 1024);
    const file = path.join(dir, 'sparse.tmp');
    const { direct, stat } = await writeThrough(file, data, [1000, 9000, 3000, 1024 * 1024 - 13_000, 1024 * 1024]);
    expect(direct).toBe(true);
    expect(fs.readFileSync(file).equals(data)).toBe(true);
    expect(stat.size).toBe(data.byteLength);
    // The 4 MiB and trailing 1 MiB were never written: at least 5 MiB fewer blocks than the size.
    expect(stat.blocks * 512).toBeLessThanOrEqual(data.byteLength - 5 * 1024 * 1024);
  });

  it.skipIf(!hasDirect)('falls back to the page cache when the kernel refuses a direct write, and loses nothing', async () => {
    // Buffers one byte off a boundary: the kernel answers EINVAL to a direct write from them,
    // as it does on a filesystem without O_DIRECT.
    class Misaligned extends AlignedPool {
      override tryTake(): Buffer {
        return Buffer.alloc(16 * 1024 + 1).subarray(1);
      }
    }
    const content = seededBytes('sink-fallback', 3 * 1024 * 1024 + 77);
    // Many times over: a write refused after another write's fallback finished is a race.
    for (let i = 0; i < 40; i++) {
      const file = path.join(dir, `fallback-${i}.tmp`);
      const { direct, stat } = await writeThrough(file, content, [10_000, 25_000, 3_000], { pool: new Misaligned(), directMinBytes: 0 });
      expect(direct).toBe(false);
      expect(stat.size).toBe(content.byteLength);
      expect(fs.readFileSync(file).equals(content)).toBe(true);
      fs.rmSync(file);
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it.skipIf(!hasDirect)('rejects a write behind what was written', async () => {
    const sink = await openFileSink(path.join(dir, 'order.tmp'), 1 << 20, { directMinBytes: 0, pool: new AlignedPool(2, 64 * 1024) });
    await sink.write(Buffer.alloc(5000, 1), 0);
    await expect(sink.write(Buffer.alloc(10, 1), 100)).rejects.toThrow(/out-of-order/);
    await sink.close();
  });

  it.skipIf(!hasDirect)('property: any pieces, any zero runs skipped, through small buffers, read back the same', async () => {
    const pool = new AlignedPool(3, 64 * 1024);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 150_000 }), zero: fc.boolean() }), { minLength: 1, maxLength: 12 }),
        async (pieces) => {
          const content = Buffer.concat(pieces.map((p, i) => (p.zero ? Buffer.alloc(p.size) : seededBytes(`piece-${i}`, p.size))));
          const file = path.join(dir, `prop-${n++}.tmp`);
          const { direct } = await writeThrough(file, content, pieces.map((p) => p.size), { pool, directMinBytes: 0 });
          expect(direct).toBe(true);
          expect(fs.readFileSync(file).equals(content)).toBe(true);
          fs.rmSync(file);
        },
      ),
      { numRuns: 60 },
    );
  });
});
