/**
 * Hash-pool worker thread: chunks and hashes the files of each batch it is sent.
 *
 * Owns the worker side of the pool protocol. Before hashing a batch it lstat's ahead and
 * hands back ("defers") the tail of the batch beyond a byte budget, so the pool can give
 * big files to other idle workers; the engine thread never has to stat anything itself.
 * All failures of one file become that file's result: only a real crash of the thread
 * fails a whole batch.
 */

import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

import { isCanopyError } from '../errors/index.js';
import { chunkFileSync } from './file-chunker.js';
import type { ChunkingParams } from './fastcdc.js';
import type { PreviousChunk, SplitRole } from './file-chunker.js';
import type { FileHashResult } from './pool.js';
import { TailHelper } from './split.js';

export interface WorkerInit {
  params: ChunkingParams;
  /** Files of one chunk up to this size come back with their bytes (FileChunks.bytes); 0: never. */
  keepBytesUpTo: number;
  /** New files at least this big are chunked with a helper thread (split.ts); undefined: never. */
  splitMinBytes: number | undefined;
}

export type ToWorker = { type: 'batch'; id: number; paths: string[]; previous: (readonly PreviousChunk[] | undefined)[]; byteBudget: number };

export type FromWorker =
  /** Only the first `keep` paths of batch `id` will be hashed; the pool must place the rest elsewhere. */
  | { type: 'defer'; id: number; keep: number }
  | { type: 'done'; id: number; results: FileHashResult[] };

/** How many leading paths fit the byte budget (at least one; missing files count as empty). */
function planKeep(paths: string[], byteBudget: number): number {
  let total = 0;
  for (let i = 0; i < paths.length; i++) {
    let size = 0;
    try {
      const st = fs.lstatSync(paths[i] as string);
      if (st.isFile()) size = st.size;
    } catch {
      // The hash step reports the error for this file.
    }
    if (i > 0 && total + size > byteBudget) return i;
    total += size;
  }
  return paths.length;
}

function hashOne(path: string, init: WorkerInit, previous: readonly PreviousChunk[] | undefined, helper: TailHelper | undefined): FileHashResult {
  try {
    const split: SplitRole | undefined = helper && { role: 'head', join: (file) => helper.split(path, init.params, file) };
    const r = chunkFileSync(path, init.params, undefined, previous, init.keepBytesUpTo, split);
    return { path, ok: true, size: r.size, mtimeMs: r.mtimeMs, ino: r.ino, mode: r.mode, chunks: r.chunks, ...(r.bytes ? { bytes: r.bytes } : {}) };
  } catch (err) {
    if (isCanopyError(err) && (err.code === 'UNSTABLE_FILE' || err.code === 'NOT_FOUND' || err.code === 'IO_ERROR' || err.code === 'DISK_FULL')) {
      return { path, ok: false, error: { code: err.code, message: err.message } };
    }
    const message = err instanceof Error ? err.message : String(err);
    return { path, ok: false, error: { code: 'IO_ERROR', message: `hashing ${path} failed: ${message}` } };
  }
}

const port = parentPort;
if (port) {
  const init = workerData as WorkerInit;
  const helper = init.splitMinBytes === undefined ? undefined : new TailHelper(init.splitMinBytes);
  port.on('message', (msg: ToWorker) => {
    let paths = msg.paths;
    if (paths.length > 1) {
      const keep = planKeep(paths, msg.byteBudget);
      if (keep < paths.length) {
        port.postMessage({ type: 'defer', id: msg.id, keep } satisfies FromWorker);
        paths = paths.slice(0, keep);
      }
    }
    const results = paths.map((p, i) => hashOne(p, init, msg.previous[i], helper));
    port.postMessage({ type: 'done', id: msg.id, results } satisfies FromWorker);
  });
}
