/**
 * GroupFlush on real files: small files ready together share one syncfs, big ones get their
 * own fsync, and when `sync -f` is missing or fails every file still gets its own fsync and
 * its own error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tmpDir } from '../testing/index.js';
import { GROUP_MAX_BYTES, GroupFlush, syncFilesystem, type SyncFilesystem } from './flush.js';

let dir: string;
let fds: number[];

beforeEach(() => {
  dir = tmpDir('canopy-flush-');
  fds = [];
});

afterEach(() => {
  for (const fd of fds) fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
});

function newFile(name: string, bytes: number): { fd: number; dev: number } {
  const fd = fs.openSync(path.join(dir, name), 'wx');
  fds.push(fd);
  fs.writeSync(fd, Buffer.alloc(bytes, 1));
  return { fd, dev: fs.fstatSync(fd).dev };
}

/** The real `sync -f`, counted. */
function countedSync(): { sync: SyncFilesystem; dirs: string[] } {
  const dirs: string[] = [];
  return { dirs, sync: async (d) => void (dirs.push(d), await syncFilesystem(d)) };
}

describe('GroupFlush', () => {
  it.runIf(process.platform === 'linux')('flushes small files that are ready together with one syncfs of their filesystem', async () => {
    const { sync, dirs } = countedSync();
    const flush = new GroupFlush({ syncFilesystem: sync });
    const files = Array.from({ length: 40 }, (_, i) => newFile(`f${i}`, 4096));
    await Promise.all(files.map((f) => flush.flush(f.fd, 4096, dir, f.dev)));
    expect(dirs).toEqual([dir]);
    // Files that come while a group runs wait for the next one.
    const more = Array.from({ length: 5 }, (_, i) => newFile(`g${i}`, 10));
    await Promise.all(more.map((f, i) => new Promise((r) => setTimeout(r, i * 3)).then(() => flush.flush(f.fd, 10, dir, f.dev))));
    expect(dirs.length).toBeGreaterThanOrEqual(2);
    expect(dirs.length).toBeLessThanOrEqual(6);
  });

  it('gives a file over the group size its own fsync', async () => {
    const { sync, dirs } = countedSync();
    const flush = new GroupFlush({ syncFilesystem: sync });
    const big = newFile('big', 16);
    await flush.flush(big.fd, GROUP_MAX_BYTES + 1, dir, big.dev);
    expect(dirs).toEqual([]);
  });

  it('gives files on a filesystem outside the group list their own fsync', async () => {
    const { sync, dirs } = countedSync();
    const flush = new GroupFlush({ syncFilesystem: sync, filesystemTypes: new Set() });
    const f = newFile('f', 5);
    await flush.flush(f.fd, 5, dir, f.dev);
    expect(dirs).toEqual([]);
  });

  it('falls back to an fsync per file for good when sync -f fails before it ever worked, and says so once', async () => {
    const notices: string[] = [];
    let calls = 0;
    const flush = new GroupFlush({
      syncFilesystem: async () => {
        calls++;
        throw new Error('sync: invalid option -- f');
      },
      onFallback: (m) => notices.push(m),
    });
    const a = newFile('a', 5);
    const b = newFile('b', 5);
    await Promise.all([flush.flush(a.fd, 5, dir, a.dev), flush.flush(b.fd, 5, dir, b.dev)]);
    const c = newFile('c', 5);
    await flush.flush(c.fd, 5, dir, c.dev);
    expect(calls).toBe(1);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/own fsync.*invalid option/);
  });

  it.runIf(process.platform === 'linux')('after a failed group, hands each file its own fsync error and keeps grouping', async () => {
    let calls = 0;
    const flush = new GroupFlush({
      syncFilesystem: async (d) => {
        calls++;
        if (calls === 2) throw new Error('sync: error syncing: Input/output error');
        await syncFilesystem(d);
      },
    });
    const first = newFile('first', 5);
    await flush.flush(first.fd, 5, dir, first.dev);
    const good = newFile('good', 5);
    // A descriptor already closed: its own fsync fails, and only its writer hears of it.
    const bad = newFile('bad', 5);
    fs.closeSync(bad.fd);
    fds.splice(fds.indexOf(bad.fd), 1);
    const results = await Promise.allSettled([flush.flush(good.fd, 5, dir, good.dev), flush.flush(bad.fd, 5, dir, bad.dev)]);
    expect(results[0]?.status).toBe('fulfilled');
    expect(results[1]?.status).toBe('rejected');
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/EBADF/);
    const later = newFile('later', 5);
    await flush.flush(later.fd, 5, dir, later.dev);
    expect(calls).toBe(3);
  });

  it.runIf(process.platform === 'linux')('runs sync -f in one shell that says why a directory failed and goes on serving', async () => {
    await expect(syncFilesystem(path.join(dir, 'missing'))).rejects.toThrow(/missing/);
    await expect(syncFilesystem(`${dir}/a\nb`)).rejects.toThrow(/line break/);
    await Promise.all([syncFilesystem(dir), syncFilesystem(dir)]);
  });

  it('gives every file its own fsync where there is no syncfs', async () => {
    const flush = new GroupFlush({ syncFilesystem: undefined });
    const f = newFile('f', 5);
    fs.closeSync(f.fd);
    fds.splice(fds.indexOf(f.fd), 1);
    await expect(flush.flush(f.fd, 5, dir, f.dev)).rejects.toThrow(/EBADF/);
  });
});
