/**
 * Recently hashed small chunks, kept in memory for a short while: the bytes the scanner just
 * read from new or edited small files, so that serving them to peers, which ask for them
 * right after the scan announces them, reads no file and hashes nothing again.
 *
 * A cache, not a place bytes live (DESIGN.md section 2): nothing here counts as holding a
 * chunk, so it never answers "is this chunk held?" (placement, cleanup, preserving a file's
 * old bytes); it only saves a read. Every entry is exactly the bytes that hashed to its key.
 * Bounded by bytes and by age; the oldest entries go first.
 */
export interface RecentChunksOptions {
  /** The most bytes kept. */
  maxBytes: number;
  /** Entries older than this are dropped (milliseconds). */
  maxAgeMs: number;
  now?: () => number;
}

interface Entry {
  bytes: Buffer;
  at: number;
}

export class RecentChunks {
  /** Insertion order is age order: a Map iterates oldest first. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private readonly now: () => number;

  constructor(private readonly opts: RecentChunksOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Keeps `bytes` as chunk `hash`; the caller vouches that they hash to it. */
  put(hash: string, bytes: Uint8Array): void {
    if (bytes.byteLength > this.opts.maxBytes) return;
    this.delete(hash);
    // Worker threads hand over plain Uint8Arrays: viewed as a Buffer, not copied.
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.entries.set(hash, { bytes: buf, at: this.now() });
    this.bytes += buf.byteLength;
    this.trim();
  }

  /** The bytes of `hash` if they were kept and are still fresh. */
  get(hash: string): Buffer | undefined {
    this.trim();
    return this.entries.get(hash)?.bytes;
  }

  /** Bytes kept now (for tests and status). */
  get size(): number {
    return this.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private delete(hash: string): void {
    const old = this.entries.get(hash);
    if (!old) return;
    this.entries.delete(hash);
    this.bytes -= old.bytes.byteLength;
  }

  /** Drops the oldest entries while over the byte bound or past the age bound. */
  private trim(): void {
    const oldestAllowed = this.now() - this.opts.maxAgeMs;
    for (const [hash, e] of this.entries) {
      if (this.bytes <= this.opts.maxBytes && e.at >= oldestAllowed) return;
      this.delete(hash);
    }
  }
}
