/**
 * The placement commands of the API: quota (get, set with a dry-run preview), pins,
 * priorities, replicas of a file, opening and freeing on-demand files, the placement
 * fields of `ls`. Thin: the work is in core/placement.
 */
import type { Engine } from '../engine/index.js';
import { CanopyError } from '../errors/index.js';
import {
  coversPath, createPlacementView, fileHead, freeOnDemandFile, OnDemand, PriorityRules, Quota, type ChunkPlacement, type PlacementView, type QuotaLimits,
} from '../placement/index.js';
import { applyPriorityOverride } from '../log/ingest.js';
import type { SyncService } from '../sync/index.js';
import type { ApiEvent, FileEntry, Params, PinInfo, PriorityInfo, QuotaChange, QuotaInfo, ReplicaInfo } from './types.js';

export interface PlacementApiDeps {
  engine: Engine;
  sync: SyncService | undefined;
  resolveTarget(target: string): { folderId: string; rel: string };
  entry(target: string): FileEntry;
  emit(event: ApiEvent): void;
}

export class PlacementApi {
  private readonly quota: Quota;
  private readonly onDemand: OnDemand;

  constructor(private readonly deps: PlacementApiDeps) {
    const { engine, sync } = deps;
    this.quota = sync?.quota ?? new Quota(engine, { view: () => this.view() });
    this.onDemand = sync?.onDemand ?? new OnDemand(engine.db);
    this.quota.on('progress', (p) => deps.emit({ type: 'evict.progress', ...p }));
    this.quota.on('full', (f) => deps.emit({ type: 'quota.full', ...f }));
  }

  view(): PlacementView {
    return this.deps.sync?.placement() ?? createPlacementView(this.deps.engine);
  }

  quotaGet(): QuotaInfo {
    return this.quotaInfo(this.quota.limits());
  }

  async quotaSet(p: Params<'quota.set'>): Promise<QuotaChange> {
    const cur = this.quota.limits();
    const next: QuotaLimits = {
      // A lower quota takes the reserve down with it unless a reserve is given.
      maxBytes: p.maxBytes ?? cur.maxBytes, reservedBytes: p.reservedBytes ?? Math.min(cur.reservedBytes, p.maxBytes ?? cur.maxBytes), minFreeBytes: p.minFreeBytes ?? cur.minFreeBytes,
      shareExcess: p.shareExcess ?? cur.shareExcess, autoEvict: p.autoEvict ?? cur.autoEvict, evictionStrategy: p.evictionStrategy ?? cur.evictionStrategy,
    };
    if (next.reservedBytes > next.maxBytes) throw new CanopyError('BAD_ARGUMENT', `the reserve (${next.reservedBytes} bytes) cannot exceed the quota (${next.maxBytes} bytes)`);
    const plan = this.quota.plan(next.maxBytes, next.evictionStrategy);
    const dryRun = p.dryRun === true;
    if (!dryRun) {
      const evicting = this.quota.apply(next);
      // A daemon evicts in the background (progress events); a one-shot CLI run holds the home only until it returns.
      if (evicting && !this.deps.sync) await evicting;
      else void evicting?.catch(() => undefined);
    }
    return {
      quota: this.quotaInfo(dryRun ? next : this.quota.limits()),
      dryRun,
      evict: {
        targetBytes: next.maxBytes, freesBytes: plan.choice.freedBytes, freesUnpinnedCacheBytes: plan.freesUnpinnedCacheBytes,
        unfreeableBytes: plan.choice.shortBytes, reason: plan.reason,
      },
    };
  }

  async pin(p: Params<'file.pin'>): Promise<PinInfo> {
    const { folderId, rel } = this.requirePath(p.target);
    const db = this.deps.engine.db;
    if (p.pinned) db.prepare('INSERT OR IGNORE INTO pins (folder_id, path, created_at) VALUES (?, ?, ?)').run(folderId, rel, Date.now());
    else db.prepare('DELETE FROM pins WHERE folder_id = ? AND path = ?').run(folderId, rel);
    // Pinning an online-only file brings it here now.
    if (p.pinned && this.deps.sync && this.onDemand.isOnDemand(folderId)) await this.materialize(folderId, this.filesUnder(folderId, rel));
    return { folderId, path: rel, pinned: p.pinned };
  }

  priority(p: Params<'file.priority'>): PriorityInfo {
    const { folderId, rel } = this.requirePath(p.target);
    const { engine } = this.deps;
    const db = engine.db;
    // A signed log entry, so every device places this path alike.
    db.transaction(() => {
      const createdAt = Date.now();
      const author = engine.identity.deviceId;
      engine.log.append('priority', (seq) => ({ t: 'priority', folder: folderId, path: rel, priority: p.priority, author, seq, createdAt }));
      applyPriorityOverride(db, { folder: folderId, path: rel, priority: p.priority, author, createdAt });
    })();
    const rules = new PriorityRules(db);
    return { folderId, path: rel, priority: rules.effective(folderId, rel, this.deps.engine.config.replication.defaultPriority), inherited: rules.override(folderId, rel) === undefined };
  }

