/**
 * Where the bytes of a file being materialized go: the temp file, written in order, chunk
 * by chunk, before it is flushed and renamed into place.
 *
 * Big files are written with O_DIRECT, past the page cache (DirectSink). A buffered write
 * copies every byte into newly allocated page-cache memory, which the kernel then writes
 * back; direct writes go from our buffer to the disk. Writing a 1 GiB file and flushing it
 * took 2.2-5.5 s and 1.4-4.6 s of system CPU buffered on this machine, against 1.2-1.5 s
 * and 0.3-0.5 s direct (dd, alternating runs). Most of the buffered cost and all of its
 * swing is the first touch of page-cache memory, which here a virtual machine pays dearly
 * for. A synced 50 GiB video also no longer evicts everything else the user had cached.
 *
 * Direct I/O wants the buffer's address, the file offset and the length aligned to the
 * device's block size. Chunks have any size at any offset, so bytes are staged in aligned
 * buffers (AlignedPool) and written a whole buffer at a time; the last one is padded with
 * zeros and the file truncated to its size. Where O_DIRECT is refused (the open, or a write:
 * EINVAL from a filesystem without it), the file is reopened without it and written through
 * the page cache, with the same staging.
 *
 * Small files stay buffered (BufferedSink): their bytes are few, and their flushes are
 * grouped (flush.ts), which needs them in the page cache.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';
import { errnoCode } from '../errors/index.js';

export interface FileSink {
  /** The temp file's descriptor, for the calls made on it once its bytes are written (fchmod, futimes, fstat, flush). */
  readonly fd: number;
  /** Whether its bytes still go past the page cache. */
  readonly direct: boolean;
  /** Writes `data` at `offset`; offsets come in increasing order. A chunk that is all zeros may be skipped by the caller: it reads back as zeros. */
  write(data: Uint8Array, offset: number): Promise<void>;
  /** Writes what is staged and gives the file its size; after this, only `fd` calls and `close`. */
  end(size: number): Promise<void>;
  /**
   * Closes the descriptor, quietly (after a failure: the temp file is removed next), once no
   * write is still queued on it: a number closed under a queued write could be reused by
   * another open, and the write land there.
   */
  close(): Promise<void>;
}

/** Files at least this big are written direct: below it, a few chunks cost little through the page cache. */
export const DIRECT_MIN_BYTES = 8 * 1024 * 1024;
/** The alignment direct writes keep: every block size in use (512 and 4096 bytes) divides it. */
const ALIGN = 4096;
/** One staging buffer: each write to the disk is this big. */
const STAGE_BYTES = 4 * 1024 * 1024;
/** Staging buffers shared by every file written direct at once; a file holds one or two. */
const POOL_BUFFERS = 8;

const openFile = promisify(fs.open);
const writeAsync = promisify(fs.write);
const fdatasyncFile = promisify(fs.fdatasync);

export interface SinkOptions {
  /** Where staging buffers come from (tests use small ones, to cross many buffer edges). */
  pool?: AlignedPool;
  /** Files from this size are written direct (DIRECT_MIN_BYTES unless told). */
  directMinBytes?: number;
}

/** Creates `tmp` (exclusively, mode 0600) and the sink its `size` bytes are written through. */
export async function openFileSink(tmp: string, size: number, opts: SinkOptions = {}): Promise<FileSink> {
  const O_DIRECT = fs.constants.O_DIRECT;
  if (size < (opts.directMinBytes ?? DIRECT_MIN_BYTES) || O_DIRECT === undefined) return new BufferedSink(await openFile(tmp, 'wx', 0o600));
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  let fd: number;
  try {
    fd = await openFile(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_DIRECT, 0o600);
  } catch (err) {
    if (errnoCode(err) !== 'EINVAL') throw err;
    return new BufferedSink(await openFile(tmp, 'wx', 0o600));
  }
  return new DirectSink(fd, tmp, opts.pool ?? sharedPool());
}

// ---------------------------------------------------------------- buffered

/** A file flushed (fdatasync, in the background) after every this many bytes written through the page cache. */
const FLUSH_EVERY_BYTES = 64 * 1024 * 1024;
/** Writes of at most this many bytes are made synchronously (a page-cache copy costs less than a thread-pool trip). */
const SYNC_WRITE_BYTES = 64 * 1024;

/**
 * Writes through the page cache where the data says. A big file is flushed as it is
 * written, one fdatasync in flight at a time, so the flush before the rename finds little
 * left to do instead of the whole file.
 */
class BufferedSink implements FileSink {
  readonly direct = false;
  private writtenTo = 0;
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private flushError: unknown;

  constructor(readonly fd: number) {}

