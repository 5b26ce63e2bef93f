/**
 * Helpers for integration tests: temporary homes and folders, seeded random data, and the
 * real `canopy` CLI run as a separate process (from the build in dist/, as a user runs it).
 * Nothing here replaces a Canopy module with a fake.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCipheriv, createHash } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root, found by its package.json: right from the sources and from dist/ alike. */
function findRepo(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const REPO = findRepo(path.dirname(fileURLToPath(import.meta.url)));
export const CLI = path.join(REPO, 'dist/core/cli/bin.js');

export function tmpDir(prefix = 'canopy-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of the seed): fast and repeatable. */
export function seededBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(size));
}

/** Writes `size` seeded random bytes in 16 MiB pieces, so big files need little memory. */
export function writeSeededFile(file: string, size: number, seed: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const fd = fs.openSync(file, 'w');
  try {
    const piece = 16 * 1024 * 1024;
    const zeros = Buffer.alloc(piece);
    for (let done = 0; done < size; done += piece) {
      fs.writeSync(fd, cipher.update(zeros.subarray(0, Math.min(piece, size - done))));
    }
  } finally {
    fs.closeSync(fd);
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { home?: string; env?: Record<string, string>; uid?: number; gid?: number } = {}): Promise<CliResult> {
  const full = opts.home ? ['--home', opts.home, ...args] : args;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...full], {
      env: { ...process.env, ...opts.env, CANOPY_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a CLI command that must succeed and parses its --json output. */
export async function cliJson<T>(home: string, args: string[]): Promise<T> {
  const r = await runCli([...args, '--json'], { home });
  if (r.code !== 0) throw new Error(`canopy ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface DaemonProcess {
  child: ChildProcess;
  info: { pid: number; url: string; token: string };
  output(): string;
  /** SIGTERM and wait for a clean exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export async function startDaemonProcess(home: string, extraArgs: string[] = []): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [CLI, '--home', home, 'daemon', '--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const infoFile = path.join(home, 'daemon.json');
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`daemon exited early (${child.exitCode}): ${output}`);
    if (fs.existsSync(infoFile)) {
      try {
        const info = JSON.parse(fs.readFileSync(infoFile, 'utf8')) as DaemonProcess['info'];
        if (info.pid === child.pid) {
          return {
            child, info, output: () => output,
            stop: async () => {
              child.kill('SIGTERM');
              return exited;
            },
          };
        }
      } catch {
        // being written; try again
      }
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`daemon did not start in time: ${output}`);
    }
    await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or the time runs out. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

export interface TestnetProcess {
  bootstrap: string;
  stop(): Promise<void>;
}

/** `canopy testnet` as its own process, on a free-ish port (retried if taken). */
export async function startTestnetProcess(): Promise<TestnetProcess> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const child = spawn(process.execPath, [CLI, 'testnet', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const ok = await waitFor(() => output.includes('bootstrap') || child.exitCode !== null, 'testnet to start', 20_000).then(() => output.includes('bootstrap'));
    if (ok) {
      return {
        bootstrap: `127.0.0.1:${port}`,
        stop: async () => {
          child.kill('SIGTERM');
          await new Promise((r) => (child.exitCode !== null ? r(null) : child.on('exit', r)));
        },
      };
    }
  }
  throw new Error('could not start a testnet');
}
