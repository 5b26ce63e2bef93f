/**
 * The conflict flow for real: three daemons on a local testnet, the built CLI. A conflict
 * is made on two devices (each edits while the other is stopped) and settled on the third;
 * every device then shows it closed, with the files on disk right. The human-readable CLI
 * output of the flow is written to $CANOPY_TRANSCRIPT when set (the closing note).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ApiEvent, ConflictInfo, ResolveResult, VersionInfo } from '../api/types.js';
import { connectHttp, type WebSocketCtor } from '../api/http-client.js';
import { cliJson, runCli, tmpDir, waitFor } from '../testing/index.js';
import { TestMesh } from '../testing/mesh.js';

let mesh: TestMesh | undefined;
let base: string;

afterEach(async () => {
  await mesh?.close();
  mesh = undefined;
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

const transcript: string[] = [];

/** Runs a command for the transcript (human output) and returns its stdout; it must succeed. */
async function show(m: TestMesh, device: string, args: string[]): Promise<string> {
  const r = await runCli(args, { home: m.device(device).home });
  transcript.push(`${device}$ canopy ${args.map((a) => (/[\s()]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`, (r.stdout + r.stderr).trimEnd(), '');
  if (r.code !== 0) throw new Error(`canopy ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

describe('versions through the CLI and real daemons', () => {
  it('a conflict made on two devices and resolved on a third is closed on all three, files right on disk', async () => {
    base = tmpDir('canopy-versions-cli-');
    const m = (mesh = await TestMesh.create(base, ['alpha', 'beta', 'gamma']));
    fs.writeFileSync(path.join(m.device('alpha').folder, 'plan.txt'), 'version 0\n');
    await m.share('alpha');
    for (const n of ['alpha', 'beta', 'gamma']) await m.start(n);
    await m.pair('alpha', 'beta');
    await m.share('beta');
    await m.pair('alpha', 'gamma');
    await m.share('gamma');
    await m.converged(['alpha', 'beta', 'gamma']);
    const file = (d: string, rel = 'plan.txt') => path.join(m.device(d).folder, rel);
    const logOf = (d: string) => cliJson<VersionInfo[]>(m.device(d).home, ['log', 'docs/plan.txt']);

    // alpha and beta edit plan.txt while apart; gamma stays online throughout.
    await m.stop('beta');
    fs.writeFileSync(file('alpha'), 'alpha: ship on monday\n');
    await waitFor(async () => (await logOf('alpha')).length === 2, 'alpha to record its edit');
    await waitFor(async () => (await logOf('gamma')).length === 2, 'gamma to hear of alpha\'s edit');
    await m.stop('alpha');
    fs.writeFileSync(file('beta'), 'beta: ship on friday, after the review\n');
    await m.start('beta');
    await waitFor(async () => (await logOf('beta')).length >= 2, 'beta to record its edit');
    await m.start('alpha');
    await waitFor(async () => {
      const lists = await Promise.all(m.devices.map((d) => cliJson<ConflictInfo[]>(d.home, ['conflicts'])));
      return lists.every((l) => l.length === 1 && l[0]?.heads.length === 2) ? lists : undefined;
    }, 'all three devices to see the conflict', 90_000);

    transcript.push('# plan.txt was edited on alpha and on beta while they were apart; gamma settles it');
    await show(m, 'gamma', ['conflicts']);
    await show(m, 'gamma', ['log', 'docs/plan.txt']);
    await show(m, 'gamma', ['cat', 'docs/plan.txt']);
    // The other branch is not in gamma's working copy: its chunks come from the device that has them.
    const [conflict] = await cliJson<ConflictInfo[]>(m.device('gamma').home, ['conflicts']);
    const other = conflict?.heads.find((h) => !h.preferred) as ConflictInfo['heads'][number];
    const otherText = await show(m, 'gamma', ['cat', 'docs/plan.txt', '--version', other.versionId.slice(0, 12)]);
    expect(otherText).toBe(other.authorName === 'alpha' ? 'alpha: ship on monday\n' : 'beta: ship on friday, after the review\n');
    // alpha's API tells its user when the conflict closes there.
    const alphaInfo = m.device('alpha').daemon?.info as { url: string; token: string };
    const alphaApi = connectHttp({ url: alphaInfo.url, token: alphaInfo.token, WebSocket: WebSocket as unknown as WebSocketCtor });
    const events: ApiEvent[] = [];
    const unsubscribe = alphaApi.subscribe((e) => events.push(e));
    await alphaApi.call('status', {});
    const resolveOut = await runCli(['resolve', 'docs/plan.txt', '--keep-both', '--json'], { home: m.device('gamma').home });
    expect(resolveOut.code, resolveOut.stderr).toBe(0);
    const r = JSON.parse(resolveOut.stdout) as ResolveResult;
    transcript.push('gamma$ canopy resolve docs/plan.txt --keep-both --json', resolveOut.stdout.trimEnd(), '');
    expect(r.version.parents).toHaveLength(2);
    expect(r.created).toHaveLength(1);
    const copy = r.created[0] as string;
    expect(copy).toMatch(/^plan \(conflict from (alpha|beta) \d{4}-\d{2}-\d{2}\)\.txt$/);

    // Closed everywhere, and every working copy holds both branches.
    for (const d of m.devices) {
      await waitFor(async () => (await cliJson<ConflictInfo[]>(d.home, ['conflicts'])).length === 0, `${d.name} to see the conflict closed`, 90_000);
    }
    await waitFor(() => events.some((e) => e.type === 'conflict.resolved' && e.path === 'plan.txt' && e.versionId === r.version.id), 'alpha to announce the conflict closed');
    unsubscribe();
    await alphaApi.close?.();
    const tree = await m.converged(['alpha', 'beta', 'gamma'], 90_000);
    expect(Object.keys(tree).sort()).toEqual(['plan.txt', copy].sort());
    const texts = [fs.readFileSync(file('alpha'), 'utf8'), fs.readFileSync(file('alpha', copy), 'utf8')].sort();
    expect(texts).toEqual(['alpha: ship on monday\n', 'beta: ship on friday, after the review\n']);
    for (const d of m.devices) {
      const log = await logOf(d.name);
      expect(log.filter((v) => v.isHead).map((v) => v.id)).toEqual([r.version.id]);
      expect(log.find((v) => v.id === r.version.id)?.parents).toEqual(r.version.parents);
    }
    await show(m, 'alpha', ['conflicts']);
    await show(m, 'beta', ['ls', 'docs']);
    await show(m, 'alpha', ['log', 'docs/plan.txt']);

    // Restoring the first version is one more version, on every device.
    const first = (await logOf('alpha')).at(-1) as VersionInfo;
    await show(m, 'beta', ['restore', 'docs/plan.txt', '--version', first.id.slice(0, 12)]);
    try {
      for (const d of ['alpha', 'beta', 'gamma']) {
        await waitFor(() => fs.readFileSync(file(d), 'utf8') === 'version 0\n', `${d} to show the restored version`, 60_000);
      }
    } catch (err) {
      for (const d of m.devices) {
        console.log(d.name, fs.readFileSync(file(d.name), 'utf8'), (await runCli(['log', 'docs/plan.txt'], { home: d.home })).stdout, (await runCli(['status'], { home: d.home })).stdout);
        console.log(d.daemon?.output().slice(-3000));
      }
      throw err;
    }
    await show(m, 'gamma', ['cat', 'docs/plan.txt']);
    await show(m, 'gamma', ['gc', '--dry-run']);
    if (process.env.CANOPY_TRANSCRIPT) fs.writeFileSync(process.env.CANOPY_TRANSCRIPT, `${transcript.join('\n')}\n`);
  }, 300_000);
});
