/**
 * The edit commands of issue 6: `device rename|label|trust`, `folder set` and `settings`.
 * Each is a thin call into `core/api` (`device.update`, `folder.update`, `settings.get|set`).
 */
import { Option, type Command } from 'commander';
import { CanopyError } from '../errors/index.js';
import { formatDuration, formatRate } from '../config/index.js';
import type { DeviceInfo, FolderInfo, SettingsInfo } from '../api/types.js';
import { withClient } from './client.js';

const out = (s: string) => process.stdout.write(`${s}\n`);
const json = (v: unknown) => out(JSON.stringify(v, null, 2));

type HomeOf = (cmd: Command) => string;

/** The `device` or `folder` group main.ts made, or a new one. */
function group(program: Command, name: string, description: string): Command {
  return program.commands.find((c) => c.name() === name) ?? program.command(name).description(description);
}

export function registerSettingsCommands(program: Command, homeOf: HomeOf): void {
  registerDeviceEdits(group(program, 'device', 'manage one device'), homeOf);
  registerFolderSet(group(program, 'folder', 'shared folders'), homeOf);
  registerSettings(program, homeOf);
}

function deviceLine(d: DeviceInfo): string {
  const labels = Object.entries(d.labels).map(([k, v]) => `${k}=${v}`).join(', ');
  return `${d.name} (${d.id}): ${d.trust}${labels ? `, labels ${labels}` : ', no labels'}`;
}

function registerDeviceEdits(device: Command, homeOf: HomeOf): void {
  const update = (cmd: Command, params: { id: string; name?: string; labels?: Record<string, string>; trust?: 'owner' | 'storage-only' }, asJson?: boolean) =>
    withClient(homeOf(cmd), (c) => c.call('device.update', params)).then((d) => {
      if (asJson) json(d);
      else out(deviceLine(d));
    });

  device.command('rename <id> <name>')
    .description('rename a device on every device of the mesh')
    .option('--json', 'print JSON')
    .action((id: string, name: string, o: { json?: boolean }, cmd: Command) => update(cmd, { id, name }, o.json));

  device.command('label <id> [labels...]')
    .description('set labels (key=value) of a device, used by diversity rules; --remove drops one')
    .option('--remove <key...>', 'labels to drop')
    .option('--json', 'print JSON')
    .action(async (id: string, pairs: string[], o: { remove?: string[]; json?: boolean }, cmd: Command) => {
      const set = Object.fromEntries(pairs.map(parseLabel));
      if (pairs.length === 0 && !o.remove?.length) throw new CanopyError('BAD_ARGUMENT', 'give labels as key=value, or --remove key');
      await withClient(homeOf(cmd), async (c) => {
        const current = (await c.call('device.list', {})).find((d) => d.id === id || (id.length >= 4 && d.id.startsWith(id)));
        if (!current) throw new CanopyError('NOT_FOUND', `no device with id "${id}" (see \`canopy devices\`)`);
        const labels: Record<string, string> = { ...current.labels, ...set };
        for (const k of o.remove ?? []) delete labels[k];
        const d = await c.call('device.update', { id: current.id, labels });
        if (o.json) json(d);
        else out(deviceLine(d));
      });
    });

  device.command('trust <id> <level>')
    .description('set what a device may hold and do: owner, or storage-only (no sensitive or critical folders, no membership changes)')
    .option('--json', 'print JSON')
    .action((id: string, level: string, o: { json?: boolean }, cmd: Command) => {
      if (level !== 'owner' && level !== 'storage-only') throw new CanopyError('BAD_ARGUMENT', `trust is owner or storage-only, got "${level}"`);
      return update(cmd, { id, trust: level }, o.json);
    });
}

function registerFolderSet(folder: Command, homeOf: HomeOf): void {
  folder.command('set <id>')
    .description('change a folder: label, class and priority for the whole mesh, mode on this device')
    .option('--label <label>', 'the name shown for the folder')
    .addOption(new Option('--mode <mode>', 'on this device: every file, or only pinned and opened ones').choices(['full', 'on-demand']))
    .addOption(new Option('--class <class>', 'data class (which devices may hold it)').choices(['critical', 'sensitive', 'standard', 'public']))
    .addOption(new Option('--priority <priority>', 'default priority (copies kept)').choices(['critical', 'high', 'normal', 'low', 'expendable']))
    .option('--json', 'print JSON')
    .action(async (id: string, o: { label?: string; mode?: FolderInfo['mode'] & string; class?: FolderInfo['dataClass']; priority?: FolderInfo['priority']; json?: boolean }, cmd: Command) => {
      if (o.label === undefined && o.mode === undefined && o.class === undefined && o.priority === undefined) {
        throw new CanopyError('BAD_ARGUMENT', 'nothing to change: give --label, --mode, --class or --priority');
      }
      const f = await withClient(homeOf(cmd), (c) => c.call('folder.update', { id, label: o.label, mode: o.mode, dataClass: o.class, priority: o.priority }));
      if (o.json) json(f);
      else out(`${f.id} (${f.label}): ${f.dataClass}, ${f.priority}${f.mode ? `, ${f.mode} on this device` : ', not attached here'}`);
    });
}

