/**
 * PlacementView: placement computed from one device's metadata right now. For every chunk
 * a kept version references: its effective priority and factor, the devices that should
 * hold it (rendezvous over the eligible live devices) and the devices known to hold it
 * (the replicas table for peers, the store and the working copy for this device).
 *
 * Nothing here is stored as truth: every device computes the same designations from the
 * same metadata (versions, folders, priorities, device facts), so no coordinator is needed.
 */
import type { Engine } from '../engine/index.js';
import type { Trust } from '../config/schema.js';
import type { DataClass, Priority } from '../folders/index.js';
import { freeForOthers, freeForOwn, parseFacts, trustAllows, weightOf, type CapacityFacts } from './facts.js';
import { place, prepareCandidates, type PreparedCandidates } from './rendezvous.js';
import { PRIORITY_RANK, PriorityRules } from './priorities.js';

export interface ChunkPlacement {
  hash: string;
  size: number;
  /** Effective: path override, else folder default (the highest when several paths share the chunk). */
  priority: Priority;
  /** Copies wanted (settings [replication]). */
  factor: number;
  /** Fewest verified copies eviction/cleanup may ever leave (= factor unless settings say otherwise). */
  minimum: number;
  /** Device ids that SHOULD hold it, deterministic, owner first for high/critical. */
  designated: string[];
  /** Device ids with a verified replica (local device included when it holds it). */
  holders: string[];
  /** max(0, factor - designated.length) when too few devices are eligible. */
  shortfall: number;
}

export interface PlacementView {
  readonly localDeviceId: string;
  /** Every chunk a kept version of any folder references, with its placement now. */
  chunks(): Iterable<ChunkPlacement>;
  forChunk(hash: string): ChunkPlacement | null;
  /** Devices that count for placement now (paired, not revoked, not gone past the offline grace). */
  liveDevices(): string[];
}

export interface PlacementViewOptions {
  now?: () => number;
  /** Devices connected right now (sync knows); they count as live whatever their last-seen time. */
  online?: () => Iterable<string>;
}

interface DeviceRow {
  id: string;
  labels: string;
  trust: Trust;
  is_local: number;
  capacity: string | null;
  last_seen: number | null;
}

export interface PlacementDevice {
  id: string;
  labels: Record<string, string>;
  trust: Trust;
  isLocal: boolean;
  facts: CapacityFacts | null;
}

/** One chunk's references, folded: what decides its placement. */
interface ChunkRefs {
  hash: string;
  size: number;
  priority: Priority;
  dataClass: DataClass;
  owner: string;
  ownerAt: number;
}

/** How long forChunk reuses device facts, priorities and candidates (they change slowly). */
const CONTEXT_REUSE_MS = 1000;
const HIGH_OWNER_FIRST: ReadonlySet<Priority> = new Set(['critical', 'high']);
const CLASS_RANK: Record<DataClass, number> = { critical: 3, sensitive: 2, standard: 1, public: 0 };

