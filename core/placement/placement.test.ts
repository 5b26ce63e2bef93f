/**
 * Placement with real daemons on a local testnet: three devices with different quotas and
 * labels. alpha keeps its folder in full mode; beta and gamma attach it on demand, so they
 * hold only the chunks placement designates them for (plus what they pin or open). Then a
 * quota lowered below use evicts, honouring pins and minimums.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceInfo, FileEntry, QuotaChange, QuotaInfo, ReplicaInfo, StatusInfo } from '../api/types.js';
import { writeConfig } from '../config/index.js';
import { cliJson, sleep, tmpDir, waitFor, writeSeededFile } from '../testing/index.js';
import { TestMesh } from '../testing/mesh.js';

let mesh: TestMesh | undefined;
let base: string;

afterEach(async () => {
  await mesh?.close();
  mesh = undefined;
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const FILES = ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin'];

async function replicas(home: string, file: string): Promise<ReplicaInfo> {
  return cliJson<ReplicaInfo>(home, ['replicas', `docs/${file}`, '--json']);
}

describe('placement between devices', () => {
  it('places each chunk on factor devices within quotas, pins and opens on demand, and evicts honouring pins and minimums', async () => {
    base = tmpDir('canopy-placement-');
    mesh = await TestMesh.create(base, ['alpha', 'beta', 'gamma']);
    const m = mesh;
    const conf: Record<string, { site: string; max: string }> = { alpha: { site: 'home', max: '4 GiB' }, beta: { site: 'office', max: '1 GiB' }, gamma: { site: 'home', max: '2 GiB' } };
    for (const [name, c] of Object.entries(conf)) {
      writeConfig(m.device(name).home, {
        device: { labels: { site: c.site } }, storage: { max: c.max, reserved: '0 B', min_free: '1 MiB' },
        replication: { diversity: [{ label: 'site', min_distinct: 2 }] },
      });
    }
    for (const f of FILES) writeSeededFile(path.join(m.device('alpha').folder, f), 2 * MiB + 12345, f);
    await m.share('alpha');
    for (const n of ['alpha', 'beta', 'gamma']) await m.start(n);
    await m.pair('alpha', 'beta');
    await m.pair('alpha', 'gamma');
    for (const n of ['beta', 'gamma']) await cliJson(m.device(n).home, ['folder', 'add', m.device(n).folder, '--id', 'docs', '--mode', 'on-demand']);
    const ids = Object.fromEntries(await Promise.all(['alpha', 'beta', 'gamma'].map(async (n) => [n, (await cliJson<StatusInfo>(m.device(n).home, ['status', '--json'])).device.id] as const)));

    // Every chunk reaches its factor (normal: 2), on the devices placement designates, and
    // spans two sites: beta (the only office device) is always one of them.
    for (const f of FILES) {
      const r = await waitFor(async () => {
        const x = await replicas(m.device('alpha').home, f);
        return x.chunks.length > 0 && x.chunks.every((c) => c.designated.length === 2 && c.designated.every((d) => c.holders.includes(d))) ? x : undefined;
      }, `every chunk of ${f} on its designated devices`, 180_000);
      for (const c of r.chunks) expect(c.designated).toContain(ids.beta);
    }
    // On-demand devices hold only what they are designated for: no file was written there.
    for (const n of ['beta', 'gamma']) {
      const entries = await cliJson<FileEntry[]>(m.device(n).home, ['ls', 'docs', '--json']);
      expect(entries.filter((e) => e.kind === 'file').every((e) => !e.local)).toBe(true);
      expect(fs.readdirSync(m.device(n).folder).filter((x) => x.endsWith('.bin'))).toEqual([]);
      const q = await cliJson<QuotaInfo>(m.device(n).home, ['quota', '--json']);
      expect(q.usage.totalBytes).toBeLessThanOrEqual(q.maxBytes);
      let designatedHere = 0;
      for (const f of FILES) designatedHere += (await replicas(m.device('alpha').home, f)).chunks.filter((c) => c.designated.includes(ids[n] as string)).reduce((s, c) => s + c.size, 0);
      expect(q.usage.totalBytes).toBe(designatedHere);
    }
    // Every device's own capacity report reaches the others (the Overview draws its bar from it).
    await waitFor(async () => {
      const seen = await cliJson<DeviceInfo[]>(m.device('alpha').home, ['devices', '--json']);
      const beta = seen.find((d) => d.id === ids.beta);
      const q = await cliJson<QuotaInfo>(m.device('beta').home, ['quota', '--json']);
      return beta?.storage?.maxBytes === q.maxBytes && beta.storage.usedBytes === q.usage.totalBytes;
    }, "beta's capacity report on alpha", 60_000);

    // A priority set on one device reaches the others (a signed log entry): e.bin wants 1 copy everywhere.
    await cliJson(m.device('alpha').home, ['priority', 'docs/e.bin', 'low']);
    for (const n of ['beta', 'gamma']) {
      await waitFor(async () => (await replicas(m.device(n).home, 'e.bin')).factor === 1, `${n} to learn the priority of e.bin`, 60_000);
    }
    // gamma pins a.bin: it is materialized there. beta opens b.bin: the same.
    await cliJson(m.device('gamma').home, ['pin', 'docs/a.bin']);
    expect(fs.readFileSync(path.join(m.device('gamma').folder, 'a.bin')).equals(fs.readFileSync(path.join(m.device('alpha').folder, 'a.bin')))).toBe(true);
    const opened = await cliJson<FileEntry>(m.device('beta').home, ['open', 'docs/b.bin', '--json']);
    expect(opened.local).toBe(true);
    expect(fs.readFileSync(path.join(m.device('beta').folder, 'b.bin')).equals(fs.readFileSync(path.join(m.device('alpha').folder, 'b.bin')))).toBe(true);

    // beta frees b.bin again: the file leaves its folder, and that is not a deletion anywhere.
    const freed = await cliJson<FileEntry>(m.device('beta').home, ['free', 'docs/b.bin', '--json']);
    expect(freed.local).toBe(false);
    expect(fs.existsSync(path.join(m.device('beta').folder, 'b.bin'))).toBe(false);
    await sleep(3000); // the watcher saw the file go
    expect((await cliJson<FileEntry[]>(m.device('beta').home, ['ls', 'docs/b.bin', '--json']))[0]?.kind).toBe('file');
    expect(fs.existsSync(path.join(m.device('alpha').folder, 'b.bin'))).toBe(true);

    // beta pins c.bin, then lowers its quota to nothing.
    await cliJson(m.device('beta').home, ['pin', 'docs/c.bin']);
    const betaPinnedStored = (await replicas(m.device('beta').home, 'c.bin')).chunks.filter((c) => c.designated.includes(ids.beta as string)).map((c) => c.hash);
    const preview = await cliJson<QuotaChange>(m.device('beta').home, ['quota', '--max', '0', '--dry-run', '--json']);
    expect(preview.dryRun).toBe(true);
    expect((await cliJson<QuotaInfo>(m.device('beta').home, ['quota', '--json'])).maxBytes).toBe(1024 * MiB);
    const change = await cliJson<QuotaChange>(m.device('beta').home, ['quota', '--max', '0', '--json']);
    expect(change.quota.maxBytes).toBe(0);
    expect(change.evict.freesBytes).toBe(preview.evict.freesBytes);
    await waitFor(async () => (await cliJson<QuotaInfo>(m.device('beta').home, ['quota', '--json'])).usage.totalBytes <= preview.quota.usage.totalBytes - preview.evict.freesBytes, 'beta to evict what it may', 60_000);

    // Nothing pinned went, and no chunk fell below its minimum of verified copies.
    for (const h of betaPinnedStored) expect((await replicas(m.device('beta').home, 'c.bin')).chunks.find((c) => c.hash === h)?.holders).toContain(ids.beta);
    for (const f of FILES) {
      const r = await waitFor(async () => {
        const x = await replicas(m.device('alpha').home, f);
        return x.summary.minHolders >= x.minimum ? x : undefined;
      }, `${f} to keep its minimum of copies`, 60_000);
      expect(r.summary.minHolders).toBeGreaterThanOrEqual(f === 'e.bin' ? 1 : 2);
    }
    // What could not go is reported: pinned or at its minimum.
    if (change.evict.unfreeableBytes > 0) expect(change.evict.reason).toMatch(/pinned|minimum/);
  }, 600_000);
});
