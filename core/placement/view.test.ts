/**
 * The placement view over a real home (real SQLite, a real scanned folder); peers are rows
 * in the devices and replicas tables, as sync records them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { tmpDir, writeSeededFile } from '../testing/index.js';
import { createPlacementView, type ChunkPlacement } from './index.js';

let base: string;
let engine: Engine;
let root: string;
const NOW = 1_800_000_000_000;

beforeEach(async () => {
  base = tmpDir('canopy-placement-');
  root = path.join(base, 'docs');
  fs.mkdirSync(root);
  engine = Engine.init(path.join(base, 'home'), { name: 'local' });
  engine.folders.add({ path: root, id: 'docs' });
  writeSeededFile(path.join(root, 'a.bin'), 3 * 1024 * 1024, 'a');
  fs.writeFileSync(path.join(root, 'small.txt'), 'hello');
  await engine.scan('docs');
});
afterEach(async () => {
  await engine.close();
  fs.rmSync(base, { recursive: true, force: true });
});

function addPeer(id: string, opts: { trust?: 'owner' | 'storage-only'; lastSeen?: number; capacity?: object | null; labels?: Record<string, string> } = {}): void {
  engine.db.prepare('INSERT INTO devices (id, public_key, name, labels, trust, is_local, capacity, last_seen, added_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)')
    .run(id, randomBytes(32), id, JSON.stringify(opts.labels ?? {}), opts.trust ?? 'owner', opts.capacity === null ? null : JSON.stringify(opts.capacity ?? { maxBytes: 10 * 1024 ** 3, usedBytes: 0 }), opts.lastSeen ?? NOW, NOW);
}

const view = () => createPlacementView(engine, { now: () => NOW });
const all = (): ChunkPlacement[] => [...view().chunks()];

describe('placement view', () => {
  it('places every referenced chunk on factor devices, the local device counted as a holder', () => {
    addPeer('peer-a');
    addPeer('peer-b');
    const chunks = all();
    const distinct = engine.db.prepare('SELECT count(DISTINCT chunk) FROM version_chunks').pluck().get() as number;
    expect(chunks.length).toBe(distinct);
    for (const c of chunks) {
      expect(c.priority).toBe('normal');
      expect(c.factor).toBe(2);
      expect(c.minimum).toBe(2);
      expect(c.designated).toHaveLength(2);
      expect(c.shortfall).toBe(0);
      expect(c.holders).toEqual([engine.identity.deviceId]);
      expect(view().forChunk(c.hash)).toEqual(c);
    }
    expect(view().forChunk('0'.repeat(64))).toBeNull();
  });

  it('reports the shortfall when fewer devices are eligible than the factor', () => {
    engine.db.prepare("UPDATE folders SET priority = 'critical'").run();
    addPeer('peer-a');
    for (const c of all()) {
      expect(c.factor).toBe(5);
      expect(c.designated).toHaveLength(2);
      expect(c.shortfall).toBe(3);
      // critical: the owner (the author, this device) first
      expect(c.designated[0]).toBe(engine.identity.deviceId);
    }
  });

  it('never designates storage-only devices for sensitive folders, nor full or stingy devices for others', () => {
    engine.db.prepare("UPDATE folders SET data_class = 'sensitive'").run();
    addPeer('vault', { trust: 'storage-only' });
    addPeer('full', { capacity: { maxBytes: 100, usedBytes: 100, full: true } });
    addPeer('stingy', { capacity: { maxBytes: 10 * 1024 ** 3, usedBytes: 0, shareExcess: false } });
    addPeer('good');
    for (const c of all()) {
      expect(c.designated).not.toContain('vault');
      expect(c.designated).not.toContain('full');
      expect(c.designated).not.toContain('stingy');
    }
    engine.db.prepare("UPDATE folders SET data_class = 'standard'").run();
    expect(all().some((c) => c.designated.includes('vault'))).toBe(true);
  });

  it('stops counting a device gone past the offline grace, and its replicas with it', () => {
    const grace = engine.config.jobs.offlineGrace;
    addPeer('recent', { lastSeen: NOW - grace + 1000 });
    addPeer('gone', { lastSeen: NOW - grace - 1000 });
    expect(view().liveDevices().sort()).toEqual([engine.identity.deviceId, 'recent'].sort());
    const hash = (all()[0] as ChunkPlacement).hash;
    engine.db.prepare('INSERT INTO replicas (chunk, device_id, verified_at) VALUES (?, ?, ?), (?, ?, ?)').run(hash, 'recent', NOW, hash, 'gone', NOW);
    expect(view().forChunk(hash)?.holders.sort()).toEqual([engine.identity.deviceId, 'recent'].sort());
    // a device connected right now counts whatever its last-seen time
    const online = createPlacementView(engine, { now: () => NOW, online: () => ['gone'] });
    expect(online.liveDevices()).toContain('gone');
  });

  it('applies the most specific path priority override', () => {
    engine.db.prepare("INSERT INTO path_priorities (folder_id, path, priority) VALUES ('docs', 'a.bin', 'low')").run();
    addPeer('peer-a');
    addPeer('peer-b');
    const bigChunks = engine.db.prepare("SELECT c.chunk FROM version_chunks c JOIN versions v ON v.id = c.version_id WHERE v.path = 'a.bin'").pluck().all() as string[];
    for (const c of all()) {
      expect(c.factor).toBe(bigChunks.includes(c.hash) ? 1 : 2);
    }
  });
});
