/**
 * A hostile peer for integration tests: a client that pairs with a real daemon through a
 * real invite (so it holds a valid membership and its signatures verify), then speaks the
 * sync protocol on its own protomux channel with encoders that also send raw bytes, so a
 * test can send anything: garbage frames, oversize messages, forged or well-signed but
 * malicious log entries, and chunks that do not match their hash.
 *
 * Nothing of Canopy is faked: pairing is the real `requestPairing`, the codecs are the real
 * ones, entries are canonical JSON signed with the peer's own ed25519 key.
 */
import { randomBytes } from 'node:crypto';
import Hyperswarm, { type SecretStream } from 'hyperswarm';
import DHT from 'hyperdht';
import Protomux, { type Channel, type Encoding, type Message } from 'protomux';
import { blake3Hex } from '../chunking/hash.js';
import { deviceIdFromPublicKey, identityFromSeed, sign, toHyperKeyPair, type Identity } from '../identity/index.js';
import { canonicalBytes, type Json } from '../log/canonical.js';
import { Mesh, pairingProof } from '../mesh/index.js';
import {
  codecs, PROTOCOL_VERSION, SYNC_PROTOCOL,
  type Cancel, type Capacity, type ChunkData, type ChunkRequest, type Codec, type DirectOffer, type Entries, type ErrorMessage, type Hashes, type Hello,
  type HoldsAnswer, type HoldsQuestion, type Inventory, type Vector, type Welcome, type WireEntry,
} from '../net/messages.js';
import { parseHostPort } from '../net/network.js';
import { requestPairing } from '../sync/pairing.js';
import { waitFor } from './index.js';

/** Bytes sent as a message's whole payload, exactly as given (no encoding). */
export class Raw {
  constructor(readonly bytes: Uint8Array) {}
}

type Wire<T> = T | Raw;
type State = { start: number; end: number; buffer: Uint8Array | null };

/** The real codec for decoding and for well-formed values; `Raw` values go out byte for byte. */
function rawable<T>(codec: Codec<T>): Encoding<Wire<T>> {
  return {
    preencode(state: State, v: Wire<T>) {
      if (v instanceof Raw) state.end += v.bytes.byteLength;
      else codec.preencode(state, v);
    },
    encode(state: State, v: Wire<T>) {
      if (v instanceof Raw) {
        (state.buffer as Uint8Array).set(v.bytes, state.start);
        state.start += v.bytes.byteLength;
      } else codec.encode(state, v);
    },
    decode: (state: State) => codec.decode(state),
  };
}

/** Encodes one message with its real codec (e.g. to truncate it afterwards). */
export function encodeMessage<T>(codec: Codec<T>, value: T): Buffer {
  const state: State = { start: 0, end: 0, buffer: null };
  codec.preencode(state, value);
  const buffer = Buffer.alloc(state.end);
  state.buffer = buffer;
  state.start = 0;
  codec.encode(state, value);
  return buffer;
}

export interface HostileSend {
  hello: Message<Wire<Hello>>;
  entries: Message<Wire<Entries>>;
  vector: Message<Wire<Vector>>;
  have: Message<Wire<Hashes>>;
  want: Message<Wire<Hashes>>;
  request: Message<Wire<ChunkRequest>>;
  data: Message<Wire<ChunkData>>;
  cancel: Message<Wire<Cancel>>;
  error: Message<Wire<ErrorMessage>>;
  inventory: Message<Wire<Inventory>>;
  drop: Message<Wire<Hashes>>;
  capacity: Message<Wire<Capacity>>;
  direct: Message<Wire<DirectOffer>>;
  holdsQuestion: Message<Wire<HoldsQuestion>>;
  holdsAnswer: Message<Wire<HoldsAnswer>>;
}

/** What the other side's messages do on a hostile channel (all optional: unhandled ones are ignored). */
export interface HostileReceive {
  hello?(h: Hello): void;
  entries?(): void;
  request?(r: ChunkRequest): void;
  error?(e: ErrorMessage): void;
  direct?(o: DirectOffer): void;
  holdsQuestion?(q: HoldsQuestion): void;
  holdsAnswer?(a: HoldsAnswer): void;
}

/**
 * The sync channel's messages on `channel`, with the real codecs (and raw bytes allowed):
 * the same messages in the same order as core/sync/session.ts.
 */
