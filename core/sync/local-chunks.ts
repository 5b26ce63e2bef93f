/**
 * Every local source of a chunk's bytes: the chunk store, and the working-copy files whose
 * indexed version contains the chunk (DESIGN.md section 2: a device never stores its own
 * files twice, so its files are where most of its chunks live).
 *
 * Owns one promise: bytes returned from here match the hash asked for. A working-copy file
 * can change after it was indexed (the user edits it, the scanner has not run yet), so every
 * read at an offset is rehashed, and a mismatch only means "try the next location". The same
 * reads serve peers, so unverified bytes must never leave this class.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { manyAtOnce, type Db } from '../db/index.js';
import type { ChunkStore } from '../store/index.js';
import { blake3Hex } from '../chunking/hash.js';

/** Chunks are at most 4 MiB (FastCDC max); anything claiming more than this is refused unread. */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

export interface ChunkLocation {
  folderId: string;
  path: string;
  offset: number;
  size: number;
}

/** From a chunk row `c` to the working-copy rows `f` that reflect its version (see the constructor). */
const TO_WORKING_COPY = `JOIN versions v ON v.id = c.version_id
  JOIN local_files f ON f.folder_id = v.folder_id AND f.path = v.path AND f.version_id = c.version_id`;

export class LocalChunks {
  private readonly stmt;

  constructor(db: Db, private readonly store: ChunkStore, private readonly folderRoot: (folderId: string) => string | undefined) {
    // Every step is an index lookup: chunk -> the versions containing it (version_chunks_by_chunk)
    // -> their folder and path (versions.id) -> whether the working copy reflects that very
    // version there (local_files primary key). A local_files row always names a version of
    // its own path, so going through versions finds every row without an index on version_id.
    this.stmt = {
      locations: db.prepare(`SELECT f.folder_id AS folderId, f.path AS path, c.offset AS offset, c.size AS size
        FROM version_chunks c ${TO_WORKING_COPY}
        WHERE c.chunk = ? AND f.kind = 'file' ORDER BY f.folder_id, f.path, c.idx`),
      // locations() of many hashes at once, reduced to which hash is in which folder.
      foldersOfMany: db.prepare(`SELECT DISTINCT c.chunk AS hash, f.folder_id AS folderId
        FROM json_each(?) AS j CROSS JOIN version_chunks c ${TO_WORKING_COPY}
        WHERE c.chunk = j.value AND f.kind = 'file'`),
    };
  }

  /** Whether some local source is indexed as holding `hash` (no disk access, no verification). */
  has(hash: string): boolean {
    if (this.store.has(hash)) return true;
    return this.locations(hash).length > 0;
  }

  /**
   * Which of `hashes` has() would say yes to, in two queries rather than two per hash (a
   * plan of 512 new files asks for each of their chunks).
   */
  heldAmong(hashes: readonly string[]): Set<string> {
    const held = this.store.heldAmong(hashes);
    const rest = hashes.filter((h) => !held.has(h));
    if (rest.length === 0) return held;
    const attached = new Map<string, boolean>();
    for (const { hash, folderId } of manyAtOnce(rest, (json) => this.stmt.foldersOfMany.all(json) as { hash: string; folderId: string }[])) {
      let yes = attached.get(folderId);
      if (yes === undefined) attached.set(folderId, (yes = this.folderRoot(folderId) !== undefined));
      if (yes) held.add(hash);
    }
    return held;
  }

  /** The verified bytes of `hash` from the store or any working-copy file; undefined if none has them. */
  async read(hash: string): Promise<Buffer | undefined> {
    if (this.store.has(hash)) {
      try {
        return await this.store.get(hash);
      } catch {
        // Corrupt (now quarantined), vanished or unreadable: the working copy may still have it.
      }
    }
    return this.readFromWorkingCopy(hash);
  }

  /**
   * The verified bytes of `hash` from a working-copy file, skipping `exclude` (the file the
   * caller is about to replace: "is this chunk held anywhere else?").
   */
  async readFromWorkingCopy(hash: string, exclude?: { folderId: string; path: string }): Promise<Buffer | undefined> {
    for (const loc of this.rootedLocations(hash)) {
      if (exclude && loc.folderId === exclude.folderId && loc.path === exclude.path) continue;
      const data = await this.readIn(loc.root, loc, hash);
      if (data) return data;
    }
    return undefined;
  }

  /** Reads one location and returns the bytes only if they hash to `hash`. */
  async readAt(loc: ChunkLocation, hash: string): Promise<Buffer | undefined> {
    const root = this.folderRoot(loc.folderId);
    return root === undefined ? undefined : this.readIn(root, loc, hash);
  }

  private async readIn(root: string, loc: ChunkLocation, hash: string): Promise<Buffer | undefined> {
    if (!(loc.size >= 0 && loc.size <= MAX_CHUNK_BYTES) || !Number.isSafeInteger(loc.offset) || loc.offset < 0) return undefined;
    if (loc.size <= SYNC_READ_BYTES) return readSmall(path.join(root, loc.path), loc, hash);
    let fh: fsp.FileHandle;
    try {
      // O_NOFOLLOW: a symlink that replaced the file is not the indexed file.
      fh = await fsp.open(path.join(root, loc.path), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      const buf = Buffer.allocUnsafe(loc.size);
      let done = 0;
      while (done < loc.size) {
        const { bytesRead } = await fh.read(buf, done, loc.size - done, loc.offset + done);
        if (bytesRead === 0) return undefined; // the file got shorter
        done += bytesRead;
      }
      return blake3Hex(buf) === hash ? buf : undefined;
    } catch {
      return undefined;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** Working-copy locations indexed as holding `hash`, in attached folders only. */
  locations(hash: string): ChunkLocation[] {
    return this.rootedLocations(hash).map(({ root, ...loc }) => (void root, loc));
  }

  /** locations(), each with its folder's root, looked up once per folder (serving a chunk reads one of them). */
  private rootedLocations(hash: string): (ChunkLocation & { root: string })[] {
    const rows = this.stmt.locations.all(hash) as ChunkLocation[];
    const roots = new Map<string, string | undefined>();
    const out: (ChunkLocation & { root: string })[] = [];
    for (const l of rows) {
      if (!roots.has(l.folderId)) roots.set(l.folderId, this.folderRoot(l.folderId));
      const root = roots.get(l.folderId);
      if (root !== undefined) out.push({ ...l, root });
    }
    return out;
  }
}

/**
 * Chunks up to this size (the chunks of small files) are read synchronously: opening,
 * reading and closing take microseconds each, less than three trips through the thread
 * pool, and serving thousands of small files is made of little else.
 */
const SYNC_READ_BYTES = 256 * 1024;

function readSmall(file: string, loc: ChunkLocation, hash: string): Buffer | undefined {
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink that replaced the file is not the indexed file. O_NONBLOCK: a FIFO
    // that replaced it must not block this thread waiting for a writer (a no-op for files).
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | (fs.constants.O_NONBLOCK ?? 0));
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.allocUnsafe(loc.size);
    let done = 0;
    while (done < loc.size) {
      const n = fs.readSync(fd, buf, done, loc.size - done, loc.offset + done);
      if (n === 0) return undefined; // the file got shorter
      done += n;
    }
    return blake3Hex(buf) === hash ? buf : undefined;
  } catch {
    return undefined;
  } finally {
    try {
      fs.closeSync(fd);
    } catch {
      // a read-only fd: nothing to lose
    }
  }
}
