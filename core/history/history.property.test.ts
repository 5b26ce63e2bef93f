/**
 * Property: whatever sequence of edits, deletes, renames, merges, restores, partitions and
 * reconnections three real engines go through, after every heal
 * - all devices agree on every path's heads and on its preferred head, and each working
 *   copy shows that head;
 * - every version ever created is still known everywhere, and every version that was a
 *   head at a heal (so the mesh had a chance to copy it) is still readable, byte for byte,
 *   on some device, until retention allows its removal (months pass at random, and gc
 *   may then drop only what a deletion past the tombstone retention covered) or the user
 *   overwrote or deleted it on every device that showed it (nothing keeps a copy of what
 *   a person replaces in place before any engine touched it);
 * - no version ever loses a parent, and a merge's parents are all the heads it settled.
 * The engines exchange signed logs and chunks through LogIngest and the Materializer, the
 * code SyncService runs (core/testing/engine-mesh.ts); the network alone is left out.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EngineMesh, MESH_FOLDER, type MeshEngine } from '../testing/engine-mesh.js';
import { collectGarbage } from '../gc/index.js';
import type { Version } from '../versions/index.js';
import { isCanopyError } from '../errors/index.js';

const NAMES = ['a', 'b', 'c'] as const;
const FILES = ['one.txt', 'two.txt', 'sub/three.txt'] as const;

type Op =
  | { t: 'edit'; dev: number; file: number; text: string }
  | { t: 'delete'; dev: number; file: number }
  | { t: 'rename'; dev: number; from: number; to: number }
  | { t: 'partition'; groups: number[] }
  | { t: 'sync' }
  | { t: 'heal' }
  | { t: 'resolve'; dev: number; how: 'take' | 'keepBoth' | 'content' }
  | { t: 'restore'; dev: number; file: number; back: number }
  /** A month passes (past the 30-day tombstone retention). */
  | { t: 'age' };

const dev = fc.integer({ min: 0, max: 2 });
const file = fc.integer({ min: 0, max: FILES.length - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('edit' as const), dev, file, text: fc.string({ maxLength: 12 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('delete' as const), dev, file }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('rename' as const), dev, from: file, to: file }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('partition' as const), groups: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 3, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'sync' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'heal' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('resolve' as const), dev, how: fc.constantFrom('take' as const, 'keepBoth' as const, 'content' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restore' as const), dev, file, back: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 3, arbitrary: fc.constant({ t: 'age' as const }) },
);
const DAY = 86_400_000;

/** What the test has seen, to check against later. */
interface Seen {
  parents: Map<string, string[]>;
  /** Versions that were heads at a heal, with their bytes (null: not a file). */
  promised: Map<string, string | null>;
  /** Paths whose deletion passed retention, and when: their versions up to then may be gone. */
  expired: Map<string, number>;
  /**
   * Per content (a version's chunk list, see bytesKey), the devices whose working copy showed
   * it, and those whose user then overwrote or deleted that file. Keyed by bytes, not version:
   * a restore makes a new version of the same bytes, and deleting it deletes them all.
   */
  shownBy: Map<string, Set<string>>;
  droppedBy: Map<string, Set<string>>;
}

describe('version model property', () => {
  it('three engines agree, keep every version and every parent, through random partitions and heals', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 4, maxLength: 18 }), async (ops) => {
        const mesh = await EngineMesh.create([...NAMES], { start: Date.UTC(2026, 10, 1) });
        const seen: Seen = { parents: new Map(), promised: new Map(), expired: new Map(), shownBy: new Map(), droppedBy: new Map() };
        // Only tombstone retention is under test here: old versions are otherwise kept.
        for (const d of mesh.devices) d.engine.config.retention.maxVersionAge = 0;
        try {
          for (const op of ops) await run(mesh, op, seen);
          await heal(mesh, seen);
        } finally {
          await mesh.close();
        }
      }),
      // CANOPY_PROPERTY_SEED and CANOPY_PROPERTY_PATH replay a failure fast-check reported.
      { numRuns: Number(process.env.CANOPY_PROPERTY_RUNS ?? 12), endOnFailure: true,
        ...(process.env.CANOPY_PROPERTY_SEED ? { seed: Number(process.env.CANOPY_PROPERTY_SEED), path: process.env.CANOPY_PROPERTY_PATH } : {}) },
    );
  }, 900_000);
});

