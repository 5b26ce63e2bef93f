/**
 * Devices syncing for real: separate daemon processes on a local testnet, real folders,
 * pairing with real invite codes. Every scenario checks the folders on disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConflictInfo, DeviceInfo, StatusInfo, VersionInfo } from '../api/types.js';
import { writeConfig } from '../config/index.js';
import { cliJson, runCli, tmpDir, waitFor, writeSeededFile } from '../testing/index.js';
import { fileDigest, TestMesh } from '../testing/mesh.js';

let mesh: TestMesh | undefined;
let base: string;

afterEach(async () => {
  await mesh?.close();
  mesh = undefined;
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

/** alpha and beta, paired, both attached to folder docs; `prepare` runs before anything is shared. */
async function twoDevices(prepare?: (m: TestMesh) => void): Promise<TestMesh> {
  base = tmpDir('canopy-sync-');
  mesh = await TestMesh.create(base, ['alpha', 'beta']);
  prepare?.(mesh);
  await mesh.share('alpha');
  await mesh.start('alpha');
  await mesh.start('beta');
  await mesh.pair('alpha', 'beta');
  await mesh.share('beta');
  return mesh;
}

async function threeDevices(): Promise<TestMesh> {
  base = tmpDir('canopy-sync-');
  mesh = await TestMesh.create(base, ['alpha', 'beta', 'gamma']);
  // Both transports in every three-device scenario: alpha and beta sync over a direct link
  // (net/direct.ts), gamma has direct links off and syncs with both over Hyperswarm.
  writeConfig(mesh.device('gamma').home, { network: { direct: false } });
  await mesh.share('alpha');
  for (const n of ['alpha', 'beta', 'gamma']) await mesh.start(n);
  await mesh.pair('alpha', 'beta');
  await mesh.share('beta');
  // gamma is invited by beta: it learns of alpha only through beta.
  await mesh.pair('beta', 'gamma');
  await mesh.share('gamma');
  return mesh;
}

