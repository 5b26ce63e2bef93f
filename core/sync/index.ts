/**
 * Sync: keeps this device's folders in step with the rest of its mesh. Owns the network
 * node, one session per connected device, pushing and pulling log entries by vectors
 * (relaying other devices' entries too), pairing, and turning arrived versions into files
 * on disk through the materializer, fetching the chunks it lacks from its peers.
 *
 * Every device holds every file in this step (full mode); which device should hold which
 * chunk is placement's job, and the fetcher already asks whichever peers have a chunk.
 */
import { EventEmitter } from 'node:events';
import type { Engine } from '../engine/index.js';
import { CanopyError } from '../errors/index.js';
import { LogIngest, type RemoteEntry } from '../log/ingest.js';
import { Mesh, pairingProof } from '../mesh/index.js';
import Protomux from 'protomux';
import { ENTRY_BATCH_BYTES, fromVector, PROTOCOL_VERSION, SYNC_PROTOCOL, type Hello, type Welcome, type WireEntry } from '../net/messages.js';
import { localDhtOptions, Network, parseHostPort, type PeerConnection } from '../net/network.js';
import { DirectLinks, type DirectAddress } from '../net/direct.js';
import { ANY_HOST } from '../net/addresses.js';
import { ChunkFetcher, type ChunkRef } from './fetcher.js';
import { LocalChunks } from './local-chunks.js';
import { HeldHere, MAX_HOLDS_PER_QUESTION } from './holds.js';
import { Materializer, type FetchChunk, type MaterializeAction, type MaterializePlan } from './materialize.js';
import { answerPairing, requestPairing } from './pairing.js';
import { RateLimiter } from './rate-limit.js';
import { fetchIntoStore } from './fetch-chunks.js';
import { createPlacementView, OnDemand, Quota, type PlacementView } from '../placement/index.js';
import { ReplicaFacts } from './replica-facts.js';
import { PeerSession } from './session.js';
import { PeerLinks } from './links.js';

/** The materialize pass under way, as status reports it (SyncService.running). */
interface RunningPass {
  folderId: string;
  /** Files of the planned slices not yet written. */
  files: number;
  /** Bytes those files had to fetch when planned. */
  bytes: number;
  /** Paths of the pass not planned yet. */
  unplanned: number;
  /** Chunks fetched for files not yet written (hash -> size), and their sum. */
  arrived: Map<string, number>;
  arrivedBytes: number;
}

export interface PeerStatus {
  deviceId: string;
  name: string;
  connectedAt: number;
  bytesIn: number;
  bytesOut: number;
  rateIn: number;
  /** How the session runs: a direct TCP link on the same network, or Hyperswarm. */
  link: 'direct' | 'hyperswarm';
}

export interface FolderSyncStatus {
  folderId: string;
  neededFiles: number;
  neededBytes: number;
}

export interface SyncStatus {
  online: boolean;
  /** Paused by the user (a laptop going to sleep, a metered connection). */
  paused: boolean;
  meshed: boolean;
  peers: PeerStatus[];
  folders: FolderSyncStatus[];
  /** Bytes per second arriving from all peers. */
  rateIn: number;
  /** Seconds until what is needed has arrived at the current rate; null when nothing arrives. */
  etaSeconds: number | null;
}

export interface SyncEvents {
  status: [SyncStatus];
  peer: [{ deviceId: string; name: string; online: boolean }];
  conflict: [{ folderId: string; path: string; heads: number }];
  'conflict.resolved': [{ folderId: string; path: string; versionId: string }];
  problem: [{ folderId: string; path: string; code: string; message: string }];
  materialized: [{ folderId: string; written: number; deleted: number }];
  /** Devices or folders changed by entries from other devices (renames, labels, trust, a folder's class or priority). */
  'mesh.changed': [{ devices: boolean; folders: boolean }];
  log: [string];
}

const RETRY_MS = 3000;
/** A direct link that dropped is not dialed again for this long (the session goes on over Hyperswarm meanwhile). */
const DIRECT_RETRY_MS = 30_000;
/** After a direct session ends, its TCP connection is given this long to send what is queued. */
const DIRECT_CLOSE_GRACE_MS = 2000;
/** How often a device checks for designated chunks it lacks (also whenever materializing goes idle). */
const PULL_MS = 15_000;
/** How long a folder's "still needed" figures are reused at least (they cost a plan of the whole folder). */
const NEEDED_TTL_MS = 1000;
/** While files are being written (the figures only count down meanwhile, and planning competes with the writes). */
const NEEDED_TTL_BUSY_MS = 5000;
/** ... and for this many times what they cost, so they take at most ~2% of the time while files arrive. */
const NEEDED_COST_FACTOR = 50;
/**
 * A pass with at least this many entries to write or delete pauses the folder's watcher
 * (Engine.pauseWatching): watching our own writes costs more than making them. Smaller
 * passes (a single edit) keep it running, so nothing waits for a rescan.
 */
const QUIET_WATCH_MIN_ACTIONS = 64;
/**
 * How long materializing must stay idle before paused watchers resume (a rewalk of the
 * folder and a full rescan) and designated chunks are pulled (placement of every chunk):
 * files arriving in many log batches leave short gaps between passes, and doing either in
 * each gap costs more than the passes themselves.
 */
