/**
 * The peer cap with real daemons on a loopback testnet: hub keeps only its two nearest
 * devices (by labels) connected, still gets a file made on the far device (metadata relayed
 * by a near device, chunks from a near holder), and takes a restarted near device back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceInfo, StatusInfo } from '../api/types.js';
import { cliJson, tmpDir, waitFor, writeSeededFile } from '../testing/index.js';
import { fileDigest, TestMesh } from '../testing/mesh.js';

let mesh: TestMesh | undefined;
let base = '';

afterEach(async (ctx) => {
  // On failure (or with CANOPY_TEST_VERBOSE), hub's peer lines say what it decided.
  const hub = mesh?.devices.find((d) => d.name === 'hub')?.daemon?.output() ?? '';
  if (process.env.CANOPY_TEST_VERBOSE || ctx.task.result?.state === 'fail') {
    console.log(hub.split('\n').filter((l) => /peer cap|connection|pulled|sync of folder/.test(l)).join('\n'));
  }
  await mesh?.close();
  mesh = undefined;
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

/** Sets a device's labels (and optionally its peer cap) in its config.toml, before its daemon starts. */
function configure(home: string, labels: Record<string, string>, maxPeers?: number): void {
  const file = path.join(home, 'config.toml');
  const toml = fs.readFileSync(file, 'utf8').split('\n').filter((l) => !l.startsWith('labels =')).join('\n');
  const labelToml = `labels = { ${Object.entries(labels).map(([k, v]) => `${k} = "${v}"`).join(', ')} }`;
  let out = toml.replace(/^\[device\]$/m, `[device]\n${labelToml}`);
  if (maxPeers !== undefined) out = out.replace(/^\[network\]$/m, `[network]\nmax_peers = ${maxPeers}`);
  fs.writeFileSync(file, out);
}

async function peersOf(home: string): Promise<string[]> {
  const s = await cliJson<StatusInfo>(home, ['status', '--json']);
  return (s.sync?.peers ?? []).map((p) => p.name).sort();
}

describe('peer cap (network.max_peers)', () => {
  it('keeps the nearest devices, syncs a far device\'s file through them, and takes a restarted near device back', async () => {
    base = tmpDir('canopy-peers-');
    const names = ['hub', 'near1', 'near2', 'far'];
    mesh = await TestMesh.create(base, names);
    const m = mesh;
    configure(m.device('hub').home, { site: 'home', net: 'fibre' }, 2);
    configure(m.device('near1').home, { site: 'home', net: 'fibre' });
    configure(m.device('near2').home, { site: 'home' });
    configure(m.device('far').home, { site: 'office' });

    await m.share('hub');
    for (const n of names) await m.start(n);
    await m.pair('hub', 'near1');
    await m.pair('hub', 'near2');
    // far is invited by near1: hub learns of it only through the relayed "device add" entry.
    await m.pair('near1', 'far');
    for (const n of ['near1', 'near2', 'far']) await m.share(n);
    for (const d of m.devices) {
      await waitFor(async () => (await cliJson<DeviceInfo[]>(d.home, ['devices'])).length === 4, `${d.name} to know all four devices`, 60_000);
    }

    // far dials hub (it finds it on the mesh topic); hub, over its cap, drops it: the nearest two stay.
    const hubLog = () => m.device('hub').daemon?.output() ?? '';
    await waitFor(() => hubLog().includes('dropping the farthest device far'), 'hub to drop far over its cap', 60_000);
    await waitFor(async () => (await peersOf(m.device('hub').home)).join() === 'near1,near2', 'hub to be connected to near1 and near2', 60_000);
    expect(hubLog()).not.toMatch(/dropping the farthest device near/);
    // The others have no cap: far is connected to the near devices.
    await waitFor(async () => (await peersOf(m.device('far').home)).join() === 'near1,near2', 'far to be connected to near1 and near2', 60_000);

    // A file made on far reaches hub: metadata relayed by a near device, bytes from a near holder.
    writeSeededFile(path.join(m.device('far').folder, 'from-far.bin'), 3 * 1024 * 1024 + 17, 'far');
    const want = fileDigest(path.join(m.device('far').folder, 'from-far.bin'));
    const atHub = path.join(m.device('hub').folder, 'from-far.bin');
    await waitFor(() => fs.existsSync(atHub) && fileDigest(atHub) === want, 'from-far.bin to reach hub', 90_000);
    // If hub asked before a near device had the bytes, it let far in above its cap for them
    // (the exception for chunks only dropped devices hold); either way the cap holds again after.
    await waitFor(async () => (await peersOf(m.device('hub').home)).join() === 'near1,near2', 'hub back to its nearest two after the file arrived', 60_000);

    // near2 restarts: hub takes it back, and ends with the nearest two again.
    await m.stop('near2');
    await waitFor(async () => !(await peersOf(m.device('hub').home)).includes('near2'), 'hub to notice near2 gone', 60_000);
    await m.start('near2');
    await waitFor(async () => (await peersOf(m.device('hub').home)).join() === 'near1,near2', 'hub to reconnect near2 and keep the nearest two', 90_000);
  }, 360_000);
});
