/**
 * BLAKE3 content hashes: the names of chunks everywhere in Canopy.
 *
 * Owns the choice of hash and its text form (64 lowercase hex chars). Backed by the native
 * `@napi-rs/blake-hash` (several GB/s with SIMD), so hashing is never the bottleneck next
 * to the chunker.
 */

import { Blake3Hasher, blake3 } from '@napi-rs/blake-hash';

/** BLAKE3-256 of `data` as 64 lowercase hex characters. */
export function blake3Hex(data: Uint8Array): string {
  return blake3(asBuffer(data)).toString('hex');
}

/** A Buffer view of the same bytes (no copy): the native binding takes Buffers only. */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Incremental BLAKE3, for data that arrives in pieces (a chunk that straddles two read
 * blocks) without gluing the pieces together first. Reusable: `digestHex` resets it.
 */
export class Blake3Stream {
  readonly #hasher = new Blake3Hasher();

  update(data: Uint8Array): this {
    if (data.length > 0) this.#hasher.update(asBuffer(data));
    return this;
  }

  /** The hash of everything given since the last digest (or construction), then starts over. */
  digestHex(): string {
    const hex = this.#hasher.digest('hex');
    this.#hasher.reset();
    return hex;
  }
}