const SETTLE_MS = 1000;

export class SyncService extends EventEmitter<SyncEvents> {
  readonly ingest: LogIngest;
  readonly local: LocalChunks;
  /** What this device answers when a peer asks which chunks it holds. */
  private readonly heldHere: HeldHere;
  readonly materializer: Materializer;
  private readonly network: Network;
  /** Direct TCP links to devices on the same network (net/direct.ts); undefined when turned off. */
  private readonly direct: DirectLinks | undefined;
  /**
   * Each device's Hyperswarm connection while a direct link carries its session: kept open,
   * unused, so the session falls back to it the moment the direct link drops.
   */
  private readonly swarmConns = new Map<string, PeerConnection>();
  /** When a device's direct link last dropped: it is not dialed again for DIRECT_RETRY_MS. */
  private readonly directLost = new Map<string, number>();
  private get mesh(): Mesh {
    return this.engine.mesh;
  }
  private readonly sessions = new Map<string, PeerSession>();
  /** The nearest `max_peers` devices stay connected; lost ones are retried with backoff. */
  private readonly links: PeerLinks;
  private readonly fetcher: ChunkFetcher;
  /** Devices known to hold a chunk (their replica facts). */
  private readonly holdersOf: (hash: string) => Set<string>;
  /** What this device holds and has room for, told to peers; what peers hold, recorded. */
  readonly replicaFacts: ReplicaFacts;
  readonly onDemand: OnDemand;
  /** The store's quota at work: eviction on pressure and when the quota is lowered. */
  readonly quota: Quota;
  private pulling: Promise<void> | undefined;
  private pullTimer: NodeJS.Timeout | undefined;
  private readonly upload: RateLimiter;
  private readonly download: RateLimiter;
  private joining: { secret: Buffer; topic: Buffer } | undefined;
  private inviteTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private dirty = new Map<string, Set<string> | 'all'>();
  private materializing: Promise<void> | undefined;
  /** The last materialize run left chunks it could not get (a retry is due). */
  private passIncomplete = false;
  /** Folders whose watcher a pass paused; they resume once materializing has settled (SETTLE_MS). */
  private readonly quiet = new Set<string>();
  /** A pass ran since materializing last settled (else there is nothing new to pull for). */
  private passRan = false;
  private settleTimer: NodeJS.Timeout | undefined;
  /**
   * The running pass: what its slices planned so far still have to fetch, and how many of its
   * paths are not planned yet (status while files arrive, without planning the folder again).
   * `arrived` holds the chunks fetched for files not yet written, so a big file's figures
   * shrink as its chunks come in, not only once it is whole.
   */
  private running: RunningPass | undefined;
  /** A pass over a whole folder is under way (its figures are not known before its plan). */
  private wholeFolderPass = false;
  /** Bytes to fetch per file in the last pass that fetched: the estimate for paths queued behind it. */
  private bytesPerFile = 0;
  private stopped = false;
  /**
   * Each folder's last "still needed" figures (status, progress ticks). Computing them plans
   * the whole folder, which for thousands of arriving files costs more than writing them: they
   * are reused for max(NEEDED_TTL_MS, NEEDED_COST_FACTOR x what they cost), and dropped when entries arrive
   * while idle and when materializing goes idle, so a settled folder always reports fresh figures.
   * While passes run they are not used at all unless a whole-folder pass is due (neededWhileBusy).
   */
  private readonly neededCache = new Map<string, { at: number; cost: number; files: number; bytes: number }>();