export function createPlacementView(engine: Engine, opts: PlacementViewOptions = {}): PlacementView {
  const now = opts.now ?? Date.now;
  const db = engine.db;
  const localDeviceId = engine.identity.deviceId;
  const stmt = {
    devices: db.prepare('SELECT id, labels, trust, is_local, capacity, last_seen FROM devices WHERE revoked_at IS NULL ORDER BY id'),
    allRefs: db.prepare(`SELECT c.chunk AS hash, c.size AS size, v.folder_id AS folderId, v.path AS path, v.author AS author, v.created_at AS createdAt
      FROM version_chunks c JOIN versions v ON v.id = c.version_id ORDER BY c.chunk`),
    refsOf: db.prepare(`SELECT c.chunk AS hash, c.size AS size, v.folder_id AS folderId, v.path AS path, v.author AS author, v.created_at AS createdAt
      FROM version_chunks c JOIN versions v ON v.id = c.version_id WHERE c.chunk = ?`),
    holdersOf: db.prepare('SELECT device_id FROM replicas WHERE chunk = ?').pluck(),
    allReplicas: db.prepare('SELECT chunk, device_id FROM replicas ORDER BY chunk'),
    localHasWorking: db.prepare(`SELECT 1 FROM version_chunks c JOIN versions v ON v.id = c.version_id
      JOIN local_files f ON f.folder_id = v.folder_id AND f.path = v.path AND f.version_id = c.version_id
      JOIN local_folders l ON l.folder_id = f.folder_id WHERE c.chunk = ? AND f.kind = 'file' LIMIT 1`).pluck(),
  };

  const live = (): PlacementDevice[] => {
    const grace = engine.config.jobs.offlineGrace;
    const t = now();
    const online = new Set(opts.online?.() ?? []);
    return (stmt.devices.all() as DeviceRow[])
      .filter((d) => d.is_local === 1 || online.has(d.id) || (d.last_seen !== null && t - d.last_seen <= grace))
      .map((d) => ({
        id: d.id, labels: parseLabels(d.labels), trust: d.trust, isLocal: d.is_local === 1,
        facts: d.is_local === 1 ? localFacts(engine) : parseFacts(d.capacity),
      }));
  };

  /** Everything that is the same for every chunk of one computation. */
  const context = () => {
    const devices = live();
    const rules = new PriorityRules(db);
    const cfg = engine.config.replication;
    const byClass = new Map<DataClass, PreparedCandidates>();
    const candidatesFor = (dataClass: DataClass) => {
      let p = byClass.get(dataClass);
      if (!p) {
        p = prepareCandidates(devices.filter((d) => trustAllows(d.trust, dataClass)).map((d) => ({ id: d.id, labels: d.labels, weight: weightOf(freeForOthers(d.facts)) })));
        byClass.set(dataClass, p);
      }
      return p;
    };
    const byId = new Map(devices.map((d) => [d.id, d]));
    const liveIds = new Set(byId.keys());
    const placeRefs = (refs: ChunkRefs, holders: string[]): ChunkPlacement => {
      const factor = cfg[refs.priority];
      const p = candidatesFor(refs.dataClass);
      const ownerDevice = byId.get(refs.owner);
      const ownerFirst = HIGH_OWNER_FIRST.has(refs.priority) && ownerDevice !== undefined
        && trustAllows(ownerDevice.trust, refs.dataClass) && freeForOwn(ownerDevice.facts) > 0;
      let { designated } = place({ hash: refs.hash, factor, owner: refs.owner, ownerFirst, diversity: cfg.diversity }, p);
      if (ownerFirst && designated[0] !== refs.owner) designated = [refs.owner, ...designated.filter((id) => id !== refs.owner)].slice(0, factor);
      return {
        hash: refs.hash, size: refs.size, priority: refs.priority, factor, minimum: factor, designated,
        holders: holders.filter((h) => liveIds.has(h)), shortfall: Math.max(0, factor - designated.length),
      };
    };
    return { rules, placeRefs };
  };

  // forChunk is called chunk by chunk (jobs, eviction): the shared part is reused briefly
  // rather than re-read for every chunk; chunks() always starts fresh.
  let cached: { at: number; ctx: ReturnType<typeof context> } | undefined;
  const recentContext = () => {
    const t = performance.now();
    if (!cached || t - cached.at > CONTEXT_REUSE_MS) cached = { at: t, ctx: context() };
    return cached.ctx;
  };

  return {
    localDeviceId,
    liveDevices: () => live().map((d) => d.id),
    forChunk(hash) {
      const rows = stmt.refsOf.all(hash) as RefRow[];
      if (rows.length === 0) return null;
      const ctx = recentContext();
      const refs = foldRefs(rows, ctx.rules, engine);
      const holders = stmt.holdersOf.all(hash) as string[];
      if (!holders.includes(localDeviceId) && (engine.store.has(hash) || stmt.localHasWorking.get(hash) !== undefined)) holders.push(localDeviceId);
      return ctx.placeRefs(refs, holders.sort());
    },
    *chunks() {
      const ctx = context();
      const local = localHoldings(db);
      const remote = new Map<string, string[]>();
      for (const r of stmt.allReplicas.iterate() as Iterable<{ chunk: string; device_id: string }>) {
        const list = remote.get(r.chunk);
        if (list) list.push(r.device_id);
        else remote.set(r.chunk, [r.device_id]);
      }
      // Grouped by chunk in SQL order: one chunk's references arrive together.
      const all = stmt.allRefs.all() as RefRow[];
      let group: RefRow[] = [];
      const flush = (): ChunkPlacement | null => {
        if (group.length === 0) return null;
        const refs = foldRefs(group, ctx.rules, engine);
        group = [];
        const holders = (remote.get(refs.hash) ?? []).filter((h) => h !== localDeviceId);
        if (local.has(refs.hash)) holders.push(localDeviceId);
        return ctx.placeRefs(refs, holders.sort());
      };
      for (const row of all) {
        if (group.length > 0 && (group[0] as RefRow).hash !== row.hash) {
          const out = flush();
          if (out) yield out;
        }
        group.push(row);
      }
      const last = flush();
      if (last) yield last;
    },
  };
}

interface RefRow {
  hash: string;
  size: number;
  folderId: string;
  path: string;
  author: string;
  createdAt: number;
}

/** Folds every reference of one chunk: highest priority, strictest data class, earliest author. */
function foldRefs(rows: readonly RefRow[], rules: PriorityRules, engine: Engine): ChunkRefs {
  const first = rows[0] as RefRow;
  let out: ChunkRefs = { hash: first.hash, size: first.size, priority: 'expendable', dataClass: 'public', owner: first.author, ownerAt: first.createdAt };
  for (const r of rows) {
    const folder = rules.folder(r.folderId);
    const priority = rules.effective(r.folderId, r.path, engine.config.replication.defaultPriority);
    const dataClass = folder?.dataClass ?? 'standard';
    out = {
      ...out,
      priority: PRIORITY_RANK[priority] > PRIORITY_RANK[out.priority] ? priority : out.priority,
      dataClass: CLASS_RANK[dataClass] > CLASS_RANK[out.dataClass] ? dataClass : out.dataClass,
      ...(r.createdAt < out.ownerAt || (r.createdAt === out.ownerAt && r.author < out.owner) ? { owner: r.author, ownerAt: r.createdAt } : {}),
    };
  }
  return out;
}

function parseLabels(json: string): Record<string, string> {
  try {
    const v: unknown = JSON.parse(json);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

/** Every chunk this device holds: its store (not quarantined) and its working copies' indexed files. */
export function localHoldings(db: Engine['db']): Set<string> {
  const stored = db.prepare('SELECT hash FROM stored_chunks WHERE quarantined = 0').pluck().all() as string[];
  const working = db.prepare(`SELECT DISTINCT c.chunk FROM local_files f JOIN version_chunks c ON c.version_id = f.version_id
    JOIN local_folders l ON l.folder_id = f.folder_id WHERE f.kind = 'file'`).pluck().all() as string[];
  return new Set([...stored, ...working]);
}

/** This device's own facts, read live from its store and config (never stale). */
export function localFacts(engine: Engine): CapacityFacts {
  const usage = engine.store.usage();
  const s = engine.config.storage;
  return {
    maxBytes: usage.maxBytes, usedBytes: usage.bytes, reservedBytes: s.reserved, shareExcess: s.shareExcess,
    full: usage.bytes >= usage.maxBytes || usage.diskFreeBytes <= s.minFree, at: Date.now(),
  };
}
