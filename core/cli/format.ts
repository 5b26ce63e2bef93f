/** Human-readable renderings of API results for the terminal (the --json forms are the API's own). */
import { formatSize } from '../config/index.js';
import type { ConflictInfo, DeviceInfo, FileEntry, FolderInfo, ScanReport, StatusInfo, VersionInfo } from '../api/types.js';

export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

const when = (ms: number | null) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : 'never');

export function folderList(folders: FolderInfo[]): string {
  if (folders.length === 0) return 'No folders yet. Share one with `canopy folder add PATH`.';
  return table([
    ['ID', 'LABEL', 'MODE', 'PRIORITY', 'CLASS', 'FILES', 'SIZE', 'LAST SCAN', 'PATH'],
    ...folders.map((f) => [f.id, f.label, f.mode ?? '-', f.priority, f.dataClass, String(f.files), formatSize(f.bytes), when(f.lastScanAt), f.path ?? '(not attached here)']),
  ]);
}

export function scanReport(r: ScanReport): string {
  const lines = [
    `${r.folderId}: ${r.files} files, ${formatSize(r.bytes)}; hashed ${r.hashedFiles} files (${formatSize(r.hashedBytes)}) in ${r.seconds.toFixed(2)} s, ${r.mibPerSecond.toFixed(1)} MiB/s`,
    `  added ${r.added}, changed ${r.changed}, removed ${r.removed}, unchanged ${r.unchanged}${r.problems.length ? `, ${r.problems.length} problem(s)` : ''}`,
  ];
  for (const p of r.problems) lines.push(`  problem: ${p.path}: ${p.message}`);
  return lines.join('\n');
}

export function status(s: StatusInfo): string {
  const labels = Object.entries(s.device.labels).map(([k, v]) => `${k}=${v}`).join(', ');
  return [
    `Device   ${s.device.name} (${s.device.id})${labels ? `  [${labels}]` : ''}`,
    `Home     ${s.home}`,
    `Engine   ${s.daemon ? `daemon pid ${s.daemon.pid}, API ${s.daemon.url}` : 'not running (read directly from the home)'}`,
    `Store    ${s.store.chunks} chunks, ${formatSize(s.store.bytes)} of ${formatSize(s.store.maxBytes)}; disk free ${formatSize(s.store.diskFreeBytes)}${s.store.quarantined ? `; ${s.store.quarantined} quarantined` : ''}`,
    `History  ${s.versions} versions, log at seq ${s.logSeq}`,
    ...syncLines(s),
    ...healthLines(s),
    '',
    folderList(s.folders),
  ].join('\n');
}

/** The last audit's figures (`canopy audit` or the schedule), when one has run. */
function healthLines(s: StatusInfo): string[] {
  const h = s.health;
  if (!h) return [];
  const full = h.devices.filter((d) => d.full).map((d) => d.name);
  return [
    `Health   ${h.chunks} chunks: ${h.underReplicated} under-replicated, ${h.overReplicated} over, ${h.misplaced} misplaced, ${h.shortfall} short of devices; ` +
      `repair queue ${h.repairQueue} (audit ${new Date(h.computedAt).toISOString()})${full.length ? `; full: ${full.join(', ')}` : ''}`,
  ];
}

export function fileList(entries: FileEntry[]): string {
  if (entries.length === 0) return '(empty)';
  return table([
    ['PATH', 'KIND', 'SIZE', 'HEAD', 'CHUNKS', 'STATE', 'PRIORITY', 'HERE', 'COPIES'],
    ...entries.map((e) => [
      e.path, e.kind, e.kind === 'file' ? formatSize(e.size) : '-', e.headVersion.slice(0, 12) + (e.heads > 1 ? ` (+${e.heads - 1} branch)` : ''), String(e.chunks), e.localState,
      e.priority + (e.pinned ? ' pinned' : ''), e.local ? 'yes' : 'online-only', e.replicas === null ? '-' : `${e.replicas}/${e.targetReplicas ?? '?'}`,
    ]),
  ]);
}

export function versionLog(versions: VersionInfo[]): string {
  return table([
    ['VERSION', 'STATE', 'KIND', 'SIZE', 'AUTHOR', 'CREATED', 'PARENTS'],
    ...versions.map((v) => [
      v.id.slice(0, 12) + (v.isHead ? '*' : ''), v.state, v.kind, v.kind === 'file' ? formatSize(v.size) : '-',
      v.authorName ?? v.author.slice(0, 8), when(v.createdAt), v.parents.map((p) => p.slice(0, 12)).join(',') || '-',
    ]),
  ]);
}

export function deviceList(devices: DeviceInfo[]): string {
  return table([
    ['ID', 'NAME', 'STATE', 'LAST SEEN', 'TRUST', 'LABELS'],
    ...devices.map((d) => [
      d.id.slice(0, 12), d.name + (d.isLocal ? ' (this device)' : ''), d.revokedAt ? 'removed' : d.online ? 'online' : 'offline',
      d.isLocal ? 'now' : when(d.lastSeen), d.trust, Object.entries(d.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
    ]),
  ]);
}

export function conflictList(conflicts: ConflictInfo[]): string {
  if (conflicts.length === 0) return 'No conflicts.';
  const lines: string[] = [];
  for (const c of conflicts) {
    lines.push(`${c.folderId}/${c.path}: ${c.heads.length} heads`);
    for (const h of c.heads) {
      lines.push(`  ${h.preferred ? '*' : ' '} ${h.versionId.slice(0, 12)}  ${h.kind === 'tombstone' ? 'deleted' : formatSize(h.size)}  by ${h.authorName ?? h.author.slice(0, 8)}  ${when(h.createdAt)}  ${h.state}`);
    }
  }
  lines.push('(* = the head shown in the working copy)');
  return lines.join('\n');
}

function syncLines(s: StatusInfo): string[] {
  if (!s.sync) return [];
  const y = s.sync;
  const lines = [`Sync     ${y.paused ? 'paused (canopy resume)' : y.meshed ? (y.peers.length ? `${y.peers.length} ${y.peers.length === 1 ? 'device' : 'devices'} connected` : 'no device connected') : 'not paired yet (canopy invite / canopy join)'}${y.rateIn ? `, receiving ${formatSize(y.rateIn)}/s` : ''}`];
  for (const f of y.folders) {
    if (f.neededFiles > 0) lines.push(`         ${f.folderId}: needs ${f.neededFiles} file(s), ${formatSize(f.neededBytes)}${y.etaSeconds ? `, about ${y.etaSeconds} s left` : ''}`);
  }
  for (const p of y.peers) lines.push(`         ${p.name} (${p.deviceId.slice(0, 8)}, ${p.link === 'direct' ? 'direct link' : 'over Hyperswarm'}): in ${formatSize(p.bytesIn)}, out ${formatSize(p.bytesOut)}`);
  return lines;
}
