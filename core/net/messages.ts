/**
 * The wire messages of the sync channel, as compact-encoding codecs (one protomux channel,
 * one message type each). Decoding only checks the shape; every value is still hostile
 * and is checked by its receiver (sizes, counts, paths, signatures, hashes).
 */
import c from 'compact-encoding';

export const SYNC_PROTOCOL = 'canopy/sync/1';
export const PAIR_PROTOCOL = 'canopy/pair/1';
export const PROTOCOL_VERSION = 1;

/** Every frame stays far below secret-stream's 16 MiB limit. */
export const MAX_FRAME = 8 * 1024 * 1024;
/** Log entries are sent in batches of about this many body bytes. */
export const ENTRY_BATCH_BYTES = 1024 * 1024;

type State = { start: number; end: number; buffer: Uint8Array | null };
export interface Codec<T> {
  preencode(state: State, value: T): void;
  encode(state: State, value: T): void;
  decode(state: State): T;
}

/** A codec for a fixed list of named fields, in order. */
function struct<T>(fields: { [K in keyof T]: Codec<T[K]> }): Codec<T> {
  const entries = Object.entries(fields) as [keyof T & string, Codec<unknown>][];
  return {
    preencode(state, value) {
      for (const [k, enc] of entries) enc.preencode(state, value[k]);
    },
    encode(state, value) {
      for (const [k, enc] of entries) enc.encode(state, value[k]);
    },
    decode(state) {
      const out = {} as T;
      for (const [k, enc] of entries) (out as Record<string, unknown>)[k] = enc.decode(state);
      return out;
    },
  };
}

const uint = c.uint as Codec<number>;
const string = c.string as Codec<string>;
const buffer = c.buffer as Codec<Uint8Array>;
const fixed32 = c.fixed32 as Codec<Uint8Array>;
const fixed64 = c.fixed64 as Codec<Uint8Array>;
const array = <T>(enc: Codec<T>) => c.array(enc) as Codec<T[]>;
const stringRecord = c.stringRecord as Codec<Record<string, string>>;

export interface VectorItem { origin: string; seq: number }
export interface Hello {
  protocol: number;
  deviceId: string;
  name: string;
  labels: Record<string, string>;
  /** What this device holds of each origin's log. */
  vector: VectorItem[];
  storeMaxBytes: number;
  storeUsedBytes: number;
}
export interface WireEntry { origin: string; seq: number; kind: string; body: Uint8Array; signature: Uint8Array }
export interface Entries { entries: WireEntry[] }
export interface Vector { vector: VectorItem[] }
export interface Hashes { hashes: Uint8Array[] }
export interface ChunkRequest { id: number; hash: Uint8Array; size: number }
export interface ChunkData { id: number; hash: Uint8Array; data: Uint8Array }
export interface Cancel { id: number }
export interface ErrorMessage { id: number; code: string; message: string }
/** A batch of the sender's whole holding (sent on connect); `final` closes it: what it did not name, it does not hold. */
export interface Inventory { final: boolean; hashes: Uint8Array[] }
/** Where the sender can be reached over a direct TCP link (net/direct.ts); an empty list: nowhere. */
export interface DirectOffer { addresses: { host: string; port: number }[] }
/** The sender's store facts, for placement (weights, "full"). */
export interface Capacity { maxBytes: number; usedBytes: number; reservedBytes: number; shareExcess: boolean; full: boolean }
/** "Which of these chunks do you hold, verified?" (cleanup confirming holders without moving the bytes). */
export interface HoldsQuestion { id: number; hashes: Uint8Array[] }
/** The answer to question `id`: `count` (the question's length) bits, bit i set when hash i is held, LSB first. */
export interface HoldsAnswer { id: number; count: number; held: Uint8Array }

const vectorItem = struct<VectorItem>({ origin: string, seq: uint });

export const codecs = {
  hello: struct<Hello>({ protocol: uint, deviceId: string, name: string, labels: stringRecord, vector: array(vectorItem), storeMaxBytes: uint, storeUsedBytes: uint }),
  entries: struct<Entries>({ entries: array(struct<WireEntry>({ origin: string, seq: uint, kind: string, body: buffer, signature: fixed64 })) }),
  vector: struct<Vector>({ vector: array(vectorItem) }),
  have: struct<Hashes>({ hashes: array(fixed32) }),
  want: struct<Hashes>({ hashes: array(fixed32) }),
  request: struct<ChunkRequest>({ id: uint, hash: fixed32, size: uint }),
  data: struct<ChunkData>({ id: uint, hash: fixed32, data: buffer }),
  cancel: struct<Cancel>({ id: uint }),
  error: struct<ErrorMessage>({ id: uint, code: string, message: string }),
  // Replica facts (placement). New messages go last: protomux numbers them in order.
  inventory: struct<Inventory>({ final: c.bool as Codec<boolean>, hashes: array(fixed32) }),
  drop: struct<Hashes>({ hashes: array(fixed32) }),
  capacity: struct<Capacity>({ maxBytes: uint, usedBytes: uint, reservedBytes: uint, shareExcess: c.bool as Codec<boolean>, full: c.bool as Codec<boolean> }),
  direct: struct<DirectOffer>({ addresses: array(struct<{ host: string; port: number }>({ host: string, port: uint })) }),
  // Holder questions (cleanup). A device without them ignores the frames: the asker times out and falls back.
  holdsQuestion: struct<HoldsQuestion>({ id: uint, hashes: array(fixed32) }),
  holdsAnswer: struct<HoldsAnswer>({ id: uint, count: uint, held: buffer }),
};

/** Pairing channel: the joiner proves it holds the invite, the inviter proves it too. */
export interface JoinRequest { proof: Uint8Array; inviteId: string; name: string; labels: Record<string, string>; trust: string }
export interface DeviceRecord { id: string; publicKey: Uint8Array; name: string; labels: Record<string, string>; trust: string }
export interface Welcome { proof: Uint8Array; meshKey: Uint8Array; devices: DeviceRecord[] }
export interface Refusal { reason: string }

export const pairCodecs = {
  join: struct<JoinRequest>({ proof: fixed32, inviteId: string, name: string, labels: stringRecord, trust: string }),
  welcome: struct<Welcome>({ proof: fixed32, meshKey: fixed32, devices: array(struct<DeviceRecord>({ id: string, publicKey: fixed32, name: string, labels: stringRecord, trust: string })) }),
  refusal: struct<Refusal>({ reason: string }),
};

export function toVector(items: readonly VectorItem[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { origin, seq } of items) out[origin] = seq;
  return out;
}

export function fromVector(v: Record<string, number>): VectorItem[] {
  return Object.entries(v).map(([origin, seq]) => ({ origin, seq }));
}