async function run(mesh: EngineMesh, op: Op, seen: Seen): Promise<void> {
  mesh.clock += 1000;
  switch (op.t) {
    case 'edit': {
      const d = mesh.devices[op.dev] as MeshEngine;
      userDrops(d, FILES[op.file] as string, seen);
      const abs = path.join(d.root, FILES[op.file] as string);
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, `${op.text} by ${d.name} at ${mesh.clock}`);
      return scan(d, seen);
    }
    case 'delete': {
      const d = mesh.devices[op.dev] as MeshEngine;
      userDrops(d, FILES[op.file] as string, seen);
      fs.rmSync(path.join(d.root, FILES[op.file] as string), { force: true });
      return scan(d, seen);
    }
    case 'rename': {
      const d = mesh.devices[op.dev] as MeshEngine;
      const from = path.join(d.root, FILES[op.from] as string);
      const to = path.join(d.root, FILES[op.to] as string);
      if (op.from === op.to || !fs.existsSync(from) || fs.existsSync(to)) return;
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.renameSync(from, to);
      return scan(d, seen);
    }
    case 'partition': {
      const groups: string[][] = [[], [], []];
      op.groups.forEach((g, i) => groups[g]?.push(NAMES[i] as string));
      mesh.partition(groups.filter((g) => g.length > 0));
      return;
    }
    case 'sync':
      await mesh.settle();
      return record(mesh, seen);
    case 'heal':
      return heal(mesh, seen);
    case 'age':
      mesh.clock += 31 * DAY;
      return;
    case 'resolve':
      return resolve(mesh, mesh.devices[op.dev] as MeshEngine, op.how, seen);
    case 'restore': {
      const d = mesh.devices[op.dev] as MeshEngine;
      const history = d.engine.versions.history(MESH_FOLDER, FILES[op.file] as string).filter((v) => v.kind === 'file');
      const v = history[op.back % Math.max(history.length, 1)];
      if (!v) return;
      // Content overwritten on its own device before anyone copied it is gone: refused, nothing changes.
      const before = d.engine.versions.heads(MESH_FOLDER, v.path).map((h) => h.id);
      try {
        await d.history.restore(MESH_FOLDER, v.path, v.id);
      } catch (err) {
        if (!isCanopyError(err, 'NOT_FOUND')) throw err;
        expect(d.engine.versions.heads(MESH_FOLDER, v.path).map((h) => h.id)).toEqual(before);
      }
      return record(mesh, seen);
    }
  }
}

async function scan(d: MeshEngine, seen: Seen): Promise<void> {
  await d.engine.scan(MESH_FOLDER);
  recordDevice(d, seen);
}

async function resolve(mesh: EngineMesh, d: MeshEngine, how: 'take' | 'keepBoth' | 'content', seen: Seen): Promise<void> {
  const conflicted = d.engine.db.prepare(`SELECT path FROM heads WHERE folder_id = ? GROUP BY path HAVING count(*) > 1 ORDER BY path LIMIT 1`).pluck().get(MESH_FOLDER) as string | undefined;
  if (!conflicted) return;
  await d.engine.scan(MESH_FOLDER);
  const heads = d.engine.versions.heads(MESH_FOLDER, conflicted).map((h) => h.id).sort();
  if (heads.length < 2) return;
  let out;
  try {
    out = await d.history.resolve(MESH_FOLDER, conflicted,
      how === 'take' ? { take: heads[heads.length - 1] as string } : how === 'keepBoth' ? { keepBoth: true } : { content: Buffer.from(`merged at ${mesh.clock}`) });
  } catch (err) {
    // The head to take lives on a device out of reach, or merged content would turn a
    // directory into a file: refused, nothing changes.
    if (!isCanopyError(err, 'NOT_FOUND') && !isCanopyError(err, 'BAD_ARGUMENT')) throw err;
    expect(d.engine.versions.heads(MESH_FOLDER, conflicted).map((h) => h.id).sort()).toEqual(heads);
    return;
  }
  // A merge names every head it settles.
  expect(out.version.parents).toEqual(heads);
  expect(d.engine.versions.heads(MESH_FOLDER, conflicted).map((h) => h.id)).toEqual([out.version.id]);
  recordDevice(d, seen);
}