  constructor(private readonly engine: Engine) {
    super();
    const { db, identity, config } = engine;
    this.ingest = new LogIngest(db, identity.deviceId, engine.confirmations);
    const folderRoot = (id: string) => engine.folders.root(id);
    this.local = new LocalChunks(db, engine.store, folderRoot);
    this.heldHere = new HeldHere(db, engine.store, folderRoot);
    this.onDemand = new OnDemand(db);
    this.quota = new Quota(engine, { view: () => this.placement(), announceDropped: (h) => this.announceDropped(h) });
    this.materializer = new Materializer({
      onlineOnly: (folderId, path) => this.onDemand.onlineOnly(folderId, path),
      db, versions: engine.versions, store: engine.store, local: this.local, scanner: engine.scanner, folderRoot,
      lock: (folderId, fn) => engine.scanner.withFolderLock(folderId, fn),
      onProblem: (p) => this.emit('problem', p),
      onLog: (line) => this.emit('log', line),
    });
    this.upload = new RateLimiter(config.network.uploadLimit);
    this.download = new RateLimiter(config.network.downloadLimit);
    const holdersOf = db.prepare('SELECT device_id FROM replicas WHERE chunk = ?').pluck();
    this.holdersOf = (hash) => new Set(holdersOf.all(hash) as string[]);
    this.fetcher = new ChunkFetcher(() => [...this.sessions.values()], this.download, config.network.maxInflightRequests, this.holdersOf);
    this.network = new Network({
      identity, bootstrap: config.network.bootstrap, maxPeers: config.network.maxPeers,
      isMember: (pk) => this.mesh.isMember(pk),
      pairingOpen: () => this.joining !== undefined || this.mesh.activeInvites().length > 0,
      log: (line) => this.emit('log', line),
    });
    this.network.on('connection', (conn) => this.onConnection(conn));
    if (config.network.direct) {
      const bindHost = localDhtOptions(config.network.bootstrap.map(parseHostPort)).host ?? ANY_HOST;
      this.direct = new DirectLinks({
        identity, bindHost, port: config.network.directPort,
        isMember: (pk) => this.mesh.isMember(pk),
        log: (line) => this.emit('log', line),
      });
      this.direct.on('connection', (conn) => this.onConnection(conn));
    }
    this.links = new PeerLinks({
      cap: config.network.maxPeers,
      myLabels: () => this.engine.config.device.labels,
      labelsOf: (id) => this.mesh.device(id)?.labels ?? {},
      nameOf: (id) => this.mesh.device(id)?.name ?? id.slice(0, 8),
      connected: () => [...this.sessions.keys()],
      isMember: (id) => this.mesh.device(id)?.revokedAt === null,
      active: () => !this.stopped && !this.paused && this.network.started,
      drop: (id) => {
        this.swarmConns.delete(id); // no fallback: the device is to go
        this.sessions.get(id)?.close();
        const key = this.mesh.device(id)?.publicKey;
        if (key) {
          this.network.refuse(key);
          this.direct?.disconnect(key);
        }
      },
      allow: (id) => {
        const key = this.mesh.device(id)?.publicKey;
        if (key) this.network.allow(key);
      },
      lookAgain: () => this.network.refreshAll(),
      log: (line) => this.emit('log', line),
    });
    this.replicaFacts = new ReplicaFacts(engine, () => [...this.sessions.values()], (line) => this.emit('log', line));
    engine.on('scan.done', () => this.replicaFacts.changed());
    // Every local entry (a scan, a folder, a device joining or leaving) goes out to the
    // connected devices, once the transaction that wrote it has committed.
    let pushQueued = false;
    engine.log.onAppend = () => {
      if (pushQueued) return;
      pushQueued = true;
      setImmediate(() => {
        pushQueued = false;
        this.pushEntries();
      });
    };
  }

