/**
 * The one typed API of Canopy: every command and event the CLI, the desktop app and the
 * web UI use. Three transports carry it unchanged (in-process, Electron IPC, HTTP +
 * WebSocket), so this file is plain data: zod schemas for the parameters (validated at
 * every transport edge, since a caller may be hostile) and TypeScript shapes for results.
 * It must stay importable from the renderer: no Node imports here.
 */
import { z } from 'zod';

const folderId = z.string().min(1).max(63);
const relPath = z.string().max(4096).refine((p) => !p.includes('\0'), 'path contains NUL');
/** "FOLDER/PATH" or an absolute path inside an attached folder. */
const target = z.string().min(1).max(4096).refine((p) => !p.includes('\0'), 'path contains NUL');
const versionId = z.string().min(1).max(128);
const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const priority = z.enum(['critical', 'high', 'normal', 'low', 'expendable']);
/** Largest merged content accepted through the API (the merge view edits text). */
export const MAX_API_CONTENT_BYTES = 64 * 1024 * 1024;

/** The longest an invite may stay valid: a code is a key to the mesh, so it should not lie around for long. */
export const INVITE_MAX_EXPIRY_MS = 30 * 86_400_000;

export const commandParams = {
  status: z.object({}).strict(),
  'folder.add': z.object({
    path: z.string().min(1).max(4096),
    id: folderId.optional(),
    label: z.string().min(1).max(200).optional(),
    mode: z.enum(['full', 'on-demand']).optional(),
    priority: z.enum(['critical', 'high', 'normal', 'low', 'expendable']).optional(),
    dataClass: z.enum(['critical', 'sensitive', 'standard', 'public']).optional(),
  }).strict(),
  'folder.list': z.object({}).strict(),
  'folder.remove': z.object({ id: folderId }).strict(),
  scan: z.object({ folder: folderId.optional(), paths: z.array(relPath).max(10_000).optional() }).strict(),
  ls: z.object({ target: z.string().min(1).max(4096) }).strict(),
  'invite.create': z.object({ expiresInMs: z.number().int().positive().max(INVITE_MAX_EXPIRY_MS).optional() }).strict(),
  'mesh.join': z.object({ code: z.string().min(1).max(200) }).strict(),
  'device.list': z.object({}).strict(),
  'device.remove': z.object({ id: z.string().min(4).max(64) }).strict(),
  conflicts: z.object({ folder: folderId.optional() }).strict(),
  'sync.pause': z.object({}).strict(),
  'sync.resume': z.object({}).strict(),
  log: z.object({ target: z.string().min(1).max(4096) }).strict(),

  // --- versions, conflicts and retention (DESIGN.md section 5) ---
  /** One version's content: the preferred head by default, or by read mode, or an exact id. */
  'file.cat': z.object({
    target,
    mode: z.enum(['preferred', 'confirmed_only', 'provisional_allowed']).optional(),
    version: versionId.optional(),
    /** Cut the answer at this many bytes (the UI previews; the CLI streams whole files). */
    maxBytes: z.number().int().positive().max(MAX_API_CONTENT_BYTES).optional(),
    /** Start this many bytes in (the CLI streams a large file in pieces, pinned by `version`). */
    offset: byteCount.optional(),
    /** 'base64' always sends base64 (binary-safe pieces); default 'auto' as described in FileContent. */
    encoding: z.enum(['auto', 'base64']).optional(),
  }).strict(),
  /** Makes an old version the new head: a new version whose parent is the current head. */
  'file.restore': z.object({ target, version: versionId }).strict(),
  /** Settles a conflict with a merge version whose parents are all the heads. Exactly one of take, keepBoth, content, contentBase64. */
  'conflict.resolve': z.object({
    target,
    take: versionId.optional(),
    keepBoth: z.literal(true).optional(),
    content: z.string().max(MAX_API_CONTENT_BYTES).optional(),
    contentBase64: z.string().max(Math.ceil(MAX_API_CONTENT_BYTES / 3) * 4).optional(),
  }).strict().refine((p) => [p.take, p.keepBoth, p.content, p.contentBase64].filter((x) => x !== undefined).length === 1,
    'give exactly one of take, keepBoth, content, contentBase64'),
  gc: z.object({ dryRun: z.boolean().optional(), emergency: z.boolean().optional() }).strict(),

  // --- placement, quota, pins and jobs (DESIGN.md sections 1-4) ---
  'quota.get': z.object({}).strict(),
  /** Changes the quota; with dryRun, only says what applying it would do (the tray slider's preview). */
  'quota.set': z.object({
    maxBytes: byteCount.optional(),
    reservedBytes: byteCount.optional(),
    minFreeBytes: byteCount.optional(),
    shareExcess: z.boolean().optional(),
    autoEvict: z.boolean().optional(),
    evictionStrategy: z.enum(['lru', 'priority', 'redundant', 'hybrid']).optional(),
    dryRun: z.boolean().optional(),
  }).strict(),
  'file.pin': z.object({ target, pinned: z.boolean() }).strict(),
  /** Overrides the priority of a path (file or subtree); null goes back to inheriting. */
  'file.priority': z.object({ target, priority: priority.nullable() }).strict(),
  'file.replicas': z.object({ target }).strict(),
  /** Fetches an online-only file and materializes it (recently used). */
  'file.open': z.object({ target }).strict(),
  /** Makes a file online-only again, once enough verified copies exist elsewhere. */
  'file.free': z.object({ target }).strict(),
  'job.run': z.object({ job: z.enum(['audit', 'repair', 'scrub', 'cleanup']), dryRun: z.boolean().optional() }).strict(),
  'job.reports': z.object({}).strict(),
  // devices, folders and settings (issue 6): edits the UI makes
  /** Renames, relabels (labels replace the whole set) or re-trusts a device, on every device of the mesh. */
  'device.update': z.object({
    id: z.string().min(4).max(64),
    name: z.string().min(1).max(255).optional(),
    labels: z.record(z.string().min(1).max(64), z.string().min(1).max(255)).optional(),
    trust: z.enum(['owner', 'storage-only']).optional(),
  }).strict(),
  /** label, dataClass and priority are mesh-wide; mode is this device's. */
  'folder.update': z.object({
    id: folderId,
    label: z.string().min(1).max(200).optional(),
    mode: z.enum(['full', 'on-demand']).optional(),
    dataClass: z.enum(['critical', 'sensitive', 'standard', 'public']).optional(),
    priority: priority.optional(),
  }).strict(),
  'settings.get': z.object({}).strict(),
  /**
   * A patch of config.toml's [replication] and [jobs] tables (and [placement]'s keep_recent),
   * written as in the file (snake_case keys, "1h", "20 MiB/s"); null removes a key (back to
   * its default). Checked by config.toml's own schema.
   */
  'settings.set': z.object({
    replication: z.record(z.string().max(64), z.unknown()).optional(),
    jobs: z.record(z.string().max(64), z.unknown()).optional(),
    placement: z.object({ keep_recent: z.unknown().optional() }).strict().optional(),
  }).strict(),
} as const;

