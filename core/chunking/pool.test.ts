/**
 * Tests of the hash pool under vitest (so workers load worker.ts through tsx): ordering,
 * mixed failures, concurrency, spreading big files, crash recovery and shutdown.
 */

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isCanopyError } from '../errors/index.js';
import type { ChunkingParams } from './fastcdc.js';
import { chunkFileSync } from './file-chunker.js';
import { HashPool } from './pool.js';
import type { FileHashResult } from './pool.js';

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

/** The pool's live workers; private, reached into only to observe and kill them. */
function workersOf(pool: HashPool): { worker: Worker; batch: unknown }[] {
  return (pool as unknown as { workers: { worker: Worker; batch: unknown }[] }).workers;
}

/** What the pool must say about `p`: the same as chunkFileSync in this thread. */
function expected(p: string, params?: ChunkingParams): FileHashResult {
  const r = chunkFileSync(p, params);
  return { path: p, ok: true, ...r };
}

let dir: string;
let small: string[];
let big: string[];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'canopy-pool-'));
  small = [];
  for (let i = 0; i < 150; i++) {
    const p = path.join(dir, `small-${i}.bin`);
    fs.writeFileSync(p, seededBytes(i * 997, i + 1));
    small.push(p);
  }
  big = [];
  for (let i = 0; i < 2; i++) {
    const p = path.join(dir, `big-${i}.bin`);
    fs.writeFileSync(p, seededBytes(96 * MiB, 1000 + i));
    big.push(p);
  }
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('HashPool', () => {
  it('hashes files in the order given, mixing present and missing files', async () => {
    const pool = new HashPool({ threads: 2, params: MEDIUM });
    try {
      const missing = (i: number): string => path.join(dir, `missing-${i}.bin`);
      const paths = small.flatMap((p, i) => (i % 10 === 3 ? [missing(i), p] : [p]));
      paths.push(dir); // a directory: not a regular file
      const results = await pool.hashFiles(paths);
      expect(results.map((r) => r.path)).toEqual(paths);
      for (const r of results) {
        if (r.path.includes('missing-')) {
          expect(r).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
        } else if (r.path === dir) {
          expect(r).toMatchObject({ ok: false, error: { code: 'IO_ERROR' } });
        } else {
          expect(r).toEqual(expected(r.path, MEDIUM));
        }
      }
      expect(await pool.hashFiles([])).toEqual([]);
    } finally {
      await pool.close();
    }
  });

  it('runs with the default params and thread count', async () => {
    const pool = new HashPool();
    try {
      const [r] = await pool.hashFiles([big[0] as string]);
      expect(r).toEqual(expected(big[0] as string));
      expect(r?.ok && r.chunks.length).toBeGreaterThan(50);
    } finally {
      await pool.close();
    }
  });

  it('survives many concurrent calls', async () => {
    const pool = new HashPool({ threads: 2, params: MEDIUM });
    try {
      const lists = Array.from({ length: 12 }, (_, k) => small.filter((_, i) => (i + k) % (k + 2) === 0));
      lists.push([big[1] as string, ...small.slice(0, 5)]);
      const all = await Promise.all(lists.map((l) => pool.hashFiles(l)));
      all.forEach((results, k) => {
        expect(results.map((r) => r.path)).toEqual(lists[k]);
        for (const r of results) expect(r).toEqual(expected(r.path, MEDIUM));
      });
    } finally {
      await pool.close();
    }
  });

  it('puts two big files of one batch on two workers at once', async () => {
    const pool = new HashPool({ threads: 2 });
    try {
      const paths = [big[0] as string, big[1] as string, ...small.slice(0, 60)];
      const bigSet = new Set(big);
      let maxBigInFlight = 0;
      const timer = setInterval(() => {
        const inFlight = workersOf(pool).filter((w) => (w.batch as { paths: string[] } | undefined)?.paths.some((p) => bigSet.has(p)));
        maxBigInFlight = Math.max(maxBigInFlight, inFlight.length);
      }, 2);
      // Both big files start out in the first batch: the worker that gets it must hand the
      // second one back so the other worker can take it.
      const results = await pool.hashFiles(paths);
      clearInterval(timer);
      expect(results.map((r) => r.path)).toEqual(paths);
      for (const r of results) expect(r).toEqual(expected(r.path));
      expect(maxBigInFlight).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('lets as many workers as asked split big files with a helper thread, with the same results', async () => {
    const pool = new HashPool({ threads: 2, splitHelpers: 1, splitMinBytes: 8 * MiB });
    try {
      const paths = [big[0] as string, ...small.slice(0, 20), big[1] as string];
      const results = await pool.hashFiles(paths);
      for (const r of results) expect(r).toEqual(expected(r.path));
      expect(workersOf(pool).map((w) => (w as unknown as { splits: boolean }).splits).sort()).toEqual([false, true]);
    } finally {
      await pool.close();
    }
    const none = new HashPool({ threads: 2, splitHelpers: 0 });
    try {
      none.warm();
      expect(workersOf(none).map((w) => (w as unknown as { splits: boolean }).splits)).toEqual([false, false]);
    } finally {
      await none.close();
    }
  });

  it('fails the batch of a crashed worker with IO_ERROR and replaces the worker', async () => {
    const pool = new HashPool({ threads: 1 });
    try {
      const pending = pool.hashFiles([big[0] as string, big[1] as string]);
      const t0 = Date.now();
      while (!workersOf(pool)[0]?.batch && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 1));
      const victim = workersOf(pool)[0];
      expect(victim?.batch).toBeDefined();
      await victim?.worker.terminate();
      const results = await pending;
      expect(results.map((r) => r.path)).toEqual(big);
      const crashed = results.filter((r) => !r.ok);
      expect(crashed.length).toBeGreaterThanOrEqual(1);
      for (const r of crashed) {
        expect(r).toMatchObject({ ok: false, error: { code: 'IO_ERROR' } });
        expect(!r.ok && r.error.message).toMatch(/crashed/);
      }
      // The replacement works.
      const after = await pool.hashFiles(small.slice(0, 20));
      for (const r of after) expect(r).toEqual(expected(r.path));
      expect(workersOf(pool).length).toBe(1);
      expect(workersOf(pool)[0]?.worker).not.toBe(victim?.worker);
    } finally {
      await pool.close();
    }
  });

  it('close() settles pending work, then answers IO_ERROR, and is idempotent', async () => {
    const pool = new HashPool({ threads: 2 });
    const pending = pool.hashFiles([...big, ...small]);
    await new Promise((r) => setTimeout(r, 20));
    await pool.close();
    const results = await pending;
    expect(results.map((r) => r.path)).toEqual([...big, ...small]);
    expect(results.some((r) => !r.ok && r.error.code === 'IO_ERROR' && /closed/.test(r.error.message))).toBe(true);
    const late = await pool.hashFiles([small[0] as string]);
    expect(late).toMatchObject([{ ok: false, error: { code: 'IO_ERROR' } }]);
    await pool.close();
    expect(workersOf(pool).length).toBe(0);
  });

  it('keeps the process alive while it has work, and not once idle', () => {
    // In a child process, because the property is about when a process exits. No close():
    // the child must print both results and then exit on its own.
    const script = path.join(dir, 'child.mts');
    const poolUrl = pathToFileURL(path.join(import.meta.dirname, 'pool.ts')).href;
    fs.writeFileSync(
      script,
      `import { HashPool } from ${JSON.stringify(poolUrl)};
       const pool = new HashPool({ threads: 1 });
       pool.hashFiles([${JSON.stringify(big[0])}]).then((r) => console.log('first', r[0].ok));
       setTimeout(() => pool.hashFiles([${JSON.stringify(small[5])}]).then((r) => console.log('second', r[0].ok)), 50);`,
    );
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000, cwd: process.cwd() });
    expect(child.error).toBeUndefined();
    expect(child.stdout.trim().split('\n')).toEqual(['first true', 'second true']);
    expect(child.status).toBe(0);
  });

  it('warm() starts every worker before any work, and the first call runs on them', async () => {
    const pool = new HashPool({ threads: 2, params: MEDIUM });
    try {
      expect(workersOf(pool)).toHaveLength(0);
      pool.warm();
      const warmed = workersOf(pool).map((s) => s.worker);
      expect(warmed).toHaveLength(2);
      pool.warm(); // already warm: no more workers
      expect(workersOf(pool)).toHaveLength(2);
      const results = await pool.hashFiles(small.slice(0, 20));
      expect(results).toEqual(small.slice(0, 20).map((p) => expected(p, MEDIUM)));
      expect(workersOf(pool).map((s) => s.worker)).toEqual(warmed);
    } finally {
      await pool.close();
    }
    pool.warm(); // closed: nothing starts
    expect(workersOf(pool)).toHaveLength(0);
  });

  it('a warmed pool that never gets work does not keep the process alive', () => {
    const script = path.join(dir, 'warm-child.mts');
    const poolUrl = pathToFileURL(path.join(import.meta.dirname, 'pool.ts')).href;
    fs.writeFileSync(script, `import { HashPool } from ${JSON.stringify(poolUrl)};
       new HashPool({ threads: 2 }).warm();
       console.log('warmed');`);
    const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000, cwd: process.cwd() });
    expect(child.error).toBeUndefined(); // a timeout: the idle workers held the process
    expect(child.stdout.trim()).toBe('warmed');
    expect(child.status).toBe(0);
  });

  it('rejects bad options with BAD_ARGUMENT', () => {
    for (const opts of [{ threads: 0 }, { threads: 1.5 }, { splitHelpers: -1 }, { params: { minSize: 100, avgSize: 50, maxSize: 200 } }]) {
      let thrown: unknown;
      try {
        new HashPool(opts);
      } catch (err) {
        thrown = err;
      }
      expect(isCanopyError(thrown, 'BAD_ARGUMENT')).toBe(true);
    }
  });
});