function registerSettings(program: Command, homeOf: HomeOf): void {
  const settings = program.command('settings')
    .description('replication factors, diversity rules, job schedules and how long on-demand files stay, on this device (config.toml)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const s = await withClient(homeOf(cmd), (c) => c.call('settings.get', {}));
      if (o.json) json(s);
      else out(settingsText(s));
    });
  settings.command('set <assignments...>')
    .description('change settings as in config.toml: replication.normal=3 jobs.audit_interval=30m replication.diversity=site:2 placement.keep_recent=7d')
    .option('--json', 'print JSON')
    .action(async (assignments: string[], o: { json?: boolean }, cmd: Command) => {
      const patch = settingsPatch(assignments);
      const s = await withClient(homeOf(cmd), (c) => c.call('settings.set', patch));
      // `--json` after the assignments is taken by the parent `settings` command.
      if (o.json || cmd.optsWithGlobals<{ json?: boolean }>().json) json(s);
      else out(settingsText(s));
    });
}

/** `section.key=value` pairs as a config.toml patch; numbers stay numbers, `diversity=site:2,power:1` becomes its table array. */
export function settingsPatch(assignments: readonly string[]): SettingsPatch {
  const patch: SettingsPatch = {};
  for (const a of assignments) {
    const m = /^(replication|jobs)\.([a-z_]+)=(.*)$/.exec(a) ?? /^(placement)\.(keep_recent)=(.*)$/.exec(a);
    if (!m) throw new CanopyError('BAD_ARGUMENT', `expected replication.KEY=VALUE, jobs.KEY=VALUE or placement.keep_recent=VALUE, got "${a}"`);
    const [, section, key, raw] = m as unknown as [string, keyof SettingsPatch, string, string];
    const value = key === 'diversity' ? parseDiversity(raw) : /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
    patch[section] = { ...patch[section], [key]: value };
  }
  return patch;
}

type SettingsPatch = { replication?: Record<string, unknown>; jobs?: Record<string, unknown>; placement?: { keep_recent?: unknown } };

function parseDiversity(raw: string): { label: string; min_distinct: number }[] {
  if (raw === '') return [];
  return raw.split(',').map((rule) => {
    const [label, n] = rule.split(':');
    if (!label || !n || !/^\d+$/.test(n)) throw new CanopyError('BAD_ARGUMENT', `a diversity rule is label:count, like site:2; got "${rule}"`);
    return { label, min_distinct: Number(n) };
  });
}

function settingsText(s: SettingsInfo): string {
  const r = s.replication;
  const j = s.jobs;
  const rules = r.diversity.map((d) => `${d.label} at least ${d.minDistinct}`).join(', ') || 'none';
  const lines = [
    `Copies    critical ${r.critical}, high ${r.high}, normal ${r.normal}, low ${r.low}, expendable ${r.expendable} (default priority ${r.defaultPriority})`,
    `Diversity ${rules}`,
    `Jobs      audit every ${formatDuration(j.auditInterval)}, repair ${formatDuration(j.repairInterval)}, scrub ${formatDuration(j.scrubInterval)} at ${formatRate(j.scrubRate)}, cleanup ${formatDuration(j.cleanupInterval)}, gc ${formatDuration(j.gcInterval)}`,
    `          offline grace ${formatDuration(j.offlineGrace)}, cleanup keeps ${Math.round(j.retainedOverhead * 100)}% of extra copies`,
  ];
  if (s.placement) lines.push(`On-demand a used file stays ${s.placement.keepRecent === 0 ? 'forever' : `${formatDuration(s.placement.keepRecent)} after its last use, then cleanup frees it`}`);
  if (s.restartNeeded.length) lines.push(`Restart the daemon for ${s.restartNeeded.join(', ')} to take effect.`);
  return lines.join('\n');
}

function parseLabel(pair: string): [string, string] {
  const eq = pair.indexOf('=');
  if (eq <= 0 || eq === pair.length - 1) throw new CanopyError('BAD_ARGUMENT', `a label is key=value, got "${pair}"`);
  return [pair.slice(0, eq), pair.slice(eq + 1)];
}
