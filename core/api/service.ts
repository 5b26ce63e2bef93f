/**
 * The API's implementation over one engine, and the in-process transport: `ApiService`
 * is itself a `CanopyClient`. Every call validates its parameters with the schemas of
 * `types.ts` first, whichever transport brought it, and errors leave as CanopyErrors.
 */
import path from 'node:path';
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Engine } from '../engine/index.js';
import { CanopyError } from '../errors/index.js';
import type { Folder } from '../folders/index.js';
import { APP_VERSION } from '../version.js';
import { SyncService } from '../sync/index.js';
import { parseFacts } from '../placement/facts.js';
import { VersionCommands } from './versions.js';
import type { Jobs } from '../jobs/index.js';
import { JobsApi } from './jobs.js';
import { PlacementApi } from './placement.js';
import { SettingsApi } from './settings.js';
import {
  commandParams, isCommandName, type ApiEvent, type ConflictInfo, type DeviceInfo, type CanopyClient, type CommandName, type FileEntry, type FolderInfo, type Params,
  type Result, type VersionInfo,
} from './types.js';

type Handlers = { [C in CommandName]: (params: ReturnType<(typeof commandParams)[C]['parse']>) => Promise<Result<C>> | Result<C> };

export interface ServiceOptions {
  /** Set by the daemon so `status` can say where it is reachable. */
  daemon?: { pid: number; url: string } | undefined;
  /** Start watching folders as they are added (the daemon does; one-shot CLI runs do not). */
  watch?: boolean;
  /** The running sync (daemon and desktop); absent for one-shot CLI runs. */
  sync?: SyncService | undefined;
  /** The host's scheduled jobs; a one-shot CLI run gets its own, without sync. */
  jobs?: Jobs | undefined;
}

export class ApiService implements CanopyClient {
  private readonly events = new EventEmitter<{ event: [ApiEvent] }>();
  private readonly handlers: Handlers;
  private readonly versionCommands: VersionCommands;
  private readonly jobs: JobsApi;
  private readonly placement: PlacementApi;
  private readonly settings: SettingsApi;

