/**
 * `npm run bench [-- NAME...]`: runs the named benchmarks (default: all) and prints one
 * JSON document; it is also written to bench-output/NAME.json. Speed targets live here,
 * never as timed assertions in tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchPlacement } from './placement.js';
import { benchScan } from './scan.js';
import { benchSync } from './sync.js';
import { benchRepair } from './repair.js';
import { REPO_ROOT } from './procs.js';

const BENCHMARKS: Record<string, (workDir: string) => Promise<Record<string, unknown>>> = {
  scan: benchScan,
  sync: benchSync,
  repair: benchRepair,
  placement: benchPlacement,
};

async function main(): Promise<void> {
  const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const chosen = names.length ? names : Object.keys(BENCHMARKS);
  const unknown = chosen.filter((n) => !BENCHMARKS[n]);
  if (unknown.length) {
    process.stderr.write(`canopy bench: unknown benchmark(s) ${unknown.join(', ')}; available: ${Object.keys(BENCHMARKS).join(', ')}\n`);
    process.exit(2);
  }
  const outDir = path.join(REPO_ROOT, 'bench-output');
  const workDir = process.env.CANOPY_BENCH_DIR ?? path.join(os.tmpdir(), 'canopy-bench');
  fs.mkdirSync(workDir, { recursive: true });
  const results: Record<string, unknown> = {};
  for (const name of chosen) {
    const result = await (BENCHMARKS[name] as (w: string) => Promise<Record<string, unknown>>)(workDir);
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    results[name] = result;
  }
  process.stdout.write(`${JSON.stringify(chosen.length === 1 ? results[chosen[0] as string] : results, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
