/**
 * One indexing run in its own process, so its peak RSS is its own: opens (or creates) a
 * home, attaches the given folders if they are new, scans, and prints one JSON line.
 * Used only by the scan benchmark.
 */
import fs from 'node:fs';
import { Engine } from '../engine/index.js';
import { isInitialized } from '../home/index.js';

async function main(): Promise<void> {
  const [home, ...folders] = process.argv.slice(2);
  if (!home) throw new Error('usage: scan-child HOME [FOLDER...]');
  const t0 = performance.now();
  const engine = isInitialized(home) ? Engine.open(home) : Engine.init(home, { name: 'bench' });
  for (const [i, f] of folders.entries()) if (!engine.folders.get(`f${i}`)) engine.folders.add({ path: f, id: `f${i}` });
  const t1 = performance.now();
  const reports = await engine.scan();
  const t2 = performance.now();
  await engine.close();
  process.stdout.write(`${JSON.stringify({
    scanSeconds: (t2 - t1) / 1000,
    processSeconds: (performance.now() - t0) / 1000,
    maxRssBytes: peakRss(),
    files: reports.reduce((s, r) => s + r.hashedFiles, 0),
    hashedBytes: reports.reduce((s, r) => s + r.hashedBytes, 0),
    problems: reports.reduce((s, r) => s + r.problems.length, 0),
  })}\n`);
}

/**
 * Peak RSS of this process image. Not getrusage's maxRSS: on Linux that survives exec and
 * so starts at the parent's size when the benchmark forks us.
 */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
