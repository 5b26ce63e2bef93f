/**
 * Scenarios of the version model over three real engines (core/testing/engine-mesh.ts):
 * confirmed state, read modes, restore, each way to resolve a conflict, delete against
 * edit, rename against edit, and a device that was offline for a month (past tombstone
 * retention). The clock is the mesh's injectable clock; nothing sleeps.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineMesh, MESH_FOLDER, type MeshEngine } from '../testing/engine-mesh.js';
import { collectGarbage } from '../gc/index.js';
import { ApiService } from '../api/service.js';
import type { Version } from '../versions/index.js';

const DAY = 86_400_000;
let mesh: EngineMesh;
let A: MeshEngine;
let B: MeshEngine;
let C: MeshEngine;

beforeEach(async () => {
  mesh = await EngineMesh.create(['a', 'b', 'c'], { start: Date.UTC(2026, 10, 1) });
  [A, B, C] = mesh.devices as [MeshEngine, MeshEngine, MeshEngine];
});
afterEach(async () => {
  await mesh.close();
});

async function write(d: MeshEngine, rel: string, content: string): Promise<void> {
  mesh.clock += 1000;
  fs.mkdirSync(path.dirname(path.join(d.root, rel)), { recursive: true });
  fs.writeFileSync(path.join(d.root, rel), content);
  await d.engine.scan(MESH_FOLDER);
}

async function remove(d: MeshEngine, rel: string): Promise<void> {
  mesh.clock += 1000;
  fs.rmSync(path.join(d.root, rel));
  await d.engine.scan(MESH_FOLDER);
}

const onDisk = (d: MeshEngine, rel: string) => (fs.existsSync(path.join(d.root, rel)) ? fs.readFileSync(path.join(d.root, rel), 'utf8') : null);
const heads = (d: MeshEngine, rel: string) => d.engine.versions.heads(MESH_FOLDER, rel).map((v) => v.id).sort();
const preferred = (d: MeshEngine, rel: string) => d.engine.versions.preferredHead(MESH_FOLDER, rel);
const api = (d: MeshEngine) => new ApiService(d.engine);

async function text(d: MeshEngine, v: Version): Promise<string> {
  return (await d.history.read(v, 0, 1 << 20)).data.toString('utf8');
}

/** Every device shows the same heads and preferred head for `rel`, and its working copy shows that head. */
async function expectAgreed(rel: string, content: string | null): Promise<void> {
  for (const d of mesh.devices) {
    expect(heads(d, rel), d.name).toEqual(heads(A, rel));
    expect(preferred(d, rel)?.id, d.name).toBe(preferred(A, rel)?.id);
    expect(onDisk(d, rel), d.name).toBe(content);
  }
}

async function conflictOn(rel: string): Promise<void> {
  await write(A, rel, 'base\n');
  await mesh.heal();
  mesh.partition([['a'], ['b'], ['c']]);
  await write(A, rel, 'from a\n');
  await write(B, rel, 'from b\n');
  await mesh.heal();
  for (const d of mesh.devices) expect(heads(d, rel)).toHaveLength(2);
}

