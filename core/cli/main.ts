/**
 * The `canopy` command line. Each command is a thin call into `core/api` (through the
 * daemon when one runs, else directly on the home). Errors print one readable line to
 * stderr and exit non-zero; a stack trace appears only for bugs, or with CANOPY_DEBUG=1.
 */
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { isBootstrapNode, parseDuration, resolveHome } from '../config/index.js';
import { startTestnet } from '../net/testnet.js';
import { Engine } from '../engine/index.js';
import { readDaemonInfo, startDaemon, stopRunningDaemon, uiUrl } from '../daemon/index.js';
import { CanopyError } from '../errors/index.js';
import { ApiCallError } from '../api/http-client.js';
import { INVITE_MAX_EXPIRY_MS } from '../api/types.js';
import { APP_VERSION } from '../version.js';
import { withClient } from './client.js';
import { registerVersionCommands } from './version-commands.js';
import { registerJobCommands } from './job-commands.js';
import { registerPlacementCommands } from './placement-commands.js';
import { registerSettingsCommands } from './settings-commands.js';
import { electronBinary, hasDisplay } from './desktop.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The package root (dist/core/cli -> repo), where the Electron entry is built. */
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
import * as fmt from './format.js';

const out = (s: string) => process.stdout.write(`${s}\n`);
const json = (v: unknown) => out(JSON.stringify(v, null, 2));

function homeOf(cmd: Command): string {
  return resolveHome(cmd.optsWithGlobals<{ home?: string }>().home);
}

function parseLabel(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([A-Za-z0-9_.-]+)=([A-Za-z0-9_.-]+)$/.exec(value);
  if (!m) throw new CanopyError('BAD_ARGUMENT', `label "${value}" must look like key=value (letters, digits, '.', '_', '-')`);
  return { ...previous, [m[1] as string]: m[2] as string };
}

/** A FOLDER/PATH target, or a filesystem path (made absolute so the daemon can resolve it). */
function target(value: string): string {
  if (path.isAbsolute(value) || value.startsWith('.') ) return path.resolve(value);
  return value;
}

