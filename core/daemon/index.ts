/**
 * `canopy daemon`: the engine, its HTTP + WebSocket API and the folder watchers, running
 * until SIGINT or SIGTERM. It writes `daemon.json` (pid, URL, token; owner-only) into the
 * home so the CLI and the web UI can find it, and removes it on a clean shutdown.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostDevice, type DeviceHost } from '../host/index.js';
import { startHttpApi, type HttpApiServer } from '../api/http-server.js';
import { homeFiles, isAlive } from '../home/index.js';
import { writeFileAtomic } from '../config/index.js';
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

function removeDaemonInfo(home: string, pid: number): void {
  const current = readDaemonInfo(home);
  if (!current || current.pid === pid) fs.rmSync(homeFiles(home).daemon, { force: true });
}
