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

export interface FileChunks {
  size: number;
  mtimeMs: number;
  ino: number;
  mode: number;
  chunks: FileChunk[];
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
 * Throws CanopyError: NOT_FOUND if it does not exist, UNSTABLE_FILE if it changed while
 * being read (the caller should retry later), IO_ERROR / DISK_FULL for other failures,
 * BAD_ARGUMENT for bad chunking params.
 */
export function chunkFileSync(path: string, params: ChunkingParams = DEFAULT_CHUNKING, hooks?: ChunkFileTestHooks): FileChunks {
  const chunker = new Chunker(params);

  let before: fs.Stats;
  try {
    before = fs.lstatSync(path);
  } catch (err) {
    throw fromFsError(err, 'reading', path);
  }
  if (!before.isFile()) {
    throw new CanopyError('IO_ERROR', `${path} is not a regular file`, { path });
  }

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
    let offset = 0; // file position of the next read; plain numbers are exact up to 2^53
    let chunkStart = 0;
    // Read exactly the size lstat saw: if the file grows or shrinks meanwhile, the fstat
    // below sees it, so there is no need for an extra read to find EOF.
    while (offset < expected) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, Math.min(buf.length, expected - offset), offset);
      } catch (err) {
        throw fromFsError(err, 'reading', path);
      }
      if (n === 0) break; // shrank: reported as unstable below
      const block = buf.subarray(0, n);
      let hashedUpTo = 0;
      for (const len of chunker.push(block)) {
        const end = chunkStart + len - offset;
        hasher.update(block.subarray(hashedUpTo, end));
        chunks.push({ hash: hasher.digestHex(), offset: chunkStart, size: len });
        chunkStart += len;
        hashedUpTo = end;
      }
      hasher.update(block.subarray(hashedUpTo));
      offset += n;
      hooks?.afterBlock?.(offset);
    }
    for (const len of chunker.finish()) {
      chunks.push({ hash: hasher.digestHex(), offset: chunkStart, size: len });
      chunkStart += len;
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

    return { size: after.size, mtimeMs: after.mtimeMs, ino: after.ino, mode: after.mode, chunks };
  } finally {
    if (useShared) sharedBlockInUse = false;
    try {
      fs.closeSync(fd);
    } catch {
      // A failed close of a read-only fd loses nothing; the result stands.
    }
  }
}

function unstable(path: string, why: string): CanopyError {
  return new CanopyError('UNSTABLE_FILE', `${path} changed while it was being read (${why})`, { path });
}
