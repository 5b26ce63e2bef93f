/**
 * One sync channel with one paired device: the protocol's messages in both directions,
 * flow control, and chunk requests in flight. Every field from the peer is checked here
 * (counts, sizes, hashes) before it reaches the engine; a peer that breaks the protocol is
 * told why and cut off.
 */
import Protomux, { type Channel, type Message } from 'protomux';
import { blake3Hex } from '../chunking/hash.js';
import { CanopyError } from '../errors/index.js';
import type { PeerConnection } from '../net/network.js';
import {
  codecs, PROTOCOL_VERSION, SYNC_PROTOCOL, toVector,
  type Cancel, type Capacity, type ChunkData, type DirectOffer, type ChunkRequest, type Entries, type ErrorMessage, type Hashes, type Hello,
  type HoldsAnswer, type HoldsQuestion, type Inventory, type Vector, type WireEntry,
} from '../net/messages.js';
import { ChunkDelivery } from './delivery.js';
import { fromBitfield, MAX_HOLDS_PER_QUESTION, toBitfield } from './holds.js';
import { MAX_DIRECT_ADDRESSES, type DirectAddress } from '../net/direct.js';
import { PeerStats } from './peer-stats.js';
import type { RateLimiter } from './rate-limit.js';

export const MAX_CHUNK = 4 * 1024 * 1024;
const MAX_ENTRIES_PER_MESSAGE = 10_000;
const MAX_HASHES_PER_MESSAGE = 65_536;
const SERVE_CONCURRENCY = 8;
/**
 * Chunks sent without waiting for a drain, on top of the one that filled the stream: they
 * wait in the stream's own buffer, so when the transport drains it is fed at once instead
 * of after a trip back through this class. Bounds what is buffered to a few chunks.
 */
const SEND_AHEAD = 2;
/** Requests a peer may have queued here beyond those being served: network.max_inflight_requests allows up to 4096. */
const MAX_QUEUED_SERVES = 4096;
/**
 * Small messages sent in one turn of the event loop leave as one protomux batch: one
 * encrypted frame and one socket write instead of one each. 10,000 small files are 10,000
 * requests one way and 10,000 replies the other, and unbatched, the writes alone took a
 * third of a second of each side's main thread. A batch is flushed at this size, so the
 * peer can start on it while the rest is gathered.
 */
const BATCH_BYTES = 256 * 1024;
/** A message at least this big goes on its own, after the batch so far (order is kept): copying it into a batch gains nothing. */
const UNBATCHED_BYTES = 64 * 1024;
/** What a message with no payload to speak of is counted as in a batch. */
const SMALL_MESSAGE = 64;
/** Holder questions a peer may have this device working on at once (an honest asker has one). */
const MAX_OPEN_HOLDS_QUESTIONS = 8;
/** How long the asker waits for an answer; silence (a device that does not know the question) means "ask another way". */
const HOLDS_TIMEOUT_MS = 10_000;
/** How long a cut-off peer's connection stays up for the error message to be delivered. */
const FAIL_FLUSH_MS = 2000;

export interface SessionHandlers {
  hello(): Hello;
  onHello(session: PeerSession): void;
  onEntries(session: PeerSession, entries: WireEntry[]): void;
  onVector(session: PeerSession): void;
  serveChunk(hash: string, size: number): Promise<Buffer | undefined>;
  onClose(session: PeerSession): void;
  log(line: string): void;
  /** Replica facts the peer announces (placement); hashes are checked hex names. */
  replicas?: ReplicaHandlers;
  /** The peer offers a direct link at these addresses (checked for shape and count, not yet for reachability). */
  onDirectOffer?(session: PeerSession, addresses: DirectAddress[]): void;
  /** Which of these chunks this device holds, from its index (holds.ts); absent: every answer is "no". */
  holds?(hashes: string[]): Promise<boolean[]>;
}

export interface ReplicaHandlers {
  onHave(session: PeerSession, hashes: string[]): void;
  onInventory(session: PeerSession, hashes: string[], final: boolean): void;
  onDrop(session: PeerSession, hashes: string[]): void;
  onCapacity(session: PeerSession, facts: Capacity): void;
}

