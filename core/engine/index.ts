/**
 * The engine of one device: opens its home (lock, config, identity, database, chunk store,
 * hash workers) and ties the local pieces together: folders, scanner, versions, watcher.
 * `core/api` is the only thing above it; nothing here knows about transports or UIs.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import { CanopyError } from '../errors/index.js';
import { acquireLock, homeFiles, isInitialized, type HomeLock } from '../home/index.js';
import { loadConfig, renderDefaultConfigToml, writeConfig, writeFileAtomic, type CanopyConfig } from '../config/index.js';
import { canonicalJson } from '../log/canonical.js';
import { createIdentity, loadIdentity, type Identity } from '../identity/index.js';
import { openDatabase, type Db } from '../db/index.js';
import { ChunkStore } from '../store/index.js';
import { HashPool } from '../chunking/pool.js';
import { RecentChunks } from '../store/recent.js';
import { ChangeLog } from '../log/index.js';
import { Confirmations, Versions } from '../versions/index.js';
import { Folders, type Folder } from '../folders/index.js';
import { Scanner, type ScanProgress, type ScanReport } from '../scan/index.js';
import { FolderWatcher } from '../watch/index.js';
import { Mesh } from '../mesh/index.js';
import { OnDemand } from '../placement/on-demand.js';

export interface EngineEvents {
  'scan.progress': [ScanProgress];
  'scan.done': [ScanReport];
  'watch.error': [{ folderId: string; message: string }];
}

/**
 * Files of one chunk up to this size have their bytes kept for a while after a scan: peers
 * ask for a new small file's chunk right away, and reading it again costs more than the
 * file itself (a query, an open, a read, a close and a hash, for 4 KiB).
 */
const RECENT_CHUNK_MAX_BYTES = 64 * 1024;
/** Enough for the files of one big copy-in (10,000 of 4 KiB) to be served from memory. */
const RECENT_CHUNKS_BYTES = 64 * 1024 * 1024;
const RECENT_CHUNKS_AGE_MS = 2 * 60_000;

export interface EngineOptions {
  /** Milliseconds since the epoch; default Date.now. */
  now?: (() => number) | undefined;
}

export class Engine extends EventEmitter<EngineEvents> {
  readonly store: ChunkStore;
  readonly versions: Versions;
  readonly folders: Folders;
  readonly scanner: Scanner;
  readonly log: ChangeLog;
  readonly mesh: Mesh;
  /** Confirmed state from the devices' signed acks; LogIngest's hooks (core/versions/confirm.ts). */
  readonly confirmations: Confirmations;
  /** Small chunks the scanner just read, for serving peers without reading them again (store/recent.ts). */
  readonly recentChunks = new RecentChunks({ maxBytes: RECENT_CHUNKS_BYTES, maxAgeMs: RECENT_CHUNKS_AGE_MS });
  private readonly pool: HashPool;
  private readonly watchers = new Map<string, FolderWatcher>();
  private closed = false;

  private constructor(readonly home: string, readonly config: CanopyConfig, readonly identity: Identity, readonly db: Db, private readonly lock: HomeLock,
    /** The engine's clock: version times and retention. Injectable so tests can jump a month ahead. */
    readonly now: () => number = Date.now) {
    super();
    const files = homeFiles(home);
    this.store = new ChunkStore(files.chunks, db, { maxBytes: config.storage.max, minFreeBytes: config.storage.minFree });
    this.pool = new HashPool({ threads: config.scan.hashThreads > 0 ? config.scan.hashThreads : undefined, keepBytesUpTo: RECENT_CHUNK_MAX_BYTES });
    this.log = new ChangeLog(db, identity);
    const countDevices = db.prepare('SELECT count(*) FROM devices WHERE revoked_at IS NULL').pluck();
    const meshSize = () => (countDevices.get() as number) || 1;
    this.versions = new Versions(db, this.log, identity.deviceId, meshSize, () => this.now());
    this.confirmations = new Confirmations(db, this.log, identity.deviceId);
    this.folders = new Folders(db, this.log, identity.deviceId, home);
    this.mesh = new Mesh(db, identity, this.log);
    const onDemand = new OnDemand(db);
    this.scanner = new Scanner({
      db, versions: this.versions, pool: this.pool, unstableRetries: config.scan.unstableRetries, recentChunks: this.recentChunks,
      onProgress: (p) => this.emit('scan.progress', p),
      // A file written here counts as used: an on-demand folder keeps it (placement.keep_recent).
      onLocalWrites: (folderId, paths) => onDemand.markWritten(folderId, paths, this.now()),
    });
    this.registerLocalDevice();
  }

  /** Opens an initialized home. Holds its lock until `close()`. */
  static open(home: string, role: 'daemon' | 'cli' = 'cli', opts: EngineOptions = {}): Engine {
    if (!isInitialized(home)) throw new CanopyError('NOT_INITIALIZED', `${home} is not a Canopy home yet; run \`canopy init\` first`, { home });
    const lock = acquireLock(home, role);
    let db: Db | undefined;
    try {
      const config = loadConfig(home);
      const identity = loadIdentity(home);
      db = openDatabase(homeFiles(home).database);
      return new Engine(home, config, identity, db, lock, opts.now);
    } catch (err) {
      db?.close();
      lock.release();
      throw err;
    }
  }

