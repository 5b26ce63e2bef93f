/**
 * Crash-safe small-file writes (config.toml, identity.json).
 *
 * A reader must only ever see the old file or the complete new one, never a torn write, so
 * we write a temp file in the same directory, fsync it, then rename (or hard-link, when the
 * target must not already exist) it into place and fsync the directory.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errnoCode, fromFsError, isCanopyError } from '../errors/index.js';

export interface AtomicWriteOptions {
  /** File mode of the new file (applied with fchmod, so the umask does not widen or narrow it). */
  mode?: number;
  /** Only create: if the target already exists, leave it alone and return false. */
  exclusive?: boolean;
}

/** Writes `data` to `file` atomically. Returns false only for `exclusive` when the file exists. */
export function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): boolean {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const mode = options.mode ?? 0o644;
  let fd: number | undefined;
  let tmpExists = false;
  try {
    // 'wx' so two writers never share a temp file; the mode here is narrowed by the umask,
    // which is fine for 0600 and corrected by fchmod below for everything else.
    fd = openSync(tmp, 'wx', mode);
    tmpExists = true;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    if (process.platform !== 'win32') fchmodSync(fd, mode);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;

    if (options.exclusive) {
      try {
        // link() fails with EEXIST instead of replacing, which closes the check-then-write race.
        linkSync(tmp, file);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'EEXIST') return false;
        // Filesystems without hard links (FAT, some network mounts): fall back to a checked rename.
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw err;
        if (existsSync(file)) return false;
        renameSync(tmp, file);
        tmpExists = false;
      }
    } else {
      renameSync(tmp, file);
      tmpExists = false;
    }
    fsyncDir(dir);
    return true;
  } catch (err) {
    if (isCanopyError(err)) throw err;
    throw fromFsError(err, 'writing', file);
  } finally {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing; the original error matters more */
      }
    }
    if (tmpExists) {
      try {
        unlinkSync(tmp);
      } catch {
        /* best effort */
      }
    }
  }
}

/** Makes the rename durable. Not possible on Windows (cannot open a directory), so best effort. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* best effort */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
