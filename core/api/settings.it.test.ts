/**
 * The edit commands of issue 6 on a real mesh: three daemons (separate processes) on a
 * loopback testnet. A rename, labels, trust and a folder's priority made on one device are
 * seen by the others through `canopy devices --json` / `canopy folder list --json`; the
 * renamed device's own config.toml follows; a storage-only device may not change others.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceInfo, FolderInfo, SettingsInfo } from './types.js';
import { cliJson, runCli, tmpDir, waitFor } from '../testing/index.js';
import { TestMesh } from '../testing/mesh.js';

const NAMES = ['ash', 'birch', 'cedar'] as const;
let mesh: TestMesh;

const home = (n: string) => mesh.device(n).home;
const devicesOn = (n: string) => cliJson<DeviceInfo[]>(home(n), ['devices']);
const idOf = async (n: string) => ((await devicesOn(n)).find((d) => d.isLocal) as DeviceInfo).id;

beforeAll(async () => {
  mesh = await TestMesh.create(tmpDir('canopy-settings-it-'), [...NAMES]);
  for (const n of NAMES) await mesh.start(n);
  await mesh.pair('ash', 'birch');
  await mesh.pair('ash', 'cedar');
}, 120_000);

afterAll(async () => {
  await mesh?.close();
});

describe('device.update and folder.update reach every device', () => {
  it('a rename and labels made on birch show on ash and on cedar itself, whose config.toml follows', async () => {
    const cedar = await idOf('cedar');
    await cliJson(home('birch'), ['device', 'rename', cedar, 'Cellar server']);
    await cliJson(home('birch'), ['device', 'label', cedar, 'site=cellar', 'power=ups']);
    for (const n of ['ash', 'cedar']) {
      const d = await waitFor(async () => (await devicesOn(n)).find((x) => x.id === cedar && x.name === 'Cellar server' && x.labels.site === 'cellar'), `${n} to see the rename`, 60_000);
      expect(d.labels).toEqual({ site: 'cellar', power: 'ups' });
    }
    const toml = fs.readFileSync(path.join(home('cedar'), 'config.toml'), 'utf8');
    expect(toml).toContain('name = "Cellar server"');
    expect(toml).toContain('site = "cellar"');
    const status = await cliJson<{ device: { name: string } }>(home('cedar'), ['status']);
    expect(status.device.name).toBe('Cellar server');
  }, 90_000);

  it('a storage-only device may not change another device, and the refusal changes nothing', async () => {
    const cedar = await idOf('cedar');
    const ash = await idOf('ash');
    await cliJson(home('ash'), ['device', 'trust', cedar, 'storage-only']);
    await waitFor(async () => (await devicesOn('cedar')).find((x) => x.id === cedar && x.trust === 'storage-only'), 'cedar to learn it is storage-only', 60_000);
    const r = await runCli(['device', 'rename', ash, 'stolen'], { home: home('cedar') });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/storage-only/);
    expect((await devicesOn('cedar')).find((x) => x.id === ash)?.name).toBe('ash');
  }, 90_000);

  it('a folder priority set on birch reaches ash; the mode stays per device', async () => {
    await mesh.share('ash');
    await waitFor(async () => (await cliJson<FolderInfo[]>(home('birch'), ['folder', 'list'])).find((f) => f.id === 'docs'), 'birch to learn the folder', 60_000);
    const set = await cliJson<FolderInfo>(home('birch'), ['folder', 'set', 'docs', '--priority', 'high', '--class', 'sensitive']);
    expect(set).toMatchObject({ priority: 'high', dataClass: 'sensitive', mode: null });
    const onAsh = await waitFor(async () => (await cliJson<FolderInfo[]>(home('ash'), ['folder', 'list'])).find((f) => f.id === 'docs' && f.priority === 'high'), 'ash to see the priority', 60_000);
    expect(onAsh.dataClass).toBe('sensitive');
    expect(onAsh.mode).toBe('full');
    const mode = await runCli(['folder', 'set', 'docs', '--mode', 'on-demand'], { home: home('birch') });
    expect(mode.stderr).toMatch(/not attached/);
  }, 90_000);

  it('on-demand leaves a file online-only; switching to full writes it', async () => {
    fs.writeFileSync(path.join(mesh.device('ash').folder, 'report.txt'), 'quarterly numbers\n');
    await cliJson(home('ash'), ['scan', 'docs']);
    await cliJson(home('birch'), ['folder', 'add', mesh.device('birch').folder, '--id', 'docs', '--mode', 'on-demand']);
    const listed = await waitFor(async () => (await cliJson<{ path: string; local: boolean }[]>(home('birch'), ['ls', 'docs'])).find((e) => e.path === 'report.txt'), 'birch to list report.txt', 60_000);
    expect(listed.local).toBe(false);
    expect(fs.existsSync(path.join(mesh.device('birch').folder, 'report.txt'))).toBe(false);
    const f = await cliJson<FolderInfo>(home('birch'), ['folder', 'set', 'docs', '--mode', 'full']);
    expect(f.mode).toBe('full');
    const text = await waitFor(() => {
      const file = path.join(mesh.device('birch').folder, 'report.txt');
      return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    }, 'report.txt to be written on birch', 60_000);
    expect(text).toBe('quarterly numbers\n');
  }, 120_000);
});

describe('settings.set through the daemon', () => {
  it('writes config.toml, applies at once, and refuses an invalid patch without touching the file', async () => {
    const s = await cliJson<SettingsInfo>(home('ash'), ['settings', 'set', 'replication.normal=3', 'jobs.audit_interval=30m', 'replication.diversity=site:2']);
    expect(s.replication.normal).toBe(3);
    expect(s.jobs.auditInterval).toBe(30 * 60_000);
    expect(s.replication.diversity).toEqual([{ label: 'site', minDistinct: 2 }]);
    expect((await cliJson<SettingsInfo>(home('ash'), ['settings'])).replication.normal).toBe(3);
    const before = fs.readFileSync(path.join(home('ash'), 'config.toml'), 'utf8');
    const bad = await runCli(['settings', 'set', 'replication.low=4'], { home: home('ash') });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/replication\.low/);
    expect(fs.readFileSync(path.join(home('ash'), 'config.toml'), 'utf8')).toBe(before);
  }, 60_000);
});
