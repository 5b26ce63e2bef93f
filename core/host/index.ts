/**
 * Hosting one device's engine for as long as a process runs it: the engine, sync, the API
 * over them, folder watchers and the periodic rescan. The headless daemon puts HTTP in
 * front of it; the desktop app puts Electron IPC in front of it. Both get exactly this.
 */
import { Engine } from '../engine/index.js';
import { ApiService } from '../api/service.js';
import { SyncService } from '../sync/index.js';
import { Jobs } from '../jobs/index.js';
import { createPlacementView } from '../placement/index.js';
import { tuneHeapForTransfers } from './heap.js';

export interface HostOptions {
  /** DHT bootstrap nodes ("host:port"), replacing the config's for this run. */
  bootstrap?: string[] | undefined;
  /** Filled in by the daemon once its HTTP server listens, so `status` can say where. */
  daemon?: { pid: number; url: string } | undefined;
  log: (line: string) => void;
}

export interface DeviceHost {
  engine: Engine;
  sync: SyncService;
  api: ApiService;
  jobs: Jobs;
  /** Resolves once the first full scan of every folder has finished. */
  initialScan: Promise<void>;
  stop(): Promise<void>;
}

export function hostDevice(home: string, opts: HostOptions): DeviceHost {
  const log = opts.log;
  tuneHeapForTransfers();
  const engine = Engine.open(home, 'daemon');
  if (opts.bootstrap?.length) engine.config.network.bootstrap = opts.bootstrap;
  const sync = new SyncService(engine);
  const connected = () => sync.status().peers.map((p) => p.deviceId);
  const jobs = new Jobs(engine, { placement: () => createPlacementView(engine, { online: connected }), sync, log: (line) => log(`jobs: ${line}`) });
  const api = new ApiService(engine, { daemon: opts.daemon, watch: true, sync, jobs });
  sync.on('log', (line) => log(line));
  sync.on('peer', (p) => log(`device ${p.name} (${p.deviceId.slice(0, 8)}) ${p.online ? 'online' : 'offline'}`));
  sync.on('conflict', (c) => log(`conflict in ${c.folderId}: ${c.path} has ${c.heads} heads`));
  api.subscribe((e) => {
    if (e.type === 'scan.done' && (e.report.added || e.report.changed || e.report.removed)) {
      const r = e.report;
      log(`scan ${r.folderId}: +${r.added} ~${r.changed} -${r.removed} (${r.hashedBytes} bytes hashed in ${r.seconds.toFixed(2)} s)`);
    } else if (e.type === 'problem') log(`problem in ${e.folderId}: ${e.path}: ${e.message}`);
    else if (e.type === 'watch.error') log(`watch error in ${e.folderId}: ${e.message}`);
  });

  engine.startWatching();
  sync.start();
  jobs.startSchedule(() => new Set(connected()));
  const initialScan = engine.scan().then(() => undefined, (err: unknown) => log(`initial scan failed: ${describe(err)}`));
  // Watchers can miss events (overflowing queues, sleeping laptops): a periodic full scan
  // is cheap thanks to the fast path and catches whatever they missed.
  const rescan = setInterval(() => void engine.scan().catch((err: unknown) => log(`periodic scan failed: ${describe(err)}`)), engine.config.scan.rescanInterval);
  rescan.unref();
  // History past retention goes on the config's schedule (`canopy gc` runs it now).
  const gc = setInterval(() => void api.call('gc', {}).then(
    (r) => log(`gc: ${r.tombstonesRemoved} tombstone(s), ${r.versionsRemoved} version(s), ${r.chunksRemoved} chunk(s) (${r.bytesFreed} bytes) removed${r.emergency ? ' in emergency mode' : ''}`),
    (err: unknown) => log(`gc failed: ${describe(err)}`)), Math.min(engine.config.jobs.gcInterval, 2 ** 31 - 1));
  gc.unref();

  let stopping: Promise<void> | undefined;
  return {
    engine, sync, api, jobs, initialScan,
    stop() {
      stopping ??= (async () => {
        clearInterval(rescan);
        clearInterval(gc);
        await initialScan.catch(() => undefined);
        await jobs.stop();
        await sync.stop();
        await engine.close();
      })();
      return stopping;
    },
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
