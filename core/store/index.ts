/**
 * The content-addressed chunk store: chunks this device holds that are not in its working
 * copy (replicas for other devices, online-only files that were opened, old versions,
 * conflict branches). Files live at `<root>/<hh>/<hash>`; the `stored_chunks` table is the
 * index and the quota counts it.
 *
 * Writes are atomic (temp file, fsync, rename, fsync of the directory) and verified before
 * they land; reads verify too, and a chunk whose bytes no longer match its name is moved to
 * quarantine rather than served. The store never grows past its quota and refuses new
 * chunks when the disk's free space falls to the configured floor.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { manyAtOnce, type Db } from '../db/index.js';
import { blake3Hex } from '../chunking/hash.js';
import { CanopyError, errnoCode, fromFsError } from '../errors/index.js';

export interface StoreLimits {
  /** The most bytes the store may hold. */
  maxBytes: number;
  /** Stop accepting chunks when the disk's free space would fall below this. */
  minFreeBytes: number;
}

export interface StoreUsage {
  chunks: number;
  bytes: number;
  quarantined: number;
  maxBytes: number;
  diskFreeBytes: number;
}

const HASH_RE = /^[0-9a-f]{64}$/;

export class ChunkStore {
  private readonly stmt;
  private used: number;
  private count: number;

  constructor(readonly root: string, private readonly db: Db, private limits: StoreLimits) {
    fs.mkdirSync(path.join(root, 'tmp'), { recursive: true });
    fs.mkdirSync(path.join(root, 'quarantine'), { recursive: true });
    this.removeLeftoverTemps();
    this.stmt = {
      has: db.prepare('SELECT 1 FROM stored_chunks WHERE hash = ? AND quarantined = 0').pluck(),
      hasMany: db.prepare('SELECT s.hash FROM json_each(?) AS j CROSS JOIN stored_chunks AS s WHERE s.hash = j.value AND s.quarantined = 0').pluck(),
      insert: db.prepare('INSERT OR REPLACE INTO stored_chunks (hash, size, stored_at, last_access, quarantined) VALUES (?, ?, ?, ?, 0)'),
      touch: db.prepare('UPDATE stored_chunks SET last_access = ? WHERE hash = ?'),
      remove: db.prepare('DELETE FROM stored_chunks WHERE hash = ?'),
      quarantine: db.prepare('UPDATE stored_chunks SET quarantined = 1 WHERE hash = ?'),
      totals: db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM stored_chunks WHERE quarantined = 0'),
      quarantinedCount: db.prepare('SELECT count(*) FROM stored_chunks WHERE quarantined = 1').pluck(),
      list: db.prepare('SELECT hash, size FROM stored_chunks WHERE quarantined = 0 ORDER BY hash'),
    };
    const t = this.stmt.totals.get() as { n: number; bytes: number };
    this.used = t.bytes;
    this.count = t.n;
  }

  setLimits(limits: StoreLimits): void {
    this.limits = limits;
  }

  usage(): StoreUsage {
    return {
      chunks: this.count,
      bytes: this.used,
      quarantined: this.stmt.quarantinedCount.get() as number,
      maxBytes: this.limits.maxBytes,
      diskFreeBytes: diskFree(this.root),
    };
  }

  has(hash: string): boolean {
    return this.stmt.has.get(hash) !== undefined;
  }

  /** Which of `hashes` has() holds, in batched queries. */
  heldAmong(hashes: readonly string[]): Set<string> {
    return new Set(manyAtOnce(hashes, (json) => this.stmt.hasMany.all(json) as string[]));
  }