  /** Creates a home: directory (owner-only), identity, config, database. */
  static init(home: string, opts: { name?: string | undefined; labels?: Record<string, string> | undefined } & EngineOptions = {}): Engine {
    if (isInitialized(home)) throw new CanopyError('ALREADY_INITIALIZED', `${home} already holds a Canopy device; use another --home to create a second one`, { home });
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    fs.chmodSync(home, 0o700);
    writeStarterConfig(home, opts.name ?? os.hostname(), opts.labels ?? {});
    createIdentity(home);
    return Engine.open(home, 'cli', { now: opts.now });
  }

  async scan(folderId?: string, paths?: readonly string[]): Promise<ScanReport[]> {
    const targets = folderId ? [this.requireAttached(folderId)] : this.folders.attached();
    const reports: ScanReport[] = [];
    for (const f of targets) {
      const report = await this.scanner.scan({ id: f.id, path: f.local.path }, paths ?? ['']);
      this.emit('scan.done', report);
      reports.push(report);
    }
    return reports;
  }

  /** Starts watching every attached folder (and folders attached later via `watchFolder`). */
  startWatching(): void {
    for (const f of this.folders.attached()) this.watchFolder(f.id);
  }

  watchFolder(folderId: string): void {
    if (this.watchers.has(folderId) || this.closed) return;
    const f = this.requireAttached(folderId);
    const watcher = new FolderWatcher(f.local.path, {
      debounceMs: this.config.scan.debounce,
      onChanges: (paths) => this.scan(f.id, paths).then(() => undefined),
      onError: (message) => this.emit('watch.error', { folderId: f.id, message }),
    });
    this.watchers.set(folderId, watcher);
    // A watched folder's changes are hashed: the workers boot now, not when the first change waits on them.
    this.pool.warm();
  }

  /**
   * Stops watching a folder while Canopy itself writes many entries into it: chokidar
   * re-reads a directory (an lstat per entry) after every entry added to it, which for
   * thousands of arriving files costs more than writing them. Returns false if the folder
   * was not being watched (then there is nothing to resume). Events not yet handled are
   * dropped: `resumeWatching` rescans the whole folder instead.
   */
  async pauseWatching(folderId: string): Promise<boolean> {
    const w = this.watchers.get(folderId);
    if (!w) return false;
    this.watchers.delete(folderId);
    await w.close();
    return true;
  }

  /**
   * Restarts a paused watcher, then rescans the whole folder (cheap: unchanged files take
   * the fast path). The watcher is ready before the rescan starts, so a change made while
   * paused is found by the rescan and one made after by the watcher: none is missed.
   */
  async resumeWatching(folderId: string): Promise<void> {
    if (this.closed || !this.folders.get(folderId)?.local) return;
    this.watchFolder(folderId);
    await this.watchers.get(folderId)?.ready;
    if (!this.closed) await this.scan(folderId);
  }

  async unwatchFolder(folderId: string): Promise<void> {
    const w = this.watchers.get(folderId);
    this.watchers.delete(folderId);
    await w?.close();
  }

  isWatching(folderId: string): boolean {
    return this.watchers.has(folderId);
  }

  requireAttached(folderId: string): Folder & { local: NonNullable<Folder['local']> } {
    const f = this.folders.require(folderId);
    if (!f.local) throw new CanopyError('NOT_FOUND', `folder "${folderId}" is not attached on this device; attach it with \`canopy folder add PATH --id ${folderId}\``);
    return f as Folder & { local: NonNullable<Folder['local']> };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watchers.values()].map((w) => w.close()));
    this.watchers.clear();
    await this.pool.close();
    this.db.close();
    this.lock.release();
  }

  /**
   * config.toml [device] and this device's row agree: a rename written into config.toml by
   * hand is announced to the mesh (a signed self 'update'), so other devices see it too.
   */
  private registerLocalDevice(): void {
    const d = this.config.device;
    const row = this.mesh.device(this.identity.deviceId);
    if (!row) {
      this.db.prepare('INSERT INTO devices (id, public_key, name, labels, trust, is_local, added_at) VALUES (?, ?, ?, ?, ?, 1, ?)')
        .run(this.identity.deviceId, this.identity.publicKey, d.name, JSON.stringify(d.labels), d.trust, Date.now());
      return;
    }
    const same = row.name === d.name && row.trust === d.trust && canonicalJson(row.labels) === canonicalJson(d.labels);
    if (same) return;
    if (row.trust === d.trust || row.trust === 'owner') this.mesh.update(row.id, { name: d.name, labels: d.labels, trust: d.trust });
    else this.db.prepare('UPDATE devices SET name = ?, labels = ? WHERE id = ?').run(d.name, JSON.stringify(d.labels), row.id);
  }

  /**
   * Writes this device's row (changed by `device.update`, here or from another device) into
   * config.toml [device], atomically, so a restart does not bring the old name back.
   */
  adoptLocalDeviceRow(): void {
    const row = this.mesh.device(this.identity.deviceId);
    if (!row) return;
    const d = this.config.device;
    if (row.name === d.name && row.trust === d.trust && canonicalJson(row.labels) === canonicalJson(d.labels)) return;
    const removed = Object.fromEntries(Object.keys(d.labels).filter((k) => !Object.hasOwn(row.labels, k)).map((k) => [k, null]));
    const written = writeConfig(this.home, { device: { name: row.name, trust: row.trust, labels: { ...removed, ...row.labels } } });
    Object.assign(this.config.device, written.device);
  }
}

function writeStarterConfig(home: string, name: string, labels: Record<string, string>): void {
  // exclusive: a config the user wrote before `init` is kept as it is.
  writeFileAtomic(homeFiles(home).config, renderDefaultConfigToml({ device: { name: name.slice(0, 255), labels } }), { mode: 0o600, exclusive: true });
}
