/**
 * Chunks and hashes one file on disk: the unit of work of the hash pool's workers.
 *
 * Owns reading a file in large blocks through one reused buffer, feeding the streaming
 * chunker, hashing each chunk as it completes (a chunk may straddle blocks, so hashing is
 * incremental and nothing is copied), and refusing to describe a file that changed while
 * it was read. Synchronous on purpose: it runs in a worker thread that has nothing else to
 * do, and sync reads avoid a promise per block.
 */

import fs from 'node:fs';

import { CanopyError, errnoCode, fromFsError } from '../errors/index.js';
import { Chunker, DEFAULT_CHUNKING } from './fastcdc.js';
import type { ChunkingParams } from './fastcdc.js';
import { Blake3Stream } from './hash.js';

export interface FileChunk {
  /** BLAKE3 of the chunk, 64 hex chars. */
  hash: string;
  /** Byte offset of the chunk in the file. */
  offset: number;
  size: number;
}

/** A chunk of the file's previous content, as this device's chunker cut it: a hint for rechunking. */
export interface PreviousChunk {
  hash: string;
  size: number;
}

export interface FileChunks {
  size: number;
  mtimeMs: number;
  ino: number;
  mode: number;
  chunks: FileChunk[];
  /**
   * The file's bytes, when it is one chunk of at most `keepUpTo` bytes (see chunkFileSync):
   * exactly the bytes that hashed to `chunks[0].hash`.
   */
  bytes?: Buffer;
}

/**
 * Big enough that syscall overhead vanishes next to chunking and hashing, small enough
 * that a block read stays in the CPU cache while it is chunked and then hashed: measured
 * on a page-cached 1 GiB file, 512 KiB-1 MiB blocks ran ~35% faster than 8 MiB ones.
 */
export const READ_BLOCK_SIZE = 1024 * 1024;

/**
 * Test-only knobs; production callers never pass them.
 * @internal
 */
export interface ChunkFileTestHooks {
  /** Read block size in bytes (tiny blocks exercise chunks straddling many blocks). */
  blockSize?: number;
  /** Called after each block is read, with the bytes read so far (lets a test modify the file mid-read). */
  afterBlock?: (bytesRead: number) => void;
}

/** What identifies one content of a file for the stability checks: it changed if any of these did. */
export interface FileIdentity {
  ino: number;
  size: number;
  mtimeMs: number;
}

/**
 * Where a chunker started mid-file meets this one (see split.ts): after each cut at or past
 * `at`, `join` may replace every chunk from some cut on with the other thread's chunks.
 */
export interface TailJoin {
  /** The offset from which the other thread chunks the file, taking it for a cut point. */
  readonly at: number;
  /**
   * If the other thread's chunks are in and one of the cuts at or past `at` that end
   * `chunks` is also one of theirs, replaces the chunks after that cut with theirs (which
   * run to the end of the file) and returns true.
   */
  join(chunks: FileChunk[]): boolean;
}

/**
 * How chunkFileSync shares one big file with another thread (split.ts):
 *  - `head`: chunk from the start; `join` is asked, with the file's stat, for a TailJoin
 *    (undefined: chunk alone);
 *  - `tail`: chunk from `from`, taken for a cut point, to the end of the file, which must
 *    still be the one the head thread saw (`expect`).
 */
export type SplitRole =
  | { role: 'head'; join: (before: FileIdentity) => TailJoin | undefined }
  | { role: 'tail'; from: number; expect: FileIdentity };

/**
 * O_NOFOLLOW: the path was lstat'ed as a regular file; if it became a symlink since, don't
 * follow it. O_NONBLOCK: if it became a FIFO since, open must not hang waiting for a
 * writer. Both are no-ops for regular files and undefined (0) on Windows.
 */
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);

/** One block buffer per thread, reused across files, so hashing many small files allocates nothing large. */
let sharedBlock: Buffer | undefined;
let sharedBlockInUse = false;