describe('sync between devices', () => {
  it('pairs three devices and syncs creates, edits, renames and deletes of files of many sizes', async () => {
    const m = await threeDevices();
    const a = m.device('alpha').folder;
    const b = m.device('beta').folder;
    const c = m.device('gamma').folder;

    // alpha learns of gamma from beta's signed "device add" entry.
    for (const d of m.devices) {
      await waitFor(async () => (await cliJson<DeviceInfo[]>(d.home, ['devices'])).map((x) => x.name).sort().join() === 'alpha,beta,gamma', `${d.name} to know all three devices`);
    }

    fs.writeFileSync(path.join(a, 'empty.txt'), '');
    fs.writeFileSync(path.join(a, 'one.bin'), 'x', { mode: 0o640 });
    writeSeededFile(path.join(a, 'media', 'ten.bin'), 10 * 1024 * 1024, 'ten');
    writeSeededFile(path.join(a, 'media', 'gig.bin'), 1024 * 1024 * 1024, 'gig');
    fs.mkdirSync(path.join(a, 'empty-dir'));
    fs.writeFileSync(path.join(a, 'notes ☕.md'), '# notes\n');
    const tree = await m.converged(['alpha', 'beta', 'gamma'], 180_000);
    const links = (await cliJson<StatusInfo>(m.device('beta').home, ['status'])).sync?.peers.map((p) => `${p.name}:${p.link}`).sort();
    expect(links).toEqual(['alpha:direct', 'gamma:hyperswarm']);
    expect(Object.keys(tree).sort()).toEqual(['empty-dir', 'empty.txt', 'media', 'media/gig.bin', 'media/ten.bin', 'notes ☕.md', 'one.bin']);
    await waitFor(() => (fs.statSync(path.join(c, 'one.bin')).mode & 0o777) === 0o640, 'the file mode to arrive');
    expect(Math.round(fs.statSync(path.join(c, 'media/ten.bin')).mtimeMs)).toBe(Math.round(fs.statSync(path.join(a, 'media/ten.bin')).mtimeMs));

    // Edits on every device, at once.
    const ten = fs.readFileSync(path.join(c, 'media/ten.bin'));
    ten.write('edited in the middle by gamma', 5 * 1024 * 1024);
    fs.writeFileSync(path.join(c, 'media/ten.bin'), ten);
    fs.renameSync(path.join(b, 'notes ☕.md'), path.join(b, 'renamed notes.md'));
    fs.rmSync(path.join(a, 'empty.txt'));
    fs.writeFileSync(path.join(c, 'from-gamma.txt'), 'hello from gamma');
    const after = await m.converged(['alpha', 'beta', 'gamma'], 60_000);
    expect(Object.keys(after).sort()).toEqual(['empty-dir', 'from-gamma.txt', 'media', 'media/gig.bin', 'media/ten.bin', 'one.bin', 'renamed notes.md']);
    expect(after['media/ten.bin']).toBe(fileDigest(path.join(c, 'media/ten.bin')));
    for (const d of m.devices) {
      expect(await cliJson<ConflictInfo[]>(d.home, ['conflicts'])).toEqual([]);
      const status = await cliJson<StatusInfo>(d.home, ['status']);
      expect(status.sync?.folders).toEqual([{ folderId: 'docs', neededFiles: 0, neededBytes: 0 }]);
    }
  }, 300_000);

  it('relays a change from alpha to gamma through beta while alpha is offline', async () => {
    const m = await threeDevices();
    await m.stop('gamma');
    fs.writeFileSync(path.join(m.device('alpha').folder, 'relayed.txt'), 'made on alpha');
    writeSeededFile(path.join(m.device('alpha').folder, 'relayed.bin'), 3 * 1024 * 1024, 'relay');
    await waitFor(() => fs.existsSync(path.join(m.device('beta').folder, 'relayed.bin')) && fileDigest(path.join(m.device('beta').folder, 'relayed.bin')) === fileDigest(path.join(m.device('alpha').folder, 'relayed.bin')), 'beta to receive the files', 60_000);
    await m.stop('alpha');
    await m.start('gamma');
    await m.converged(['beta', 'gamma'], 60_000);
    expect(fs.readFileSync(path.join(m.device('gamma').folder, 'relayed.txt'), 'utf8')).toBe('made on alpha');
    const log = await cliJson<VersionInfo[]>(m.device('gamma').home, ['log', 'docs/relayed.txt']);
    expect(log[0]).toMatchObject({ authorName: 'alpha' });
  }, 180_000);

  it('keeps concurrent offline edits as two branches and loses neither', async () => {
    const m = await twoDevices((x) => fs.writeFileSync(path.join(x.device('alpha').folder, 'plan.txt'), 'version 0\n'));
    await m.converged(['alpha', 'beta']);

    // Both devices edit the same file while apart.
    await m.stop('beta');
    fs.writeFileSync(path.join(m.device('alpha').folder, 'plan.txt'), 'alpha edit\n');
    await waitFor(async () => (await cliJson<VersionInfo[]>(m.device('alpha').home, ['log', 'docs/plan.txt'])).length === 2, 'alpha to record its edit');
    await m.stop('alpha');
    fs.writeFileSync(path.join(m.device('beta').folder, 'plan.txt'), 'beta edit, longer\n');
    await m.start('beta');
    await waitFor(async () => (await cliJson<VersionInfo[]>(m.device('beta').home, ['log', 'docs/plan.txt'])).length === 2, 'beta to record its edit');
    await m.start('alpha');

    const conflicts = await waitFor(async () => {
      const lists = await Promise.all(m.devices.map((d) => cliJson<ConflictInfo[]>(d.home, ['conflicts'])));
      return lists.every((l) => l.length === 1 && l[0]!.heads.length === 2) ? lists : undefined;
    }, 'both devices to see the conflict', 60_000);
    const preferred = conflicts.map((l) => l[0]!.heads.find((h) => h.preferred)!.versionId);
    expect(preferred[0]).toBe(preferred[1]);
    const tree = await m.converged(['alpha', 'beta']);
    const shown = fs.readFileSync(path.join(m.device('alpha').folder, 'plan.txt'), 'utf8');
    expect(['alpha edit\n', 'beta edit, longer\n']).toContain(shown);
    expect(tree['plan.txt']).toBeDefined();

    // The branch that is not in the working copy is still held on the device that wrote it.
    const loser = conflicts[0]![0]!.heads.find((h) => !h.preferred)!;
    const author = m.devices.find((d) => d.name === loser.authorName)!;
    await m.stop(author.name);
    const db = new Database(path.join(author.home, 'canopy.db'), { readonly: true });
    const chunks = db.prepare('SELECT chunk FROM version_chunks WHERE version_id = ?').pluck().all(loser.versionId) as string[];
    expect(chunks.length).toBe(1);
    const held = db.prepare('SELECT count(*) FROM stored_chunks WHERE hash = ? AND quarantined = 0').pluck().get(chunks[0]) as number;
    db.close();
    expect(held).toBe(1);
    expect(fs.existsSync(path.join(author.home, 'chunks', chunks[0]!.slice(0, 2), chunks[0]!))).toBe(true);
  }, 180_000);

  it('refuses a reused, expired, forged or truncated invite with a clear message', async () => {
    base = tmpDir('canopy-sync-');
    mesh = await TestMesh.create(base, ['alpha', 'beta', 'gamma']);
    const m = mesh;
    for (const n of ['alpha', 'beta', 'gamma']) await m.start(n);
    const inv = await cliJson<{ code: string }>(m.device('alpha').home, ['invite']);
    const joined = await runCli(['join', inv.code], { home: m.device('beta').home });
    expect(joined.stdout).toMatch(/Joined the mesh: 2 devices\. The running daemon is syncing with them\./);
    const reused = await runCli(['join', inv.code], { home: m.device('gamma').home });
    expect(reused.code).toBe(1);
    expect(reused.stderr).toMatch(/refused: this invite was already used/);
    await waitFor(() => m.device('alpha').daemon!.output().includes('refused pairing'), 'alpha to log the refusal');

    const truncated = await runCli(['join', inv.code.slice(0, 20)], { home: m.device('gamma').home });
    expect(truncated.stderr).toMatch(/incomplete/);
    const typo = inv.code.replace(/[a-z]/, (ch) => (ch === 'a' ? 'b' : 'a'));
    expect((await runCli(['join', typo], { home: m.device('gamma').home })).stderr).toMatch(/mistyped or damaged|incomplete|not a Canopy invite/);
    expect((await runCli(['join', 'not-an-invite!'], { home: m.device('gamma').home })).stderr).toMatch(/not an invite code/);

    const short = await cliJson<{ code: string }>(m.device('alpha').home, ['invite', '--expires', '1s']);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await runCli(['join', short.code], { home: m.device('gamma').home })).stderr).toMatch(/expired/);
    expect((await cliJson<DeviceInfo[]>(m.device('alpha').home, ['devices'])).map((d) => d.name).sort()).toEqual(['alpha', 'beta']);
  }, 120_000);

  it('removes a device everywhere: it can no longer connect or receive anything new', async () => {
    const m = await twoDevices();
    fs.writeFileSync(path.join(m.device('alpha').folder, 'before.txt'), 'shared');
    await m.converged(['alpha', 'beta']);
    const beta = (await cliJson<DeviceInfo[]>(m.device('alpha').home, ['devices'])).find((d) => d.name === 'beta')!;
    const removed = await cliJson<DeviceInfo>(m.device('alpha').home, ['device', 'remove', beta.id]);
    expect(removed.revokedAt).not.toBeNull();
    await waitFor(async () => !(await cliJson<StatusInfo>(m.device('alpha').home, ['status'])).sync?.peers.some((p) => p.name === 'beta'), 'beta to be disconnected');
    fs.writeFileSync(path.join(m.device('alpha').folder, 'after.txt'), 'not for beta');
    await new Promise((r) => setTimeout(r, 3000));
    expect(fs.existsSync(path.join(m.device('beta').folder, 'after.txt'))).toBe(false);
    await m.stop('beta');
    await m.start('beta');
    await new Promise((r) => setTimeout(r, 3000));
    expect(fs.existsSync(path.join(m.device('beta').folder, 'after.txt'))).toBe(false);
  }, 120_000);

  it('attaches a folder that already has files: identical ones are adopted, differing ones become branches', async () => {
    const m = await twoDevices((x) => {
      const a = x.device('alpha').folder;
      const b = x.device('beta').folder;
      fs.writeFileSync(path.join(a, 'same.txt'), 'identical everywhere');
      fs.writeFileSync(path.join(a, 'differs.txt'), 'alpha content');
      fs.writeFileSync(path.join(b, 'same.txt'), 'identical everywhere');
      fs.writeFileSync(path.join(b, 'differs.txt'), 'beta content, not the same');
      fs.writeFileSync(path.join(b, 'only-beta.txt'), 'beta only');
    });
    await m.converged(['alpha', 'beta']);
    const sameLog = await cliJson<VersionInfo[]>(m.device('beta').home, ['log', 'docs/same.txt']);
    expect(sameLog).toHaveLength(1);
    expect(sameLog[0]!.authorName).toBe('alpha');
    const conflicts = await cliJson<ConflictInfo[]>(m.device('beta').home, ['conflicts']);
    expect(conflicts.map((c) => c.path)).toEqual(['differs.txt']);
    expect(conflicts[0]!.heads.map((h) => h.authorName).sort()).toEqual(['alpha', 'beta']);
    expect(fs.readFileSync(path.join(m.device('alpha').folder, 'only-beta.txt'), 'utf8')).toBe('beta only');
  }, 120_000);

  it('shows what a big file still needs while its chunks arrive, with the rate and the time left', async () => {
    const size = 16 * 1024 * 1024;
    // beta downloads at 2 MiB/s: the file takes about seven seconds to arrive, long enough to
    // sample its status several times even on a loaded machine (each sample is a CLI run).
    const m = await twoDevices((mm) => writeConfig(mm.device('beta').home, { network: { download_limit: '2 MiB/s' } }));
    writeSeededFile(path.join(m.device('alpha').folder, 'big.bin'), size, 'status-progress');
    const samples: { needed: number; rateIn: number; eta: number | null }[] = [];
    await waitFor(async () => {
      const arrived = fs.existsSync(path.join(m.device('beta').folder, 'big.bin'));
      const s = (await cliJson<StatusInfo>(m.device('beta').home, ['status'])).sync;
      const needed = s?.folders.find((f) => f.folderId === 'docs')?.neededBytes ?? 0;
      if (!arrived && s && needed > 0) samples.push({ needed, rateIn: s.rateIn, eta: s.etaSeconds });
      return arrived || undefined;
    }, 'the big file on beta', 60_000);
    expect(fileDigest(path.join(m.device('beta').folder, 'big.bin'))).toBe(fileDigest(path.join(m.device('alpha').folder, 'big.bin')));
    // The figures shrink as chunks come in, not only once the file is whole, and never grow back.
    expect(samples.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...samples.map((x) => x.needed))).toBeLessThanOrEqual(size);
    expect(Math.min(...samples.map((x) => x.needed))).toBeLessThan(size / 2);
    for (let i = 1; i < samples.length; i++) expect(samples[i]?.needed).toBeLessThanOrEqual(samples[i - 1]?.needed as number);
    // While it arrives: a rate within the limit (one second of burst allowed) and the time left
    // that the rate gives for what is still needed.
    const moving = samples.filter((x) => x.rateIn > 0);
    expect(moving.length).toBeGreaterThanOrEqual(2);
    for (const x of moving) {
      expect(x.rateIn).toBeLessThan(6 * 1024 * 1024);
      expect(x.eta).toBe(Math.ceil(x.needed / x.rateIn));
    }
    expect((await cliJson<StatusInfo>(m.device('beta').home, ['status'])).sync?.folders).toEqual([{ folderId: 'docs', neededFiles: 0, neededBytes: 0 }]);
  }, 120_000);

  it('pauses and resumes syncing', async () => {
    const m = await twoDevices();
    expect((await runCli(['pause'], { home: m.device('beta').home })).code).toBe(0);
    expect((await cliJson<StatusInfo>(m.device('beta').home, ['status'])).sync).toMatchObject({ paused: true, peers: [] });
    fs.writeFileSync(path.join(m.device('alpha').folder, 'while-paused.txt'), 'later');
    await new Promise((r) => setTimeout(r, 2500));
    expect(fs.existsSync(path.join(m.device('beta').folder, 'while-paused.txt'))).toBe(false);
    expect((await runCli(['resume'], { home: m.device('beta').home })).code).toBe(0);
    await waitFor(() => fs.existsSync(path.join(m.device('beta').folder, 'while-paused.txt')), 'the file after resuming', 60_000);
  }, 120_000);
});
