/**
 * Path safety for writing other devices' versions into a working copy. Owns the three
 * checks every remote path passes before the materializer touches the disk:
 * - `checkRemotePath`: is the path structurally a relative path inside the folder? (a peer
 *   is hostile until checked: `../`, absolute paths, NULs and our own temp names are refused)
 * - `checkLocalName`: can this OS and filesystem hold the name? (a valid path from a Linux
 *   device may be unrepresentable on Windows; that is a problem to report, not to mangle)
 * - `resolveInside`: is every existing parent a real directory, not a symlink? (otherwise a
 *   peer could plant `x -> /etc` and then write `x/passwd` through it)
 * The first two return a reason string (undefined = fine) so callers can record it; the
 * last one throws, because it touches the disk and its answer is only valid at that moment.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { CanopyError, errnoCode } from '../errors/index.js';
import { TEMP_PREFIX } from '../scan/ignore.js';

/** Linux NAME_MAX and PATH_MAX: the tightest common limits, so every device can hold the path. */
export const MAX_SEGMENT_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

/** Why `rel` is not a safe folder-relative path ('/' separators), or undefined when it is. */
export function checkRemotePath(rel: string): string | undefined {
  if (typeof rel !== 'string') return 'path is not a string';
  if (rel.length === 0) return 'path is empty';
  if (rel.includes('\0')) return 'path contains a NUL byte';
  if (rel.includes('\\')) return 'path contains a backslash (only "/" separates folders)';
  if (rel.startsWith('/')) return 'path is absolute';
  if (Buffer.byteLength(rel, 'utf8') > MAX_PATH_BYTES) return `path is longer than ${MAX_PATH_BYTES} bytes`;
  for (const seg of rel.split('/')) {
    if (seg === '') return 'path has an empty segment ("//" or a leading/trailing "/")';
    if (seg === '.' || seg === '..') return `path has a "${seg}" segment`;
    if (Buffer.byteLength(seg, 'utf8') > MAX_SEGMENT_BYTES) return `a name in the path is longer than ${MAX_SEGMENT_BYTES} bytes`;
    if (seg.startsWith(TEMP_PREFIX)) return `a name starts with Canopy's temp prefix "${TEMP_PREFIX}"`;
  }
  return undefined;
}

const WIN_RESERVED = /^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³])(\..*)?$/i;
const WIN_BAD_CHARS = /[<>:"|?*\u0000-\u001f]/;

/**
 * Why this platform cannot hold `rel` (a path that already passed `checkRemotePath`), or
 * undefined. Everywhere: the name must survive a UTF-8 round trip (a lone surrogate would be
 * written as U+FFFD, a different name than the version's, and the scanner would then see a
 * new file). On Windows: reserved device names, trailing dot or space, `<>:"|?*` and control
 * characters.
 */
export function checkLocalName(rel: string, platform: NodeJS.Platform = process.platform): string | undefined {
  if (Buffer.from(rel, 'utf8').toString('utf8') !== rel) return 'name is not valid UTF-8 (it contains a lone surrogate)';
  if (platform !== 'win32') return undefined;
  for (const seg of rel.split('/')) {
    if (WIN_RESERVED.test(seg)) return `"${seg}" is a reserved device name on Windows`;
    if (seg.endsWith('.') || seg.endsWith(' ')) return `"${seg}" ends with a dot or a space, which Windows drops`;
    if (WIN_BAD_CHARS.test(seg)) return `"${seg}" contains a character Windows does not allow in names (<>:"|?* or a control character)`;
  }
  return undefined;
}

/**
 * The absolute path of `rel` under `root`, after checking with lstat that every parent
 * component that exists is a real directory (not a symlink, not a file). Components that do
 * not exist yet are fine: the caller creates them (and must create them without following
 * anything). The last component itself is not checked: the caller replaces it atomically
 * and never writes through it. Throws CanopyError('BAD_PATH') when a check fails.
 *
 * The answer holds for the moment it is given; the materializer calls this right before it
 * writes, under the folder lock, so only a local process racing it could change the answer.
 */
export async function resolveInside(root: string, rel: string): Promise<string> {
  const reason = checkRemotePath(rel);
  if (reason) throw new CanopyError('BAD_PATH', `refused path ${JSON.stringify(rel)}: ${reason}`, { path: rel });
  const segs = rel.split('/');
  let cur = path.resolve(root);
  for (let i = 0; i < segs.length - 1; i++) {
    cur = path.join(cur, segs[i] as string);
    let st;
    try {
      st = await fsp.lstat(cur);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') break; // nothing below it exists either
      throw new CanopyError('BAD_PATH', `cannot check ${JSON.stringify(segs.slice(0, i + 1).join('/'))}: ${(err as Error).message}`, { path: rel }, { cause: err });
    }
    if (st.isSymbolicLink()) {
      throw new CanopyError('BAD_PATH', `refused path ${JSON.stringify(rel)}: its parent ${JSON.stringify(segs.slice(0, i + 1).join('/'))} is a symlink, and Canopy never writes through symlinks`, { path: rel });
    }
    if (!st.isDirectory()) {
      throw new CanopyError('BAD_PATH', `refused path ${JSON.stringify(rel)}: its parent ${JSON.stringify(segs.slice(0, i + 1).join('/'))} is not a directory`, { path: rel });
    }
  }
  return path.join(path.resolve(root), ...segs);
}