export function buildProgram(): Command {
  const program = new Command('canopy')
    .description('Keep your files alive across all of your own devices.')
    .version(APP_VERSION)
    .option('--home <dir>', 'the device home (default: $CANOPY_HOME or the platform app-data folder)')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  program.command('init')
    .description('create this device: identity, config and database')
    .option('--name <name>', 'device name (default: host name)')
    .option('--label <key=value>', 'a device label such as site=home (repeatable)', parseLabel, {})
    .option('--json', 'print JSON')
    .action(async (o: { name?: string; label: Record<string, string>; json?: boolean }, cmd: Command) => {
      const home = homeOf(cmd);
      const engine = Engine.init(home, { name: o.name, labels: o.label });
      const info = { deviceId: engine.identity.deviceId, name: engine.config.device.name, labels: engine.config.device.labels, home };
      await engine.close();
      if (o.json) json(info);
      else out(`Created device ${info.name} (${info.deviceId}) in ${home}`);
    });

  const folder = program.command('folder').description('share, list and remove folders');
  folder.command('add <path>')
    .description('share a folder (or attach a local directory to a folder the mesh has)')
    .option('--id <id>', 'folder id (default: a new random id)')
    .addOption(new Option('--mode <mode>', 'full or on-demand').choices(['full', 'on-demand']))
    .addOption(new Option('--priority <level>', 'default priority').choices(['critical', 'high', 'normal', 'low', 'expendable']))
    .addOption(new Option('--class <class>', 'data class').choices(['critical', 'sensitive', 'standard', 'public']))
    .option('--label <label>', 'display name (default: the directory name)')
    .option('--json', 'print JSON')
    .action(async (p: string, o: { id?: string; mode?: 'full' | 'on-demand'; priority?: 'normal'; class?: 'standard'; label?: string; json?: boolean }, cmd: Command) => {
      const { f, via } = await withClient(homeOf(cmd), async (c, via) => ({
        f: await c.call('folder.add', { path: path.resolve(p), id: o.id, mode: o.mode, priority: o.priority, dataClass: o.class, label: o.label }),
        via,
      }));
      if (o.json) json(f);
      else {
        // A running daemon watches and indexes the folder at once; without one, nothing does yet.
        const next = via === 'daemon' ? 'The running daemon is indexing it and will keep it in sync.' : `Run \`canopy scan ${f.id}\` or start the daemon to index it.`;
        out(`Shared ${f.path} as folder ${f.id} (${f.mode}, ${f.priority}, ${f.dataClass}). ${next}`);
      }
    });
  folder.command('list')
    .description('list the folders this device knows')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await withClient(homeOf(cmd), (c) => c.call('folder.list', {}));
      if (o.json) json(list);
      else out(fmt.folderList(list));
    });
  folder.command('remove <id>')
    .description('detach a folder from this device (files on disk are left alone)')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const f = await withClient(homeOf(cmd), (c) => c.call('folder.remove', { id }));
      if (o.json) json(f);
      else out(`Detached folder ${f.id}; its files on disk were not touched.`);
    });

  program.command('scan [folder]')
    .description('index now: one folder, or every attached folder')
    .option('--json', 'print JSON')
    .action(async (folderId: string | undefined, o: { json?: boolean }, cmd: Command) => {
      const reports = await withClient(homeOf(cmd), (c) => c.call('scan', { folder: folderId }));
      if (o.json) json(reports);
      else out(reports.length ? reports.map(fmt.scanReport).join('\n') : 'No attached folders to scan.');
    });

  program.command('status')
    .description('this device, its store and its folders')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const s = await withClient(homeOf(cmd), (c) => c.call('status', {}));
      if (o.json) json(s);
      else out(fmt.status(s));
    });

  program.command('ls <target>')
    .description('list indexed paths: FOLDER, FOLDER/PATH, or a path inside an attached folder')
    .option('--json', 'print JSON')
    .action(async (t: string, o: { json?: boolean }, cmd: Command) => {
      const entries = await withClient(homeOf(cmd), (c) => c.call('ls', { target: target(t) }));
      if (o.json) json(entries);
      else out(fmt.fileList(entries));
    });

  program.command('log <target>')
    .description('the versions of one path (FOLDER/PATH or a path inside an attached folder)')
    .option('--json', 'print JSON')
    .action(async (t: string, o: { json?: boolean }, cmd: Command) => {
      const versions = await withClient(homeOf(cmd), (c) => c.call('log', { target: target(t) }));
      if (o.json) json(versions);
      else out(fmt.versionLog(versions));
    });

  program.command('invite')
    .description('make a one-use invite code for another of your devices')
    .option('--expires <duration>', 'how long the invite stays valid', '15m')
    .option('--json', 'print JSON')
    .action(async (o: { expires: string; json?: boolean }, cmd: Command) => {
      const expiresInMs = parseDuration(o.expires);
      if (expiresInMs <= 0 || expiresInMs > INVITE_MAX_EXPIRY_MS) {
        throw new CanopyError('BAD_ARGUMENT', `an invite stays valid for more than 0 and at most ${INVITE_MAX_EXPIRY_MS / 86_400_000} days, got --expires ${o.expires}`);
      }
      const inv = await withClient(homeOf(cmd), (c) => c.call('invite.create', { expiresInMs }));
      if (o.json) {
        json(inv);
        return;
      }
      out(`Invite code (one use, valid until ${new Date(inv.expiresAt).toISOString()}):\n\n  ${inv.code}\n\n  ${inv.link}\n`);
      out(`On the new device run:  canopy join ${inv.code}`);
      if (!inv.listening) out('Note: no daemon is running here; start `canopy daemon` so the new device can reach this one.');
    });

  program.command('join <code>')
    .description('pair this device with your mesh using an invite code')
    .option('--json', 'print JSON')
    .action(async (code: string, o: { json?: boolean }, cmd: Command) => {
      const { r, via } = await withClient(homeOf(cmd), async (c, via) => ({ r: await c.call('mesh.join', { code }), via }));
      if (o.json) json(r);
      else {
        const next = via === 'daemon' ? 'The running daemon is syncing with them.' : 'Start `canopy daemon` to keep syncing.';
        out(`Joined the mesh: ${r.devices.filter((d) => !d.revokedAt).length} devices. ${next}`);
      }
    });

  program.command('devices')
    .description('the devices of your mesh')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const list = await withClient(homeOf(cmd), (c) => c.call('device.list', {}));
      if (o.json) json(list);
      else out(fmt.deviceList(list));
    });

  program.command('device').description('manage one device')
    .command('remove <id>')
    .description('revoke a device everywhere: it can no longer connect or receive anything new')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }, cmd: Command) => {
      const d = await withClient(homeOf(cmd), (c) => c.call('device.remove', { id }));
      if (o.json) json(d);
      else out(`Removed device ${d.name} (${d.id}).`);
    });

  program.command('conflicts [folder]')
    .description('paths with more than one head (edits made apart that need merging)')
    .option('--json', 'print JSON')
    .action(async (folderId: string | undefined, o: { json?: boolean }, cmd: Command) => {
      const list = await withClient(homeOf(cmd), (c) => c.call('conflicts', { folder: folderId }));
      if (o.json) json(list);
      else out(fmt.conflictList(list));
    });

  program.command('pause')
    .description('stop syncing for now (connections closed, nothing lost); `canopy resume` goes on')
    .action(async (_o: unknown, cmd: Command) => {
      await withClient(homeOf(cmd), (c) => c.call('sync.pause', {}));
      out('Sync paused.');
    });

  program.command('resume')
    .description('resume syncing after `canopy pause`')
    .action(async (_o: unknown, cmd: Command) => {
      await withClient(homeOf(cmd), (c) => c.call('sync.resume', {}));
      out('Sync resumed.');
    });

  registerPlacementCommands(program, { homeOf, target });

  program.command('testnet')
    .description('run a local DHT bootstrap node (offline LANs, tests) until SIGINT/SIGTERM')
    .option('--port <port>', 'UDP port of the first node', (v) => Number.parseInt(v, 10), 49737)
    .option('--host <host>', 'address to bind and announce', '127.0.0.1')
    .action(async (o: { port: number; host: string }) => {
      const net = await startTestnet({ port: o.port, host: o.host });
      out(`canopy testnet: bootstrap ${net.bootstrap.join(' ')}`);
      out(`Use it with: canopy daemon --bootstrap ${net.bootstrap[0]}`);
      await untilSignal();
      await net.stop();
    });

  program.command('daemon')
    .description('run the engine, its API, the folder watchers and sync until SIGINT/SIGTERM')
    .option('--port <port>', 'API port (default from config; 0 picks a free one)', (v) => Number.parseInt(v, 10))
    .option('--bootstrap <host:port>', 'DHT bootstrap node (repeatable; replaces the config\'s)', (v: string, prev: string[] = []) => [...prev, checkBootstrap(v)])
    .option('--init', 'create the device first if the home is new')
    .action(async (o: { port?: number; init?: boolean; bootstrap?: string[] }, cmd: Command) => {
      const home = homeOf(cmd);
      if (o.init) await initIfNeeded(home);
      await runDaemon(home, o.port, o.bootstrap);
    });

  program.command('stop')
    .description('shut the running daemon down cleanly, as SIGTERM does, and wait until it has')
    .action(async (_o: unknown, cmd: Command) => {
      const pid = await stopRunningDaemon(homeOf(cmd));
      out(pid === undefined ? 'No daemon is running for this home.' : `Stopped the daemon (pid ${pid}).`);
    });

  program.command('ui')
    .description('print the address of the web UI of the running daemon (token included)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const info = readDaemonInfo(homeOf(cmd));
      if (!info) throw new CanopyError('DAEMON_UNREACHABLE', 'no daemon is running for this home; start one with `canopy daemon`');
      if (o.json) json({ url: uiUrl(info) });
      else out(uiUrl(info));
    });

  program.command('start')
    .description('create the device if needed and run it: the desktop app where Electron and a display are available, else the headless daemon with its web UI')
    .option('--headless', 'always run the headless daemon')
    .option('--port <port>', 'API port', (v) => Number.parseInt(v, 10))
    .action(async (o: { port?: number; headless?: boolean }, cmd: Command) => {
      const home = homeOf(cmd);
      await initIfNeeded(home);
      const electron = o.headless ? undefined : electronBinary();
      if (electron && hasDisplay()) {
        const child = spawn(electron, [path.join(REPO_ROOT, 'dist/electron/main.js')], { stdio: 'inherit', env: { ...process.env, CANOPY_HOME: home } });
        await new Promise((resolve) => child.on('exit', resolve));
        return;
      }
      if (!o.headless) out(electron ? 'No display: running headless.' : 'No Electron binary here: running headless (open the web UI address below in a browser).');
      await runDaemon(home, o.port);
    });

  registerVersionCommands(program, { homeOf, target });
  registerJobCommands(program, homeOf);
  registerSettingsCommands(program, homeOf);
  acceptHomeAfterSubcommands(program);
  return program;
}