  constructor(readonly engine: Engine, private readonly opts: ServiceOptions = {}) {
    this.events.setMaxListeners(0);
    engine.on('scan.progress', (p) => this.emit({ type: 'scan.progress', ...p }));
    engine.on('scan.done', (report) => {
      this.emit({ type: 'scan.done', report });
      for (const p of report.problems) this.emit({ type: 'problem', folderId: report.folderId, ...p });
    });
    engine.on('watch.error', (e) => this.emit({ type: 'watch.error', ...e }));
    this.versionCommands = new VersionCommands({ engine, sync: opts.sync, resolveTarget: (t) => this.resolveTarget(t), emit: (e) => this.emit(e) });
    this.jobs = new JobsApi(engine, opts.jobs, (e) => this.emit(e));
    this.placement = new PlacementApi({
      engine, sync: opts.sync, resolveTarget: (t) => this.resolveTarget(t), entry: (t) => this.ls(t)[0] as FileEntry, emit: (e) => this.emit(e),
    });
    this.settings = new SettingsApi({ engine, sync: opts.sync, devices: () => this.devices(), folderInfo: (f) => this.folderInfo(f) });
    this.handlers = {
      status: () => this.status(),
      'folder.add': async (p) => {
        const folder = engine.folders.add(p);
        if (this.opts.watch) {
          // Index what the directory already holds before anything from other devices is
          // written into it: identical files are adopted, differing ones become branches.
          engine.watchFolder(folder.id);
          void engine.scan(folder.id).catch(() => undefined).then(() => this.opts.sync?.folderAttached(folder.id));
        }
        const info = this.folderInfo(folder);
        this.emit({ type: 'folder.added', folder: info });
        return info;
      },
      'folder.list': () => engine.folders.list().map((f) => this.folderInfo(f)),
      'folder.remove': async (p) => {
        await engine.unwatchFolder(p.id);
        const info = this.folderInfo(engine.folders.remove(p.id));
        this.emit({ type: 'folder.removed', folderId: p.id });
        return { ...info, attached: false, path: null, mode: null, files: 0, bytes: 0 };
      },
      scan: (p) => engine.scan(p.folder, p.paths),
      ls: (p) => this.ls(p.target),
      log: (p) => this.log(p.target),
      'invite.create': async (p) => {
        const ttl = p.expiresInMs ?? 15 * 60_000;
        const invite = this.opts.sync ? await this.opts.sync.createInvite(ttl) : engine.mesh.createInvite(ttl);
        return { ...invite, listening: this.opts.sync !== undefined };
      },
      'mesh.join': (p) => this.join(p.code),
      'sync.pause': async () => {
        if (!this.opts.sync) throw new CanopyError('DAEMON_UNREACHABLE', 'nothing is syncing: no daemon is running for this home');
        await this.opts.sync.suspend();
        return this.opts.sync.status();
      },
      'sync.resume': async () => {
        if (!this.opts.sync) throw new CanopyError('DAEMON_UNREACHABLE', 'nothing is syncing: no daemon is running for this home');
        await this.opts.sync.resume();
        return this.opts.sync.status();
      },
      'device.list': () => this.devices(),
      'device.remove': (p) => {
        const d = this.opts.sync ? this.opts.sync.removeDevice(p.id) : engine.mesh.remove(p.id);
        engine.confirmations.recompute(); // the majority changed
        return this.devices().find((x) => x.id === d.id) as DeviceInfo;
      },
      conflicts: (p) => this.conflicts(p.folder),
      'file.cat': (p) => this.versionCommands.cat(p),
      'file.restore': (p) => this.versionCommands.restore(p),
      'conflict.resolve': (p) => this.versionCommands.resolve(p),
      gc: (p) => this.versionCommands.gc(p),
      'quota.get': () => this.placement.quotaGet(),
      'quota.set': (p) => this.placement.quotaSet(p),
      'file.pin': (p) => this.placement.pin(p),
      'file.priority': (p) => this.placement.priority(p),
      'file.replicas': (p) => this.placement.replicas(p.target),
      'file.open': (p) => this.placement.open(p.target),
      'file.free': (p) => this.placement.free(p.target),
      'job.run': (p) => this.jobs.run(p),
      'job.reports': () => this.jobs.reports(),
      'device.update': (p) => {
        const d = this.settings.deviceUpdate(p);
        this.emit({ type: 'device.updated' });
        return d;
      },
      'folder.update': (p) => {
        const f = this.settings.folderUpdate(p);
        this.emit({ type: 'folder.updated', folder: f });
        return f;
      },
      'settings.get': () => this.settings.settingsGet(),
      'settings.set': (p) => this.settings.settingsSet(p),
    };
    const sync = opts.sync;
    if (sync) {
      sync.on('peer', (e) => this.emit({ type: 'device.online', ...e }));
      sync.on('conflict', (e) => this.emit({ type: 'conflict', ...e }));
      sync.on('conflict.resolved', (e) => this.emit({ type: 'conflict.resolved', ...e }));
      sync.on('problem', (e) => this.emit({ type: 'problem', ...e }));
      sync.on('materialized', (e) => this.emit({ type: 'materialized', ...e }));
      sync.on('status', (s) => this.emit({ type: 'sync.progress', sync: s }));
      sync.on('mesh.changed', (c) => {
        if (c.devices) this.emit({ type: 'device.updated' });
        if (c.folders) for (const f of engine.folders.list()) this.emit({ type: 'folder.updated', folder: this.folderInfo(f) });
      });
    }
  }

