/**
 * The real `canopy` CLI, daemon and testnet as separate processes, for benchmarks that run
 * from the build (dist/core/bench). Same behaviour as core/testing's helpers, whose paths
 * are relative to the source tree (REPO there is `dist/` when run from the build, so its
 * CLI path does not exist); here the repository is found by its package.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sleep } from '../testing/index.js';

function findRepo(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const REPO_ROOT = findRepo(path.dirname(fileURLToPath(import.meta.url)));
export const BUILT_CLI = path.join(REPO_ROOT, 'dist/core/cli/bin.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], home: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUILT_CLI, '--home', home, ...args], { env: { ...process.env, CANOPY_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A command that must succeed, its --json output parsed. */
export async function cliJson<T>(home: string, args: string[]): Promise<T> {
  const r = await runCli([...args, '--json'], home);
  if (r.code !== 0) throw new Error(`canopy ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface BenchDaemon {
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/** `canopy daemon` on a free API port; resolves once it has written its daemon.json. `nodeArgs` go to node itself (e.g. --cpu-prof). */
export async function startDaemon(home: string, extraArgs: string[], nodeArgs: string[] = []): Promise<BenchDaemon> {
  const child = spawn(process.execPath, [...nodeArgs, BUILT_CLI, '--home', home, 'daemon', '--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
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
