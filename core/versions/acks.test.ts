/**
 * Acks as peers send them: a device's signed ack confirms what it holds on every device
 * that applies it; a malformed or forged ack is refused (and marks the peer hostile)
 * without changing any state.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { EngineMesh, MESH_FOLDER, type MeshEngine } from '../testing/engine-mesh.js';
import { identityFromSeed, sign } from '../identity/index.js';
import { canonicalBytes } from '../log/canonical.js';

let mesh: EngineMesh;
let A: MeshEngine;
let B: MeshEngine;

beforeEach(async () => {
  mesh = await EngineMesh.create(['a', 'b']);
  [A, B] = mesh.devices as [MeshEngine, MeshEngine];
  mesh.partition([['a'], ['b']]);
  fs.writeFileSync(path.join(A.root, 'x.txt'), 'x');
  await A.engine.scan(MESH_FOLDER);
});
afterEach(async () => {
  await mesh.close();
});

const stateOfX = (d: MeshEngine) => d.engine.versions.preferredHead(MESH_FOLDER, 'x.txt')?.state;

it('a signed ack from the other device of two confirms the version on both', async () => {
  expect(stateOfX(A)).toBe('provisional');
  mesh.pull('b', 'a');
  // b applied a's versions and acknowledged them in its own log.
  expect(B.engine.db.prepare(`SELECT count(*) FROM change_log WHERE origin = ? AND kind = 'ack'`).pluck().get(B.engine.identity.deviceId)).toBe(1);
  expect(stateOfX(B)).toBe('confirmed');
  expect(stateOfX(A)).toBe('provisional');
  mesh.pull('a', 'b');
  expect(stateOfX(A)).toBe('confirmed');
});

it('refuses an ack with a bad vector or a forged signature, changing nothing', () => {
  const seq = B.engine.log.nextSeq();
  const body = canonicalBytes({ t: 'ack', author: B.engine.identity.deviceId, seq, createdAt: 1, vector: { 'not-a-device': 5 } });
  const bad = { origin: B.engine.identity.deviceId, seq, kind: 'ack', body, signature: sign(B.engine.identity, body) };
  const r1 = A.ingest.ingest([bad]);
  expect(r1.hostile).toBe(true);
  expect(r1.rejected[0]?.reason).toMatch(/vector/);
  const good = canonicalBytes({ t: 'ack', author: B.engine.identity.deviceId, seq, createdAt: 1, vector: { [A.engine.identity.deviceId]: 99 } });
  const forged = { origin: B.engine.identity.deviceId, seq, kind: 'ack', body: good, signature: sign(identityFromSeed(Buffer.alloc(32, 9)), good) };
  const r2 = A.ingest.ingest([forged]);
  expect(r2.hostile).toBe(true);
  expect(r2.rejected[0]?.reason).toMatch(/signature/);
  expect(stateOfX(A)).toBe('provisional');
  expect(A.engine.db.prepare('SELECT count(*) FROM device_acks').pluck().get()).toBe(0);
});

it('an ack reports only the paths where a confirmation can change which head is preferred (more than one head)', async () => {
  fs.writeFileSync(path.join(A.root, 'y.txt'), 'from a');
  await A.engine.scan(MESH_FOLDER);
  fs.writeFileSync(path.join(B.root, 'y.txt'), 'from b');
  await B.engine.scan(MESH_FOLDER);
  mesh.pull('b', 'a'); // b now holds both branches of y.txt and acknowledges a's versions
  const fromB = B.ingest.entriesAfter(A.ingest.vector(), 4 * 1024 * 1024);
  expect(fromB.map((e) => e.kind)).toEqual(['versions', 'ack']);
  A.ingest.ingest(fromB.slice(0, 1));
  expect(A.engine.versions.heads(MESH_FOLDER, 'y.txt')).toHaveLength(2);
  const acked = A.ingest.ingest(fromB.slice(1));
  // Both of a's versions are confirmed now, but x.txt has one head either way.
  expect(stateOfX(A)).toBe('confirmed');
  expect(acked.changed).toEqual([{ folderId: MESH_FOLDER, path: 'y.txt' }]);
});
