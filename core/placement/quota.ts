/**
 * This device's quota at work: what the chunk store holds and why (own, replica, cache,
 * pinned), what lowering the quota would free, and eviction down to a target in the
 * background, by the configured strategy, announcing every drop. The choice itself is
 * `chooseEvictions` (pure); this file gathers its facts and carries it out.
 */
import { EventEmitter } from 'node:events';
import type { Engine } from '../engine/index.js';
import { writeConfig, type EvictionStrategy } from '../config/index.js';
import { chooseEvictions, evictable, type EvictCandidate, type EvictChoice } from './evict.js';
import type { ChunkPlacement, PlacementView } from './view.js';

export interface QuotaLimits {
  maxBytes: number;
  reservedBytes: number;
  minFreeBytes: number;
  shareExcess: boolean;
  autoEvict: boolean;
  evictionStrategy: EvictionStrategy;
}

export interface StoreBreakdown {
  ownBytes: number;
  replicaBytes: number;
  cacheBytes: number;
  pinnedBytes: number;
  totalBytes: number;
  /** Of the total, chunks no current head uses: kept only for history and retention (DESIGN.md section 5). */
  historyBytes: number;
}

export type StoreClass = 'own' | 'replica' | 'cache' | 'pinned';

export interface EvictPlan {
  targetBytes: number;
  choice: EvictChoice;
  freesUnpinnedCacheBytes: number;
  reason: string | null;
}

export interface QuotaEvents {
  progress: [{ freedBytes: number; targetBytes: number; done: boolean; unfreeableBytes: number }];
  full: [{ usedBytes: number; maxBytes: number }];
}

interface Classified extends EvictCandidate {
  cls: StoreClass;
}

export class Quota extends EventEmitter<QuotaEvents> {
  private evicting: Promise<void> | undefined;

  constructor(private readonly engine: Engine, private readonly deps: { view: () => PlacementView; announceDropped?: (hashes: string[]) => void }) {
    super();
  }

  limits(): QuotaLimits {
    const s = this.engine.config.storage;
    return { maxBytes: s.max, reservedBytes: s.reserved, minFreeBytes: s.minFree, shareExcess: s.shareExcess, autoEvict: s.autoEvict, evictionStrategy: s.evictionStrategy };
  }

  /** What the store holds, by why it holds it. */
  breakdown(cands: readonly Classified[] = this.candidates()): StoreBreakdown {
    const out: StoreBreakdown = { ownBytes: 0, replicaBytes: 0, cacheBytes: 0, pinnedBytes: 0, totalBytes: 0, historyBytes: 0 };
    const inHeads = this.engine.db.prepare('SELECT 1 FROM version_chunks c JOIN heads h ON h.version_id = c.version_id WHERE c.chunk = ? LIMIT 1').pluck();
    for (const c of cands) {
      out[`${c.cls}Bytes`] += c.size;
      out.totalBytes += c.size;
      if (inHeads.get(c.hash) === undefined) out.historyBytes += c.size;
    }
    return out;
  }

  /** What bringing the store down to `targetBytes` would drop, and what could not go. */
  plan(targetBytes: number, strategy: EvictionStrategy = this.engine.config.storage.evictionStrategy, cands = this.candidates()): EvictPlan {
    const used = this.engine.store.usage().bytes;
    const choice = chooseEvictions(cands, Math.max(0, used - targetBytes), strategy);
    const freesUnpinnedCacheBytes = (choice.evict as Classified[]).filter((c) => c.cls === 'cache').reduce((s, c) => s + c.size, 0);
    const reason = choice.shortBytes === 0 ? null
      : `${choice.shortBytes} bytes cannot be freed: ${choice.kept.pinned} bytes are pinned and ${choice.kept.belowMinimum} bytes would fall below their minimum copies`;
    return { targetBytes, choice, freesUnpinnedCacheBytes, reason };
  }

  /** Writes new limits to config.toml and applies them now; lowering max starts eviction in the background (returned). */
  apply(next: QuotaLimits): Promise<void> | undefined {
    const cfg = writeConfig(this.engine.home, {
      storage: {
        max: next.maxBytes, reserved: next.reservedBytes, min_free: next.minFreeBytes, share_excess: next.shareExcess,
        auto_evict: next.autoEvict, eviction_strategy: next.evictionStrategy,
      },
    });
    Object.assign(this.engine.config.storage, cfg.storage);
    this.engine.store.setLimits({ maxBytes: cfg.storage.max, minFreeBytes: cfg.storage.minFree });
    return this.engine.store.usage().bytes > cfg.storage.max ? this.evictTo(cfg.storage.max) : undefined;
  }