  /** Stores a chunk after checking its bytes match its name. Idempotent. */
  async put(hash: string, data: Uint8Array): Promise<void> {
    assertHash(hash);
    if (blake3Hex(data) !== hash) {
      throw new CanopyError('CORRUPT_CHUNK', `refused chunk ${hash.slice(0, 12)}: its bytes do not match its hash`, { hash });
    }
    if (this.has(hash)) {
      this.stmt.touch.run(Date.now(), hash);
      return;
    }
    this.checkRoom(data.byteLength);
    const final = this.chunkPath(hash);
    const tmp = path.join(this.root, 'tmp', `${hash}.${randomBytes(6).toString('hex')}`);
    try {
      await fsp.mkdir(path.dirname(final), { recursive: true });
      const fh = await fsp.open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, final);
      await syncDir(path.dirname(final));
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw fromFsError(err, 'storing chunk', hash.slice(0, 12));
    }
    const now = Date.now();
    this.stmt.insert.run(hash, data.byteLength, now, now);
    this.used += data.byteLength;
    this.count += 1;
  }

  /** Reads and verifies a chunk. A chunk that fails verification is quarantined. */
  async get(hash: string): Promise<Buffer> {
    assertHash(hash);
    if (!this.has(hash)) throw new CanopyError('NOT_FOUND', `chunk ${hash.slice(0, 12)} is not in the store`, { hash });
    let data: Buffer;
    try {
      data = await fsp.readFile(this.chunkPath(hash));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') {
        this.forget(hash);
        throw new CanopyError('CORRUPT_CHUNK', `chunk ${hash.slice(0, 12)} vanished from the store; it will be fetched again`, { hash });
      }
      throw fromFsError(err, 'reading chunk', hash.slice(0, 12));
    }
    if (blake3Hex(data) !== hash) {
      await this.quarantine(hash);
      throw new CanopyError('CORRUPT_CHUNK', `chunk ${hash.slice(0, 12)} is corrupt on disk; quarantined`, { hash });
    }
    this.stmt.touch.run(Date.now(), hash);
    return data;
  }

  /** Rehashes a stored chunk without returning it (the scrub job's unit of work). */
  async verify(hash: string): Promise<'ok' | 'corrupt' | 'missing'> {
    try {
      await this.get(hash);
      return 'ok';
    } catch (err) {
      if (err instanceof CanopyError && err.code === 'CORRUPT_CHUNK') return 'corrupt';
      if (err instanceof CanopyError && err.code === 'NOT_FOUND') return 'missing';
      throw err;
    }
  }

  async delete(hash: string): Promise<void> {
    assertHash(hash);
    await fsp.rm(this.chunkPath(hash), { force: true });
    this.forget(hash);
  }

  list(): { hash: string; size: number }[] {
    return this.stmt.list.all() as { hash: string; size: number }[];
  }

  chunkPath(hash: string): string {
    return path.join(this.root, hash.slice(0, 2), hash);
  }

  private checkRoom(size: number): void {
    if (this.used + size > this.limits.maxBytes) {
      throw new CanopyError('QUOTA_EXCEEDED', `chunk store quota reached (${this.used} of ${this.limits.maxBytes} bytes used)`, { used: this.used, max: this.limits.maxBytes });
    }
    const free = diskFree(this.root);
    if (free - size < this.limits.minFreeBytes) {
      throw new CanopyError('DISK_FULL', `not storing: the disk has ${free} bytes free and the floor is ${this.limits.minFreeBytes}`, { free, minFree: this.limits.minFreeBytes });
    }
  }

  private async quarantine(hash: string): Promise<void> {
    const row = this.db.prepare('SELECT size FROM stored_chunks WHERE hash = ?').pluck().get(hash) as number | undefined;
    await fsp.rename(this.chunkPath(hash), path.join(this.root, 'quarantine', `${hash}.${Date.now()}`)).catch(() => undefined);
    this.stmt.quarantine.run(hash);
    if (row !== undefined) {
      this.used -= row;
      this.count -= 1;
    }
  }

  private forget(hash: string): void {
    const row = this.db.prepare('SELECT size, quarantined FROM stored_chunks WHERE hash = ?').get(hash) as { size: number; quarantined: number } | undefined;
    if (!row) return;
    this.stmt.remove.run(hash);
    if (!row.quarantined) {
      this.used -= row.size;
      this.count -= 1;
    }
  }

  /** Temp files are only ever left by a crash mid-write; they are never referenced. */
  private removeLeftoverTemps(): void {
    const dir = path.join(this.root, 'tmp');
    for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

function assertHash(hash: string): void {
  if (!HASH_RE.test(hash)) throw new CanopyError('BAD_ARGUMENT', `not a chunk hash: ${JSON.stringify(hash.slice(0, 80))}`);
}

export function diskFree(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
