/**
 * Several real engines in one process (real homes, folders, SQLite, keys), exchanging their
 * signed logs and chunks through the same code the SyncService runs: LogIngest with the
 * engine's confirmation hooks, `entriesAfter` by vectors (relaying), the Materializer with
 * chunks read (and verified) from the peers' working copies and stores. Only the network
 * is left out, so property tests can run hundreds of partitions and heals quickly.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Engine } from '../engine/index.js';
import { LogIngest } from '../log/ingest.js';
import { LocalChunks } from '../sync/local-chunks.js';
import { Materializer } from '../sync/materialize.js';
import { History } from '../history/index.js';
import { tmpDir } from './index.js';

export const MESH_FOLDER = 'docs';

export interface MeshEngine {
  name: string;
  engine: Engine;
  root: string;
  ingest: LogIngest;
  local: LocalChunks;
  materializer: Materializer;
  history: History;
}

export class EngineMesh {
  readonly devices: MeshEngine[] = [];
  /** Which pairs can talk (undirected, by index); all by default. */
  private groups: number[][];
  /** The shared clock: tests move it forward instead of sleeping. */
  clock: number;

  private constructor(readonly base: string, names: string[], start: number) {
    this.clock = start;
    this.groups = [names.map((_, i) => i)];
  }

  static async create(names: string[], opts: { start?: number } = {}): Promise<EngineMesh> {
    const mesh = new EngineMesh(tmpDir('canopy-engine-mesh-'), names, opts.start ?? Date.now());
    for (const name of names) mesh.devices.push(mesh.makeDevice(name));
    // What pairing leaves behind: every device knows every other device's key.
    for (const d of mesh.devices) for (const o of mesh.devices) if (d !== o) know(d.engine, o.engine);
    const [first, ...rest] = mesh.devices as [MeshEngine, ...MeshEngine[]];
    first.engine.folders.add({ path: first.root, id: MESH_FOLDER });
    await mesh.heal();
    for (const d of rest) d.engine.folders.add({ path: d.root, id: MESH_FOLDER });
    return mesh;
  }

  private makeDevice(name: string): MeshEngine {
    const root = path.join(this.base, `${name}-files`);
    fs.mkdirSync(root, { recursive: true });
    const engine = Engine.init(path.join(this.base, `${name}-home`), { name, now: () => this.clock });
    const folderRoot = (id: string) => engine.folders.get(id)?.local?.path;
    const local = new LocalChunks(engine.db, engine.store, folderRoot);
    const materializer = new Materializer({ db: engine.db, versions: engine.versions, store: engine.store, local, scanner: engine.scanner, folderRoot });
    const d: MeshEngine = {
      name, engine, root, local, materializer,
      ingest: new LogIngest(engine.db, engine.identity.deviceId, engine.confirmations),
      history: undefined as unknown as History,
    };
    d.history = new History(engine, { fetchChunk: (hash, size) => this.fetchFor(d, hash, size) });
    return d;
  }

  device(name: string): MeshEngine {
    const d = this.devices.find((x) => x.name === name);
    if (!d) throw new Error(`no device ${name}`);
    return d;
  }

  /** Cuts the mesh into groups of device names; devices talk only within their group. */
  partition(groups: string[][]): void {
    this.groups = groups.map((g) => g.map((n) => this.devices.indexOf(this.device(n))));
  }

  connected(a: MeshEngine, b: MeshEngine): boolean {
    const i = this.devices.indexOf(a);
    const j = this.devices.indexOf(b);
    return this.groups.some((g) => g.includes(i) && g.includes(j));
  }

  /** Reconnects everyone and syncs until nothing changes. */
  async heal(): Promise<void> {
    this.groups = [this.devices.map((_, i) => i)];
    await this.settle();
  }

  /** Exchanges logs within the current groups until no entry moves, then materializes and rescans, until stable. */
  async settle(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      let moved = this.exchangeLogs();
      for (const d of this.devices) {
        if (!d.engine.folders.get(MESH_FOLDER)?.local) continue;
        await d.materializer.apply(MESH_FOLDER, undefined, (hash, size) => this.fetchFor(d, hash, size));
        const [report] = await d.engine.scan(MESH_FOLDER);
        if (report && report.added + report.changed + report.removed > 0) moved = true;
      }
      if (!moved && !this.exchangeLogs()) return;
    }
    throw new Error('the mesh did not settle in 50 rounds');
  }

  /** `to` takes what `from` has, one way only (a device that heard from another but could not answer yet). */
  pull(to: string, from: string): void {
    const a = this.device(to);
    const b = this.device(from);
    for (;;) {
      const entries = b.ingest.entriesAfter(a.ingest.vector(), 4 * 1024 * 1024);
      if (entries.length === 0 || a.ingest.ingest(entries).applied === 0) return;
    }
  }

  /** One pass of every connected pair pulling what it lacks (relays included); true when anything applied. */
  private exchangeLogs(): boolean {
    let any = false;
    for (let progress = true; progress; ) {
      progress = false;
      for (const to of this.devices) {
        for (const from of this.devices) {
          if (from === to || !this.connected(from, to)) continue;
          const entries = from.ingest.entriesAfter(to.ingest.vector(), 4 * 1024 * 1024);
          if (entries.length === 0) continue;
          const r = to.ingest.ingest(entries);
          if (r.hostile || r.rejected.length > 0) throw new Error(`${to.name} rejected entries from ${from.name}: ${JSON.stringify(r.rejected)}`);
          if (r.applied > 0) progress = any = true;
        }
      }
    }
    return any;
  }

  /** A chunk from a connected peer's working copy or store (verified there and again by the caller). */
  private async fetchFor(d: MeshEngine, hash: string, size: number): Promise<Buffer> {
    for (const peer of this.devices) {
      if (peer === d || !this.connected(peer, d)) continue;
      const data = await peer.local.read(hash);
      if (data && data.length === size) return data;
    }
    throw new Error(`no connected device holds chunk ${hash.slice(0, 12)}`);
  }

  async close(): Promise<void> {
    for (const d of this.devices) await d.engine.close();
    fs.rmSync(this.base, { recursive: true, force: true });
  }
}

function know(engine: Engine, other: Engine): void {
  engine.db.prepare(`INSERT OR IGNORE INTO devices (id, public_key, name, labels, trust, is_local, added_at) VALUES (?, ?, ?, '{}', 'owner', 0, ?)`)
    .run(other.identity.deviceId, other.identity.publicKey, other.config.device.name, Date.now());
}