/**
 * Chunks and hashes the file at `path`.
 *
 * `previous`, the chunks this device's chunker cut from the file's last indexed content,
 * lets an edited file skip the cut-point search (FastCDC, the costliest step) wherever its
 * bytes did not change, while every byte is still read and hashed: the chunker's cut after
 * a cut point depends only on the bytes that follow it, so at a cut point whose next bytes
 * hash to the previous chunk there (BLAKE3), the chunker would cut exactly there again.
 * Where a previous chunk does not match, the chunker runs from that cut point; once a chunk
 * it cuts is one of the previous chunks, the file is back in step (FastCDC resynchronises
 * after an insertion or deletion) and the previous chunks that follow are checked instead.
 * The result is the same as without `previous`, only cheaper, provided `previous` is what
 * this chunker (same params) cut: then each of its chunks ends where the chunker cuts.
 *
 * With `keepUpTo`, a file that is one chunk of at most that many bytes comes back with its
 * bytes too (the engine serves just-scanned small files to peers without reading them again).
 *
 * With `split`, the file is chunked by two threads (split.ts); the result is the same.
 *
 * Throws CanopyError: NOT_FOUND if it does not exist, UNSTABLE_FILE if it changed while
 * being read (the caller should retry later), IO_ERROR / DISK_FULL for other failures,
 * BAD_ARGUMENT for bad chunking params.
 */
export function chunkFileSync(
  path: string,
  params: ChunkingParams = DEFAULT_CHUNKING,
  hooks?: ChunkFileTestHooks,
  previous?: readonly PreviousChunk[],
  keepUpTo = 0,
  split?: SplitRole,
): FileChunks {
  let chunker = new Chunker(params);

  let before: fs.Stats;
  try {
    before = fs.lstatSync(path);
  } catch (err) {
    throw fromFsError(err, 'reading', path);
  }
  if (!before.isFile()) {
    throw new CanopyError('IO_ERROR', `${path} is not a regular file`, { path });
  }
  if (split?.role === 'tail' && !sameIdentity(before, split.expect)) throw unstable(path, 'it changed before its second half was read');

  let fd: number;
  try {
    fd = fs.openSync(path, OPEN_FLAGS);
  } catch (err) {
    if (errnoCode(err) === 'ELOOP') throw unstable(path, 'it was replaced by a symlink');
    throw fromFsError(err, 'opening', path);
  }

  const blockSize = hooks?.blockSize ?? READ_BLOCK_SIZE;
  const useShared = blockSize === READ_BLOCK_SIZE && !sharedBlockInUse;
  let buf: Buffer;
  if (useShared) {
    sharedBlock ??= Buffer.allocUnsafeSlow(READ_BLOCK_SIZE);
    buf = sharedBlock;
    sharedBlockInUse = true;
  } else {
    buf = Buffer.allocUnsafeSlow(blockSize);
  }

  try {
    const expected = before.size;
    const chunks: FileChunk[] = [];
    const hasher = new Blake3Stream();
    const from = split?.role === 'tail' ? Math.min(split.from, expected) : 0;
    let offset = from; // file position of the next read; plain numbers are exact up to 2^53
    let chunkStart = from;
    let reads = 0;
    const read = (at: number, len: number): number => {
      reads++;
      try {
        return fs.readSync(fd, buf, 0, len, at);
      } catch (err) {
        throw fromFsError(err, 'reading', path);
      }
    };
    const hint = previous && previous.length > 0 ? new PreviousChunks(previous, params) : undefined;
    // Index of the previous chunk expected at chunkStart while in step with the previous content, else -1.
    let inStep = hint ? 0 : -1;
    // An edited file with a hint is cheap to rechunk already; only a fresh one is split.
    const tail = split?.role === 'head' && !hint ? split.join(before) : undefined;
    let joined = false;
    // Read exactly the size lstat saw: if the file grows or shrinks meanwhile, the fstat
    // below sees it, so there is no need for an extra read to find EOF.
    while (offset < expected) {
      if (hint && inStep >= 0) {
        const size = hint.candidate(inStep, chunkStart, expected);
        if (size === undefined) {
          inStep = -1;
          continue;
        }
        // Hash the next `size` bytes; a match means the chunker would cut them as they were.
        let at = chunkStart;
        while (at < chunkStart + size) {
          const n = read(at, Math.min(buf.length, chunkStart + size - at));
          if (n === 0) break;
          hasher.update(buf.subarray(0, n));
          at += n;
          hooks?.afterBlock?.(at);
        }
        const hash = hasher.digestHex();
        if (at < chunkStart + size) {
          offset = at; // shrank: reported as unstable below
          break;
        }
        if (hash === hint.hash(inStep)) {
          chunks.push({ hash, offset: chunkStart, size });
          chunkStart += size;
          offset = chunkStart;
          inStep++;
        } else {
          inStep = -1; // the chunker takes over at chunkStart, a cut point
          offset = chunkStart;
        }
        continue;
      }
      const n = read(offset, Math.min(buf.length, expected - offset));
      if (n === 0) break; // shrank: reported as unstable below
      const block = buf.subarray(0, n);
      let hashedUpTo = 0;
      let lastMatch = -1;
      for (const len of chunker.push(block)) {
        const end = chunkStart + len - offset;
        hasher.update(block.subarray(hashedUpTo, end));
        const hash = hasher.digestHex();
        chunks.push({ hash, offset: chunkStart, size: len });
        chunkStart += len;
        hashedUpTo = end;
        lastMatch = hint ? hint.find(hash, len) : -1;
        if (tail && chunkStart >= tail.at && tail.join(chunks)) {
          joined = true;
          break;
        }
      }
      if (joined) {
        offset = expected; // the other thread's chunks run to the end
        break;
      }
      offset += n;
      hooks?.afterBlock?.(offset);
      if (lastMatch >= 0) {
        // Back in step: the bytes after this block's last cut are read again, as a previous chunk.
        inStep = lastMatch + 1;
        offset = chunkStart;
        chunker = new Chunker(params);
      } else {
        hasher.update(block.subarray(hashedUpTo));
      }
    }
    // Once joined, the other thread's chunks already run to the end of the file.
    if (!joined) {
      for (const len of chunker.finish()) {
        chunks.push({ hash: hasher.digestHex(), offset: chunkStart, size: len });
        chunkStart += len;
      }
    }

    let after: fs.Stats;
    try {
      after = fs.fstatSync(fd);
    } catch (err) {
      throw fromFsError(err, 'reading', path);
    }
    if (after.ino !== before.ino) throw unstable(path, 'it was replaced');
    if (after.size !== before.size || offset !== before.size) throw unstable(path, 'its size changed');
    if (after.mtimeMs !== before.mtimeMs) throw unstable(path, 'it was modified');
    if (split?.role === 'tail' && !sameIdentity(after, split.expect)) throw unstable(path, 'it changed while its second half was read');

    const result: FileChunks = { size: after.size, mtimeMs: after.mtimeMs, ino: after.ino, mode: after.mode, chunks };
    // A small file read by one read into the block: the block's start is the chunk's bytes.
    // Copied, as the block is reused.
    if (from === 0 && reads === 1 && chunks.length === 1 && chunks[0]?.size === expected && expected <= keepUpTo && !hint) {
      result.bytes = Buffer.from(buf.subarray(0, expected));
    }
    return result;
  } finally {
    if (useShared) sharedBlockInUse = false;
    try {
      fs.closeSync(fd);
    } catch {
      // A failed close of a read-only fd loses nothing; the result stands.
    }
  }
}

