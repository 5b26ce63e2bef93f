/**
 * The heap tuning (host/heap.ts) reaches V8 in a running process. The workload is a host's
 * while it moves chunks: 1 MiB Buffers that outlive scavenges, little else allocated. There
 * V8 on its own lets the old generation grow to barely more than the live heap (so every
 * few dozen MiB of chunks cost a full collection); tuned, to four times it. V8's own trace
 * (--trace-gc-verbose) prints the factor it applied at each full collection.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO } from '../testing/index.js';

const HEAP_MODULE = pathToFileURL(path.join(REPO, 'dist/core/host/heap.js')).href;

function workload(tuned: boolean): string {
  return `
    if (${tuned}) (await import(${JSON.stringify(HEAP_MODULE)})).tuneHeapForTransfers();
    const live = [];
    for (let i = 0; i < 150000; i++) live.push({ i, s: 'x' + i });
    const inFlight = [];
    for (let i = 0; i < 400; i++) {
      inFlight.push(Buffer.allocUnsafe(1 << 20));
      if (inFlight.length > 40) inFlight.shift();
      const garbage = [];
      for (let j = 0; j < 200; j++) garbage.push({ j, pair: [j, j] });
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  `;
}

/** The growing factor V8 applied at each full collection of the workload. */
function limitFactors(tuned: boolean): number[] {
  const out = execFileSync(process.execPath, ['--trace-gc-verbose', '--input-type=module', '-e', workload(tuned)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return [...out.matchAll(/\[HeapController\] Limit: .* \(([\d.]+)\)$/gm)].map((m) => Number(m[1]));
}

describe('heap tuning', () => {
  it('lets the old generation grow to four times the live heap where V8 alone keeps it tight', () => {
    const untuned = limitFactors(false);
    const tuned = limitFactors(true);
    // The workload must provoke V8's tight limit, or the comparison proves nothing.
    expect(untuned.length).toBeGreaterThan(0);
    expect(Math.min(...untuned)).toBeLessThan(2);
    expect(tuned.length).toBeGreaterThan(0);
    expect(tuned.every((f) => f === 4)).toBe(true);
  });
});