/**
 * The user overwrites or deletes a file: the only copy of what it showed may go with it
 * (the engine keeps old content only when it is the one replacing a file). Noted so the
 * readability check can tell that apart from a loss.
 */
function userDrops(d: MeshEngine, rel: string, seen: Seen): void {
  noteShown(d, seen);
  const id = d.engine.db.prepare('SELECT version_id FROM local_files WHERE folder_id = ? AND path = ?').pluck().get(MESH_FOLDER, rel) as string | undefined;
  if (id) addTo(seen.droppedBy, bytesKey(d, id), d.name);
}

function noteShown(d: MeshEngine, seen: Seen): void {
  for (const id of d.engine.db.prepare('SELECT version_id FROM local_files').pluck().all() as string[]) addTo(seen.shownBy, bytesKey(d, id), d.name);
}

/** What a version's bytes are, as far as who holds them goes: its chunk list. */
function bytesKey(d: MeshEngine, versionId: string): string {
  return d.engine.versions.chunks(versionId).map((c) => c.hash).join(',');
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key) ?? new Set<string>();
  set.add(value);
  map.set(key, set);
}

/** Every version the test has seen, as first seen (a version gone everywhere is still judged by it). */
const versionSeenOnce = new Map<string, Version>();

function recordDevice(d: MeshEngine, seen: Seen): void {
  for (const id of d.engine.db.prepare('SELECT id FROM versions').pluck().all() as string[]) {
    if (seen.parents.has(id)) continue;
    const v = d.engine.versions.get(id) as Version;
    seen.parents.set(id, v.parents);
    versionSeenOnce.set(id, v);
  }
}

function record(mesh: EngineMesh, seen: Seen): void {
  for (const d of mesh.devices) {
    recordDevice(d, seen);
    noteShown(d, seen);
  }
}

