/**
 * The device's home directory: where its config, identity, database, chunk store and
 * daemon files live, and the lock that keeps two engines off one home.
 *
 * The lock is a file created with O_EXCL holding the owner's pid. A lock whose pid no
 * longer runs was left by a crash and is taken over; a live one gets a clear refusal
 * naming the pid, so a second daemon (or a CLI command while a daemon runs without an
 * API) never corrupts the home.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CanopyError, errnoCode } from '../errors/index.js';

export const homeFiles = (home: string) => ({
  config: path.join(home, 'config.toml'),
  identity: path.join(home, 'identity.json'),
  database: path.join(home, 'canopy.db'),
  chunks: path.join(home, 'chunks'),
  lock: path.join(home, 'lock'),
  daemon: path.join(home, 'daemon.json'),
  log: path.join(home, 'daemon.log'),
});

export interface LockInfo {
  pid: number;
  role: 'daemon' | 'cli';
  startedAt: number;
}

export interface HomeLock {
  release(): void;
}

export function acquireLock(home: string, role: LockInfo['role']): HomeLock {
  const file = homeFiles(home).lock;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, role, startedAt: Date.now() } satisfies LockInfo));
      fs.closeSync(fd);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          const holder = readLock(home);
          if (holder?.pid === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw new CanopyError('IO_ERROR', `cannot lock ${home}: ${(err as Error).message}`, undefined, { cause: err });
      const holder = readLock(home);
      if (holder && holder.pid !== process.pid && isAlive(holder.pid)) {
        const who = holder.role === 'daemon' ? 'a running Canopy daemon' : 'another canopy command';
        throw new CanopyError('HOME_LOCKED', `${home} is in use by ${who} (pid ${holder.pid}); stop it first or wait for it to finish`, { pid: holder.pid, role: holder.role });
      }
      // Stale: its owner died without cleaning up. Take it over.
      fs.rmSync(file, { force: true });
    }
  }
  throw new CanopyError('HOME_LOCKED', `could not lock ${home}: another process keeps taking the lock`);
}

export function readLock(home: string): LockInfo | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(homeFiles(home).lock, 'utf8')) as Partial<LockInfo>;
    return typeof info.pid === 'number' ? (info as LockInfo) : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

export function isInitialized(home: string): boolean {
  return fs.existsSync(homeFiles(home).identity);
}
