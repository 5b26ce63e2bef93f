/**
 * What the jobs consume from placement and sync: exactly the seam agreed with the
 * placement work (`core/placement/index.ts`, `sync.fetchChunks`, `sync.announceDropped`),
 * written as structural types so the jobs build and test before placement lands; the real
 * `PlacementView` and `SyncService` satisfy them as they are.
 */
import type { Priority } from '../config/schema.js';

export interface ChunkPlacement {
  hash: string;
  size: number;
  priority: Priority;
  /** Copies wanted. */
  factor: number;
  /** Fewest verified copies cleanup may ever leave. */
  minimum: number;
  /** Devices that should hold it (deterministic). */
  designated: string[];
  /** Devices with a verified replica (the local device included when it holds it). */
  holders: string[];
  /** max(0, factor - designated.length) when too few devices are eligible. */
  shortfall: number;
}

export interface PlacementView {
  readonly localDeviceId: string;
  chunks(): Iterable<ChunkPlacement>;
  forChunk(hash: string): ChunkPlacement | null;
  /** Devices that count for placement now (paired, not revoked, not gone past the offline grace). */
  liveDevices(): string[];
}

export interface FetchResult {
  fetched: number;
  failed: { hash: string; reason: string }[];
}

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
}
