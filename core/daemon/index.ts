/**
 * `canopy daemon`: the engine, its HTTP + WebSocket API and the folder watchers, running
 * until SIGINT or SIGTERM. It writes `daemon.json` (pid, URL, token; owner-only) into the
 * home so the CLI and the web UI can find it, and removes it on a clean shutdown.
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Engine } from '../engine/index.js';
import { ApiService } from '../api/service.js';
import { SyncService } from '../sync/index.js';
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

export interface RunningDaemon {
  engine: Engine;
  api: ApiService;
  http: HttpApiServer;
  sync: SyncService;
  info: DaemonInfo;
  /** Resolves once the first full scan of every folder has finished. */
  initialScan: Promise<void>;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  port?: number | undefined;
  /** DHT bootstrap nodes ("host:port"), replacing the config's for this run. */
  bootstrap?: string[] | undefined;
  log?: (line: string) => void;
}

export async function startDaemon(home: string, opts: DaemonOptions = {}): Promise<RunningDaemon> {
  const log = opts.log ?? ((line: string) => console.log(`${new Date().toISOString()} ${line}`));
  const engine = Engine.open(home, 'daemon');
  if (opts.bootstrap?.length) engine.config.network.bootstrap = opts.bootstrap;
  const sync = new SyncService(engine);
  let http: HttpApiServer | undefined;
  let rescan: NodeJS.Timeout | undefined;
  try {
    const url = { pid: process.pid, url: '' };
    const api = new ApiService(engine, { daemon: url, watch: true, sync });
    sync.on('log', (line) => log(line));
    sync.on('peer', (p) => log(`device ${p.name} (${p.deviceId.slice(0, 8)}) ${p.online ? 'online' : 'offline'}`));
    sync.on('conflict', (c) => log(`conflict in ${c.folderId}: ${c.path} has ${c.heads} heads`));
    const token = randomBytes(24).toString('base64url');
    const ui = uiDirectory();
    http = await startHttpApi(api, { host: engine.config.api.host, port: opts.port ?? engine.config.api.port, token, fallback: ui ? staticUi(ui) : undefined });
    url.url = http.url;
    const info: DaemonInfo = { pid: process.pid, url: http.url, token, startedAt: Date.now() };
    writeFileAtomic(homeFiles(home).daemon, JSON.stringify(info), { mode: 0o600 });
    log(`canopy daemon: device ${engine.identity.deviceId} (${engine.config.device.name}), API at ${http.url}`);
    log(ui ? `canopy daemon: web UI at ${uiUrl(info)}` : 'canopy daemon: web UI not built (run `npm run build`)');

    api.subscribe((e) => {
      if (e.type === 'scan.done' && (e.report.added || e.report.changed || e.report.removed)) {
        const r = e.report;
        log(`scan ${r.folderId}: +${r.added} ~${r.changed} -${r.removed} (${r.hashedBytes} bytes hashed in ${r.seconds.toFixed(2)} s)`);
      } else if (e.type === 'problem') log(`problem in ${e.folderId}: ${e.path}: ${e.message}`);
      else if (e.type === 'watch.error') log(`watch error in ${e.folderId}: ${e.message}`);
    });

    engine.startWatching();
    sync.start();
    const initialScan = engine.scan().then(() => undefined, (err: unknown) => log(`initial scan failed: ${err instanceof Error ? err.message : String(err)}`));
    // Watchers can miss events (overflowing queues, sleeping laptops): a periodic full scan
    // is cheap thanks to the fast path and catches whatever they missed.
    rescan = setInterval(() => void engine.scan().catch((err: unknown) => log(`periodic scan failed: ${String(err)}`)), engine.config.scan.rescanInterval);
    rescan.unref();

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        clearInterval(rescan);
        await http?.close();
        await initialScan.catch(() => undefined);
        await sync.stop();
        await engine.close();
        removeDaemonInfo(home, process.pid);
      })();
      return stopping;
    };
    return { engine, api, http, sync, info, initialScan, stop };
  } catch (err) {
    clearInterval(rescan);
    await http?.close();
    await sync.stop();
    await engine.close();
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
