/**
 * Shared folders: the mesh-wide record (id, label, data class, default priority) and this
 * device's attachment of it (a local path and a mode). Adding a folder writes a signed log
 * entry so other devices learn of it; attaching checks the path is a real directory that
 * does not overlap another attached folder or the device's home.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { ChangeLog } from '../log/index.js';
import { CanopyError } from '../errors/index.js';

export const FOLDER_MODES = ['full', 'on-demand'] as const;
export const PRIORITIES = ['critical', 'high', 'normal', 'low', 'expendable'] as const;
export const DATA_CLASSES = ['critical', 'sensitive', 'standard', 'public'] as const;
export type FolderMode = (typeof FOLDER_MODES)[number];
export type Priority = (typeof PRIORITIES)[number];
export type DataClass = (typeof DATA_CLASSES)[number];

export interface Folder {
  id: string;
  label: string;
  dataClass: DataClass;
  priority: Priority;
  createdBy: string;
  createdAt: number;
  /** This device's attachment, or null when the folder is known but not attached here. */
  local: { path: string; mode: FolderMode; attachedAt: number; lastScanAt: number | null } | null;
}

export interface AddFolderInput {
  path: string;
  id?: string | undefined;
  label?: string | undefined;
  mode?: FolderMode | undefined;
  priority?: Priority | undefined;
  dataClass?: DataClass | undefined;
}

export const FOLDER_ID_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

interface FolderRow {
  id: string;
  label: string;
  data_class: DataClass;
  priority: Priority;
  created_by: string;
  created_at: number;
  path: string | null;
  mode: FolderMode | null;
  attached_at: number | null;
  last_scan_at: number | null;
}

const SELECT = `SELECT f.*, l.path, l.mode, l.attached_at, l.last_scan_at FROM folders f LEFT JOIN local_folders l ON l.folder_id = f.id WHERE f.removed_at IS NULL`;

/** What `Folders.update` changes; an absent field keeps its value. */
export interface FolderChange {
  label?: string | undefined;
  dataClass?: Folder['dataClass'] | undefined;
  priority?: Folder['priority'] | undefined;
  mode?: FolderMode | undefined;
}

export class Folders {
  // Prepared once: sync asks for a folder's root on every chunk it reads or serves.
  private readonly selectAll;
  private readonly selectOne;
  private readonly selectRoot;

  constructor(private readonly db: Db, private readonly log: ChangeLog, private readonly localDevice: string, private readonly home: string) {
    this.selectAll = db.prepare(`${SELECT} ORDER BY f.label, f.id`);
    this.selectOne = db.prepare(`${SELECT} AND f.id = ?`);
    this.selectRoot = db.prepare('SELECT l.path FROM local_folders l JOIN folders f ON f.id = l.folder_id WHERE l.folder_id = ? AND f.removed_at IS NULL').pluck();
  }

  /** Where the folder is attached on this device (undefined if it is not): `get(id)?.local?.path`, for callers that ask per chunk. */
  root(id: string): string | undefined {
    return (this.selectRoot.get(id) as string | undefined) ?? undefined;
  }

  list(): Folder[] {
    return (this.selectAll.all() as FolderRow[]).map(toFolder);
  }

  get(id: string): Folder | undefined {
    const row = this.selectOne.get(id) as FolderRow | undefined;
    return row ? toFolder(row) : undefined;
  }

  require(id: string): Folder {
    const f = this.get(id);
    if (!f) throw new CanopyError('NOT_FOUND', `no folder with id "${id}" (see \`canopy folder list\`)`, { id });
    return f;
  }

  attached(): (Folder & { local: NonNullable<Folder['local']> })[] {
    return this.list().filter((f): f is Folder & { local: NonNullable<Folder['local']> } => f.local !== null);
  }

  /**
   * Changes a folder: label, data class and default priority for the whole mesh (a signed
   * 'folder' 'update' entry, last writer wins), the mode for this device only.
   */
  update(id: string, change: FolderChange, now = Date.now()): Folder {
    const f = this.require(id);
    if (change.mode !== undefined && !f.local) throw new CanopyError('NOT_FOUND', `folder "${id}" is not attached on this device, so it has no mode here`);
    const next = { id: f.id, label: change.label ?? f.label, dataClass: change.dataClass ?? f.dataClass, priority: change.priority ?? f.priority };
    const meshWide = next.label !== f.label || next.dataClass !== f.dataClass || next.priority !== f.priority;
    this.db.transaction(() => {
      if (meshWide) {
        this.log.append('folder', (seq) => ({ t: 'folder', op: 'update', ...next, author: this.localDevice, seq, createdAt: now }));
        this.db.prepare('UPDATE folders SET label = ?, data_class = ?, priority = ?, updated_at = ?, updated_by = ? WHERE id = ?')
          .run(next.label, next.dataClass, next.priority, now, this.localDevice, f.id);
      }
      if (change.mode !== undefined) this.db.prepare('UPDATE local_folders SET mode = ? WHERE folder_id = ?').run(change.mode, f.id);
    })();
    return this.require(id);
  }