export function hostileMessages(channel: Channel, on: HostileReceive): HostileSend {
  const add = <T>(codec: Codec<T>, fn?: (v: T) => void) =>
    channel.addMessage({ encoding: rawable(codec), onmessage: (v: Wire<T>) => fn?.(v as T) });
  return {
    hello: add(codecs.hello, on.hello),
    entries: add(codecs.entries, on.entries),
    vector: add(codecs.vector),
    have: add(codecs.have),
    want: add(codecs.want),
    request: add(codecs.request, on.request),
    data: add(codecs.data),
    cancel: add(codecs.cancel),
    error: add(codecs.error, on.error),
    inventory: add(codecs.inventory),
    drop: add(codecs.drop),
    capacity: add(codecs.capacity),
    direct: add(codecs.direct, on.direct),
    holdsQuestion: add(codecs.holdsQuestion, on.holdsQuestion),
    holdsAnswer: add(codecs.holdsAnswer, on.holdsAnswer),
  };
}

export interface PairOptions {
  /** "host:port" of the loopback DHT bootstrap node. */
  bootstrap: string;
  /** An invite code from `canopy invite`. */
  code: string;
  name?: string;
  timeoutMs?: number;
}

export class HostilePeer {
  readonly deviceId: string;
  /** What the daemon said in its hello (set once the sync channel is open). */
  daemonHello: Hello | undefined;
  /** Every `error` message the daemon sent (id 0: it is cutting this peer off). */
  readonly errors: ErrorMessage[] = [];
  /** Every chunk request the daemon sent. */
  readonly requests: ChunkRequest[] = [];
  entryMessages = 0;
  /** Direct-link offers the daemon made (addresses it listens at). */
  readonly directOffers: DirectOffer[] = [];
  /** The daemon's answers to this peer's holder questions. */
  readonly holdsAnswers: HoldsAnswer[] = [];
  closed = false;
  /**
   * What this peer answers chunk requests with, by hash (hex). Sent as given: a test puts
   * wrong bytes here to serve a corrupt chunk. Unknown hashes get a NOT_FOUND error.
   */
  readonly chunks = new Map<string, Uint8Array>();
  readonly send: HostileSend;

  private constructor(
    readonly identity: Identity,
    readonly welcome: Welcome,
    readonly stream: SecretStream,
    private readonly swarm: Hyperswarm,
    readonly channel: Channel,
    send: HostileSend,
  ) {
    this.deviceId = identity.deviceId;
    this.send = send;
    stream.once('close', () => (this.closed = true));
  }

  /**
   * Pairs a brand-new device identity with the daemon that made `code`, then opens the sync
   * channel on the same connection (the daemon answers it) and waits for the daemon's hello.
   * Does not send a hello of its own: see `sendHello`.
   */
  static async pair(opts: PairOptions): Promise<HostilePeer> {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const identity = identityFromSeed(randomBytes(32));
    const { secret, id, topic } = Mesh.decodeCode(opts.code);
    const keyPair = toHyperKeyPair(identity);
    const dht = new DHT({ bootstrap: [parseHostPort(opts.bootstrap)], keyPair, host: '127.0.0.1', firewalled: false });
    const swarm = new Hyperswarm({ keyPair, dht });
    try {
      let first: SecretStream | undefined;
      const connected = new Promise<SecretStream>((resolve) => {
        swarm.on('connection', (stream) => {
          stream.on('error', () => undefined); // being cut off is what these tests are about
          // Only the first connection is ours to drive; a reconnect after a cut-off is dropped.
          if (first) return void stream.destroy();
          first = stream;
          resolve(stream);
        });
      });
      swarm.join(topic, { server: false, client: true });
      const stream = await withTimeout(connected, timeoutMs, 'no connection to the inviting daemon');
      const remoteKey = Buffer.from(stream.remotePublicKey);
      const welcome = await requestPairing(
        { stream, publicKey: remoteKey, deviceId: deviceIdFromPublicKey(remoteKey), member: false },
        { proof: pairingProof(secret, 'join', identity.publicKey, remoteKey), inviteId: id, name: opts.name ?? 'hostile', labels: {}, trust: 'owner' },
      );

      const mux = Protomux.from(stream);
      const channel = mux.createChannel({ protocol: SYNC_PROTOCOL, unique: true });
      if (!channel) throw new Error('could not open a sync channel');
      // Messages only arrive once the channel is open, by which time `peer` is set.
      let peer: HostilePeer | undefined;
      const on = (fn: (p: HostilePeer) => void) => void (peer && fn(peer));
      const send = hostileMessages(channel, {
        hello: (h) => on((p) => (p.daemonHello = h)),
        entries: () => on((p) => p.entryMessages++),
        request: (r) => on((p) => p.serve(r)),
        error: (e) => on((p) => p.errors.push(e)),
        direct: (o) => on((p) => p.directOffers.push(o)),
        holdsAnswer: (a) => on((p) => p.holdsAnswers.push(a)),
      });
      peer = new HostilePeer(identity, welcome, stream, swarm, channel, send);
      channel.open();
      const p = peer;
      await waitFor(() => p.daemonHello !== undefined || p.closed, 'the daemon to open the sync channel', timeoutMs);
      if (!p.daemonHello) throw new Error('the daemon closed the connection instead of opening the sync channel');
      return p;
    } catch (err) {
      await swarm.destroy().catch(() => undefined);
      throw err;
    }
  }