  /** Goes online if this device belongs to a mesh or has open invites. */
  start(): void {
    this.stopped = false;
    const topic = this.mesh.topic();
    if (topic) this.goOnline(topic);
    this.refreshInvites();
    this.inviteTimer = setInterval(() => this.refreshInvites(), 5000);
    this.inviteTimer.unref();
    this.replicaFacts.start();
    this.pullTimer = setInterval(() => void this.pullDesignated(), PULL_MS);
    this.pullTimer.unref();
    for (const f of this.engine.folders.attached()) this.markDirty(f.id, 'all');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.inviteTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.settleTimer);
    this.links.stop();
    this.replicaFacts.stop();
    clearInterval(this.pullTimer);
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    await this.direct?.stop();
    await this.network.stop();
    await this.materializing?.catch(() => undefined);
    await this.resumeQuiet();
  }

  /** Stops connecting and drops connections (a laptop going to sleep); state is kept. */
  async suspend(): Promise<void> {
    this.paused = true;
    for (const s of this.sessions.values()) s.close();
    this.direct?.disconnectAll();
    await this.network.suspend();
    this.emit('status', this.status());
  }

  async resume(): Promise<void> {
    this.paused = false;
    await this.network.resume();
    this.emit('status', this.status());
  }

  private paused = false;

  /** Creates an invite and resolves once this device is findable on its topic. */
  async createInvite(ttlMs: number): Promise<ReturnType<Mesh['createInvite']>> {
    const invite = this.mesh.createInvite(ttlMs);
    this.goOnline(this.mesh.topic() as Buffer);
    this.refreshInvites();
    const active = this.mesh.activeInvites().find((i) => i.id === invite.id);
    if (active) await this.network.flushed(active.topic);
    return invite;
  }

  /** Pairs this device using an invite code; resolves once it is a member of the mesh. */
  async join(code: string, timeoutMs = 30_000): Promise<{ devices: number }> {
    const { secret, id, topic } = Mesh.decodeCode(code);
    if (this.mesh.key()) throw new CanopyError('CONFLICT', 'this device already belongs to a mesh');
    this.joining = { secret, topic };
    this.network.start();
    this.network.join(topic, { server: false, client: true });
    // The inviter may announce after our first lookup: look again until it answers.
    const lookAgain = setInterval(() => this.network.refresh(topic), 2000);
    const cfg = this.engine.config.device;
    try {
      const welcome = await new Promise<Welcome>((resolve, reject) => {
        const timer = setTimeout(() => reject(new CanopyError('IO_ERROR', 'no device answered this invite: check that the inviting device is online (its daemon running) and the invite is still valid')), timeoutMs);
        const onConn = (conn: PeerConnection) => {
          const proof = pairingProofFor(secret, conn.publicKey, this.engine.identity.publicKey);
          requestPairing(conn, { proof, inviteId: id, name: cfg.name, labels: cfg.labels, trust: cfg.trust }).then(
            (w) => {
              clearTimeout(timer);
              try {
                this.mesh.accept(w, secret, conn.publicKey);
                this.openSession(conn);
                resolve(w);
              } catch (err) {
                reject(err);
              }
            },
            (err: unknown) => {
              clearTimeout(timer);
              reject(err);
            },
          );
        };
        this.pendingJoin = onConn;
      });
      return { devices: welcome.devices.length };
    } finally {
      clearInterval(lookAgain);
      this.pendingJoin = undefined;
      this.joining = undefined;
      await this.network.leave(topic);
      const meshTopic = this.mesh.topic();
      if (meshTopic) this.goOnline(meshTopic);
    }
  }

  private pendingJoin: ((conn: PeerConnection) => void) | undefined;

  /** Another device renamed or relabelled this one: config.toml follows; a disk error is reported, never thrown into sync. */
  private adoptLocalDeviceRow(): void {
    try {
      this.engine.adoptLocalDeviceRow();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.emit('problem', { folderId: '', path: 'config.toml', code: 'BAD_CONFIG', message: `this device was renamed by another device but config.toml could not be updated: ${message}` });
    }
  }

  removeDevice(id: string): ReturnType<Mesh['remove']> {
    const d = this.mesh.remove(id);
    this.disconnect(d.publicKey);
    this.pushEntries();
    return d;
  }

  status(): SyncStatus {
    const peers = [...this.sessions.values()].filter((s) => s.hello).map((s) => ({
      deviceId: s.deviceId, name: s.hello?.name ?? s.deviceId.slice(0, 8), connectedAt: s.connectedAt, link: s.direct ? 'direct' as const : 'hyperswarm' as const,
      bytesIn: s.stats.bytesIn, bytesOut: s.stats.bytesOut, rateIn: Math.round(s.stats.rateIn),
    }));
    const folders = this.engine.folders.attached().map((f) => {
      const p = this.needed(f.id);
      return { folderId: f.id, neededFiles: p.files, neededBytes: p.bytes };
    });
    const rateIn = peers.reduce((s, p) => s + p.rateIn, 0);
    const needed = folders.reduce((s, f) => s + f.neededBytes, 0);
    return {
      online: this.network.started && !this.paused, paused: this.paused, meshed: this.mesh.key() !== undefined, peers, folders, rateIn,
      etaSeconds: needed === 0 ? 0 : rateIn > 0 ? Math.ceil(needed / rateIn) : null,
    };
  }

  /** One chunk from whichever connected device has it (verified by the caller): reads of versions this device does not hold. */
  fetchChunk(hash: string, size: number): Promise<Buffer> {
    return this.fetcher.get(hash, size);
  }

  /**
   * Fetches the given chunks into the local store from whichever connected devices hold them
   * (best-ranked first). A chunk already held here counts as fetched; each failure says why.
   */
  async fetchChunks(hashes: string[], opts: { signal?: AbortSignal } = {}): Promise<{ fetched: number; failed: { hash: string; reason: string }[] }> {
    const result = await fetchIntoStore(this.engine, this.local, (h, size) => this.fetcher.get(h, size), hashes, opts.signal, (bytes) => this.quota.makeRoom(bytes));
    if (result.fetched > 0) this.replicaFacts.changed();
    return result;
  }

  /** Placement as this device sees it now (connected devices count as live). */
  placement(): PlacementView {
    return createPlacementView(this.engine, { online: () => this.sessions.keys() });
  }

  /**
   * Sharded replication: fetches into the store the chunks placement designates this device
   * for and it lacks (files it materializes arrive through the materializer instead).
   * One pass at a time; failures wait for the next pass (a holder may come online).
   */
  pullDesignated(): Promise<void> {
    if (this.pulling) return this.pulling;
    if (this.stopped || this.sessions.size === 0 || this.materializing) return Promise.resolve();
    // Files still to be written bring their chunks into the working copy: storing them too would hold them twice.
    if (this.engine.folders.attached().some((f) => f.local.mode === 'full' && this.needed(f.id).files > 0)) return Promise.resolve();
    const pass = (async () => {
      const me = this.engine.identity.deviceId;
      const want: string[] = [];
      for (const c of this.placement().chunks()) if (c.designated.includes(me) && !c.holders.includes(me)) want.push(c.hash);
      if (want.length === 0) {
        // Nothing designated is missing: devices let in above the cap for it count again.
        this.links.settled();
        return;
      }
      const r = await this.fetchChunks(want);
      // A designated chunk only a device dropped over the cap holds: let that device back for it.
      if (r.failed.length > 0) this.links.needMore(new Set(r.failed.flatMap((f) => [...this.holdersOf(f.hash)])));
      else this.links.settled();
      this.emit('log', `pulled ${r.fetched} of ${want.length} designated chunks${r.failed.length ? `; ${r.failed.length} failed, first: ${r.failed[0]?.reason}` : ''}`);
    })().catch((err: unknown) => void this.emit('log', `pulling designated chunks failed: ${String(err)}`)).finally(() => {
      this.pulling = undefined;
    });
    this.pulling = pass;
    return pass;
  }

  /** Writes these paths of a folder now (an opened or pinned online-only file), fetching what is missing. */
  async materializeNow(folderId: string, paths: string[]): Promise<{ written: number; problems: string[] }> {
    const plan = this.materializer.plan(folderId, paths);
    const order: ChunkRef[] = plan.actions.flatMap((a) => a.missingChunks);
    const report = await this.materializer.apply(folderId, paths, this.fetcher.sequential(order));
    this.replicaFacts.changed();
    return { written: report.written, problems: report.problems.map((p) => `${p.path}: ${p.message}`) };
  }

  /** Tells peers this device no longer holds these chunks (after `engine.store.delete`). */
  announceDropped(hashes: string[]): void {
    void hashes; // the announcement is the difference from what was last said: exact whatever was passed
    this.replicaFacts.announceNow();
  }

  /**
   * Asks one connected device to prove, now, that it holds a chunk: it serves the chunk and
   * the session verifies the bytes against the hash. Cleanup asks before every drop.
   */
  async confirmHolder(deviceId: string, hash: string, size: number): Promise<boolean> {
    const s = this.sessions.get(deviceId);
    if (!s || s.closed || !s.hello) return false;
    return s.request(hash, size).then(() => true, () => false);
  }

  /**
   * Asks one connected device which of these chunks it holds (its claim from its index, no
   * bytes moved), in questions of MAX_HOLDS_PER_QUESTION. The map has an answer for every hash
   * the device answered about; hashes it did not answer about (not connected, silent, an
   * error) are absent, so the caller can ask another way.
   */
  async askHolders(deviceId: string, hashes: string[], signal?: AbortSignal): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    for (let i = 0; i < hashes.length; i += MAX_HOLDS_PER_QUESTION) {
      const s = this.sessions.get(deviceId);
      if (!s || s.closed || !s.hello || signal?.aborted) break;
      const batch = hashes.slice(i, i + MAX_HOLDS_PER_QUESTION);
      const held = await s.askHolds(batch).catch(() => undefined);
      if (!held) break;
      batch.forEach((h, j) => out.set(h, held[j] === true));
    }
    return out;
  }

  /** Folders attached later are materialized from what the mesh already knows. */
  folderAttached(folderId: string): void {
    this.markDirty(folderId, 'all');
    this.pushEntries();
  }

  /** Sends every connected device the entries it lacks (after a local change or an ingest). */
  pushEntries(except?: PeerSession): void {
    for (const s of this.sessions.values()) if (s !== except && s.hello) void this.pushTo(s);
  }

  private goOnline(topic: Buffer): void {
    if (this.stopped) return;
    this.network.start();
    if (this.direct && !this.direct.listening) void this.direct.start();
    if (!this.network.joined(topic)) this.network.join(topic);
  }

  private refreshInvites(): void {
    const active = this.mesh.activeInvites();
    if (active.length === 0) return;
    this.network.start();
    for (const inv of active) if (!this.network.joined(inv.topic)) this.network.join(inv.topic, { server: true, client: false });
  }

  private onConnection(conn: PeerConnection): void {
    if (this.stopped) return void conn.stream.destroy();
    this.emit('log', `connection ${conn.member ? 'with' : 'from unpaired'} device ${conn.deviceId.slice(0, 8)}${conn.direct ? ' (direct link)' : ''}`);
    // Whichever side opens the sync channel first, the other answers it here, as long as
    // the device is (by then) a member: this is how a freshly paired device's channel,
    // opened on the pairing connection, is accepted.
    Protomux.from(conn.stream).pair({ protocol: SYNC_PROTOCOL }, () => {
      if (this.mesh.isMember(conn.publicKey) && !this.stopped) this.openSession({ ...conn, member: true });
    });
    if (conn.member) return this.openSession(conn);
    if (this.pendingJoin) return this.pendingJoin(conn);
    if (this.mesh.activeInvites().length > 0) {
      return answerPairing(conn, {
        admit: (req, key) => this.mesh.admit(req, key),
        onAdmitted: (c) => {
          // The joiner opens the sync channel once it has stored the mesh; pair() above answers it.
          this.emit('log', `paired device ${c.deviceId.slice(0, 8)}`);
          this.network.allow(c.publicKey);
        },
        onRefused: (c, reason) => this.emit('log', `refused pairing from ${c.deviceId.slice(0, 8)}: ${reason}`),
      });
    }
    conn.stream.destroy();
  }

  /** Drops every connection to a device, over either transport (it was removed from the mesh). */
  private disconnect(publicKey: Buffer): void {
    this.network.disconnect(publicKey);
    this.direct?.disconnect(publicKey);
  }

  /** Remembers a device's Hyperswarm connection, the fallback of a direct link. */
  private keepSwarmConnection(conn: PeerConnection): void {
    if (this.swarmConns.get(conn.deviceId)?.stream === conn.stream) return;
    this.swarmConns.set(conn.deviceId, conn);
    conn.stream.once('close', () => {
      if (this.swarmConns.get(conn.deviceId)?.stream === conn.stream) this.swarmConns.delete(conn.deviceId);
    });
  }

  private openSession(conn: PeerConnection): void {
    if (!conn.direct) this.keepSwarmConnection(conn);
    const previous = this.sessions.get(conn.deviceId);
    // A working direct link keeps the session; a Hyperswarm connection arriving meanwhile waits as its fallback.
    if (!conn.direct && previous?.direct && !previous.closed) return;
    let session: PeerSession;
    try {
      session = new PeerSession(conn, {
        hello: () => this.hello(),
        onHello: (s) => {
          this.mesh.touch(s.deviceId);
          this.links.succeeded(s.deviceId);
          this.emit('peer', { deviceId: s.deviceId, name: s.hello?.name ?? '', online: true });
          this.fetcher.poke();
          this.replicaFacts.greet(s);
          if (!s.direct && this.direct?.listening) s.sendDirectOffer(this.direct.addresses());
          void this.pushTo(s);
          for (const f of this.engine.folders.attached()) if (this.materializer.pending(f.id).files > 0) this.markDirty(f.id, 'all');
        },
        onEntries: (s, entries) => this.onEntries(s, entries),
        onVector: (s) => void this.pushTo(s),
        // A small file just scanned is served from the bytes the scan read (store/recent.ts).
        serveChunk: async (hash) => this.engine.recentChunks.get(hash) ?? this.local.read(hash),
        onClose: (s) => {
          if (s.direct) this.directClosed(conn);
          if (this.sessions.get(s.deviceId) !== s) return; // replaced by a newer connection: still online
          this.sessions.delete(s.deviceId);
          // Only a session that heard the device saw it: a fallback over a connection that
          // died with the device (it times out later) must not make it "seen" again.
          if (s.hello) this.mesh.touch(s.deviceId);
          if (s.direct && this.fallBackToSwarm(s.deviceId)) return;
          this.links.lost(s.deviceId);
          this.emit('peer', { deviceId: s.deviceId, name: s.hello?.name ?? '', online: false });
        },
        log: (line) => this.emit('log', line),
        replicas: this.replicaFacts,
        onDirectOffer: (s, addresses) => this.onDirectOffer(s, addresses),
        holds: (hashes) => this.heldHere.check(hashes),
      }, this.upload);
    } catch (err) {
      this.emit('log', `could not open a session with ${conn.deviceId.slice(0, 8)}: ${String(err)}`);
      return;
    }
    // Hyperswarm may replace a connection with a fresh one to the same device.
    this.sessions.set(conn.deviceId, session);
    if (previous && previous !== session) previous.close();
    this.links.opened(conn.deviceId);
  }

  /**
   * A peer offered a direct link. One side dials (the lower device id), so two devices never
   * race two links at each other; a link that dropped is not dialed again for a while.
   */
  private onDirectOffer(s: PeerSession, addresses: DirectAddress[]): void {
    if (!this.direct || s.direct || this.stopped || this.paused) return;
    if (this.engine.identity.deviceId > s.deviceId) return;
    if (Date.now() - (this.directLost.get(s.deviceId) ?? 0) < DIRECT_RETRY_MS) return;
    void this.direct.dial(s.publicKey, addresses).then((ok) => {
      if (!ok && addresses.length > 0) this.emit('log', `no direct link to ${s.hello?.name ?? s.deviceId.slice(0, 8)}; syncing over Hyperswarm`);
    });
  }

  /** A direct link's session ended: the TCP connection goes too (once what was written is out). */
  private directClosed(conn: PeerConnection): void {
    this.directLost.set(conn.deviceId, Date.now());
    conn.stream.end();
    setTimeout(() => conn.stream.destroy(), DIRECT_CLOSE_GRACE_MS).unref();
  }

  /** The direct link to a device dropped: its session goes on over the Hyperswarm connection, if that is still up. */
  private fallBackToSwarm(deviceId: string): boolean {
    const conn = this.swarmConns.get(deviceId);
    if (!conn || conn.stream.destroyed || this.stopped || this.paused) return false;
    this.emit('log', `direct link to ${deviceId.slice(0, 8)} closed; going on over Hyperswarm`);
    this.openSession(conn);
    return this.sessions.has(deviceId);
  }

  private hello(): Hello {
    const { device } = this.engine.config;
    const usage = this.engine.store.usage();
    return {
      protocol: PROTOCOL_VERSION, deviceId: this.engine.identity.deviceId, name: device.name, labels: device.labels,
      vector: fromVector(this.ingest.vector()), storeMaxBytes: usage.maxBytes, storeUsedBytes: usage.bytes,
    };
  }

  private pushing = new WeakSet<PeerSession>();

  /** Streams what the peer lacks, batch by batch, waiting for drains (backpressure). */
  private async pushTo(s: PeerSession): Promise<void> {
    if (this.pushing.has(s)) return;
    this.pushing.add(s);
    try {
      for (;;) {
        if (s.closed) return;
        const entries = this.ingest.entriesAfter(s.peerVector, ENTRY_BATCH_BYTES);
        if (entries.length === 0) return;
        const drained = s.sendEntries(entries.map(toWire));
        if (!drained) await s.waitDrain();
      }
    } finally {
      this.pushing.delete(s);
    }
  }

  private onEntries(s: PeerSession, entries: WireEntry[]): void {
    const result = this.ingest.ingest(entries.map((e) => ({ origin: e.origin, seq: e.seq, kind: e.kind, body: Buffer.from(e.body), signature: Buffer.from(e.signature) } satisfies RemoteEntry)));
    for (const r of result.rejected) this.emit('log', `rejected entry ${r.origin.slice(0, 8)}#${r.seq} from ${s.deviceId.slice(0, 8)}: ${r.reason}`);
    if (result.hostile) {
      s.fail('BAD_ENTRY', result.rejected[0]?.reason ?? 'invalid log entry');
      return;
    }
    s.sendVector(this.ingest.vector());
    if (result.applied === 0) return;
    if (result.devicesChanged) this.onMembershipChange();
    if (result.localDeviceChanged) this.adoptLocalDeviceRow();
    if (result.devicesChanged || result.foldersChanged) this.emit('mesh.changed', { devices: result.devicesChanged, folders: result.foldersChanged });
    const byFolder = new Map<string, Set<string>>();
    for (const c of result.changed) {
      const set = byFolder.get(c.folderId) ?? new Set<string>();
      set.add(c.path);
      byFolder.set(c.folderId, set);
    }
    for (const [folderId, paths] of byFolder) {
      for (const [p, shape] of this.engine.versions.headShapes(folderId, paths)) {
        if (shape.heads > 1) {
          if (this.engine.versions.inConflict(folderId, p)) this.emit('conflict', { folderId, path: p, heads: shape.heads });
        }
        // A merge made on another device closed this path's conflict here too.
        else if (shape.mergeHead) this.emit('conflict.resolved', { folderId, path: p, versionId: shape.mergeHead });
      }
      if (this.engine.folders.get(folderId)?.local) this.markDirty(folderId, paths);
    }
    this.pushEntries(s);
  }

  private onMembershipChange(): void {
    for (const d of this.mesh.devices()) {
      if (d.revokedAt) this.disconnect(d.publicKey);
      else this.network.allow(d.publicKey);
    }
    const self = this.mesh.device(this.engine.identity.deviceId);
    if (self?.revokedAt) {
      this.emit('log', 'this device was removed from the mesh; going offline');
      void this.network.stop();
    }
  }

  private needed(folderId: string): { files: number; bytes: number } {
    const live = this.neededWhileBusy(folderId);
    if (live) return live;
    const start = performance.now();
    const cached = this.neededCache.get(folderId);
    const ttl = this.materializing ? NEEDED_TTL_BUSY_MS : NEEDED_TTL_MS;
    if (cached && start - cached.at < Math.max(ttl, NEEDED_COST_FACTOR * cached.cost)) return cached;
    const p = this.materializer.pending(folderId);
    const end = performance.now();
    this.neededCache.set(folderId, { at: end, cost: end - start, ...p });
    return p;
  }

  /**
   * While passes run, the figures come from them instead of a plan of the whole folder: what
   * the running pass still has to fetch, plus the paths queued for the next passes (as many
   * files, at the last pass's bytes per file). Undefined when idle, or when a whole-folder
   * pass is queued or running (then only a plan knows).
   */
  private neededWhileBusy(folderId: string): { files: number; bytes: number } | undefined {
    if (!this.materializing || (this.wholeFolderPass && !this.running)) return undefined;
    const queued = this.dirty.get(folderId);
    if (queued === 'all') return undefined;
    const run = this.running?.folderId === folderId ? this.running : undefined;
    const estimated = (run?.unplanned ?? 0) + (queued?.size ?? 0);
    const files = (run?.files ?? 0) + estimated;
    const bytes = Math.max(0, (run?.bytes ?? 0) - (run?.arrivedBytes ?? 0)) + estimated * this.bytesPerFile;
    return { files, bytes: Math.round(bytes) };
  }

  private markDirty(folderId: string, paths: Set<string> | 'all'): void {
    // While a pass runs, entries keep arriving (a log batch at a time): the queued paths count
    // in the figures (neededWhileBusy) instead of a recomputation after every batch.
    if (!this.materializing) this.neededCache.delete(folderId);
    const cur = this.dirty.get(folderId);
    if (paths === 'all' || cur === 'all') this.dirty.set(folderId, 'all');
    else this.dirty.set(folderId, new Set([...(cur ?? []), ...paths]));
    this.kick();
  }

  private kick(): void {
    if (this.materializing || this.stopped) return;
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    // While files arrive, the UI and `canopy status` get progress every second.
    const ticker = setInterval(() => this.emit('status', this.status()), 1000);
    ticker.unref();
    this.materializing = this.materializeAll().finally(() => {
      clearInterval(ticker);
      this.materializing = undefined;
      this.running = undefined;
      this.neededCache.clear();
      if (this.dirty.size > 0) this.kick();
      else {
        // Everything the passes wanted arrived: devices let in above the cap for it count again.
        if (!this.passIncomplete) this.links.settled();
        this.settleLater();
      }
    });
  }

  /** Once no pass has run for SETTLE_MS: paused watchers resume, and designated chunks are pulled. */
  private settleLater(): void {
    if (this.stopped || (this.quiet.size === 0 && !this.passRan)) return;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      if (this.materializing || this.stopped) return;
      const pull = this.passRan;
      this.passRan = false;
      void this.resumeQuiet().then(() => {
        if (pull) void this.pullDesignated();
      });
    }, SETTLE_MS);
    this.settleTimer.unref();
  }

  private async resumeQuiet(): Promise<void> {
    for (const folderId of [...this.quiet]) {
      this.quiet.delete(folderId);
      await this.engine.resumeWatching(folderId).catch((err: unknown) => this.emit('log', `watching folder ${folderId} again failed: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  private async materializeAll(): Promise<void> {
    this.passIncomplete = false;
    while (this.dirty.size > 0 && !this.stopped) {
      const [folderId, paths] = this.dirty.entries().next().value as [string, Set<string> | 'all'];
      this.dirty.delete(folderId);
      if (!this.engine.folders.get(folderId)?.local) continue;
      // Entries that only changed versions' state (another device's ack) often leave every path as it is.
      const list = paths === 'all' ? undefined : this.materializer.mayNeedWork(folderId, paths);
      if (list?.length === 0) continue;
      this.wholeFolderPass = list === undefined;
      try {
        // Paths that may need work nearly all do (a whole folder is not planned here: the pass
        // plans it a slice at a time).
        const size = list ? list.length : this.materializer.candidates(folderId).length;
        // Outside apply: the watcher may be finishing a scan, which needs the folder lock apply holds.
        // A paused watcher stays paused while more passes follow (files arriving in several log
        // batches), and resumes once they have settled (settleLater).
        if (size >= QUIET_WATCH_MIN_ACTIONS && !this.quiet.has(folderId) && (await this.engine.pauseWatching(folderId))) this.quiet.add(folderId);
        this.passRan = true;
        this.running = undefined;
        const report = await this.materializer.applyPlanned(folderId, list, (plan, pathsLeft) => {
          this.slicePlanned(folderId, plan, pathsLeft);
          return this.countingArrivals(this.fetcher.sequential(plan.actions.flatMap((a) => a.missingChunks)));
        }, (a) => this.settledRunning(a));
        this.running = undefined;
        this.wholeFolderPass = false;
        this.emit('materialized', { folderId, written: report.written, deleted: report.deleted });
        this.replicaFacts.changed();
        this.emit('status', this.status());
        // Only this pass's paths: others still needed are dirty themselves and get their own pass.
        if (report.incomplete > 0) {
          this.passIncomplete = true;
          this.links.needMore();
          this.retryLater();
        }
      } catch (err) {
        this.running = undefined;
        this.wholeFolderPass = false;
        this.emit('log', `sync of folder ${folderId} failed: ${err instanceof Error ? err.message : String(err)}`);
        this.passIncomplete = true;
        this.retryLater();
      }
    }
  }

  /** A slice of the running pass was planned: its figures join what status reports meanwhile (neededWhileBusy). */
  private slicePlanned(folderId: string, plan: MaterializePlan, pathsLeft: number): void {
    const files = plan.actions.filter((a) => a.missingChunks.length > 0).length;
    if (files > 0) this.bytesPerFile = plan.bytesMissing / files;
    const run = this.running?.folderId === folderId ? this.running : undefined;
    this.running = {
      folderId, files: (run?.files ?? 0) + files, bytes: (run?.bytes ?? 0) + plan.bytesMissing, unplanned: pathsLeft,
      arrived: run?.arrived ?? new Map(), arrivedBytes: run?.arrivedBytes ?? 0,
    };
  }

  /** The pass's fetch, noting each chunk that arrives (neededWhileBusy counts it as no longer needed). */
  private countingArrivals(fetch: FetchChunk): FetchChunk {
    const counted = async (hash: string, size: number) => {
      const data = await fetch(hash, size);
      const run = this.running;
      if (run && !run.arrived.has(hash)) {
        run.arrived.set(hash, size);
        run.arrivedBytes += size;
      }
      return data;
    };
    return fetch.verified === undefined ? counted : Object.assign(counted, { verified: fetch.verified });
  }

  /** One path of the running pass is done (written, or given up for now). */
  private settledRunning(a: MaterializeAction): void {
    const run = this.running;
    if (!run || a.missingChunks.length === 0) return;
    run.files = Math.max(0, run.files - 1);
    run.bytes = Math.max(0, run.bytes - a.missingBytes);
    // Its chunks leave the figures with the file: no longer counted as arrived either.
    for (const c of a.missingChunks) {
      const size = run.arrived.get(c.hash);
      if (size === undefined) continue;
      run.arrived.delete(c.hash);
      run.arrivedBytes -= size;
    }
  }

  /** Chunks no connected device had: try again shortly (a peer may have come online). */
  private retryLater(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      for (const f of this.engine.folders.attached()) if (this.materializer.pending(f.id).files > 0) this.markDirty(f.id, 'all');
    }, RETRY_MS);
    this.retryTimer.unref();
  }
}

function toWire(e: RemoteEntry): WireEntry {
  return { origin: e.origin, seq: e.seq, kind: e.kind, body: e.body, signature: e.signature };
}

function pairingProofFor(secret: Buffer, inviterKey: Buffer, joinerKey: Buffer): Buffer {
  return pairingProof(secret, 'join', joinerKey, inviterKey);
}