  /** Shares a new folder, or attaches a local directory to a folder the mesh already has. */
  add(input: AddFolderInput): Folder {
    const dir = this.checkDirectory(input.path);
    const id = input.id ?? newFolderId();
    if (!FOLDER_ID_RE.test(id)) throw new CanopyError('BAD_ARGUMENT', `folder id "${id}" is not valid: use 1-63 lowercase letters, digits, '-' or '_'`);
    const existing = this.get(id);
    if (existing?.local) throw new CanopyError('CONFLICT', `folder "${id}" is already attached at ${existing.local.path}`);
    const now = Date.now();
    this.db.transaction(() => {
      if (!existing) {
        const folder = { id, label: (input.label ?? (path.basename(dir) || id)).slice(0, 1024), dataClass: input.dataClass ?? 'standard', priority: input.priority ?? 'normal' };
        this.log.append('folder', (seq) => ({ t: 'folder', op: 'add', ...folder, author: this.localDevice, seq, createdAt: now }));
        this.db.prepare('INSERT INTO folders (id, label, data_class, priority, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(folder.id, folder.label, folder.dataClass, folder.priority, this.localDevice, now);
      }
      this.db.prepare('INSERT INTO local_folders (folder_id, path, mode, attached_at) VALUES (?, ?, ?, ?)').run(id, dir, input.mode ?? 'full', now);
    })();
    return this.require(id);
  }

  /**
   * Detaches a folder from this device: its index here is dropped, the files on disk and
   * the folder's history stay untouched.
   */
  remove(id: string): Folder {
    const folder = this.require(id);
    if (!folder.local) throw new CanopyError('NOT_FOUND', `folder "${id}" is not attached on this device`);
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM local_files WHERE folder_id = ?').run(id);
      this.db.prepare('DELETE FROM scan_problems WHERE folder_id = ?').run(id);
      this.db.prepare('DELETE FROM local_folders WHERE folder_id = ?').run(id);
    })();
    return folder;
  }

  private checkDirectory(p: string): string {
    if (typeof p !== 'string' || p.length === 0 || p.includes('\0')) throw new CanopyError('BAD_ARGUMENT', 'a folder path is required');
    let dir: string;
    try {
      dir = fs.realpathSync(path.resolve(p));
    } catch {
      throw new CanopyError('NOT_FOUND', `${p} does not exist`, { path: p });
    }
    if (!fs.statSync(dir).isDirectory()) throw new CanopyError('BAD_ARGUMENT', `${p} is not a directory`, { path: p });
    const home = safeRealpath(this.home);
    if (overlaps(dir, home)) throw new CanopyError('BAD_ARGUMENT', `${p} overlaps the device's home ${this.home}; choose a folder outside it`);
    for (const f of this.attached()) {
      if (overlaps(dir, f.local.path)) throw new CanopyError('CONFLICT', `${p} overlaps folder "${f.id}" at ${f.local.path}; folders cannot nest`);
    }
    return dir;
  }
}

function overlaps(a: string, b: string): boolean {
  const inside = (x: string, y: string) => x === y || x.startsWith(y.endsWith(path.sep) ? y : y + path.sep);
  return inside(a, b) || inside(b, a);
}

function safeRealpath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Ten lowercase base32 characters, split for reading aloud: "k3f9a-x2mqe". */
function newFolderId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(10);
  let s = '';
  for (const b of bytes) s += alphabet[b & 31];
  return `${s.slice(0, 5)}-${s.slice(5)}`;
}

function toFolder(r: FolderRow): Folder {
  return {
    id: r.id, label: r.label, dataClass: r.data_class, priority: r.priority, createdBy: r.created_by, createdAt: r.created_at,
    local: r.path && r.mode ? { path: r.path, mode: r.mode, attachedAt: r.attached_at ?? 0, lastScanAt: r.last_scan_at } : null,
  };
}