describe('confirmed state', () => {
  it('a version is provisional until a majority of the devices hold it, then confirmed on every device', async () => {
    mesh.partition([['a'], ['b'], ['c']]);
    await write(A, 'x.txt', 'one');
    const v = preferred(A, 'x.txt') as Version;
    expect(v.state).toBe('provisional');
    mesh.partition([['a', 'b'], ['c']]);
    await mesh.settle();
    // a and b: 2 of 3 devices hold it.
    expect(A.engine.versions.get(v.id)?.state).toBe('confirmed');
    expect(B.engine.versions.get(v.id)?.state).toBe('confirmed');
    expect(C.engine.versions.get(v.id)).toBeUndefined();
    await mesh.heal();
    expect(C.engine.versions.get(v.id)?.state).toBe('confirmed');
    expect((await api(C).call('log', { target: `${MESH_FOLDER}/x.txt` }))[0]?.state).toBe('confirmed');
  });

  it('removing a device changes the majority the same way on every device', async () => {
    mesh.partition([['a'], ['b', 'c']]);
    await write(A, 'x.txt', 'one');
    const v = preferred(A, 'x.txt') as Version;
    expect(v.state).toBe('provisional');
    // b and c are revoked by a: a is the whole mesh now, so its own copy is a majority.
    A.engine.db.transaction(() => {
      A.engine.mesh.remove(B.engine.identity.deviceId);
      A.engine.mesh.remove(C.engine.identity.deviceId);
    })();
    A.engine.confirmations.recompute();
    expect(A.engine.versions.get(v.id)?.state).toBe('confirmed');
  });

  it('the latest confirmed head beats a later provisional one; read modes pick accordingly', async () => {
    await write(A, 'x.txt', 'base');
    await mesh.heal();
    mesh.partition([['a'], ['b', 'c']]);
    await write(B, 'x.txt', 'from b (confirmed by b and c)');
    await mesh.settle();
    await write(A, 'x.txt', 'from a (later, only a has it)');
    // a hears from b but has not answered yet (and fetches the content it now shows).
    mesh.pull('a', 'b');
    await A.materializer.apply(MESH_FOLDER, undefined, async (hash) => (await B.local.read(hash)) as Buffer);
    const fromB = preferred(B, 'x.txt') as Version;
    expect(fromB.state).toBe('confirmed');
    expect(heads(A, 'x.txt')).toHaveLength(2);
    expect(preferred(A, 'x.txt')?.id).toBe(fromB.id);
    const svc = api(A);
    const target = `${MESH_FOLDER}/x.txt`;
    expect((await svc.call('file.cat', { target })).data).toBe('from b (confirmed by b and c)');
    expect((await svc.call('file.cat', { target, mode: 'confirmed_only' })).data).toBe('from b (confirmed by b and c)');
    expect((await svc.call('file.cat', { target, mode: 'provisional_allowed' })).data).toBe('from a (later, only a has it)');
    // Once everyone has both, both are confirmed and the latest one is preferred, on every device.
    await mesh.heal();
    await expectAgreed('x.txt', 'from a (later, only a has it)');
    expect(preferred(C, 'x.txt')?.state).toBe('confirmed');
  });
});

describe('cat', () => {
  it('reads any version by id or prefix, verifies chunks, and says clearly when a chunk is not here', async () => {
    await write(A, 'x.txt', 'first');
    await mesh.heal();
    const first = preferred(A, 'x.txt') as Version;
    await write(A, 'x.txt', 'second');
    await mesh.heal();
    // b kept the old content in its store when it wrote 'second' over it.
    const svc = api(B);
    expect((await svc.call('file.cat', { target: `${MESH_FOLDER}/x.txt`, version: first.id.slice(0, 10) })).data).toBe('first');
    const piece = await svc.call('file.cat', { target: `${MESH_FOLDER}/x.txt`, maxBytes: 3, offset: 1, encoding: 'base64' });
    expect(Buffer.from(piece.data, 'base64').toString()).toBe('eco');
    expect(piece.truncated).toBe(true);
    // a overwrote 'first' itself (an editor saving over it): a clear error, and b still has it.
    await expect(api(A).call('file.cat', { target: `${MESH_FOLDER}/x.txt`, version: first.id })).rejects.toThrow(/is not held on this device/);
    await expect(svc.call('file.cat', { target: `${MESH_FOLDER}/x.txt`, version: 'ffffffff' })).rejects.toThrow(/no version ffffffff/);
    await expect(svc.call('file.cat', { target: `${MESH_FOLDER}/nope.txt` })).rejects.toThrow(/no versions of/);
  });
});

describe('restore', () => {
  it('makes an old version the new head on top of the current one, everywhere, and can itself be undone', async () => {
    await write(A, 'x.txt', 'v1');
    await mesh.heal();
    const v1 = preferred(A, 'x.txt') as Version;
    await write(B, 'x.txt', 'v2');
    await mesh.heal();
    const v2 = preferred(B, 'x.txt') as Version;
    const restored = await api(C).call('file.restore', { target: `${MESH_FOLDER}/x.txt`, version: v1.id });
    expect(restored.parents).toEqual([v2.id]);
    expect(onDisk(C, 'x.txt')).toBe('v1');
    await mesh.heal();
    await expectAgreed('x.txt', 'v1');
    const undo = await api(A).call('file.restore', { target: `${MESH_FOLDER}/x.txt`, version: v2.id });
    expect(undo.parents).toEqual([restored.id]);
    await mesh.heal();
    await expectAgreed('x.txt', 'v2');
    expect(A.engine.versions.history(MESH_FOLDER, 'x.txt')).toHaveLength(4);
  });
});

