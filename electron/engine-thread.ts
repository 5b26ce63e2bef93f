/**
 * The desktop app's engine thread: hosts this device (engine, sync, watchers, rescans, the
 * same hosting as `canopy daemon`) and serves its API to the main process over the
 * worker's port (engine-link.ts). The main process only relays.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { hostDevice } from '../core/host/index.js';
import { serveApi, type EngineThreadData, type FromEngine, type PortLike, type ToEngine } from './engine-link.js';

function start(port: PortLike<ToEngine, FromEngine>, data: EngineThreadData): void {
  const log = (line: string) => port.postMessage({ type: 'log', line });
  let host;
  try {
    host = hostDevice(data.home, { log, bootstrap: data.bootstrap });
  } catch (err) {
    port.postMessage({ type: 'fatal', message: err instanceof Error ? err.message : String(err) });
    return;
  }
  const h = host;
  serveApi(h.api, port, () => h.stop());
}

if (parentPort) start(parentPort as unknown as PortLike<ToEngine, FromEngine>, workerData as EngineThreadData);