export type CommandName = keyof typeof commandParams;
export type Params<C extends CommandName> = z.input<(typeof commandParams)[C]>;

export type FolderMode = 'full' | 'on-demand';
export type Priority = 'critical' | 'high' | 'normal' | 'low' | 'expendable';
export type DataClass = 'critical' | 'sensitive' | 'standard' | 'public';
export type ReadMode = 'preferred' | 'confirmed_only' | 'provisional_allowed';
export type EvictionStrategy = 'lru' | 'priority' | 'redundant' | 'hybrid';
export type JobName = 'audit' | 'repair' | 'scrub' | 'cleanup' | 'gc';

export interface FolderInfo {
  id: string;
  label: string;
  dataClass: DataClass;
  priority: Priority;
  attached: boolean;
  path: string | null;
  mode: FolderMode | null;
  files: number;
  bytes: number;
  lastScanAt: number | null;
  problems: number;
}

export interface ScanProblemInfo {
  path: string;
  code: string;
  message: string;
}

export interface ScanReport {
  folderId: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
  adopted: number;
  hashedFiles: number;
  hashedBytes: number;
  seconds: number;
  mibPerSecond: number;
  problems: ScanProblemInfo[];
}

export interface StatusInfo {
  device: { id: string; name: string; labels: Record<string, string> };
  home: string;
  version: string;
  /** How this answer was produced: by a running daemon, or by opening the home directly. */
  via: 'daemon' | 'direct';
  daemon: { pid: number; url: string } | null;
  folders: FolderInfo[];
  store: { chunks: number; bytes: number; quarantined: number; maxBytes: number; diskFreeBytes: number };
  versions: number;
  logSeq: number;
  /** Null when no daemon runs (nothing is syncing). */
  sync: SyncInfo | null;
  /** Replication health of the mesh as this device sees it; null until placement has run. */
  health: PlacementHealth | null;
}

