/**
 * Chunking one big file on two threads, with exactly the cuts one thread would make.
 *
 * FastCDC's next cut after a cut point depends only on the bytes after it (fastcdc.ts), so
 * two chunkers started at different places cut identically from the first cut point they
 * share on. A hash worker given a big new file sends its second half to a helper thread,
 * which chunks it as if the middle were a cut point, while the worker chunks from the
 * start. Past the middle, at each of its cuts, the worker looks (without waiting) for the
 * helper's chunks; at the first cut of its own that is also one of the helper's, the
 * helper's chunks are the rest of the file. Random data falls into step within a chunk or
 * two; data that never does (long runs of one byte are cut only at maxSize, and the two
 * runs of cuts can stay out of phase to the end) is simply chunked on by the worker alone.
 * So the result never depends on the helper, only the time does: a 1 GiB file's scan, the
 * wait before its first byte can go to another device, went from 1.2-1.6 s to 0.6-1.0 s on
 * two cores.
 *
 * The helper reads the file on its own and refuses to chunk it unless it is still the file
 * the worker saw (inode, size, mtime), before and after reading; the worker checks the
 * same over the whole file as always.
 */

import type { MessagePort, Worker } from 'node:worker_threads';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';

import type { ChunkingParams } from './fastcdc.js';
import { READ_BLOCK_SIZE } from './file-chunker.js';
import type { FileChunk, FileIdentity, TailJoin } from './file-chunker.js';
import { startWorker } from './spawn.js';

/** Files at least this big are split: far above the few chunks it takes to fall into step, and worth a message to another thread. */
export const SPLIT_MIN_BYTES = 32 * 1024 * 1024;

/** Helper crashes after which a worker stops splitting: chunking alone is always correct. */
const MAX_HELPER_CRASHES = 3;

/** A file's second half, sent to the helper. */
export interface TailJob {
  id: number;
  path: string;
  from: number;
  params: ChunkingParams;
  expect: FileIdentity;
}

export type TailAnswer = { id: number; ok: true; chunks: FileChunk[] } | { id: number; ok: false; message: string };

/** What the helper thread is started with. */
export interface TailWorkerInit {
  port: MessagePort;
}

/**
 * A hash worker's helper thread, started on the first big file and kept for the next. Lives
 * in the worker thread; the helper dies with it.
 */
export class TailHelper {
  /** Not a #private field: tests reach in to kill it and check the worker goes on alone. */
  private worker: Worker | undefined;
  #port: MessagePort | undefined;
  #nextId = 1;
  #crashes = 0;

  constructor(private readonly minBytes = SPLIT_MIN_BYTES) {}

  /**
   * For a file of at least minBytes: sends its second half to the helper and returns the
   * join the worker's chunker consults. Undefined for a smaller file, or when the helper
   * cannot run.
   */
  split(path: string, params: ChunkingParams, file: FileIdentity): TailJoin | undefined {
    if (file.size < this.minBytes || file.size < 2 * READ_BLOCK_SIZE) return undefined;
    const port = this.#start();
    if (!port) return undefined;
    // At a read block boundary: both threads then read whole aligned blocks.
    const at = Math.floor(file.size / 2 / READ_BLOCK_SIZE) * READ_BLOCK_SIZE;
    const id = this.#nextId++;
    const job: TailJob = { id, path, from: at, params, expect: { ino: file.ino, size: file.size, mtimeMs: file.mtimeMs } };
    port.postMessage(job);
    return new TailJoiner(at, () => receiveAnswer(port, id));
  }

  #start(): MessagePort | undefined {
    if (this.#port) return this.#port;
    if (this.#crashes >= MAX_HELPER_CRASHES) return undefined;
    const { port1, port2 } = new MessageChannel();
    let worker: Worker;
    try {
      worker = startWorker('tail-worker', { port: port2 } satisfies TailWorkerInit, [port2]);
    } catch {
      this.#crashes++;
      return undefined;
    }
    worker.on('error', () => {
      // The exit that follows is what counts; the worker then chunks alone.
    });
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.#crashes++;
      this.worker = undefined;
      this.#port?.close();
      this.#port = undefined;
    });
    // Neither may keep the hash worker alive; port1 is only ever read with receiveMessageOnPort.
    worker.unref();
    port1.unref();
    this.worker = worker;
    this.#port = port1;
    return port1;
  }
}

/**
 * The worker's side of one split file: compares the worker's cuts past `at` with the
 * helper's chunk starts, once `receive` has them (undefined: not yet; null: the helper
 * could not chunk the file, so the worker goes on alone).
 */
export class TailJoiner implements TailJoin {
  /** The helper's chunks once in, undefined before, null if there will be none. */
  #tail: FileChunk[] | null | undefined;
  /** Offset -> index of the helper's chunk starting there. */
  readonly #starts = new Map<number, number>();
  /** How many of the worker's chunks had their end compared. */
  #checked = 0;

  constructor(readonly at: number, private readonly receive: () => FileChunk[] | null | undefined) {}

  join(chunks: FileChunk[]): boolean {
    if (this.#tail === undefined) {
      this.#tail = this.receive();
      this.#tail?.forEach((c, i) => this.#starts.set(c.offset, i));
    }
    const tail = this.#tail;
    if (!tail) return false;
    for (; this.#checked < chunks.length; this.#checked++) {
      const c = chunks[this.#checked] as FileChunk;
      const cut = c.offset + c.size;
      // Only the helper's chunk starts are in the map, all at or past `at`.
      const from = this.#starts.get(cut);
      if (from === undefined) continue;
      chunks.length = this.#checked + 1;
      for (let i = from; i < tail.length; i++) chunks.push(tail[i] as FileChunk);
      return true;
    }
    return false;
  }
}

/** The helper's answer for file `id` if it is in (answers for earlier files are dropped), without waiting. */
function receiveAnswer(port: MessagePort, id: number): FileChunk[] | null | undefined {
  for (;;) {
    const got = receiveMessageOnPort(port) as { message: TailAnswer } | undefined;
    if (!got) return undefined;
    if (got.message.id === id) return got.message.ok ? got.message.chunks : null;
  }
}
