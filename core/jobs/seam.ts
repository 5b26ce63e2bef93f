/**
 * What the jobs consume from placement and sync: exactly the seam agreed with the
 * placement work, `PlacementView` from `core/placement`, and from sync `fetchChunks`,
 * `announceDropped`, `confirmHolder` and `askHolders` (written as a structural type so the jobs can be
 * tested without a network; the real `SyncService` satisfies it as it is).
 */
import type { FetchResult } from '../sync/fetch-chunks.js';

export type { ChunkPlacement, PlacementView } from '../placement/index.js';
export type { FetchResult } from '../sync/fetch-chunks.js';

/** The parts of sync the jobs use; absent when no daemon runs (a one-shot CLI command). */
export interface JobsSync {
  fetchChunks(hashes: string[], opts?: { signal?: AbortSignal }): Promise<FetchResult>;
  announceDropped(hashes: string[]): void | Promise<void>;
  /**
   * Asks a device, now, to prove it holds a chunk (it serves the chunk and the bytes are
   * verified against the hash). Cleanup asks before every drop; false when the device is
   * not connected or cannot serve it.
   */
  confirmHolder(deviceId: string, hash: string, size: number, signal?: AbortSignal): Promise<boolean>;
  /** Tells peers, soon, what this device now holds (after the cleanup's expiry freed on-demand files). */
  readonly replicaFacts?: { changed(): void };
  /**
   * Asks a device, now, which of these chunks it holds: its claim from its index, no bytes
   * moved. Answered hashes map to the claim; a hash missing from the map was not answered
   * (not connected, silent, an older device), and the caller may ask with `confirmHolder`.
   */
  askHolders(deviceId: string, hashes: string[], signal?: AbortSignal): Promise<Map<string, boolean>>;
}