export interface PlacementHealth {
  chunks: number;
  underReplicated: number;
  overReplicated: number;
  misplaced: number;
  /** Chunks whose placement falls short because too few devices are eligible. */
  shortfall: number;
  repairQueue: number;
  /** Bytes each device holds against its quota (from the devices' own hello/capacity facts). */
  devices: { id: string; name: string; heldBytes: number; quotaBytes: number; full: boolean }[];
  computedAt: number;
}

export type LocalState = 'synced' | 'deleted' | 'problem';

export interface FileEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'tombstone';
  size: number;
  mtimeMs: number;
  headVersion: string;
  heads: number;
  chunks: number;
  localState: LocalState;
  /** The effective priority (a path override, else the folder's). */
  priority: Priority;
  pinned: boolean;
  /** True when the file's content is in the working copy; false for online-only files. */
  local: boolean;
  /** Verified devices holding every chunk of the head, and the priority's factor; null when not known. */
  replicas: number | null;
  targetReplicas: number | null;
}

export interface VersionInfo {
  id: string;
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'tombstone';
  parents: string[];
  author: string;
  authorName: string | null;
  size: number;
  mtimeMs: number;
  createdAt: number;
  state: 'provisional' | 'confirmed';
  vector: Record<string, number>;
  chunks: number;
  isHead: boolean;
  target: string | null;
}

export interface InviteInfo {
  id: string;
  code: string;
  link: string;
  expiresAt: number;
  /** False when no daemon runs: the invite waits until one starts. */
  listening: boolean;
}

export interface DeviceInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  trust: 'owner' | 'storage-only';
  isLocal: boolean;
  online: boolean;
  lastSeen: number | null;
  addedAt: number;
  revokedAt: number | null;
  /** What the device last said about its store (capacity facts), or this device's own store; null when never reported. */
  storage?: { maxBytes: number; usedBytes: number; full: boolean } | null;
}

export interface ConflictHead {
  versionId: string;
  kind: 'file' | 'dir' | 'symlink' | 'tombstone';
  author: string;
  authorName: string | null;
  createdAt: number;
  size: number;
  state: 'provisional' | 'confirmed';
  preferred: boolean;
}

export interface FileContent {
  folderId: string;
  path: string;
  versionId: string;
  kind: 'file' | 'dir' | 'symlink' | 'tombstone';
  size: number;
  state: 'provisional' | 'confirmed';
  /** utf8 when the content is valid UTF-8 text without NULs, else base64. */
  encoding: 'utf8' | 'base64';
  data: string;
  truncated: boolean;
  /** Where `data` starts in the version's content (0 unless `offset` was given). */
  offset?: number;
}

export interface ResolveResult {
  folderId: string;
  path: string;
  /** The merge version that closes the conflict. */
  version: VersionInfo;
  /** Paths created by keep-both for the other heads. */
  created: string[];
  /** Paths recorded but not in this device's working copy yet: their content is on other devices and arrives when sync runs. */
  pending?: string[];
}

export interface GcReport {
  dryRun: boolean;
  emergency: boolean;
  tombstonesRemoved: number;
  versionsRemoved: number;
  chunksRemoved: number;
  bytesFreed: number;
  seconds: number;
}

export interface QuotaInfo {
  maxBytes: number;
  reservedBytes: number;
  minFreeBytes: number;
  shareExcess: boolean;
  autoEvict: boolean;
  evictionStrategy: EvictionStrategy;
  /** What the store holds, by why it holds it. */
  usage: { ownBytes: number; replicaBytes: number; cacheBytes: number; pinnedBytes: number; totalBytes: number; historyBytes: number };
  diskFreeBytes: number;
  full: boolean;
}

export interface QuotaChange {
  quota: QuotaInfo;
  dryRun: boolean;
  /** What lowering the quota evicts (or would evict): freeable now, and what cannot go and why. */
  evict: { targetBytes: number; freesBytes: number; freesUnpinnedCacheBytes: number; unfreeableBytes: number; reason: string | null };
}

export interface ReplicaInfo {
  folderId: string;
  path: string;
  priority: Priority;
  factor: number;
  minimum: number;
  chunks: { hash: string; size: number; designated: string[]; holders: string[] }[];
  summary: { chunks: number; bytes: number; underReplicated: number; overReplicated: number; shortfall: number; minHolders: number };
}

export interface PinInfo { folderId: string; path: string; pinned: boolean }
export interface PriorityInfo { folderId: string; path: string; priority: Priority; inherited: boolean }

