/**
 * Starting this folder's worker threads, from compiled code and from the TypeScript sources.
 */

import { Worker } from 'node:worker_threads';
import type { TransferListItem } from 'node:worker_threads';

/** The worker entry modules of this folder. */
export type WorkerEntry = 'worker' | 'tail-worker';

/**
 * Starts one worker running `entry`. Compiled code runs dist/.../<entry>.js directly. Under
 * vitest or tsx this module is the .ts source, and Node 20 cannot load .ts in a Worker;
 * `execArgv: ['--import', 'tsx']` does not help there (Node 20 does not apply those hooks
 * to a worker's entry module), so a tiny eval'd bootstrap registers tsx and then imports
 * the entry's .ts.
 */
export function startWorker(entry: WorkerEntry, workerData: unknown, transferList: readonly TransferListItem[] = []): Worker {
  const here = new URL(import.meta.url);
  const transfer = [...transferList];
  if (here.pathname.endsWith('.ts')) {
    const tsxApi = import.meta.resolve('tsx/esm/api');
    const url = new URL(`./${entry}.ts`, here).href;
    const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); });`;
    return new Worker(bootstrap, { eval: true, workerData, transferList: transfer });
  }
  return new Worker(new URL(`./${entry}.js`, here), { workerData, transferList: transfer });
}
