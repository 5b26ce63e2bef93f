/**
 * Priorities and pins of paths: a folder's default priority, per-path overrides (a file or
 * a subtree; the most specific one wins), and this device's pins (a pinned path or subtree
 * stays materialized here and its chunks are never evicted).
 */
import type { Db } from '../db/index.js';
import type { DataClass, Priority } from '../folders/index.js';

export const PRIORITY_RANK: Record<Priority, number> = { critical: 4, high: 3, normal: 2, low: 1, expendable: 0 };

/** Whether `path` is `prefix` itself or inside it ('' is the folder root: everything). */
export function coversPath(prefix: string, path: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
}

/** The most specific entry of `entries` (paths) that covers `path`, if any. */
export function mostSpecific<T extends { path: string }>(entries: readonly T[] | undefined, path: string): T | undefined {
  let best: T | undefined;
  for (const e of entries ?? []) if (coversPath(e.path, path) && (!best || e.path.length > best.path.length)) best = e;
  return best;
}

/** A snapshot of folders, overrides and pins, for answering many paths quickly. */
export class PriorityRules {
  private readonly folders = new Map<string, { dataClass: DataClass; priority: Priority }>();
  private readonly overrides = new Map<string, { path: string; priority: Priority }[]>();
  private readonly pins = new Map<string, { path: string }[]>();

  constructor(db: Db) {
    for (const f of db.prepare('SELECT id, data_class, priority FROM folders').all() as { id: string; data_class: DataClass; priority: Priority }[]) {
      this.folders.set(f.id, { dataClass: f.data_class, priority: f.priority });
    }
    // 'inherit' rows are cleared overrides (kept so an older entry cannot bring them back).
    for (const o of db.prepare("SELECT folder_id, path, priority FROM path_priorities WHERE priority != 'inherit'").all() as { folder_id: string; path: string; priority: Priority }[]) {
      push(this.overrides, o.folder_id, { path: o.path, priority: o.priority });
    }
    for (const p of db.prepare('SELECT folder_id, path FROM pins').all() as { folder_id: string; path: string }[]) {
      push(this.pins, p.folder_id, { path: p.path });
    }
  }

  folder(id: string): { dataClass: DataClass; priority: Priority } | undefined {
    return this.folders.get(id);
  }

  /** The priority of a path: its most specific override, else its folder's, else `fallback`. */
  effective(folderId: string, path: string, fallback: Priority): Priority {
    return mostSpecific(this.overrides.get(folderId), path)?.priority ?? this.folders.get(folderId)?.priority ?? fallback;
  }

  /** Whether this path carries an override of its own (not inherited). */
  override(folderId: string, path: string): Priority | undefined {
    return this.overrides.get(folderId)?.find((o) => o.path === path)?.priority;
  }

  pinned(folderId: string, path: string): boolean {
    return mostSpecific(this.pins.get(folderId), path) !== undefined;
  }

  hasPins(folderId: string): boolean {
    return (this.pins.get(folderId)?.length ?? 0) > 0;
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