  async write(data: Uint8Array, offset: number): Promise<void> {
    await writeFully(this.fd, data, offset);
    this.writtenTo = offset + data.byteLength;
    this.unflushed += data.byteLength;
    if (this.unflushed >= FLUSH_EVERY_BYTES && !this.flushing) {
      this.unflushed = 0;
      this.flushing = fdatasyncFile(this.fd).then(
        () => void (this.flushing = undefined),
        (err: unknown) => void ((this.flushError = err), (this.flushing = undefined)),
      );
    }
  }

  async end(size: number): Promise<void> {
    await this.flushing;
    if (this.flushError) throw this.flushError;
    // Trailing chunks skipped as zeros: the size comes from truncate (a hole).
    if (this.writtenTo !== size) fs.ftruncateSync(this.fd, size);
  }

  async close(): Promise<void> {
    await this.flushing;
    closeQuietly(this.fd);
  }
}

async function writeFully(fd: number, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const left = data.byteLength - done;
    done += left <= SYNC_WRITE_BYTES ? fs.writeSync(fd, data, done, left, position + done) : (await writeAsync(fd, data, done, left, position + done)).bytesWritten;
  }
}

// ---------------------------------------------------------------- direct

/**
 * Stages bytes in aligned buffers and writes each full buffer with one direct write, the
 * next filling while the last is written. A skipped range (zeros) of at least a block stays
 * a hole; a shorter one is written as the zeros it reads as.
 */
class DirectSink implements FileSink {
  private current: Buffer | undefined;
  /** File offset of current[0]: always a multiple of ALIGN. */
  private base = 0;
  private filled = 0;
  /** Buffers this sink holds (one, or two when the pool had a spare). */
  private readonly held: Buffer[] = [];
  /** The write in flight for each held buffer not being filled. */
  private readonly inFlight = new Map<Buffer, Promise<void>>();
  private failure: unknown;
  private fdNow: number;
  private directNow = true;
  private ended = false;
  /** The reopening of the file without O_DIRECT, once a direct write was refused (fallBack). */
  private reopening: Promise<void> | undefined;
  /** The direct descriptor after a fallback: closed once no write is queued on it. */
  private readonly replaced: number[] = [];

  constructor(fd: number, private readonly tmp: string, private readonly pool: AlignedPool) {
    this.fdNow = fd;
  }

  get fd(): number {
    return this.fdNow;
  }

  get direct(): boolean {
    return this.directNow;
  }

  async write(data: Uint8Array, offset: number): Promise<void> {
    if (this.ended) throw new Error('write after end');
    if (this.current === undefined) {
      await this.takeBuffer();
      this.base = alignDown(offset);
    }
    await this.skipTo(offset);
    await this.stage(data.byteLength, data);
  }

  async end(size: number): Promise<void> {
    this.ended = true;
    try {
      if (this.current !== undefined && this.filled > 0) {
        const len = alignUp(this.filled);
        this.current.fill(0, this.filled, len);
        this.send(this.current, len);
      }
      await Promise.all(this.inFlight.values());
      for (const fd of this.replaced.splice(0)) closeQuietly(fd);
      if (this.failure !== undefined) throw this.failure;
      // Always: the last buffer was padded to a block, and trailing zeros may have been skipped.
      fs.ftruncateSync(this.fdNow, size);
    } finally {
      this.release();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.inFlight.values());
    this.release();
    for (const fd of this.replaced.splice(0)) closeQuietly(fd);
    closeQuietly(this.fdNow);
  }

  /** Moves the write position to `offset`: a short gap is staged as zeros, a longer one becomes a hole. */
  private async skipTo(offset: number): Promise<void> {
    const at = this.base + this.filled;
    if (offset < at) throw new Error(`out-of-order write at ${offset}, already at ${at}`);
    if (offset === at) return;
    // The gap ends within the block being staged, or the next one: zeros, written.
    if (alignDown(offset) <= alignUp(at)) return this.stage(offset - at);
    // A hole of whole blocks: finish the block being staged, write what is staged, start again at the block of `offset`.
    const padded = alignUp(this.filled);
    (this.current as Buffer).fill(0, this.filled, padded);
    this.filled = padded;
    await this.rotate(alignDown(offset));
    (this.current as Buffer).fill(0, 0, offset - this.base);
    this.filled = offset - this.base;
  }

  /** Appends `n` bytes to what is staged: `data`'s, or zeros. A buffer that fills goes to disk. */
  private async stage(n: number, data?: Uint8Array): Promise<void> {
    let done = 0;
    while (done < n) {
      const buf = this.current as Buffer;
      const k = Math.min(n - done, buf.byteLength - this.filled);
      if (data) buf.set(data.subarray(done, done + k), this.filled);
      else buf.fill(0, this.filled, this.filled + k);
      this.filled += k;
      done += k;
      if (this.filled === buf.byteLength) await this.rotate(this.base + this.filled);
    }
  }