  /** A well-formed hello naming this device (entries are only accepted after one). */
  sendHello(): void {
    this.send.hello.send({ protocol: PROTOCOL_VERSION, deviceId: this.deviceId, name: 'hostile', labels: {}, vector: [], storeMaxBytes: 0, storeUsedBytes: 0 });
  }

  /** Whether the daemon told this peer it is cut off (an error with id 0). */
  get cutOffError(): ErrorMessage | undefined {
    return this.errors.find((e) => e.id === 0);
  }

  /** Waits until the daemon sent an error with id 0 or closed the connection. */
  async waitCutOff(timeoutMs = 20_000): Promise<void> {
    await waitFor(() => this.closed || this.cutOffError !== undefined, `device ${this.deviceId.slice(0, 8)} to be cut off`, timeoutMs);
    // An error message is followed by the daemon destroying the stream.
    if (!this.closed) await waitFor(() => this.closed, `the connection of ${this.deviceId.slice(0, 8)} to close`, timeoutMs);
  }

  async destroy(): Promise<void> {
    this.stream.destroy();
    await this.swarm.destroy().catch(() => undefined);
  }

  private serve(r: ChunkRequest): void {
    this.requests.push(r);
    const hash = Buffer.from(r.hash).toString('hex');
    const data = this.chunks.get(hash);
    if (data) this.send.data.send({ id: r.id, hash: r.hash, data });
    else this.send.error.send({ id: r.id, code: 'NOT_FOUND', message: 'not here' });
  }
}

// ---------------------------------------------------------------------------------------
// Log entries, built the way a device builds them (canonical JSON body, ed25519 signature)

export interface VersionSpec {
  folder: string;
  path: string;
  kind?: 'file' | 'dir' | 'symlink' | 'tombstone';
  /** A file's content: one chunk (≤ 4 MiB). */
  data?: Uint8Array;
  target?: string;
  mode?: number;
}

/** The signed body of one version, as `Versions.recordLocalBatch` writes it. */
export function versionBody(spec: VersionSpec, author: string, seq: number): Json {
  const kind = spec.kind ?? 'file';
  const data = spec.data ?? new Uint8Array();
  return {
    folder: spec.folder,
    path: spec.path,
    kind,
    size: kind === 'file' ? data.byteLength : 0,
    mtimeMs: Date.now(),
    mode: spec.mode ?? (kind === 'symlink' ? 0o777 : kind === 'dir' ? 0o755 : 0o644),
    target: spec.target,
    chunks: kind === 'file' && data.byteLength > 0 ? [[blake3Hex(data), data.byteLength]] : [],
    parents: [],
    vector: { [author]: seq },
  };
}

/** A 'versions' entry of `author`'s log at `seq`, signed by `signer` (default: the author). */
export function versionsEntry(author: Identity, seq: number, specs: readonly VersionSpec[], signer: Identity = author): WireEntry {
  const body = canonicalBytes({
    t: 'versions', author: author.deviceId, seq, createdAt: Date.now(),
    versions: specs.map((s) => versionBody(s, author.deviceId, seq)),
  });
  return { origin: author.deviceId, seq, kind: 'versions', body, signature: sign(signer, body) };
}

/** An entry signed by the origin's key with arbitrary body fields (e.g. another author named inside). */
export function signedEntry(origin: string, seq: number, kind: string, body: Json, signer: Identity): WireEntry {
  const bytes = canonicalBytes(body);
  return { origin, seq, kind, body: bytes, signature: sign(signer, bytes) };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms))),
  ]);
}
