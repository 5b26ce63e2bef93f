/**
 * A fetched chunk's bytes on their way to the code that asked for them, held only until
 * taken.
 *
 * Why a box and not a promise of the Buffer: a chunk is asked for up to a read-ahead
 * window (64 MiB, half a second over Hyperswarm) before its bytes arrive, so by then the
 * promises made for the request are old-generation objects, and a settled promise keeps its
 * value for as long as it lives. Bytes held that way outlived every scavenge, were promoted,
 * and only a full mark-compact freed them: 28 of them per GiB received, each pausing the
 * main thread that also runs the transport. Taken out of the box, the bytes die young.
 */
export class ChunkDelivery {
  #bytes: Buffer | undefined;
  /** Takers still to come; the bytes are let go when the last one has them. */
  #takers = 1;

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** How many callers share this delivery (several asked for one chunk at once); each takes once. */
  expectTakers(n: number): void {
    this.#takers = Math.max(1, n);
  }

  /** The bytes, for one taker. Taking more often than expected is a bug in the caller. */
  take(): Buffer {
    const bytes = this.#bytes;
    if (bytes === undefined) throw new Error('chunk delivery taken more often than it was shared');
    if (--this.#takers === 0) this.#bytes = undefined;
    return bytes;
  }
}
