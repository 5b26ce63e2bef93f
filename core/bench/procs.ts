/**
 * The real `canopy` daemon and testnet as separate processes, for benchmarks that run from
 * the build (dist/core/bench). The CLI helpers are core/testing's; the daemon here also
 * takes node flags (--cpu-prof) and a grace period.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI as BUILT_CLI, cliJson, REPO as REPO_ROOT, runCli as runCliWith, sleep, type CliResult } from '../testing/index.js';

export { BUILT_CLI, cliJson, REPO_ROOT, type CliResult };

export function runCli(args: string[], home: string): Promise<CliResult> {
  return runCliWith(args, { home });
}

export interface BenchDaemon {
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/**
 * `canopy daemon` on a free API port; resolves once it has written its daemon.json. `nodeArgs`
 * go to node itself (e.g. --cpu-prof), and so do those in CANOPY_BENCH_NODE_ARGS (e.g.
 * --trace-gc). What the daemon prints is also kept in `<home>/daemon-output.log`.
 */
export async function startDaemon(home: string, extraArgs: string[], nodeArgs: string[] = []): Promise<BenchDaemon> {
  const fromEnv = process.env.CANOPY_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...fromEnv, ...nodeArgs, BUILT_CLI, '--home', home, 'daemon', '--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  fs.mkdirSync(home, { recursive: true });
  const kept = fs.createWriteStream(path.join(home, 'daemon-output.log'), { flags: 'a' });
  child.stdout?.pipe(kept, { end: false });
  child.stderr?.pipe(kept, { end: false });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  void exited.then(() => kept.end());
  const daemon: BenchDaemon = {
    child,
    output: () => output,
    stop: async (graceMs = 30_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  const infoFile = path.join(home, 'daemon.json');
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited early (${child.exitCode}): ${output}`);
    try {
      const info = JSON.parse(fs.readFileSync(infoFile, 'utf8')) as { pid: number };
      if (info.pid === child.pid) return daemon;
    } catch {
      // not written yet, or being written
    }
    if (Date.now() > deadline) {
      await daemon.stop(1000);
      throw new Error(`daemon did not start in time: ${output}`);
    }
    await sleep(50);
  }
}

export interface BenchTestnet {
  bootstrap: string;
  stop(): Promise<void>;
}

/** `canopy testnet` on a free-ish UDP port (another is tried if it is taken). */
export async function startTestnet(): Promise<BenchTestnet> {
  let output = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const child = spawn(process.execPath, [BUILT_CLI, 'testnet', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 20_000;
    while (!output.includes('bootstrap') && child.exitCode === null && Date.now() < deadline) await sleep(50);
    if (output.includes('bootstrap')) {
      return {
        bootstrap: `127.0.0.1:${port}`,
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  throw new Error(`could not start a testnet: ${output}`);
}