  async call<C extends CommandName>(command: C, params: Params<C>): Promise<Result<C>> {
    if (!isCommandName(command)) throw new CanopyError('BAD_ARGUMENT', `unknown command "${String(command)}"`);
    const parsed = commandParams[command].safeParse(params ?? {});
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ');
      throw new CanopyError('BAD_ARGUMENT', `${command}: ${why}`);
    }
    const handler = this.handlers[command] as (p: unknown) => Promise<Result<C>> | Result<C>;
    return handler(parsed.data);
  }

  subscribe(listener: (event: ApiEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  private emit(event: ApiEvent): void {
    this.events.emit('event', event);
  }

  private status(): Result<'status'> {
    const e = this.engine;
    const cfg = e.config.device;
    return {
      device: { id: e.identity.deviceId, name: cfg.name, labels: cfg.labels },
      home: e.home,
      version: APP_VERSION,
      via: this.opts.daemon ? 'daemon' : 'direct',
      daemon: this.opts.daemon ?? null,
      folders: e.folders.list().map((f) => this.folderInfo(f)),
      store: e.store.usage(),
      versions: e.db.prepare('SELECT count(*) FROM versions').pluck().get() as number,
      logSeq: e.log.nextSeq() - 1,
      sync: this.opts.sync?.status() ?? null,
      health: this.jobs.health(),
    };
  }

  /** Pairs with an invite; without a running daemon, goes online just long enough to pair. */
  private async join(code: string): Promise<{ devices: DeviceInfo[] }> {
    if (this.opts.sync) {
      await this.opts.sync.join(code);
    } else {
      const sync = new SyncService(this.engine);
      try {
        await sync.join(code);
      } finally {
        await sync.stop();
      }
    }
    return { devices: this.devices() };
  }

  private devices(): DeviceInfo[] {
    const online = new Set(this.opts.sync?.status().peers.map((p) => p.deviceId) ?? []);
    const capacity = new Map((this.engine.db.prepare('SELECT id, capacity FROM devices').all() as { id: string; capacity: string | null }[]).map((r) => [r.id, r.capacity]));
    const own = this.engine.store.usage();
    return this.engine.mesh.devices().map((d) => {
      const facts = d.isLocal ? null : parseFacts(capacity.get(d.id) ?? null);
      const storage = d.isLocal ? { maxBytes: own.maxBytes, usedBytes: own.bytes, full: own.maxBytes > 0 && own.bytes >= own.maxBytes }
        : facts ? { maxBytes: facts.maxBytes, usedBytes: facts.usedBytes, full: facts.full } : null;
      return {
        id: d.id, name: d.name, labels: d.labels, trust: d.trust, isLocal: d.isLocal, online: d.isLocal || online.has(d.id),
        lastSeen: d.isLocal ? Date.now() : d.lastSeen, addedAt: d.addedAt, revokedAt: d.revokedAt, storage,
      };
    });
  }

  private conflicts(folder?: string): ConflictInfo[] {
    const rows = this.engine.db.prepare(`SELECT folder_id, path FROM heads WHERE (? IS NULL OR folder_id = ?)
      GROUP BY folder_id, path HAVING count(*) > 1 ORDER BY folder_id, path`).all(folder ?? null, folder ?? null) as { folder_id: string; path: string }[];
    const names = new Map(this.engine.mesh.devices().map((d) => [d.id, d.name]));
    return rows.filter((r) => this.engine.versions.inConflict(r.folder_id, r.path)).map((r) => {
      const heads = this.engine.versions.heads(r.folder_id, r.path);
      const preferred = this.engine.versions.preferredHead(r.folder_id, r.path)?.id;
      return {
        folderId: r.folder_id, path: r.path,
        heads: heads.map((h) => ({
          versionId: h.id, kind: h.kind, author: h.author, authorName: names.get(h.author) ?? null, createdAt: h.createdAt,
          size: h.size, state: h.state, preferred: h.id === preferred,
        })),
      };
    });
  }

  private folderInfo(f: Folder): FolderInfo {
    const stats = this.engine.db.prepare(`SELECT count(*) FILTER (WHERE kind = 'file') AS files, coalesce(sum(size), 0) AS bytes FROM local_files WHERE folder_id = ?`).get(f.id) as { files: number; bytes: number };
    const problems = this.engine.db.prepare('SELECT count(*) FROM scan_problems WHERE folder_id = ?').pluck().get(f.id) as number;
    return {
      id: f.id, label: f.label, dataClass: f.dataClass, priority: f.priority, attached: f.local !== null,
      path: f.local?.path ?? null, mode: f.local?.mode ?? null, files: stats.files, bytes: stats.bytes,
      lastScanAt: f.local?.lastScanAt ?? null, problems,
    };
  }

  /**
   * Resolves "FOLDER/PATH" or a filesystem path inside an attached folder to the folder and
   * the path relative to it.
   */
  resolveTarget(target: string): { folderId: string; rel: string } {
    if (path.isAbsolute(target)) {
      const abs = realpathLoose(target);
      for (const f of this.engine.folders.attached()) {
        const rel = path.relative(f.local.path, abs);
        if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) return { folderId: f.id, rel: rel.split(path.sep).join('/') };
      }
      throw new CanopyError('NOT_FOUND', `${target} is not inside an attached folder`);
    }
    const [folderId = '', ...rest] = target.split('/');
    this.engine.folders.require(folderId);
    return { folderId, rel: rest.filter((s) => s !== '').join('/') };
  }

  private ls(target: string): FileEntry[] {
    const { folderId, rel } = this.resolveTarget(target);
    const folder = this.engine.folders.require(folderId);
    const db = this.engine.db;
    const rows = db.prepare(`
      SELECT h.path, v.id, v.kind, v.size, v.mtime_ms, (SELECT count(*) FROM heads h2 WHERE h2.folder_id = h.folder_id AND h2.path = h.path) AS heads,
             (SELECT count(*) FROM version_chunks c WHERE c.version_id = v.id) AS chunks,
             EXISTS (SELECT 1 FROM scan_problems p WHERE p.folder_id = h.folder_id AND p.path = h.path) AS problem
      FROM heads h JOIN versions v ON v.id = h.version_id
      WHERE h.folder_id = ? AND (? = '' OR h.path = ? OR (h.path > ? AND h.path < ?))
      ORDER BY h.path, v.created_at DESC`).all(folderId, rel, rel, `${rel}/`, `${rel}0`) as {
      path: string; id: string; kind: FileEntry['kind']; size: number; mtime_ms: number; heads: number; chunks: number; problem: number;
    }[];
    const seen = new Set<string>();
    const out: FileEntry[] = [];
    for (const r of rows) {
      if (seen.has(r.path)) continue;
      const head = this.engine.versions.preferredHead(folderId, r.path);
      if (!head) continue;
      seen.add(r.path);
      out.push({
        path: r.path, kind: head.kind, size: head.size, mtimeMs: head.mtimeMs, headVersion: head.id, heads: r.heads,
        chunks: head.chunkCount, localState: r.problem ? 'problem' : head.kind === 'tombstone' ? 'deleted' : 'synced',
        priority: folder.priority, pinned: false, local: head.kind !== 'tombstone', replicas: null, targetReplicas: null,
      });
    }
    if (rel !== '' && out.length === 0) throw new CanopyError('NOT_FOUND', `nothing indexed at ${folderId}/${rel}`);
    return this.placement.decorate(folderId, out);
  }

  private log(target: string): VersionInfo[] {
    const { folderId, rel } = this.resolveTarget(target);
    if (rel === '') throw new CanopyError('BAD_ARGUMENT', 'log needs a path inside the folder, e.g. FOLDER/notes.txt');
    const history = this.engine.versions.history(folderId, rel);
    if (history.length === 0) throw new CanopyError('NOT_FOUND', `no versions of ${folderId}/${rel}`);
    const heads = new Set(this.engine.versions.heads(folderId, rel).map((v) => v.id));
    const names = new Map((this.engine.db.prepare('SELECT id, name FROM devices').all() as { id: string; name: string }[]).map((d) => [d.id, d.name]));
    return history.map((v) => ({
      id: v.id, path: v.path, kind: v.kind, parents: v.parents, author: v.author, authorName: names.get(v.author) ?? null,
      size: v.size, mtimeMs: v.mtimeMs, createdAt: v.createdAt, state: v.state, vector: { ...v.vector }, chunks: v.chunkCount,
      isHead: heads.has(v.id), target: v.target,
    }));
  }
}

function realpathLoose(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    // A deleted file has no realpath; resolve its directory instead.
    try {
      return path.join(fs.realpathSync(path.dirname(p)), path.basename(p));
    } catch {
      return path.resolve(p);
    }
  }
}