export interface JobReport {
  job: JobName;
  dryRun: boolean;
  startedAt: number;
  finishedAt: number;
  ok: boolean;
  /** Job-specific counts (e.g. underReplicated, repaired, corrupt, healed, dropped). */
  counts: Record<string, number>;
  message: string;
  /** The audit's health figures (what `status.health` shows). */
  health?: PlacementHealth;
}

export interface ConflictInfo {
  folderId: string;
  path: string;
  heads: ConflictHead[];
}

/** Sync's view of the mesh, as `core/sync` reports it (type-only: no Node code comes along). */
export type { PeerStatus as PeerSyncInfo, SyncStatus as SyncInfo } from '../sync/index.js';
import type { SyncStatus as SyncInfo } from '../sync/index.js';

export interface CommandResults {
  status: StatusInfo;
  'folder.add': FolderInfo;
  'folder.list': FolderInfo[];
  'folder.remove': FolderInfo;
  scan: ScanReport[];
  ls: FileEntry[];
  log: VersionInfo[];
  'invite.create': InviteInfo;
  'mesh.join': { devices: DeviceInfo[] };
  'device.list': DeviceInfo[];
  'device.remove': DeviceInfo;
  conflicts: ConflictInfo[];
  'sync.pause': SyncInfo;
  'sync.resume': SyncInfo;
  'file.cat': FileContent;
  'file.restore': VersionInfo;
  'conflict.resolve': ResolveResult;
  gc: GcReport;
  'quota.get': QuotaInfo;
  'quota.set': QuotaChange;
  'file.pin': PinInfo;
  'file.priority': PriorityInfo;
  'file.replicas': ReplicaInfo;
  'file.open': FileEntry;
  'file.free': FileEntry;
  'job.run': JobReport;
  'job.reports': JobReport[];
  'device.update': DeviceInfo;
  'folder.update': FolderInfo;
  'settings.get': SettingsInfo;
  'settings.set': SettingsInfo;
}

/** This device's replication and job settings (config.toml), in engine units (ms, bytes/s). */
export interface SettingsInfo {
  replication: Record<Priority, number> & { defaultPriority: Priority; diversity: { label: string; minDistinct: number }[] };
  jobs: {
    auditInterval: number; repairInterval: number; scrubInterval: number; scrubRate: number;
    cleanupInterval: number; gcInterval: number; offlineGrace: number; retainedOverhead: number;
  };
  /** Keys whose new value takes effect when the daemon or app restarts (the others apply at once). */
  restartNeeded: string[];
  /** On-demand folders: how long (ms) a file used here stays on disk before cleanup frees it; 0 = forever. */
  placement?: { keepRecent: number };
}

export type Result<C extends CommandName> = CommandResults[C];

export type ApiEvent =
  | { type: 'scan.progress'; folderId: string; phase: 'walk' | 'hash' | 'done'; filesDone: number; filesTotal: number; bytesDone: number; bytesTotal: number }
  | { type: 'scan.done'; report: ScanReport }
  | { type: 'folder.added'; folder: FolderInfo }
  | { type: 'folder.removed'; folderId: string }
  | { type: 'watch.error'; folderId: string; message: string }
  | { type: 'problem'; folderId: string; path: string; code: string; message: string }
  | { type: 'sync.progress'; sync: SyncInfo }
  | { type: 'device.online'; deviceId: string; name: string; online: boolean }
  /** A device was renamed, relabelled, re-trusted, added or removed (here or on another device): reload the list. */
  | { type: 'device.updated' }
  | { type: 'folder.updated'; folder: FolderInfo }
  | { type: 'conflict'; folderId: string; path: string; heads: number }
  | { type: 'materialized'; folderId: string; written: number; deleted: number }
  | { type: 'conflict.resolved'; folderId: string; path: string; versionId: string }
  | { type: 'job.progress'; job: JobName; done: number; total: number }
  | { type: 'job.report'; report: JobReport }
  | { type: 'quota.full'; usedBytes: number; maxBytes: number }
  | { type: 'evict.progress'; freedBytes: number; targetBytes: number; done: boolean; unfreeableBytes: number };

export interface ApiErrorShape {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** What every transport gives its user: the same calls, the same events. */
export interface CanopyClient {
  call<C extends CommandName>(command: C, params: Params<C>): Promise<Result<C>>;
  subscribe(listener: (event: ApiEvent) => void): () => void;
  close?(): void | Promise<void>;
}

export function isCommandName(name: string): name is CommandName {
  return Object.prototype.hasOwnProperty.call(commandParams, name);
}