describe('restore refusals', () => {
  it('refuses to bring back content nobody holds any more (overwritten before any device copied it), changing nothing', async () => {
    mesh.partition([['a'], ['b'], ['c']]);
    await write(A, 'x.txt', 'never copied');
    const lost = preferred(A, 'x.txt') as Version;
    await write(A, 'x.txt', 'current');
    const before = heads(A, 'x.txt');
    await expect(api(A).call('file.restore', { target: `${MESH_FOLDER}/x.txt`, version: lost.id })).rejects.toThrow(/cannot be read here/);
    expect(heads(A, 'x.txt')).toEqual(before);
    expect(onDisk(A, 'x.txt')).toBe('current');
  });
});

describe('resolve', () => {
  it('--take: a merge whose parents are all heads closes the conflict on every device', async () => {
    await conflictOn('x.txt');
    const before = heads(C, 'x.txt');
    const fromB = B.engine.versions.heads(MESH_FOLDER, 'x.txt').find((v) => v.author === B.engine.identity.deviceId) as Version;
    const r = await api(C).call('conflict.resolve', { target: `${MESH_FOLDER}/x.txt`, take: fromB.id });
    expect(r.version.parents).toEqual(before);
    await mesh.heal();
    for (const d of mesh.devices) expect(await api(d).call('conflicts', {})).toEqual([]);
    await expectAgreed('x.txt', 'from b\n');
  });

  it('--keep-both: the other head gets its own clearly named, versioned path', async () => {
    await conflictOn('notes/x.txt');
    const other = C.engine.versions.heads(MESH_FOLDER, 'notes/x.txt').find((v) => v.id !== preferred(C, 'notes/x.txt')?.id) as Version;
    const shown = onDisk(C, 'notes/x.txt');
    // Without a daemon, c records the merge at once; the other branch's bytes are on a or b.
    const r = await api(C).call('conflict.resolve', { target: `${MESH_FOLDER}/notes/x.txt`, keepBoth: true });
    expect(r.pending).toEqual(r.created);
    const otherName = other.author === A.engine.identity.deviceId ? 'a' : 'b';
    expect(r.created).toEqual([`notes/x (conflict from ${otherName} 2026-11-01).txt`]);
    await mesh.heal();
    await expectAgreed('notes/x.txt', shown);
    await expectAgreed(r.created[0] as string, otherName === 'a' ? 'from a\n' : 'from b\n');
    expect(heads(A, 'notes/x.txt')).toHaveLength(1);
  });

  it('--content: merged bytes become the merge version', async () => {
    await conflictOn('x.txt');
    const r = await api(A).call('conflict.resolve', { target: `${MESH_FOLDER}/x.txt`, content: 'from a\nfrom b\n' });
    expect(r.version.parents).toHaveLength(2);
    await mesh.heal();
    await expectAgreed('x.txt', 'from a\nfrom b\n');
  });

  it('refuses a path without a conflict and an unknown version, changing nothing', async () => {
    await write(A, 'x.txt', 'one');
    await expect(api(A).call('conflict.resolve', { target: `${MESH_FOLDER}/x.txt`, keepBoth: true })).rejects.toThrow(/no conflict/);
    await conflictOn('y.txt');
    await expect(api(A).call('conflict.resolve', { target: `${MESH_FOLDER}/y.txt`, take: '0123456789abcdef' })).rejects.toThrow(/no version/);
    expect(heads(A, 'y.txt')).toHaveLength(2);
  });
});

