/**
 * `npm run bench -- scan`: how fast a device indexes, as figures and as ratios to this
 * machine's own limits measured in the same run (raw BLAKE3 and file read speed), so the
 * result means the same on a slower or faster machine.
 *
 * Data (made here from a fixed seed, reused between runs): 1 GiB in 8 files, and 10,000
 * files of 4 KiB. Each indexing run is a separate process, so its peak RSS is its own.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { blake3Hex } from '../chunking/hash.js';
import { seededBytes, writeSeededFile } from '../testing/index.js';

const MiB = 1024 * 1024;
const LARGE_FILES = 8;
const LARGE_SIZE = 128 * MiB;
const SMALL_FILES = 10_000;
const SMALL_SIZE = 4096;

interface ChildResult {
  scanSeconds: number;
  processSeconds: number;
  maxRssBytes: number;
  files: number;
  hashedBytes: number;
  problems: number;
}

export async function benchScan(workDir: string): Promise<Record<string, unknown>> {
  const data = path.join(workDir, 'scan-data');
  const large = path.join(data, 'large');
  const small = path.join(data, 'small');
  makeData(data, large, small);

  const raw = { blake3MiBps: blake3Speed(), readMiBps: readSpeed(large) };

  const homes = path.join(workDir, 'scan-homes');
  fs.rmSync(homes, { recursive: true, force: true });
  fs.mkdirSync(homes, { recursive: true });
  const largeRun = child(path.join(homes, 'large'), [large]);
  const smallRun = child(path.join(homes, 'small'), [small]);
  // Rescan of both, unchanged: index both in one home, then time a second scan.
  child(path.join(homes, 'both'), [large, small]);
  const rescan = child(path.join(homes, 'both'), []);

  const largeMiBps = largeRun.hashedBytes / MiB / largeRun.scanSeconds;
  const result = {
    benchmark: 'scan',
    machine: { cpus: os.availableParallelism(), node: process.version, platform: `${os.platform()} ${os.arch()}` },
    data: { largeFiles: LARGE_FILES, largeBytes: LARGE_FILES * LARGE_SIZE, smallFiles: SMALL_FILES, smallBytes: SMALL_FILES * SMALL_SIZE },
    raw,
    large: {
      seconds: round(largeRun.scanSeconds), mibPerSecond: round(largeMiBps),
      ratioToBlake3SingleThread: round(largeMiBps / raw.blake3MiBps), ratioToRead: round(largeMiBps / raw.readMiBps),
      peakRssMB: round(largeRun.maxRssBytes / 1e6), problems: largeRun.problems,
    },
    small: {
      files: smallRun.files, seconds: round(smallRun.scanSeconds), filesPerSecond: Math.round(smallRun.files / smallRun.scanSeconds),
      peakRssMB: round(smallRun.maxRssBytes / 1e6), problems: smallRun.problems,
    },
    rescanUnchanged: { seconds: round(rescan.scanSeconds), filesHashed: rescan.files, peakRssMB: round(rescan.maxRssBytes / 1e6) },
    total: { largePlusSmallSeconds: round(largeRun.scanSeconds + smallRun.scanSeconds) },
    targets: {
      largeAtLeast800MiBps: largeMiBps >= 800,
      smallUnder2s: smallRun.scanSeconds < 2,
      rescanUnder1s: rescan.scanSeconds < 1,
      peakRssUnder200MB: Math.max(largeRun.maxRssBytes, smallRun.maxRssBytes, rescan.maxRssBytes) < 200e6,
      // The established peer tool needs about 5.2 s here for the same data.
      halfOfPeerTool: largeRun.scanSeconds + smallRun.scanSeconds <= 2.6,
    },
  };
  return result;
}

function makeData(data: string, large: string, small: string): void {
  const marker = path.join(data, '.complete-v1');
  if (fs.existsSync(marker)) return;
  fs.rmSync(data, { recursive: true, force: true });
  for (let i = 0; i < LARGE_FILES; i++) writeSeededFile(path.join(large, `large-${i}.bin`), LARGE_SIZE, `large-${i}`);
  const all = seededBytes('small', SMALL_FILES * SMALL_SIZE);
  for (let i = 0; i < SMALL_FILES; i++) {
    const dir = path.join(small, `d${String(Math.floor(i / 100)).padStart(3, '0')}`);
    if (i % 100 === 0) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${i}.bin`), all.subarray(i * SMALL_SIZE, (i + 1) * SMALL_SIZE));
  }
  fs.writeFileSync(marker, '');
}

/** Single-threaded BLAKE3 over an in-memory buffer: the hashing ceiling of one core. */
function blake3Speed(): number {
  const buf = seededBytes('blake3', 256 * MiB);
  blake3Hex(buf.subarray(0, MiB));
  const t = performance.now();
  for (let i = 0; i < 4; i++) blake3Hex(buf);
  return round((4 * 256) / ((performance.now() - t) / 1000));
}

/**
 * Sequential reads of the large files with 8 MiB buffers, page cache warm as the scan sees
 * it: the first pass warms the cache (freshly written data may still be going to disk), the
 * second is measured.
 */
function readSpeed(dir: string): number {
  readAll(dir);
  return readAll(dir);
}

function readAll(dir: string): number {
  const buf = Buffer.allocUnsafe(8 * MiB);
  const files = fs.readdirSync(dir).map((n) => path.join(dir, n));
  let bytes = 0;
  const t = performance.now();
  for (const f of files) {
    const fd = fs.openSync(f, 'r');
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) bytes += n;
    fs.closeSync(fd);
  }
  return round(bytes / MiB / ((performance.now() - t) / 1000));
}

function child(home: string, folders: string[]): ChildResult {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scan-child.js');
  const out = execFileSync(process.execPath, [script, home, ...folders], { encoding: 'utf8', maxBuffer: 16 * MiB });
  return JSON.parse(out.trim().split('\n').at(-1) as string) as ChildResult;
}

const round = (n: number) => Math.round(n * 100) / 100;
