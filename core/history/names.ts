/**
 * Names of keep-both copies: `report (conflict from laptop 2026-11-21).txt`, beside the
 * original, so a person sees at once where the other branch came from and when.
 */

/** Characters no file name may carry on some system Canopy syncs to (and the path separator). */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[/\\:*?"<>|\u0000-\u001f\u007f]/g;

export function conflictCopyPath(path: string, deviceName: string, createdAt: number): string {
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash + 1);
  const base = path.slice(slash + 1);
  const dot = base.lastIndexOf('.');
  // ".bashrc" has no extension; "a.tar.gz" keeps only ".gz" (what editors and file managers show).
  const [stem, ext] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, ''];
  const device = deviceName.replace(UNSAFE, '_').trim().slice(0, 60) || 'another device';
  const day = new Date(createdAt).toISOString().slice(0, 10);
  const tag = ` (conflict from ${device} ${day})`;
  // Keep the name within 255 bytes by shortening the stem, never the tag or extension.
  const room = 255 - Buffer.byteLength(tag + ext, 'utf8');
  return `${dir}${truncateUtf8(stem, room)}${tag}${ext}`;
}

function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch, 'utf8') > maxBytes) break;
    out += ch;
  }
  return out;
}