/**
 * Program options are read only before the subcommand, so a subcommand's own `--version ID`
 * (cat, restore) is not taken for the program's `--version`; `--home` is then declared on
 * every subcommand too, so it still works anywhere on the line.
 */
function acceptHomeAfterSubcommands(program: Command): void {
  program.enablePositionalOptions();
  const add = (cmd: Command) => {
    for (const sub of cmd.commands) {
      if (!sub.options.some((o) => o.long === '--home')) sub.option('--home <dir>', 'the device home (as before the command)');
      add(sub);
    }
  };
  add(program);
}

async function initIfNeeded(home: string): Promise<void> {
  try {
    const e = Engine.init(home);
    out(`Created device ${e.config.device.name} (${e.identity.deviceId}) in ${home}`);
    await e.close();
  } catch (err) {
    if (!(err instanceof CanopyError && err.code === 'ALREADY_INITIALIZED')) throw err;
  }
}

async function runDaemon(home: string, port: number | undefined, bootstrap?: string[]): Promise<void> {
  const d = await startDaemon(home, { port, bootstrap });
  const sig = await untilSignal();
  out(`canopy daemon: ${sig}, shutting down`);
  await d.stop();
  out('canopy daemon: stopped cleanly');
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

function checkBootstrap(v: string): string {
  if (!isBootstrapNode(v)) throw new CanopyError('BAD_ARGUMENT', `--bootstrap "${v}" must look like HOST:PORT`);
  return v;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed the usage problem (or help/version, with exit code 0).
    return err.exitCode;
  }
  if (err instanceof CanopyError || err instanceof ApiCallError) {
    process.stderr.write(`canopy: ${err.message}\n`);
    if (process.env.CANOPY_DEBUG) console.error(err);
    return 1;
  }
  process.stderr.write(`canopy: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.CANOPY_DEBUG || !(err instanceof Error)) console.error(err);
  else process.stderr.write('(run with CANOPY_DEBUG=1 for details, and please report it)\n');
  return 70;
}
