/**
 * A hash worker's helper thread (split.ts): chunks the second half of big files, one at a
 * time, and answers on the port it was given. Every failure is an answer, so the worker
 * never waits on it (it never waits anyway: it chunks on alone).
 */

import { workerData } from 'node:worker_threads';

import { chunkFileSync } from './file-chunker.js';
import type { TailAnswer, TailJob, TailWorkerInit } from './split.js';

const { port } = workerData as TailWorkerInit;
port.on('message', (job: TailJob) => {
  let answer: TailAnswer;
  try {
    const r = chunkFileSync(job.path, job.params, undefined, undefined, 0, { role: 'tail', from: job.from, expect: job.expect });
    answer = { id: job.id, ok: true, chunks: r.chunks };
  } catch (err) {
    answer = { id: job.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(answer);
});