interface Pending {
  hash: string;
  size: number;
  started: number;
  resolve: (delivery: ChunkDelivery) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface PendingQuestion {
  count: number;
  resolve: (held: boolean[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class PeerSession {
  readonly deviceId: string;
  readonly publicKey: Buffer;
  readonly stats = new PeerStats();
  readonly connectedAt = Date.now();
  /** Over a direct TCP link (net/direct.ts), not a Hyperswarm connection. */
  readonly direct: boolean;
  hello: Hello | undefined;
  /** What the peer holds of each origin's log, as far as we know (what it said, plus what we sent). */
  peerVector: Record<string, number> = {};
  closed = false;

  private readonly channel: Channel;
  private readonly m: {
    hello: Message<Hello>; entries: Message<Entries>; vector: Message<Vector>; have: Message<Hashes>; want: Message<Hashes>;
    request: Message<ChunkRequest>; data: Message<ChunkData>; cancel: Message<Cancel>; error: Message<ErrorMessage>;
    inventory: Message<Inventory>; drop: Message<Hashes>; capacity: Message<Capacity>; direct: Message<DirectOffer>;
    holdsQuestion: Message<HoldsQuestion>; holdsAnswer: Message<HoldsAnswer>;
  };
  private readonly pending = new Map<number, Pending>();
  private pendingBytes = 0;
  /** Holder questions asked and not yet answered (ids share `nextId` with chunk requests). */
  private readonly questions = new Map<number, PendingQuestion>();
  /** Holder questions from the peer being answered now. */
  private answering = 0;
  private nextId = 1;
  private drainWaiters: (() => void)[] = [];
  private serveQueue: ChunkRequest[] = [];
  private serving = 0;
  /** Chunks sent since the stream last drained (see SEND_AHEAD). */
  private sentSinceDrain = 0;
  private readonly cancelled = new Set<number>();
  /** Bytes in the open batch (see BATCH_BYTES); -1 while no batch is open (the channel is not corked by us). */
  private batchBytes = -1;
  private flushScheduled = false;

  constructor(private readonly conn: PeerConnection, private readonly handlers: SessionHandlers, private readonly upload: RateLimiter) {
    this.deviceId = conn.deviceId;
    this.publicKey = conn.publicKey;
    this.direct = conn.direct === true;
    const mux = Protomux.from(conn.stream);
    const channel = mux.createChannel({
      protocol: SYNC_PROTOCOL,
      unique: true,
      onopen: () => {
        this.send(this.m.hello, handlers.hello());
      },
      onclose: () => this.teardown(),
      ondrain: () => this.drained(),
    });
    if (!channel) throw new CanopyError('CONFLICT', 'a sync channel with this device is already open');
    this.channel = channel;
    // Handlers never throw into protomux (it would destroy the stream without a word):
    // a broken message is answered with an error and an explicit cut-off.
    const guard = <T>(fn: (v: T) => void) => (v: T) => {
      if (this.closed) return; // cut off: whatever it still sends is ignored
      try {
        fn(v);
      } catch (err) {
        this.fail('PROTOCOL', err instanceof Error ? err.message : String(err));
      }
    };
    this.m = {
      hello: channel.addMessage({ encoding: codecs.hello, onmessage: guard((v) => this.onHello(v)) }),
      entries: channel.addMessage({ encoding: codecs.entries, onmessage: guard((v) => this.onEntries(v)) }),
      vector: channel.addMessage({ encoding: codecs.vector, onmessage: guard((v) => this.onVector(v)) }),
      have: channel.addMessage({ encoding: codecs.have, onmessage: guard((v) => handlers.replicas?.onHave(this, this.checkHashes(v))) }),
      want: channel.addMessage({ encoding: codecs.want, onmessage: guard((v) => this.checkHashes(v)) }),
      request: channel.addMessage({ encoding: codecs.request, onmessage: guard((v) => this.onRequest(v)) }),
      data: channel.addMessage({ encoding: codecs.data, onmessage: guard((v) => this.onData(v)) }),
      cancel: channel.addMessage({ encoding: codecs.cancel, onmessage: guard((v) => this.cancelled.add(v.id)) }),
      error: channel.addMessage({ encoding: codecs.error, onmessage: guard((v) => this.onError(v)) }),
      inventory: channel.addMessage({ encoding: codecs.inventory, onmessage: guard((v) => handlers.replicas?.onInventory(this, this.checkHashes(v), v.final)) }),
      drop: channel.addMessage({ encoding: codecs.drop, onmessage: guard((v) => handlers.replicas?.onDrop(this, this.checkHashes(v))) }),
      capacity: channel.addMessage({ encoding: codecs.capacity, onmessage: guard((v) => this.onCapacity(v)) }),
      direct: channel.addMessage({ encoding: codecs.direct, onmessage: guard((v) => this.onDirectOffer(v)) }),
      holdsQuestion: channel.addMessage({ encoding: codecs.holdsQuestion, onmessage: guard((v) => this.onHoldsQuestion(v)) }),
      holdsAnswer: channel.addMessage({ encoding: codecs.holdsAnswer, onmessage: guard((v) => this.onHoldsAnswer(v)) }),
    };
    channel.open();
  }

  get drainedNow(): boolean {
    return this.channel.drained;
  }

  inflight(): number {
    return this.pending.size;
  }

  /** Bytes of the chunks asked for and not yet received. */
  inflightBytes(): number {
    return this.pendingBytes;
  }

  /** Sends log entries; returns false when the stream wants us to wait for a drain. */
  sendEntries(entries: WireEntry[]): boolean {
    for (const e of entries) if (e.seq > (this.peerVector[e.origin] ?? 0)) this.peerVector[e.origin] = e.seq;
    let bytes = SMALL_MESSAGE;
    for (const e of entries) bytes += e.body.byteLength + e.signature.byteLength + SMALL_MESSAGE;
    return this.send(this.m.entries, { entries }, bytes);
  }

  sendVector(vector: Record<string, number>): void {
    this.send(this.m.vector, { vector: Object.entries(vector).map(([origin, seq]) => ({ origin, seq })) });
  }

  waitDrain(): Promise<void> {
    if (this.channel.drained || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Asks the peer for one chunk; resolves with bytes whose hash was checked, to be taken from the delivery (delivery.ts says why). */
  request(hash: string, size: number, timeoutMs = 30_000): Promise<ChunkDelivery> {
    if (this.closed) return Promise.reject(new CanopyError('IO_ERROR', `device ${this.deviceId.slice(0, 8)} is not connected`));
    const id = this.nextId++;
    return new Promise<ChunkDelivery>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(id);
        this.send(this.m.cancel, { id });
        this.stats.failure();
        reject(new CanopyError('IO_ERROR', `device ${this.deviceId.slice(0, 8)} did not send chunk ${hash.slice(0, 12)} in time`));
      }, timeoutMs);
      this.pending.set(id, { hash, size, started: performance.now(), resolve, reject, timer });
      this.pendingBytes += size;
      this.send(this.m.request, { id, hash: Buffer.from(hash, 'hex'), size });
    });
  }

  /**
   * Asks the peer which of these chunks (at most MAX_HOLDS_PER_QUESTION) it holds; resolves
   * with one claim per hash, in order. Rejects when the peer is gone, answers with an error,
   * or stays silent (a device that does not know the question ignores it).
   */
  askHolds(hashes: readonly string[], timeoutMs = HOLDS_TIMEOUT_MS): Promise<boolean[]> {
    if (hashes.length > MAX_HOLDS_PER_QUESTION) return Promise.reject(new CanopyError('BAD_ARGUMENT', `at most ${MAX_HOLDS_PER_QUESTION} hashes per holder question`));
    if (this.closed) return Promise.reject(new CanopyError('IO_ERROR', `device ${this.deviceId.slice(0, 8)} is not connected`));
    if (hashes.length === 0) return Promise.resolve([]);
    const id = this.nextId++;
    return new Promise<boolean[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.questions.delete(id);
        reject(new CanopyError('IO_ERROR', `device ${this.deviceId.slice(0, 8)} did not say which chunks it holds in time`));
      }, timeoutMs);
      this.questions.set(id, { count: hashes.length, resolve, reject, timer });
      this.send(this.m.holdsQuestion, { id, hashes: hashes.map((h) => Buffer.from(h, 'hex')) }, hashes.length * 32);
    });
  }

  /** Tells the peer why, then drops the connection. */
  fail(code: string, message: string): void {
    if (this.closed) return;
    this.handlers.log(`cutting off device ${this.deviceId.slice(0, 8)}: ${code}: ${message}`);
    const stream = this.conn.stream;
    try {
      this.m.error.send({ id: 0, code, message: message.slice(0, 500) });
    } catch {
      // already gone
    }
    // Nothing more from this peer is handled (teardown marks the session closed, and a
    // paused stream delivers no more frames), but the error must leave before the stream
    // is destroyed: destroy() drops writes still queued, and the peer would never learn why.
    this.teardown();
    stream.pause();
    const timer = setTimeout(() => stream.destroy(), FAIL_FLUSH_MS);
    timer.unref();
    void stream.flush().catch(() => false).then(() => {
      clearTimeout(timer);
      stream.destroy();
    });
  }

  close(): void {
    this.flushBatch();
    this.channel.close();
    this.teardown();
  }

  /**
   * Sends one message, batched with the other small ones of this turn (see BATCH_BYTES);
   * `bytes` is about its encoded size. Returns whether the stream had room after the last
   * write it made, like an unbatched send (false: wait for a drain).
   */
  private send<T>(m: Message<T>, value: T, bytes = SMALL_MESSAGE): boolean {
    if (this.closed) return false;
    if (this.batchBytes >= 0 && (bytes >= UNBATCHED_BYTES || this.batchBytes + bytes > BATCH_BYTES)) this.flushBatch();
    if (bytes >= UNBATCHED_BYTES) return m.send(value);
    if (this.batchBytes < 0) {
      this.channel.cork();
      this.batchBytes = 0;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => {
          this.flushScheduled = false;
          this.flushBatch();
        });
      }
    }
    this.batchBytes += bytes;
    m.send(value);
    return this.channel.drained;
  }

  /** Writes the open batch, if any. */
  private flushBatch(): void {
    if (this.batchBytes < 0) return;
    this.batchBytes = -1;
    this.channel.uncork();
  }

  private onHello(h: Hello): void {
    if (h.deviceId !== this.deviceId) throw new Error('hello names another device than the connection proved');
    if (h.protocol !== PROTOCOL_VERSION) throw new Error(`protocol ${h.protocol} is not supported (this device speaks ${PROTOCOL_VERSION})`);
    if (h.vector.length > 100_000) throw new Error('hello vector too large');
    this.hello = { ...h, name: h.name.slice(0, 255) };
    this.mergeVector(toVector(h.vector));
    this.handlers.onHello(this);
  }

  private onEntries(m: Entries): void {
    if (!this.hello) throw new Error('entries before hello');
    if (m.entries.length > MAX_ENTRIES_PER_MESSAGE) throw new Error('too many entries in one message');
    for (const e of m.entries) if (e.seq > (this.peerVector[e.origin] ?? 0)) this.peerVector[e.origin] = e.seq;
    this.handlers.onEntries(this, m.entries);
  }

  private onVector(m: Vector): void {
    if (m.vector.length > 100_000) throw new Error('vector too large');
    this.mergeVector(toVector(m.vector));
    this.handlers.onVector(this);
  }

  private mergeVector(v: Record<string, number>): void {
    for (const [origin, seq] of Object.entries(v)) {
      if (!Number.isSafeInteger(seq) || seq < 0) throw new Error('bad seq in vector');
      if (seq > (this.peerVector[origin] ?? 0)) this.peerVector[origin] = seq;
    }
  }

  /** Replica announcements: at most MAX_HASHES_PER_MESSAGE per message, after hello. */
  sendHave(hashes: readonly string[]): void {
    for (const batch of batches(hashes)) this.send(this.m.have, { hashes: batch }, batch.length * 32);
  }

  sendDrop(hashes: readonly string[]): void {
    for (const batch of batches(hashes)) this.send(this.m.drop, { hashes: batch }, batch.length * 32);
  }

  /** The whole holding: batches, the last one marked final (an empty holding is one empty final batch). */
  sendInventory(hashes: readonly string[]): void {
    const all = batches(hashes);
    if (all.length === 0) all.push([]);
    all.forEach((batch, i) => this.send(this.m.inventory, { final: i === all.length - 1, hashes: batch }, batch.length * 32));
  }

  sendCapacity(facts: Capacity): void {
    this.send(this.m.capacity, facts);
  }

  private checkHashes(m: Hashes): string[] {
    if (!this.hello) throw new Error('replica facts before hello');
    if (m.hashes.length > MAX_HASHES_PER_MESSAGE) throw new Error('too many hashes in one message');
    return m.hashes.map((h) => Buffer.from(h).toString('hex'));
  }

  /** Offers the peer a direct link (see net/direct.ts). */
  sendDirectOffer(addresses: readonly DirectAddress[]): void {
    this.send(this.m.direct, { addresses: addresses.slice(0, MAX_DIRECT_ADDRESSES) });
  }

  private onDirectOffer(m: DirectOffer): void {
    if (!this.hello) throw new Error('direct offer before hello');
    if (m.addresses.length > MAX_DIRECT_ADDRESSES) throw new Error(`more than ${MAX_DIRECT_ADDRESSES} direct addresses offered`);
    for (const a of m.addresses) if (a.host.length > 64 || !Number.isSafeInteger(a.port)) throw new Error('malformed direct address');
    this.handlers.onDirectOffer?.(this, m.addresses);
  }

  private onCapacity(f: Capacity): void {
    if (!this.hello) throw new Error('capacity before hello');
    for (const n of [f.maxBytes, f.usedBytes, f.reservedBytes]) if (!Number.isSafeInteger(n) || n < 0) throw new Error('bad capacity figure');
    this.handlers.replicas?.onCapacity(this, f);
  }

  private onHoldsQuestion(q: HoldsQuestion): void {
    if (!this.hello) throw new Error('holds question before hello');
    if (q.id === 0) throw new Error('holds question without an id');
    if (q.hashes.length === 0 || q.hashes.length > MAX_HOLDS_PER_QUESTION) throw new Error(`a holds question names ${q.hashes.length} hashes (1 to ${MAX_HOLDS_PER_QUESTION} allowed)`);
    if (this.answering >= MAX_OPEN_HOLDS_QUESTIONS) throw new Error('too many holds questions open at once');
    const hashes = q.hashes.map((h) => Buffer.from(h).toString('hex'));
    this.answering++;
    const holds = this.handlers.holds ?? (async (hs: string[]) => hs.map(() => false));
    void holds(hashes).then(
      (held) => this.send(this.m.holdsAnswer, { id: q.id, count: held.length, held: toBitfield(held) }),
      (err: unknown) => this.send(this.m.error, { id: q.id, code: 'IO_ERROR', message: err instanceof Error ? err.message : String(err) }),
    ).finally(() => this.answering--);
  }

  private onHoldsAnswer(a: HoldsAnswer): void {
    const q = this.questions.get(a.id);
    if (!q) {
      // Late (timed out) answers are harmless; an answer to an id never handed out is not.
      if (a.id === 0 || a.id >= this.nextId) throw new Error(`holds answer to question ${a.id}, which was never asked`);
      return;
    }
    if (a.count !== q.count) throw new Error(`holds answer covers ${a.count} hashes, the question asked about ${q.count}`);
    const held = fromBitfield(a.count, a.held);
    this.questions.delete(a.id);
    clearTimeout(q.timer);
    q.resolve(held);
  }

  private onRequest(r: ChunkRequest): void {
    if (r.size > MAX_CHUNK) throw new Error(`chunk request for ${r.size} bytes exceeds the ${MAX_CHUNK}-byte limit`);
    if (this.serveQueue.length >= MAX_QUEUED_SERVES) throw new Error('too many chunk requests queued');
    this.serveQueue.push(r);
    this.pumpServes();
  }

  private pumpServes(): void {
    while (this.serving < SERVE_CONCURRENCY && this.serveQueue.length > 0 && !this.closed) {
      const r = this.serveQueue.shift() as ChunkRequest;
      if (this.cancelled.delete(r.id)) continue;
      this.serving++;
      void this.serveOne(r).finally(() => {
        this.serving--;
        this.pumpServes();
      });
    }
  }

  private async serveOne(r: ChunkRequest): Promise<void> {
    const hash = Buffer.from(r.hash).toString('hex');
    try {
      const data = await this.handlers.serveChunk(hash, r.size);
      if (this.closed || this.cancelled.delete(r.id)) return;
      if (!data) {
        this.send(this.m.error, { id: r.id, code: 'NOT_FOUND', message: 'chunk not held here' });
        return;
      }
      await this.upload.take(data.length);
      while (!this.channel.drained && this.sentSinceDrain >= SEND_AHEAD && !this.closed) await this.waitDrain();
      if (this.closed || this.cancelled.delete(r.id)) return;
      this.sentSinceDrain++;
      this.stats.bytesOut += data.length;
      this.send(this.m.data, { id: r.id, hash: r.hash, data }, data.length + SMALL_MESSAGE);
    } catch (err) {
      this.send(this.m.error, { id: r.id, code: 'IO_ERROR', message: err instanceof Error ? err.message : String(err) });
    }
  }

  private onData(d: ChunkData): void {
    const p = this.settle(d.id);
    if (!p) return; // cancelled or timed out: late data is harmless
    const data = Buffer.from(d.data.buffer, d.data.byteOffset, d.data.byteLength);
    if (data.length !== p.size || blake3Hex(data) !== p.hash) {
      this.stats.failure();
      p.reject(new CanopyError('CORRUPT_CHUNK', `device ${this.deviceId.slice(0, 8)} sent bytes that do not match chunk ${p.hash.slice(0, 12)}`));
      this.fail('CORRUPT_CHUNK', `chunk ${p.hash.slice(0, 12)} did not match its hash`);
      return;
    }
    this.stats.success(data.length, performance.now() - p.started);
    p.resolve(new ChunkDelivery(data));
  }

  /** Takes chunk request `id` off the books (its timer stopped); undefined when it is not pending. */
  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    this.pendingBytes -= p.size;
    clearTimeout(p.timer);
    return p;
  }

  private onError(e: ErrorMessage): void {
    if (e.id === 0) {
      this.handlers.log(`device ${this.deviceId.slice(0, 8)} reports: ${e.code}: ${e.message.slice(0, 200)}`);
      return;
    }
    const q = this.questions.get(e.id);
    if (q) {
      this.questions.delete(e.id);
      clearTimeout(q.timer);
      q.reject(new CanopyError('IO_ERROR', `device ${this.deviceId.slice(0, 8)} could not say which chunks it holds: ${e.message.slice(0, 200)}`));
      return;
    }
    const p = this.settle(e.id);
    if (!p) return;
    if (e.code !== 'NOT_FOUND') this.stats.failure();
    p.reject(new CanopyError(e.code === 'NOT_FOUND' ? 'NOT_FOUND' : 'IO_ERROR', `device ${this.deviceId.slice(0, 8)}: ${e.message.slice(0, 200)}`));
  }

  private drained(): void {
    this.sentSinceDrain = 0;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private teardown(): void {
    if (this.closed) return;
    // What was batched still leaves (an error telling the peer why it is cut off among it).
    this.flushBatch();
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new CanopyError('IO_ERROR', `device ${this.deviceId.slice(0, 8)} disconnected`));
    }
    this.pending.clear();
    this.pendingBytes = 0;
    for (const q of this.questions.values()) {
      clearTimeout(q.timer);
      q.reject(new CanopyError('IO_ERROR', `device ${this.deviceId.slice(0, 8)} disconnected`));
    }
    this.questions.clear();
    this.serveQueue = [];
    this.drained();
    this.handlers.onClose(this);
  }
}

function batches(hashes: readonly string[]): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 0; i < hashes.length; i += MAX_HASHES_PER_MESSAGE) {
    out.push(hashes.slice(i, i + MAX_HASHES_PER_MESSAGE).map((h) => Buffer.from(h, 'hex')));
  }
  return out;
}