  /** Evicts down to `targetBytes` (one pass at a time), reporting progress; says "full" when it cannot. */
  evictTo(targetBytes: number): Promise<void> {
    if (this.evicting) return this.evicting.then(() => this.evictTo(targetBytes));
    this.evicting = this.evictNow(targetBytes).finally(() => {
      this.evicting = undefined;
    });
    return this.evicting;
  }

  /** Room for `bytes` more under the quota (store pressure): evicts what may go. True when there is room now. */
  async makeRoom(bytes: number): Promise<boolean> {
    const { store } = this.engine;
    const max = this.engine.config.storage.max;
    if (store.usage().bytes + bytes <= max) return true;
    if (!this.engine.config.storage.autoEvict) return false;
    await this.evictTo(Math.max(0, max - bytes));
    return store.usage().bytes + bytes <= max;
  }

  private async evictNow(targetBytes: number): Promise<void> {
    const plan = this.plan(targetBytes);
    const view = this.deps.view();
    const me = this.engine.identity.deviceId;
    let freed = 0;
    const dropped: string[] = [];
    for (const c of plan.choice.evict) {
      // Facts may have moved since the plan (a peer dropped its copy): check again right before.
      const now = view.forChunk(c.hash);
      if (now && !evictable({ ...c, verifiedElsewhere: now.holders.filter((h) => h !== me).length, minimum: now.minimum })) continue;
      await this.engine.store.delete(c.hash);
      dropped.push(c.hash);
      freed += c.size;
      if (dropped.length % 64 === 0) this.emit('progress', { freedBytes: freed, targetBytes, done: false, unfreeableBytes: plan.choice.shortBytes });
    }
    if (dropped.length > 0) this.deps.announceDropped?.(dropped);
    const used = this.engine.store.usage().bytes;
    this.emit('progress', { freedBytes: freed, targetBytes, done: true, unfreeableBytes: Math.max(0, used - targetBytes) });
    if (used > targetBytes || used >= this.engine.config.storage.max) this.emit('full', { usedBytes: used, maxBytes: this.engine.config.storage.max });
  }

  /** Every stored chunk with the facts eviction needs. */
  candidates(): Classified[] {
    const db = this.engine.db;
    const me = this.engine.identity.deviceId;
    const view = this.deps.view();
    const placements = new Map<string, ChunkPlacement>();
    for (const c of view.chunks()) placements.set(c.hash, c);
    const pinned = pinnedChunks(this.engine);
    const own = new Set(db.prepare('SELECT DISTINCT c.chunk FROM version_chunks c JOIN versions v ON v.id = c.version_id WHERE v.author = ?').pluck().all(me) as string[]);
    const rows = db.prepare('SELECT hash, size, last_access FROM stored_chunks WHERE quarantined = 0').all() as { hash: string; size: number; last_access: number }[];
    return rows.map((r) => {
      const p = placements.get(r.hash);
      const designatedHere = p?.designated.includes(me) ?? false;
      const isPinned = pinned.has(r.hash);
      const cls: StoreClass = isPinned ? 'pinned' : own.has(r.hash) ? 'own' : designatedHere ? 'replica' : 'cache';
      return {
        hash: r.hash, size: r.size, lastAccess: r.last_access, pinned: isPinned, priority: p?.priority ?? 'expendable',
        verifiedElsewhere: p ? p.holders.filter((h) => h !== me).length : 0, minimum: p?.minimum ?? 0, designatedHere,
        unreferenced: p === undefined, cls,
      };
    });
  }
}

/** Chunks of the current heads of every path this device pins. */
export function pinnedChunks(engine: Engine): Set<string> {
  const db = engine.db;
  const out = new Set<string>();
  const q = db.prepare(`SELECT c.chunk FROM heads h JOIN version_chunks c ON c.version_id = h.version_id
    WHERE h.folder_id = ? AND (? = '' OR h.path = ? OR (h.path > ? AND h.path < ?))`).pluck();
  for (const pin of db.prepare('SELECT folder_id, path FROM pins').all() as { folder_id: string; path: string }[]) {
    for (const h of q.all(pin.folder_id, pin.path, pin.path, `${pin.path}/`, `${pin.path}0`) as string[]) out.add(h);
  }
  return out;
}