/** Reconnects everyone, lets the mesh settle, collects garbage, and checks every promise. */
async function heal(mesh: EngineMesh, seen: Seen): Promise<void> {
  await mesh.heal();
  record(mesh, seen);
  for (const d of mesh.devices) {
    const cutoff = mesh.clock - d.engine.config.retention.tombstones;
    for (const p of d.engine.db.prepare(`SELECT v.path FROM heads h JOIN versions v ON v.id = h.version_id WHERE v.kind = 'tombstone' AND v.created_at < ?`).pluck().all(cutoff) as string[]) {
      seen.expired.set(p, mesh.clock);
    }
  }
  for (const d of mesh.devices) await collectGarbage(d.engine);
  // Retention may drop what a deletion that passed it covered; nothing else.
  const mayBeGone = (id: string) => {
    const v = mesh.devices.map((d) => d.engine.versions.get(id)).find((x) => x !== undefined) ?? versionSeenOnce.get(id);
    return v !== undefined && (seen.expired.get(v.path) ?? -1) >= v.createdAt;
  };
  const [first, ...rest] = mesh.devices as [MeshEngine, ...MeshEngine[]];
  const headsOf = (d: MeshEngine) => d.engine.db.prepare('SELECT folder_id, path, version_id FROM heads ORDER BY folder_id, path, version_id').all();
  const paths = first.engine.db.prepare('SELECT DISTINCT path FROM heads WHERE folder_id = ? ORDER BY path').pluck().all(MESH_FOLDER) as string[];
  for (const d of rest) {
    expect(headsOf(d), `heads on ${d.name}`).toEqual(headsOf(first));
    for (const p of paths) expect(d.engine.versions.preferredHead(MESH_FOLDER, p)?.id, `preferred head of ${p} on ${d.name}`).toBe(first.engine.versions.preferredHead(MESH_FOLDER, p)?.id);
  }
  for (const d of mesh.devices) {
    // Heads are leaves of the DAG.
    expect(d.engine.db.prepare('SELECT count(*) FROM heads h JOIN version_parents p ON p.parent_id = h.version_id').pluck().get(), `a head with a child on ${d.name}`).toBe(0);
    for (const p of paths) {
      const head = d.engine.versions.preferredHead(MESH_FOLDER, p) as Version;
      const abs = path.join(d.root, p);
      if (process.env.CANOPY_PROPERTY_DEBUG && head.kind === 'file' && fs.statSync(abs, { throwIfNoEntry: false })?.isDirectory()) {
        console.log('DEBUG', d.name, p, JSON.stringify(d.engine.versions.history(MESH_FOLDER, p).map((v) => [v.id.slice(0, 6), v.kind, v.author.slice(0, 4), v.parents.map((x) => x.slice(0, 6))])),
          JSON.stringify(d.engine.db.prepare('SELECT * FROM local_files').all()));
      }
      if (head.kind === 'file') expect(fs.readFileSync(abs, 'utf8'), `${p} on ${d.name}`).toBe(await readLocal(d, head));
      if (head.kind === 'tombstone') expect(fs.existsSync(abs), `${p} deleted on ${d.name}`).toBe(false);
    }
    // No version is lost (unless retention allows it), and none loses a parent.
    for (const [id, parents] of seen.parents) {
      const v = d.engine.versions.get(id);
      if (v === undefined && mayBeGone(id)) continue;
      expect(v, `version ${id} on ${d.name}`).toBeDefined();
      expect(v?.parents, `parents of ${id} on ${d.name}`).toEqual(parents);
    }
  }
  for (const d of mesh.devices) {
    for (const p of paths) {
      for (const h of d.engine.versions.heads(MESH_FOLDER, p)) {
        if (seen.promised.has(h.id)) continue;
        const bytes = h.kind === 'file' ? await readAnywhere(mesh, h) : null;
        if (h.kind === 'file') expect(bytes, `head ${h.id} (${h.path}) readable somewhere`).not.toBeNull();
        seen.promised.set(h.id, bytes);
      }
    }
  }
  for (const [id, bytes] of seen.promised) {
    if (bytes === null || mayBeGone(id)) continue;
    const v = first.engine.versions.get(id) as Version;
    const now = await readAnywhere(mesh, v);
    // Unreadable is allowed only when every device that showed it had its user overwrite or delete it.
    const key = bytesKey(first, id);
    const shown = [...(seen.shownBy.get(key) ?? [])];
    if (now === null && shown.length > 0 && shown.every((n) => seen.droppedBy.get(key)?.has(n))) continue;
    expect(now, `content of version ${id} (${v.path})`).toBe(bytes);
  }
}

/** A version's bytes from one device's own working copy and store (each chunk verified), or null. */
async function readLocal(d: MeshEngine, v: Version): Promise<string | null> {
  const parts: Buffer[] = [];
  for (const c of d.engine.versions.chunks(v.id)) {
    const data = await d.local.read(c.hash);
    if (!data) return null;
    parts.push(data);
  }
  return Buffer.concat(parts).toString('utf8');
}

async function readAnywhere(mesh: EngineMesh, v: Version): Promise<string | null> {
  for (const d of mesh.devices) {
    const text = await readLocal(d, v);
    if (text !== null) return text;
  }
  return null;
}
