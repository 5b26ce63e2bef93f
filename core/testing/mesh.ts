/**
 * Test meshes: several real devices (separate daemon processes, real homes and folders)
 * on a local testnet, paired with real invite codes through the CLI.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { cliJson, runCli, startDaemonProcess, startTestnetProcess, waitFor, type DaemonProcess, type TestnetProcess } from './index.js';

export interface TestDevice {
  name: string;
  home: string;
  folder: string;
  daemon: DaemonProcess | undefined;
}

export class TestMesh {
  readonly devices: TestDevice[] = [];
  private constructor(readonly base: string, readonly testnet: TestnetProcess) {}

  static async create(base: string, names: string[]): Promise<TestMesh> {
    const mesh = new TestMesh(base, await startTestnetProcess());
    for (const name of names) {
      const home = path.join(base, `${name}-home`);
      const folder = path.join(base, `${name}-files`);
      fs.mkdirSync(folder, { recursive: true });
      const r = await runCli(['init', '--name', name], { home });
      if (r.code !== 0) throw new Error(r.stderr);
      mesh.devices.push({ name, home, folder, daemon: undefined });
    }
    return mesh;
  }

  device(name: string): TestDevice {
    const d = this.devices.find((x) => x.name === name);
    if (!d) throw new Error(`no device ${name}`);
    return d;
  }

  async start(name: string): Promise<void> {
    const d = this.device(name);
    if (d.daemon && d.daemon.child.exitCode === null) return;
    d.daemon = await startDaemonProcess(d.home, ['--bootstrap', this.testnet.bootstrap]);
  }

  async stop(name: string): Promise<void> {
    const d = this.device(name);
    if (d.daemon && d.daemon.child.exitCode === null) await d.daemon.stop();
    d.daemon = undefined;
  }

  /** `joiner` pairs through an invite made by `inviter` (both daemons running). */
  async pair(inviter: string, joiner: string): Promise<void> {
    const inv = await cliJson<{ code: string }>(this.device(inviter).home, ['invite', '--expires', '10m']);
    await cliJson(this.device(joiner).home, ['join', inv.code]);
  }

  async share(name: string, folderId = 'docs'): Promise<void> {
    const d = this.device(name);
    await cliJson(d.home, ['folder', 'add', d.folder, '--id', folderId]);
  }

  /** Waits until every listed device's folder holds exactly the same files as `from`'s. */
  async converged(names: string[], timeoutMs = 60_000): Promise<Record<string, string>> {
    return waitFor(() => {
      const trees = names.map((n) => treeDigest(this.device(n).folder));
      return trees.every((t) => JSON.stringify(t) === JSON.stringify(trees[0])) ? (trees[0] as Record<string, string>) : undefined;
    }, `folders of ${names.join(', ')} to converge`, timeoutMs);
  }

  async close(): Promise<void> {
    for (const d of this.devices) if (d.daemon && d.daemon.child.exitCode === null) await d.daemon.stop();
    await this.testnet.stop();
  }
}

/** Relative path -> content digest (or 'dir' / 'link:target') of everything under `root`. */
export function treeDigest(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, r);
      const st = fs.lstatSync(abs);
      if (st.isSymbolicLink()) out[r] = `link:${fs.readlinkSync(abs)}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        walk(r);
      } else out[r] = fileDigest(abs);
    }
  };
  walk('');
  return out;
}

export function fileDigest(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex').slice(0, 16);
}