  /** Starts writing the first `len` bytes of `buf` at the staging base. */
  private send(buf: Buffer, len: number): void {
    this.inFlight.set(buf, this.writeOut(buf, len, this.base));
  }

  /** Sends the staged bytes (a whole number of blocks) to disk and continues staging at file offset `next` in a free buffer. */
  private async rotate(next: number): Promise<void> {
    const buf = this.current as Buffer;
    if (this.filled > 0) this.send(buf, this.filled);
    this.current = undefined;
    if (this.held.length < 2) {
      const spare = this.pool.tryTake();
      if (spare) this.held.push(spare);
    }
    const free = this.held.find((b) => !this.inFlight.has(b)) ?? (await this.firstDone());
    if (this.failure !== undefined) throw this.failure;
    this.current = free;
    this.base = next;
    this.filled = 0;
  }

  private async firstDone(): Promise<Buffer> {
    const [buf, p] = [...this.inFlight.entries()][0] as [Buffer, Promise<void>];
    await p;
    return buf;
  }

  private async takeBuffer(): Promise<void> {
    const buf = await this.pool.take();
    this.held.push(buf);
    this.current = buf;
    this.filled = 0;
  }

  /** Writes `len` bytes of `buf` at `position`; the buffer is free again when this settles. */
  private async writeOut(buf: Buffer, len: number, position: number): Promise<void> {
    try {
      let done = 0;
      while (done < len) {
        // What this write went to: another write's fallback may finish while it is out.
        const viaDirect = this.directNow;
        try {
          done += (await writeAsync(this.fdNow, buf, done, len - done, position + done)).bytesWritten;
        } catch (err) {
          if (!viaDirect || errnoCode(err) !== 'EINVAL') throw err;
          await this.fallBack();
        }
      }
    } catch (err) {
      this.failure ??= err;
    } finally {
      this.inFlight.delete(buf);
    }
  }

  /**
   * The filesystem refused a direct write: the same temp file, reopened without O_DIRECT
   * (checked to be the very file, as a path can be swapped), takes the rest through the
   * page cache. Writes already made stay.
   */
  private fallBack(): Promise<void> {
    this.reopening ??= (async () => {
      const fd = await openFile(this.tmp, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
      const [a, b] = [fs.fstatSync(fd), fs.fstatSync(this.fdNow)];
      if (a.dev !== b.dev || a.ino !== b.ino) {
        closeQuietly(fd);
        throw new Error(`${this.tmp} was replaced while being written`);
      }
      this.replaced.push(this.fdNow);
      this.fdNow = fd;
      this.directNow = false;
    })();
    return this.reopening;
  }

  /** Gives the buffers back (no write is in flight by now). */
  private release(): void {
    for (const buf of this.held.splice(0)) this.pool.give(buf);
    this.current = undefined;
  }
}

/**
 * Buffers whose addresses are aligned for direct I/O. JavaScript cannot ask for an aligned
 * allocation, and Buffer memory comes from malloc (aligned to 16 bytes); a WebAssembly
 * memory is mapped whole, so it starts on a page boundary, and is carved here into
 * STAGE_BYTES slices. One memory for the process, allocated on first use.
 */
export class AlignedPool {
  private memory: Buffer[] | undefined;
  private readonly free: Buffer[] = [];
  private readonly waiting: ((buf: Buffer) => void)[] = [];

  constructor(private readonly buffers = POOL_BUFFERS, private readonly bytes = STAGE_BYTES) {}

  /** A free buffer, waiting for one if every buffer is held. */
  take(): Promise<Buffer> {
    const buf = this.tryTake();
    if (buf) return Promise.resolve(buf);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  tryTake(): Buffer | undefined {
    if (!this.memory) {
      const mem = new WebAssembly.Memory({ initial: (this.buffers * this.bytes) / 65536 });
      this.memory = Array.from({ length: this.buffers }, (_, i) => Buffer.from(mem.buffer, i * this.bytes, this.bytes));
      this.free.push(...this.memory);
    }
    return this.free.pop();
  }

  give(buf: Buffer): void {
    const next = this.waiting.shift();
    if (next) next(buf);
    else this.free.push(buf);
  }
}

let shared: AlignedPool | undefined;
function sharedPool(): AlignedPool {
  shared ??= new AlignedPool();
  return shared;
}

function alignDown(n: number): number {
  return n - (n % ALIGN);
}

function alignUp(n: number): number {
  return alignDown(n + ALIGN - 1);
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // closing after a failed write: the temp file is removed next, nothing is lost
  }
}
