/**
 * Direct links with real daemons on a loopback testnet: two devices that can reach each
 * other move their session onto a direct TCP link; when that link is cut (the kernel
 * aborts the TCP connection, as a Wi-Fi drop would) the session goes on over the
 * Hyperswarm connection without the peer ever going offline; a device with direct links
 * turned off syncs over Hyperswarm alone.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusInfo } from '../api/types.js';
import { cliJson, runCli, tmpDir, waitFor } from '../testing/index.js';
import { TestMesh } from '../testing/mesh.js';

let mesh: TestMesh | undefined;
let base = '';

afterEach(async (ctx) => {
  if (process.env.CANOPY_TEST_VERBOSE || ctx.task.result?.state === 'fail') {
    for (const d of mesh?.devices ?? []) console.log(`--- ${d.name}\n${(d.daemon?.output() ?? '').split('\n').filter((l) => /direct|connection|cutting|session/i.test(l)).join('\n')}`);
  }
  await mesh?.close();
  mesh = undefined;
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

/** Sets `[network]` keys in a device's config.toml before its daemon starts. */
function networkConfig(home: string, lines: string[]): void {
  const file = path.join(home, 'config.toml');
  const toml = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, /^\[network\]$/m.test(toml) ? toml.replace(/^\[network\]$/m, `[network]\n${lines.join('\n')}`) : `${toml}\n[network]\n${lines.join('\n')}\n`);
}

async function links(home: string): Promise<Record<string, string>> {
  const s = await cliJson<StatusInfo>(home, ['status', '--json']);
  return Object.fromEntries((s.sync?.peers ?? []).map((p) => [p.name, p.link]));
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Aborts every TCP connection to or from `port` on loopback (ss -K: SOCK_DESTROY), as a dropped network would. */
function cutTcp(port: number): void {
  execFileSync('ss', ['-K', 'dst', '127.0.0.1', 'dport', '=', `:${port}`], { stdio: 'ignore' });
  execFileSync('ss', ['-K', 'src', '127.0.0.1', 'sport', '=', `:${port}`], { stdio: 'ignore' });
}

function canCutTcp(): boolean {
  try {
    execFileSync('ss', ['-K', 'dst', '127.0.0.1', 'dport', '=', ':1'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('direct links between devices', () => {
  it('moves the session onto a direct link, falls back to Hyperswarm when it is cut, and syncs with a device that has direct links off', async () => {
    base = tmpDir('canopy-direct-');
    mesh = await TestMesh.create(base, ['alpha', 'beta', 'gamma']);
    const m = mesh;
    // Fixed ports, so the test can find the link: whichever of the two dials, it goes to one of these.
    const ports = [await freePort(), await freePort()];
    networkConfig(m.device('alpha').home, [`direct_port = ${ports[0]}`]);
    networkConfig(m.device('beta').home, [`direct_port = ${ports[1]}`]);
    networkConfig(m.device('gamma').home, ['direct = false']);
    await m.share('alpha');
    for (const n of ['alpha', 'beta', 'gamma']) await m.start(n);
    await m.pair('alpha', 'beta');
    await m.pair('alpha', 'gamma');
    for (const n of ['beta', 'gamma']) await m.share(n);

    // alpha and beta both listen: their session moves onto the direct link. gamma does not: Hyperswarm.
    await waitFor(async () => {
      const l = await links(m.device('alpha').home);
      return l.beta === 'direct' && l.gamma === 'hyperswarm' ? l : undefined;
    }, 'alpha to reach beta directly and gamma over Hyperswarm', 30_000);
    expect((await links(m.device('beta').home)).alpha).toBe('direct');
    const human = await runCli(['status'], { home: m.device('alpha').home });
    expect(human.stdout).toMatch(/beta \(\w+, direct link\)/);
    expect(human.stdout).toMatch(/gamma \(\w+, over Hyperswarm\)/);

    fs.writeFileSync(path.join(m.device('alpha').folder, 'one.txt'), 'first, over the direct link\n');
    await m.converged(['alpha', 'beta', 'gamma']);

    if (!canCutTcp()) {
      console.warn('skipping the fallback half: `ss -K` cannot abort TCP connections here (needs root and CONFIG_INET_DIAG_DESTROY)');
      return;
    }
    // Watch beta's peer events: alpha must never be reported offline while the link changes.
    const before = m.device('beta').daemon?.output().length ?? 0;
    for (const port of ports) cutTcp(port);
    await waitFor(async () => ((await links(m.device('beta').home)).alpha === 'hyperswarm' ? true : undefined), 'beta to go on with alpha over Hyperswarm', 30_000);
    expect((await links(m.device('alpha').home)).beta).toBe('hyperswarm');
    const logSince = (m.device('beta').daemon?.output() ?? '').slice(before);
    expect(logSince).toMatch(/direct link to \w+ closed; going on over Hyperswarm/);
    expect(logSince).not.toMatch(/device alpha \(\w+\) offline/);

    fs.writeFileSync(path.join(m.device('beta').folder, 'two.txt'), 'second, after the direct link was cut\n');
    await m.converged(['alpha', 'beta', 'gamma']);
    expect(fs.readFileSync(path.join(m.device('alpha').folder, 'two.txt'), 'utf8')).toBe('second, after the direct link was cut\n');
  });
});