/** The previous chunk list, indexed for finding where the file is back in step. */
class PreviousChunks {
  private readonly byHash = new Map<string, number[]>();

  constructor(private readonly list: readonly PreviousChunk[], private readonly params: ChunkingParams) {
    list.forEach((c, i) => {
      const at = this.byHash.get(c.hash);
      if (at) at.push(i);
      else this.byHash.set(c.hash, [i]);
    });
  }

  hash(i: number): string {
    return (this.list[i] as PreviousChunk).hash;
  }

  /**
   * The size of previous chunk `i` if it may be the next chunk at `start`: it fits in the
   * file and has a size the chunker can cut. Never the last one: the end of the file cut it,
   * not its content, so the chunker runs over it (at most maxSize bytes).
   */
  candidate(i: number, start: number, fileSize: number): number | undefined {
    const c = this.list[i];
    if (!c || i === this.list.length - 1 || !Number.isSafeInteger(c.size) || start + c.size > fileSize) return undefined;
    if (c.size < this.params.minSize || c.size > this.params.maxSize) return undefined;
    return c.size;
  }

  /** Index of a previous chunk with this hash and size (the first one), or -1. */
  find(hash: string, size: number): number {
    const at = this.byHash.get(hash);
    if (!at) return -1;
    for (const i of at) if ((this.list[i] as PreviousChunk).size === size) return i;
    return -1;
  }
}

function sameIdentity(st: fs.Stats, id: FileIdentity): boolean {
  return st.ino === id.ino && st.size === id.size && st.mtimeMs === id.mtimeMs;
}

function unstable(path: string, why: string): CanopyError {
  return new CanopyError('UNSTABLE_FILE', `${path} changed while it was being read (${why})`, { path });
}
