/**
 * The placement commands: priority, pin/unpin, replicas, quota, open and free. Each is a
 * thin call into `core/api`, like every other command.
 */
import { Option, type Command } from 'commander';
import { formatSize, parseSize } from '../config/index.js';
import { CanopyError } from '../errors/index.js';
import type { FileEntry, QuotaChange, QuotaInfo, ReplicaInfo } from '../api/types.js';
import { withClient } from './client.js';
import { table } from './format.js';

export interface CliHelpers {
  homeOf(cmd: Command): string;
  target(value: string): string;
}

const out = (s: string) => process.stdout.write(`${s}\n`);
const json = (v: unknown) => out(JSON.stringify(v, null, 2));
const PRIORITY_CHOICES = ['critical', 'high', 'normal', 'low', 'expendable', 'inherit'] as const;

function onOff(v: string): boolean {
  if (v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  throw new CanopyError('BAD_ARGUMENT', `expected on or off, got "${v}"`);
}

export function registerPlacementCommands(program: Command, h: CliHelpers): void {
  program.command('priority <path> <level>')
    .description('set how many copies a file or subtree keeps (critical, high, normal, low, expendable; inherit = the folder\'s)')
    .option('--json', 'print JSON')
    .action(async (p: string, level: string, o: { json?: boolean }, cmd: Command) => {
      if (!(PRIORITY_CHOICES as readonly string[]).includes(level)) throw new CanopyError('BAD_ARGUMENT', `level must be one of ${PRIORITY_CHOICES.join(', ')}`);
      const priority = level === 'inherit' ? null : (level as Exclude<(typeof PRIORITY_CHOICES)[number], 'inherit'>);
      const r = await withClient(h.homeOf(cmd), (c) => c.call('file.priority', { target: h.target(p), priority }));
      if (o.json) json(r);
      else out(`${r.folderId}/${r.path}: priority ${r.priority}${r.inherited ? ' (inherited)' : ''}`);
    });

  for (const [name, pinned] of [['pin', true], ['unpin', false]] as const) {
    program.command(`${name} <path>`)
      .description(pinned ? 'keep a file or subtree on this device (never evicted; fetched now in on-demand folders)' : 'stop pinning a file or subtree here')
      .option('--json', 'print JSON')
      .action(async (p: string, o: { json?: boolean }, cmd: Command) => {
        const r = await withClient(h.homeOf(cmd), (c) => c.call('file.pin', { target: h.target(p), pinned }));
        if (o.json) json(r);
        else out(`${r.folderId}/${r.path}: ${r.pinned ? 'pinned' : 'not pinned'} on this device`);
      });
  }

  program.command('replicas <path>')
    .description('per chunk and in sum: the devices that should hold a file and the verified holders')
    .option('--json', 'print JSON')
    .action(async (p: string, o: { json?: boolean }, cmd: Command) => {
      const r = await withClient(h.homeOf(cmd), (c) => c.call('file.replicas', { target: h.target(p) }));
      if (o.json) json(r);
      else out(replicaText(r));
    });

  for (const [name, command, what] of [['open', 'file.open', 'fetch an online-only file and keep it here (recently used)'], ['free', 'file.free', 'make a file online-only here once enough copies exist elsewhere']] as const) {
    program.command(`${name} <path>`)
      .description(what)
      .option('--json', 'print JSON')
      .action(async (p: string, o: { json?: boolean }, cmd: Command) => {
        const r: FileEntry = await withClient(h.homeOf(cmd), (c) => c.call(command, { target: h.target(p) }));
        if (o.json) json(r);
        else out(`${r.path}: ${r.local ? 'on this device' : 'online-only'}, ${r.replicas ?? '?'} of ${r.targetReplicas ?? '?'} copies`);
      });
  }

  program.command('quota')
    .description('show or change what this device lends to the mesh')
    .option('--max <size>', 'most bytes the chunk store may hold, e.g. "20 GiB"')
    .option('--reserved <size>', 'part of max kept for this device\'s own files')
    .option('--min-free <size>', 'stop accepting chunks when the disk has less free')
    .option('--share-excess <on|off>', 'store other devices\' chunks in the unreserved space')
    .option('--auto-evict <on|off>', 'evict unpinned chunks under pressure')
    .addOption(new Option('--strategy <name>', 'eviction strategy').choices(['lru', 'priority', 'redundant', 'hybrid']))
    .option('--dry-run', 'only say what the change would evict')
    .option('--json', 'print JSON')
    .action(async (o: { max?: string; reserved?: string; minFree?: string; shareExcess?: string; autoEvict?: string; strategy?: 'lru'; dryRun?: boolean; json?: boolean }, cmd: Command) => {
      const change = o.max !== undefined || o.reserved !== undefined || o.minFree !== undefined || o.shareExcess !== undefined || o.autoEvict !== undefined || o.strategy !== undefined;
      const home = h.homeOf(cmd);
      if (!change) {
        const q = await withClient(home, (c) => c.call('quota.get', {}));
        if (o.json) json(q);
        else out(quotaText(q));
        return;
      }
      const r = await withClient(home, (c) => c.call('quota.set', {
        maxBytes: o.max === undefined ? undefined : parseSize(o.max),
        reservedBytes: o.reserved === undefined ? undefined : parseSize(o.reserved),
        minFreeBytes: o.minFree === undefined ? undefined : parseSize(o.minFree),
        shareExcess: o.shareExcess === undefined ? undefined : onOff(o.shareExcess),
        autoEvict: o.autoEvict === undefined ? undefined : onOff(o.autoEvict),
        evictionStrategy: o.strategy,
        dryRun: o.dryRun === true,
      }));
      if (o.json) json(r);
      else out(quotaChangeText(r));
    });
}

function replicaText(r: ReplicaInfo): string {
  const short = (ids: string[]) => ids.map((i) => i.slice(0, 8)).join(',') || '-';
  const s = r.summary;
  return [
    `${r.folderId}/${r.path}: priority ${r.priority}, ${r.factor} copies wanted (minimum ${r.minimum})`,
    `${s.chunks} chunks, ${formatSize(s.bytes)}; fewest holders ${s.minHolders}; under-replicated ${s.underReplicated}, over-replicated ${s.overReplicated}, short of devices ${s.shortfall}`,
    '',
    table([['CHUNK', 'SIZE', 'DESIGNATED', 'HOLDERS'], ...r.chunks.map((c) => [c.hash.slice(0, 12), formatSize(c.size), short(c.designated), short(c.holders)])]),
  ].join('\n');
}

function quotaText(q: QuotaInfo): string {
  const u = q.usage;
  return [
    `Quota    ${formatSize(q.maxBytes)} (reserved ${formatSize(q.reservedBytes)}, min free ${formatSize(q.minFreeBytes)}), share excess ${q.shareExcess ? 'on' : 'off'}, auto-evict ${q.autoEvict ? 'on' : 'off'} (${q.evictionStrategy})`,
    `Used     ${formatSize(u.totalBytes)}: own ${formatSize(u.ownBytes)}, replicas ${formatSize(u.replicaBytes)}, cache ${formatSize(u.cacheBytes)}, pinned ${formatSize(u.pinnedBytes)} (history only: ${formatSize(u.historyBytes)})`,
    `Disk     ${formatSize(q.diskFreeBytes)} free${q.full ? '; FULL: placement sends new chunks elsewhere' : ''}`,
  ].join('\n');
}

function quotaChangeText(r: QuotaChange): string {
  const e = r.evict;
  const verb = r.dryRun ? 'would free' : 'frees';
  return [
    quotaText(r.quota),
    `Eviction to ${formatSize(e.targetBytes)} ${verb} ${formatSize(e.freesBytes)} (${formatSize(e.freesUnpinnedCacheBytes)} of it cache)${e.reason ? `; ${e.reason}` : ''}`,
    r.dryRun ? '(dry run: nothing changed)' : '',
  ].filter((l) => l !== '').join('\n');
}
