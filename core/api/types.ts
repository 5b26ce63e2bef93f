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
  'invite.create': z.object({ expiresInMs: z.number().int().positive().max(30 * 86_400_000).optional() }).strict(),
  'mesh.join': z.object({ code: z.string().min(1).max(200) }).strict(),
  'device.list': z.object({}).strict(),
  'device.remove': z.object({ id: z.string().min(4).max(64) }).strict(),
  conflicts: z.object({ folder: folderId.optional() }).strict(),
  'sync.pause': z.object({}).strict(),
  'sync.resume': z.object({}).strict(),
  log: z.object({ target: z.string().min(1).max(4096) }).strict(),
} as const;

export type CommandName = keyof typeof commandParams;
export type Params<C extends CommandName> = z.input<(typeof commandParams)[C]>;

export type FolderMode = 'full' | 'on-demand';
export type Priority = 'critical' | 'high' | 'normal' | 'low' | 'expendable';
export type DataClass = 'critical' | 'sensitive' | 'standard' | 'public';

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
  | { type: 'conflict'; folderId: string; path: string; heads: number }
  | { type: 'materialized'; folderId: string; written: number; deleted: number };

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