describe('deletes', () => {
  it('delete against edit is a conflict that keeps the edit in the working copy until resolved', async () => {
    await write(A, 'x.txt', 'base');
    await mesh.heal();
    mesh.partition([['a'], ['b', 'c']]);
    await remove(A, 'x.txt');
    await write(B, 'x.txt', 'edited while a deleted it');
    await mesh.heal();
    await expectAgreed('x.txt', 'edited while a deleted it');
    const [conflict] = await api(C).call('conflicts', {});
    expect(conflict?.heads.map((h) => h.kind).sort()).toEqual(['file', 'tombstone']);
    const tomb = conflict?.heads.find((h) => h.kind === 'tombstone')?.versionId as string;
    await api(C).call('conflict.resolve', { target: `${MESH_FOLDER}/x.txt`, take: tomb });
    await mesh.heal();
    await expectAgreed('x.txt', null);
    // The edit stays in history, readable.
    const edit = C.engine.versions.history(MESH_FOLDER, 'x.txt').find((v) => v.kind === 'file' && v.author === B.engine.identity.deviceId) as Version;
    expect(await text(C, edit)).toBe('edited while a deleted it');
  });

  it('the same state reached on two devices apart (a new directory, the same bytes) is not a conflict to settle', async () => {
    mesh.partition([['a'], ['b'], ['c']]);
    for (const d of [A, B]) {
      mesh.clock += 1000;
      fs.mkdirSync(path.join(d.root, 'photos'));
      await d.engine.scan(MESH_FOLDER);
    }
    await write(A, 'same.txt', 'identical words');
    await write(B, 'same.txt', 'identical words');
    await write(A, 'differs.txt', 'from a');
    await write(B, 'differs.txt', 'from b');
    await mesh.heal();
    for (const d of mesh.devices) {
      expect(heads(d, 'photos'), d.name).toHaveLength(2);
      expect(heads(d, 'same.txt'), d.name).toHaveLength(2);
      expect((await api(d).call('conflicts', {})).map((c) => c.path), d.name).toEqual(['differs.txt']);
    }
  });

  it('rename against edit keeps the edit', async () => {
    await write(A, 'x.txt', 'base');
    await mesh.heal();
    mesh.partition([['a'], ['b', 'c']]);
    mesh.clock += 1000;
    fs.renameSync(path.join(A.root, 'x.txt'), path.join(A.root, 'y.txt'));
    await A.engine.scan(MESH_FOLDER);
    await write(B, 'x.txt', 'edited');
    await mesh.heal();
    await expectAgreed('x.txt', 'edited');
    await expectAgreed('y.txt', 'base');
  });

  it('a device offline for a month rejoins without resurrecting a deleted file or losing its own edit', async () => {
    await write(A, 'gone.txt', 'delete me');
    await write(A, 'kept.txt', 'c will edit this');
    await mesh.heal();
    mesh.partition([['a', 'b'], ['c']]);
    await remove(A, 'gone.txt');
    await remove(A, 'kept.txt');
    await write(C, 'kept.txt', 'edited offline by c');
    await mesh.settle();
    mesh.clock += 31 * DAY;
    for (const d of [A, B]) {
      const report = await collectGarbage(d.engine);
      expect(report.tombstonesRemoved).toBe(2);
      expect(d.engine.versions.history(MESH_FOLDER, 'gone.txt')).toEqual([]);
    }
    // The chunks of the deleted file left a's store once retention and the grace period passed.
    expect(A.engine.store.usage().chunks).toBe(0);
    await mesh.heal();
    for (const d of mesh.devices) await collectGarbage(d.engine);
    await mesh.heal();
    await expectAgreed('gone.txt', null);
    await expectAgreed('kept.txt', 'edited offline by c');
    for (const d of mesh.devices) expect(await api(d).call('conflicts', {})).toEqual([]);
  });

  it('gc --dry-run counts without removing; history settings trim old versions but never heads', async () => {
    for (const n of [1, 2, 3, 4]) await write(A, 'x.txt', `v${n}`);
    A.engine.config.retention.maxVersionsPerPath = 2;
    const dry = await api(A).call('gc', { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, versionsRemoved: 2 });
    expect(A.engine.versions.history(MESH_FOLDER, 'x.txt')).toHaveLength(4);
    const real = await api(A).call('gc', {});
    expect(real.versionsRemoved).toBe(2);
    expect(A.engine.versions.history(MESH_FOLDER, 'x.txt').map((v) => v.id)).toContain(preferred(A, 'x.txt')?.id);
    const emergency = await api(A).call('gc', { emergency: true });
    expect(emergency.emergency).toBe(true);
    expect(A.engine.versions.history(MESH_FOLDER, 'x.txt')).toHaveLength(1);
  });
});
