/**
 * Versions.headShapes against a real SQLite home: for each path asked about, how many heads
 * it has and, when its one head is a merge, that head's id; paths without heads are left
 * out, and more paths than one query takes are asked in several. preferredHeads and
 * chunksOfMany, the batched forms of preferredHead and chunks, against the one-path forms.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { tmpDir } from '../testing/index.js';
import type { Version } from './index.js';

let base: string;
let engine: Engine;

beforeEach(() => {
  base = tmpDir('canopy-head-shapes-');
  fs.mkdirSync(path.join(base, 'docs'));
  engine = Engine.init(path.join(base, 'home'), { name: 'test' });
  engine.folders.add({ path: path.join(base, 'docs'), id: 'docs' });
});
afterEach(async () => {
  await engine.close();
  fs.rmSync(base, { recursive: true, force: true });
});

function record(p: string, parentIds: string[], size = 1): Version {
  return engine.db.transaction(() => engine.versions.recordLocal({ folderId: 'docs', path: p, kind: 'file', size, mtimeMs: 1, mode: 0o644, chunks: [], parentIds }))();
}

it('gives each path its number of heads and its merge head, leaves out paths without heads, and asks many paths in batches', () => {
  record('two', []);
  record('two', [], 2);
  const a = record('merged', []);
  const b = record('merged', [], 2);
  const m = record('merged', [a.id, b.id], 3);
  record('plain', []);
  const bulk = Array.from({ length: 1100 }, (_, i) => `bulk/${i}`);
  engine.db.transaction(() => {
    engine.versions.recordLocalBatch(bulk.map((p) => ({ folderId: 'docs', path: p, kind: 'file' as const, size: 0, mtimeMs: 1, mode: 0o644, chunks: [] })));
  })();

  const shapes = engine.versions.headShapes('docs', ['two', 'merged', 'plain', 'unknown', ...bulk]);
  expect(shapes.get('two')).toEqual({ heads: 2, mergeHead: null });
  expect(shapes.get('merged')).toEqual({ heads: 1, mergeHead: m.id });
  expect(shapes.get('plain')).toEqual({ heads: 1, mergeHead: null });
  expect(shapes.has('unknown')).toBe(false);
  expect(bulk.filter((p) => shapes.get(p)?.heads === 1)).toHaveLength(1100);
  expect(shapes.size).toBe(1103);
  expect(engine.versions.headShapes('other-folder', ['two']).size).toBe(0);
});

it('gives each path its preferred head and each version its chunk list as the one-path lookups do, in batches', () => {
  record('two', []);
  record('two', [], 2);
  const chunk = (n: number) => ({ hash: n.toString(16).padStart(64, '0'), offset: n * 10, size: 10 });
  const withChunks = engine.db.transaction(() => engine.versions.recordLocal({ folderId: 'docs', path: 'chunked', kind: 'file', size: 30, mtimeMs: 1, mode: 0o644, chunks: [chunk(0), chunk(1), chunk(2)] }))();
  const bulk = Array.from({ length: 1100 }, (_, i) => `bulk/${i}`);
  engine.db.transaction(() => {
    engine.versions.recordLocalBatch(bulk.map((p, i) => ({ folderId: 'docs', path: p, kind: 'file' as const, size: 10, mtimeMs: 1, mode: 0o644, chunks: [{ ...chunk(i), offset: 0 }] })));
  })();
  const paths = ['two', 'chunked', 'unknown', ...bulk];

  const heads = engine.versions.preferredHeads('docs', paths);
  expect(heads.size).toBe(1102);
  for (const p of paths) expect(heads.get(p)).toEqual(engine.versions.preferredHead('docs', p));
  expect(engine.versions.preferredHeads('other-folder', paths).size).toBe(0);

  const ids = [...heads.values()].map((v) => v.id);
  const lists = engine.versions.chunksOfMany([...ids, 'no-such-version']);
  for (const id of ids) expect(lists.get(id)).toEqual(engine.versions.chunks(id));
  expect(lists.get(withChunks.id)?.map((c) => c.offset)).toEqual([0, 10, 20]);
  expect(lists.get('no-such-version')).toEqual([]);
});
