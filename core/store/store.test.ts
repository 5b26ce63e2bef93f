import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../db/index.js';
import { blake3Hex } from '../chunking/hash.js';
import { seededBytes, tmpDir } from '../testing/index.js';
import { ChunkStore } from './index.js';

let dir: string;
let db: Db;
const roomy = { maxBytes: 1 << 30, minFreeBytes: 0 };

beforeEach(() => {
  dir = tmpDir('canopy-store-');
  db = openDatabase(path.join(dir, 'canopy.db'));
});
afterEach(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('chunk store', () => {
  it('stores, finds and returns a chunk, counting it against the quota', async () => {
    const store = new ChunkStore(path.join(dir, 'chunks'), db, roomy);
    const data = seededBytes('a', 100_000);
    const hash = blake3Hex(data);
    await store.put(hash, data);
    await store.put(hash, data); // idempotent
    expect(store.has(hash)).toBe(true);
    expect((await store.get(hash)).equals(data)).toBe(true);
    expect(store.usage()).toMatchObject({ chunks: 1, bytes: 100_000 });
    // a reopened store knows what it holds
    expect(new ChunkStore(path.join(dir, 'chunks'), db, roomy).usage().bytes).toBe(100_000);
  });

  it('refuses bytes that do not match their hash and stores nothing', async () => {
    const store = new ChunkStore(path.join(dir, 'chunks'), db, roomy);
    const data = seededBytes('b', 1000);
    const wrong = blake3Hex(seededBytes('c', 1000));
    await expect(store.put(wrong, data)).rejects.toMatchObject({ code: 'CORRUPT_CHUNK' });
    expect(store.has(wrong)).toBe(false);
    await expect(store.put('../../etc/passwd', data)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('quarantines a chunk that rots on disk instead of serving it', async () => {
    const store = new ChunkStore(path.join(dir, 'chunks'), db, roomy);
    const data = seededBytes('d', 5000);
    const hash = blake3Hex(data);
    await store.put(hash, data);
    const file = store.chunkPath(hash);
    const bytes = fs.readFileSync(file);
    bytes[10] = (bytes[10] as number) ^ 0xff;
    fs.writeFileSync(file, bytes);
    expect(await store.verify(hash)).toBe('corrupt');
    expect(store.has(hash)).toBe(false);
    expect(store.usage()).toMatchObject({ chunks: 0, bytes: 0, quarantined: 1 });
    expect(fs.readdirSync(path.join(dir, 'chunks', 'quarantine'))).toHaveLength(1);
    // the good copy can be stored again
    await store.put(hash, data);
    expect(await store.verify(hash)).toBe('ok');
  });

  it('never grows past its quota', async () => {
    const store = new ChunkStore(path.join(dir, 'chunks'), db, { maxBytes: 2500, minFreeBytes: 0 });
    const a = seededBytes('e', 2000);
    const b = seededBytes('f', 1000);
    await store.put(blake3Hex(a), a);
    await expect(store.put(blake3Hex(b), b)).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    expect(store.usage().bytes).toBe(2000);
  });

  it('stops accepting chunks at the free-space floor, with a clear message', async () => {
    const store = new ChunkStore(path.join(dir, 'chunks'), db, { maxBytes: Number.MAX_SAFE_INTEGER, minFreeBytes: Number.MAX_SAFE_INTEGER });
    const a = seededBytes('g', 10);
    await expect(store.put(blake3Hex(a), a)).rejects.toMatchObject({ code: 'DISK_FULL', message: expect.stringMatching(/floor/) });
    expect(fs.readdirSync(path.join(dir, 'chunks', 'tmp'))).toEqual([]);
  });

  it('removes temp files a crash left behind', () => {
    fs.mkdirSync(path.join(dir, 'chunks', 'tmp'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'chunks', 'tmp', 'half-written'), 'x');
    new ChunkStore(path.join(dir, 'chunks'), db, roomy);
    expect(fs.readdirSync(path.join(dir, 'chunks', 'tmp'))).toEqual([]);
  });

  it('deletes a chunk and frees its bytes', async () => {
    const store = new ChunkStore(path.join(dir, 'chunks'), db, roomy);
    const a = seededBytes('h', 3000);
    await store.put(blake3Hex(a), a);
    await store.delete(blake3Hex(a));
    expect(store.has(blake3Hex(a))).toBe(false);
    expect(store.usage().bytes).toBe(0);
    await expect(store.get(blake3Hex(a))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