  replicas(target: string): ReplicaInfo {
    const { folderId, rel, chunks } = this.headChunks(target);
    const view = this.view();
    const rules = new PriorityRules(this.deps.engine.db);
    const priority = rules.effective(folderId, rel, this.deps.engine.config.replication.defaultPriority);
    const factor = this.deps.engine.config.replication[priority];
    const placed = [...new Set(chunks.map((c) => c.hash))].map((h) => view.forChunk(h)).filter((c): c is ChunkPlacement => c !== null);
    return {
      folderId, path: rel, priority, factor, minimum: factor,
      chunks: placed.map((c) => ({ hash: c.hash, size: c.size, designated: c.designated, holders: c.holders })),
      summary: {
        chunks: placed.length, bytes: placed.reduce((s, c) => s + c.size, 0),
        underReplicated: placed.filter((c) => c.holders.length < c.factor).length,
        overReplicated: placed.filter((c) => c.holders.length > c.factor).length,
        shortfall: placed.filter((c) => c.shortfall > 0).length,
        minHolders: placed.length === 0 ? 0 : Math.min(...placed.map((c) => c.holders.length)),
      },
    };
  }

  async open(target: string): Promise<FileEntry> {
    const { folderId, rel } = this.headChunks(target);
    this.onDemand.markUsed(folderId, rel);
    await this.materialize(folderId, [rel]);
    return this.deps.entry(`${folderId}/${rel}`);
  }

  /** Makes a file online-only (core/placement/free.ts says when it may go). */
  async free(target: string): Promise<FileEntry> {
    const { folderId, rel } = this.deps.resolveTarget(target);
    await freeOnDemandFile({ engine: this.deps.engine, view: this.view(), onDemand: this.onDemand, holdingsChanged: () => this.deps.sync?.replicaFacts.changed() }, folderId, rel);
    return this.deps.entry(`${folderId}/${rel}`);
  }

  /** The placement fields of `ls` entries. */
  decorate(folderId: string, entries: FileEntry[]): FileEntry[] {
    const { engine } = this.deps;
    const db = engine.db;
    const rules = new PriorityRules(db);
    const live = new Set(this.view().liveDevices());
    const me = engine.identity.deviceId;
    const rowKind = db.prepare('SELECT kind FROM local_files WHERE folder_id = ? AND path = ?').pluck();
    const holdersOf = db.prepare(`SELECT device_id, count(DISTINCT r.chunk) AS n FROM replicas r
      WHERE r.chunk IN (SELECT chunk FROM version_chunks WHERE version_id = ?) GROUP BY device_id`);
    const distinctChunks = db.prepare('SELECT count(DISTINCT chunk) FROM version_chunks WHERE version_id = ?').pluck();
    const chunksOf = db.prepare('SELECT DISTINCT chunk FROM version_chunks WHERE version_id = ?').pluck();
    return entries.map((e) => {
      const priority = rules.effective(folderId, e.path, engine.config.replication.defaultPriority);
      const local = e.kind === 'tombstone' ? false : e.kind !== 'file' || rowKind.get(folderId, e.path) === 'file';
      let replicas: number | null = null;
      if (e.kind === 'file') {
        const need = distinctChunks.get(e.headVersion) as number;
        const full = (holdersOf.all(e.headVersion) as { device_id: string; n: number }[]).filter((r) => r.n === need && r.device_id !== me && live.has(r.device_id));
        const heldHere = local || (chunksOf.all(e.headVersion) as string[]).every((h) => engine.store.has(h));
        replicas = full.length + (heldHere ? 1 : 0);
      }
      return { ...e, priority, pinned: rules.pinned(folderId, e.path), local, replicas, targetReplicas: e.kind === 'file' ? engine.config.replication[priority] : null };
    });
  }

  private quotaInfo(l: QuotaLimits): QuotaInfo {
    const usage = this.deps.engine.store.usage();
    return {
      maxBytes: l.maxBytes, reservedBytes: l.reservedBytes, minFreeBytes: l.minFreeBytes, shareExcess: l.shareExcess, autoEvict: l.autoEvict,
      evictionStrategy: l.evictionStrategy, usage: this.quota.breakdown(), diskFreeBytes: usage.diskFreeBytes,
      full: usage.bytes >= l.maxBytes || usage.diskFreeBytes <= l.minFreeBytes,
    };
  }

  private async materialize(folderId: string, paths: string[]): Promise<void> {
    if (paths.length === 0) return;
    if (!this.deps.sync) throw new CanopyError('DAEMON_UNREACHABLE', 'fetching a file needs the daemon running (canopy start)');
    const r = await this.deps.sync.materializeNow(folderId, paths);
    if (r.problems.length > 0) throw new CanopyError('IO_ERROR', `could not bring ${paths.length === 1 ? paths[0] : `${paths.length} files`} here: ${r.problems.slice(0, 3).join('; ')}`);
  }

  private filesUnder(folderId: string, rel: string): string[] {
    const rows = this.deps.engine.db.prepare('SELECT DISTINCT path FROM heads WHERE folder_id = ?').pluck().all(folderId) as string[];
    return rows.filter((p) => coversPath(rel, p) && this.deps.engine.versions.preferredHead(folderId, p)?.kind === 'file');
  }

  /** A path with history in the folder (or the folder root). */
  private requirePath(target: string): { folderId: string; rel: string } {
    const t = this.deps.resolveTarget(target);
    if (t.rel !== '' && this.filesUnder(t.folderId, t.rel).length === 0 && !this.deps.engine.versions.preferredHead(t.folderId, t.rel)) {
      throw new CanopyError('NOT_FOUND', `nothing indexed at ${t.folderId}/${t.rel}`);
    }
    return t;
  }

  private headChunks(target: string): { folderId: string; rel: string; chunks: { hash: string; size: number }[] } {
    const { folderId, rel } = this.deps.resolveTarget(target);
    return { folderId, rel, ...fileHead(this.deps.engine, folderId, rel) };
  }
}
