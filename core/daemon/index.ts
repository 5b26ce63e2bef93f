/**
 * `canopy daemon`: the engine, its HTTP + WebSocket API and the folder watchers, running
 * until SIGINT or SIGTERM. It writes `daemon.json` (pid, URL, token; owner-only) into the
 * home so the CLI and the web UI can find it, and removes it on a clean shutdown.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostDevice, type DeviceHost } from '../host/index.js';
import { startHttpApi, type HttpApiServer } from '../api/http-server.js';
import { connectHttp } from '../api/http-client.js';
import { homeFiles, isAlive } from '../home/index.js';
import { writeFileAtomic } from '../config/index.js';
import { CanopyError, errnoCode } from '../errors/index.js';
import { staticUi, uiDirectory } from './static-ui.js';

export interface DaemonInfo {
  pid: number;
  url: string;
  token: string;
  startedAt: number;
}

export interface RunningDaemon extends DeviceHost {
  http: HttpApiServer;
  info: DaemonInfo;
}

export interface DaemonOptions {
  port?: number | undefined;
  /** DHT bootstrap nodes ("host:port"), replacing the config's for this run. */
  bootstrap?: string[] | undefined;
  log?: (line: string) => void;
}

export async function startDaemon(home: string, opts: DaemonOptions = {}): Promise<RunningDaemon> {
  const log = opts.log ?? ((line: string) => console.log(`${new Date().toISOString()} ${line}`));
  const where = { pid: process.pid, url: '' };
  const host = hostDevice(home, { bootstrap: opts.bootstrap, daemon: where, log });
  const { engine } = host;
  let http: HttpApiServer | undefined;
  try {
    const token = randomBytes(24).toString('base64url');
    const ui = uiDirectory();
    http = await startHttpApi(host.api, { host: engine.config.api.host, port: opts.port ?? engine.config.api.port, token, fallback: ui ? staticUi(ui) : undefined });
    where.url = http.url;
    const info: DaemonInfo = { pid: process.pid, url: http.url, token, startedAt: Date.now() };
    writeFileAtomic(homeFiles(home).daemon, JSON.stringify(info), { mode: 0o600 });
    log(`canopy daemon: device ${engine.identity.deviceId} (${engine.config.device.name}), API at ${http.url}`);
    log(ui ? `canopy daemon: web UI at ${uiUrl(info)}` : 'canopy daemon: web UI not built (run `npm run build`)');
    const server = http;
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        await server.close();
        await host.stop();
        removeDaemonInfo(home, process.pid);
      })();
      return stopping;
    };
    return { ...host, http: server, info, stop };
  } catch (err) {
    await http?.close();
    await host.stop();
    throw err;
  }
}

/** The address a browser opens to manage this device (the token rides in the URL once). */
export function uiUrl(info: Pick<DaemonInfo, 'url' | 'token'>): string {
  return `${info.url}/?token=${encodeURIComponent(info.token)}`;
}

/** The running daemon of a home, if there is one whose process is alive. */
export function readDaemonInfo(home: string): DaemonInfo | undefined {
  let info: Partial<DaemonInfo>;
  try {
    info = JSON.parse(fs.readFileSync(homeFiles(home).daemon, 'utf8')) as Partial<DaemonInfo>;
  } catch {
    return undefined;
  }
  if (typeof info.pid !== 'number' || typeof info.url !== 'string' || typeof info.token !== 'string') return undefined;
  return isAlive(info.pid) ? (info as DaemonInfo) : undefined;
}

/**
 * Asks the home's running daemon to shut down as SIGTERM does (open writes finished, peers
 * told, daemon.json removed) and waits for its process to end. Returns its pid, or
 * undefined when none was running. Throws DAEMON_UNREACHABLE if it is still running after
 * `timeoutMs`: a big file being flushed can take a while (killing it would lose nothing,
 * every write being atomic, but that is the user's call).
 */
export async function stopRunningDaemon(home: string, timeoutMs = 60_000): Promise<number | undefined> {
  const info = readDaemonInfo(home);
  if (!info) return undefined;
  await confirmDaemonProcess(info);
  try {
    process.kill(info.pid, 'SIGTERM');
  } catch (err) {
    if (errnoCode(err) === 'ESRCH') return info.pid; // ended between the read and the signal
    throw new CanopyError('DAEMON_UNREACHABLE', `cannot signal the daemon (pid ${info.pid}): ${err instanceof Error ? err.message : String(err)}`);
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(info.pid)) {
    if (Date.now() > deadline) {
      throw new CanopyError('DAEMON_UNREACHABLE', `the daemon (pid ${info.pid}) is still shutting down after ${Math.round(timeoutMs / 1000)} s; see its log, or run \`canopy stop\` again`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return info.pid;
}

/**
 * Makes sure the pid in daemon.json is still the daemon's before it is signalled: after a
 * crash the file stays behind, and its pid may since belong to another of the user's
 * programs. The daemon must answer on its API, with its token, and name that pid.
 */
async function confirmDaemonProcess(info: DaemonInfo): Promise<void> {
  const client = connectHttp({ url: info.url, token: info.token });
  // Unreachable, refused or answering for another process: all mean "not this daemon".
  const pid = await client.call('status', {}).then((s) => s.daemon?.pid, () => undefined);
  await client.close?.();
  if (pid !== info.pid) {
    throw new CanopyError('DAEMON_UNREACHABLE', `daemon.json names pid ${info.pid}, but no daemon with that pid answers at ${info.url}: it may have crashed, and pid ${info.pid} was not signalled`);
  }
}

function removeDaemonInfo(home: string, pid: number): void {
  const current = readDaemonInfo(home);
  if (!current || current.pid === pid) fs.rmSync(homeFiles(home).daemon, { force: true });
}
