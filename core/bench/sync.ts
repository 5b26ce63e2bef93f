/**
 * `npm run bench -- sync`: how fast two devices sync, as figures and as ratios to this
 * machine's own limits measured in the same run (a bare Hyperswarm stream and plain TCP
 * between two processes on loopback), and to the established peer tool's times here.
 *
 * Two real daemons (separate processes, the built CLI) on a loopback testnet, paired with
 * a real invite code. Data is made here from fixed seeds (in a staging directory on the
 * same filesystem) and renamed into the sender's folder, so a change lands at one instant
 * and the sender's watcher finds it as it would find a user's. Arrival is seen by polling
 * the receiver's folder (cheaply: the materializer renames whole files into place, so a
 * name with the right size is a complete file) and checked byte for byte afterwards.
 *
 * Measures: 1. one 1 GiB file (from the start of the sender's scan, read from its log);
 * 2. 10,000 files of 4 KiB in 100 directories; 3. a 1-byte insertion in the middle of the
 * synced 1 GiB file (bytes moved per the devices' own per-peer counters, and all loopback
 * bytes); 4. change-to-visible latency of a small file, 20 edits; 5. raw Hyperswarm and TCP;
 * 6. another 1 GiB file with direct links turned off (Hyperswarm only). Devices on one
 * network sync over a direct TCP link (net/direct.ts): parts 1-4 run the way a user's
 * devices at home would, part 6 the way devices that only meet over Hyperswarm would.
 *
 * CANOPY_BENCH_CPU_PROF=1 runs both daemons with --cpu-prof (profiles under the work dir);
 * CANOPY_BENCH_NODE_ARGS="--trace-gc ..." gives node flags to both (output in each home's daemon-output.log);
 * CANOPY_BENCH_SYNC_ONLY=large or =small measures only that part (a quick loop while tuning one path),
 * =swarm the large file with direct links off from the start (part 6 alone);
 * =insertion runs the large file, the small files and the insertion, and stops there.
 * CANOPY_BENCH_KEEP_DATA=1 keeps the data when done (for runs in a row, each in its own
 * CANOPY_BENCH_DIR: deleting 20,000 files slows the next run's file creation for minutes).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chunkFileSync } from '../chunking/file-chunker.js';
import type { InviteInfo, PeerSyncInfo, StatusInfo } from '../api/types.js';
import { seededBytes, sleep } from '../testing/index.js';
import { writeConfig } from '../config/index.js';
import { openFileSink } from '../sync/file-sink.js';
import { cliJson, runCli, startDaemon, startTestnet, type BenchDaemon, type BenchTestnet } from './procs.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const LARGE_SIZE = GiB;
const SMALL_FILES = 10_000;
const SMALL_SIZE = 4096;
const SMALL_DIRS = 100;
const LATENCY_EDITS = 20;
export const RAW_BYTES = GiB;
const FOLDER_ID = 'bench';
/** The established peer tool's times on this machine for the same data (seconds). */
const PEER_TOOL = { largeFileSeconds: 15, smallFilesSeconds: 12.6, insertionSeconds: 51 };

interface Device {
  name: string;
  home: string;
  folder: string;
  daemon?: BenchDaemon;
  logFrom: number;
}

interface ScanLine {
  at: number;
  seconds: number;
  added: number;
  changed: number;
  removed: number;
  hashedBytes: number;
}

export async function benchSync(workDir: string): Promise<Record<string, unknown>> {
  const base = path.join(workDir, 'sync');
  fs.rmSync(base, { recursive: true, force: true });
  const staging = path.join(base, 'staging');
  fs.mkdirSync(staging, { recursive: true });
  const a: Device = { name: 'bench-a', home: path.join(base, 'a-home'), folder: path.join(base, 'a-files'), logFrom: 0 };
  const b: Device = { name: 'bench-b', home: path.join(base, 'b-home'), folder: path.join(base, 'b-files'), logFrom: 0 };
  for (const d of [a, b]) fs.mkdirSync(d.folder, { recursive: true });

  const largeStaged = path.join(staging, 'big.bin');
  const largeSha = writeSeeded(largeStaged, LARGE_SIZE, 'sync-large');
  const smallStaged = path.join(staging, 'small');
  const smallData = writeSmallFiles(smallStaged);
  flushToDisk();

  const profDir = process.env.CANOPY_BENCH_CPU_PROF ? path.join(base, 'profiles') : undefined;
  const loadBefore = os.loadavg();
  let testnet: BenchTestnet | undefined;
  try {
    testnet = await startTestnet();

    // 5. The ceilings first, while nothing else runs (Hyperswarm again at the end: the faster counts).
    const rawHsFirstRun = await rawHyperswarm(testnet.bootstrap);
    const rawHsFirst = rawHsFirstRun.seconds;
    const rawTcp = await rawTcpStream();
    const diskWrite = await diskWriteSeconds(b.folder, 'sink');
    const diskWriteBuffered = await diskWriteSeconds(b.folder, 'buffered');

    // While working on one path, CANOPY_BENCH_SYNC_ONLY=large|swarm|small|insertion measures just that part (see the top).
    const only = process.env.CANOPY_BENCH_SYNC_ONLY;
    // Pair the two devices: A shares the folder, B joins with A's invite and attaches its own.
    for (const d of [a, b]) await mustRun(['init', '--name', d.name], d.home);
    if (only === 'swarm') for (const d of [a, b]) writeConfig(d.home, { network: { direct: false } });
    await cliJson(a.home, ['folder', 'add', a.folder, '--id', FOLDER_ID]);
    for (const d of [a, b]) {
      const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profDir, d.name)}`] : [];
      d.daemon = await startDaemon(d.home, ['--bootstrap', testnet.bootstrap], prof);
    }
    const invite = await cliJson<InviteInfo>(a.home, ['invite', '--expires', '10m']);
    await cliJson(b.home, ['join', invite.code]);
    await cliJson(b.home, ['folder', 'add', b.folder, '--id', FOLDER_ID]);
    await poll(async () => (await peerOf(a)) !== undefined && (await peerOf(b)) !== undefined, 500, 60_000, 'the devices to connect');

    // 2. 10,000 files of 4 KiB in 100 directories.
    const measureSmall = async () => {
      const smallWatch = smallFilesWatcher(path.join(b.folder, 'small'));
      const small = await measure(a, b, async () => {
        fs.renameSync(smallStaged, path.join(a.folder, 'small'));
      }, smallWatch, 100, 300_000);
      return { small, smallMismatches: checkSmallFiles(path.join(b.folder, 'small'), smallData) };
    };
    if (only === 'small') {
      const { small, smallMismatches } = await measureSmall();
      return { benchmark: 'sync (small files only)', small: { mismatches: smallMismatches, seconds: round(small.fromChange), secondsFromScanStart: small.fromScanStart === undefined ? null : round(small.fromScanStart), senderScanSeconds: round(small.scanSeconds), senderScans: small.scans, cpuSeconds: small.cpu } };
    }
    // 1. One 1 GiB file.
    const large = await measure(a, b, async () => {
      fs.renameSync(largeStaged, path.join(a.folder, 'big.bin'));
    }, () => sizeIs(path.join(b.folder, 'big.bin'), LARGE_SIZE), 50, 300_000);
    const largeMatches = sha256File(path.join(b.folder, 'big.bin')) === largeSha;
    const largeFromScan = large.fromScanStart ?? large.fromChange;
    const largeMiBps = LARGE_SIZE / MiB / largeFromScan;
    if (only === 'large' || only === 'swarm') {
      return { benchmark: only === 'swarm' ? 'sync (large file only, Hyperswarm only)' : 'sync (large file only)', rawHyperswarmSeconds: round(rawHsFirst), rawHyperswarmCpuSeconds: rawHsFirstRun.cpu, large: { byteIdentical: largeMatches, seconds: round(largeFromScan), secondsAfterScan: round(large.afterScan), ratioToRawHyperswarm: round(largeMiBps / (RAW_BYTES / MiB / rawHsFirst)), cpuSeconds: large.cpu, link: (await peerOf(a))?.link ?? null } };
    }

    const { small, smallMismatches } = await measureSmall();

    // 3. A 1-byte insertion in the middle of the synced 1 GiB file.
    const oldChunks = chunkFileSync(path.join(a.folder, 'big.bin')).chunks.map((c) => ({ hash: c.hash, size: c.size }));
    const editedStaged = path.join(staging, 'big-edited.bin');
    const editedSha = insertByte(path.join(a.folder, 'big.bin'), editedStaged, Math.floor(LARGE_SIZE / 2), 0x2a);
    flushToDisk();
    const before = await counters(a, b);
    const insertion = await measure(a, b, async () => {
      fs.renameSync(editedStaged, path.join(a.folder, 'big.bin'));
    }, () => sizeIs(path.join(b.folder, 'big.bin'), LARGE_SIZE + 1), 50, 300_000);
    const afterArrival = await counters(a, b);
    await sleep(2000);
    const settled = await counters(a, b);
    const insertionMatches = sha256File(path.join(b.folder, 'big.bin')) === editedSha;
    const newChunks = chunkFileSync(path.join(a.folder, 'big.bin')).chunks.map((c) => ({ hash: c.hash, size: c.size }));
    const oldSet = new Set(oldChunks.map((c) => c.hash));
    const novel = newChunks.filter((c) => !oldSet.has(c.hash));
    const insertionWire = {
      receiverBytesIn: settled.bIn - before.bIn,
      senderBytesOut: settled.aOut - before.aOut,
      receiverBytesInAtArrival: afterArrival.bIn - before.bIn,
      loopbackBytesAllTraffic: settled.lo !== undefined && before.lo !== undefined ? settled.lo - before.lo : null,
    };
    if (only === 'insertion') {
      return {
        benchmark: 'sync (large, small, then the insertion)', diskWriteSeconds: round(diskWrite), diskWriteBufferedSeconds: round(diskWriteBuffered),
        small: { seconds: round(small.fromChange), senderScanSeconds: round(small.scanSeconds), cpuSeconds: small.cpu },
        insertion: { byteIdentical: insertionMatches, seconds: round(insertion.fromChange), secondsFromScanStart: insertion.fromScanStart === undefined ? null : round(insertion.fromScanStart), senderScanSeconds: round(insertion.scanSeconds), wire: insertionWire, cpuSeconds: insertion.cpu },
      };
    }

    // 4. Change-to-visible latency of a small file.
    const latencies: number[] = [];
    const noteA = path.join(a.folder, 'note.txt');
    const noteB = path.join(b.folder, 'note.txt');
    for (let i = 0; i < LATENCY_EDITS; i++) {
      const content = Buffer.from(`edit ${i} ${randomBytes(16).toString('hex')}\n`.repeat(8 + i));
      const t0 = Date.now();
      fs.writeFileSync(noteA, content);
      const t1 = await poll(() => contentIs(noteB, content), 20, 30_000, `edit ${i} to arrive`);
      latencies.push(t1 - t0);
      await sleep(300);
    }
    latencies.sort((x, y) => x - y);
    const p50 = percentile(latencies, 0.5) / 1000;
    const p90 = percentile(latencies, 0.9) / 1000;

    const link = (await peerOf(a))?.link ?? null;

    // 6. The large file again with direct links off: what devices that reach each other only over Hyperswarm get.
    const swarmStaged = path.join(staging, 'big-swarm.bin');
    const swarmSha = writeSeeded(swarmStaged, LARGE_SIZE, 'sync-large-over-hyperswarm');
    flushToDisk();
    for (const d of [a, b]) {
      await d.daemon?.stop();
      writeConfig(d.home, { network: { direct: false } });
      d.daemon = await startDaemon(d.home, ['--bootstrap', testnet.bootstrap]);
    }
    await poll(async () => (await peerOf(a))?.link === 'hyperswarm' && (await peerOf(b)) !== undefined, 500, 60_000, 'the devices to connect over Hyperswarm');
    const overSwarm = await measure(a, b, async () => {
      fs.renameSync(swarmStaged, path.join(a.folder, 'big-swarm.bin'));
    }, () => sizeIs(path.join(b.folder, 'big-swarm.bin'), LARGE_SIZE), 50, 300_000);
    const overSwarmMatches = sha256File(path.join(b.folder, 'big-swarm.bin')) === swarmSha;
    const overSwarmSeconds = overSwarm.fromScanStart ?? overSwarm.fromChange;

    for (const d of [a, b]) await d.daemon?.stop();
    const rawHsLastRun = await rawHyperswarm(testnet.bootstrap);
    const rawHsLast = rawHsLastRun.seconds;
    const rawHs = Math.min(rawHsFirst, rawHsLast);
    const rawHsCpu = (rawHsFirst <= rawHsLast ? rawHsFirstRun : rawHsLastRun).cpu;

    const insertionBytes = Math.max(insertionWire.receiverBytesIn, insertionWire.senderBytesOut);
    return {
      benchmark: 'sync',
      machine: {
        cpus: os.availableParallelism(), node: process.version, platform: `${os.platform()} ${os.arch()}`,
        // Other work on the machine skews every figure; the 1-minute load average says how much there was.
        loadAverageBefore: round(loadBefore[0] ?? 0), loadAverageAfter: round(os.loadavg()[0] ?? 0),
      },
      setup: 'two daemons (separate processes) on a loopback testnet, paired by invite; data renamed into the sender\'s folder, found by its watcher',
      raw: {
        hyperswarmMiBps: round(RAW_BYTES / MiB / rawHs), hyperswarmSeconds: round(rawHs),
        hyperswarmSecondsEachRun: [round(rawHsFirst), round(rawHsLast)], hyperswarmCpuSeconds: rawHsCpu,
        tcpMiBps: round(RAW_BYTES / MiB / rawTcp), tcpSeconds: round(rawTcp), bytes: RAW_BYTES,
        diskWriteMiBps: round(RAW_BYTES / MiB / diskWrite), diskWriteSeconds: round(diskWrite),
        diskWriteBufferedMiBps: round(RAW_BYTES / MiB / diskWriteBuffered), diskWriteBufferedSeconds: round(diskWriteBuffered),
      },
      large: {
        bytes: LARGE_SIZE, byteIdentical: largeMatches,
        seconds: round(largeFromScan), mibPerSecond: round(largeMiBps),
        secondsFromChange: round(large.fromChange), senderScanSeconds: round(large.scanSeconds), secondsAfterScan: round(large.afterScan),
        mibPerSecondAfterScan: round(LARGE_SIZE / MiB / large.afterScan),
        ratioToRawHyperswarm: round(largeMiBps / (RAW_BYTES / MiB / rawHs)), ratioToTcp: round(largeMiBps / (RAW_BYTES / MiB / rawTcp)), ratioToDiskWrite: round(largeMiBps / (RAW_BYTES / MiB / diskWrite)),
        ratioAfterScanToRawHyperswarm: round(LARGE_SIZE / MiB / large.afterScan / (RAW_BYTES / MiB / rawHs)),
        cpuSeconds: large.cpu,
        link,
        peerToolSeconds: PEER_TOOL.largeFileSeconds, speedupOverPeerTool: round(PEER_TOOL.largeFileSeconds / largeFromScan),
        overHyperswarmOnly: {
          byteIdentical: overSwarmMatches, seconds: round(overSwarmSeconds), secondsAfterScan: round(overSwarm.afterScan),
          ratioToRawHyperswarm: round(LARGE_SIZE / MiB / overSwarmSeconds / (RAW_BYTES / MiB / rawHs)),
          ratioAfterScanToRawHyperswarm: round(LARGE_SIZE / MiB / overSwarm.afterScan / (RAW_BYTES / MiB / rawHs)),
          cpuSeconds: overSwarm.cpu,
        },
      },
      small: {
        files: SMALL_FILES, dirs: SMALL_DIRS, bytesEach: SMALL_SIZE, mismatches: smallMismatches,
        seconds: round(small.fromChange), filesPerSecond: Math.round(SMALL_FILES / small.fromChange),
        secondsFromScanStart: small.fromScanStart === undefined ? null : round(small.fromScanStart),
        senderScans: small.scans, senderScanSeconds: round(small.scanSeconds),
        cpuSeconds: small.cpu,
        peerToolSeconds: PEER_TOOL.smallFilesSeconds, speedupOverPeerTool: round(PEER_TOOL.smallFilesSeconds / small.fromChange),
      },
      insertion: {
        offset: Math.floor(LARGE_SIZE / 2), byteIdentical: insertionMatches,
        seconds: round(insertion.fromChange), secondsFromScanStart: insertion.fromScanStart === undefined ? null : round(insertion.fromScanStart),
        senderScanSeconds: round(insertion.scanSeconds),
        wire: insertionWire, wireMiB: round(insertionBytes / MiB),
        chunks: { before: oldChunks.length, after: newChunks.length, changed: novel.length, changedBytes: novel.reduce((s, c) => s + c.size, 0) },
        cpuSeconds: insertion.cpu,
        peerToolSeconds: PEER_TOOL.insertionSeconds, speedupOverPeerTool: round(PEER_TOOL.insertionSeconds / insertion.fromChange),
      },
      latency: {
        edits: LATENCY_EDITS, p50Seconds: round3(p50), p90Seconds: round3(p90),
        minSeconds: round3((latencies[0] ?? 0) / 1000), maxSeconds: round3((latencies.at(-1) ?? 0) / 1000),
      },
      peerTool: PEER_TOOL,
      targets: {
        largeAtLeast75PctOfRawHyperswarm: largeMatches && largeMiBps >= 0.75 * (RAW_BYTES / MiB / rawHs),
        largeOverHyperswarmOnlyAtLeast75Pct: overSwarmMatches && LARGE_SIZE / MiB / overSwarmSeconds >= 0.75 * (RAW_BYTES / MiB / rawHs),
        smallUnder6s: smallMismatches === 0 && small.fromChange < 6,
        insertionUnder2MiB: insertionBytes < 2 * MiB,
        insertionUnder5s: insertionMatches && insertion.fromChange < 5,
        smallEditVisibleUnder1s: p50 < 1,
      },
      notes: {
        largeSeconds: 'from the start of the sender\'s scan (its log) until the receiver has the whole file; secondsFromChange adds the watcher\'s debounce',
        link: 'how the devices\' session ran (status peers[].link): "direct" is the TCP link devices on one network use (net/direct.ts), with Hyperswarm for discovery and fallback',
        overHyperswarmOnly: 'another 1 GiB file with network.direct = false on both daemons (restarted): devices that reach each other only over Hyperswarm',
        smallSeconds: 'from the rename of the directory into the sender\'s folder until all 10,000 files are on the receiver',
        insertionSeconds: 'from the rename of the edited file over the sender\'s copy until the receiver\'s copy has the new size (then checked byte for byte)',
        wire: 'receiverBytesIn/senderBytesOut: chunk bytes per the devices\' per-peer counters (canopy status --json); loopbackBytesAllTraffic: every byte on lo meanwhile, DHT and CLI calls included',
        latency: 'from writing note.txt on the sender until the receiver\'s copy has that content (polled every 20 ms)',
        cpuSeconds: 'CPU of each daemon process during the measurement (user+system, and each apart); raw.hyperswarmCpuSeconds: the same for the two processes of the faster bare-stream run. On a machine whose cores the bare stream already fills, every second of CPU sync spends beside the transport shows in its time',
        raw: 'a bare Hyperswarm stream (DHT on the same testnet, host 127.0.0.1, firewalled: false) and plain TCP, two processes each, 1 GiB; Hyperswarm runs before and after the sync measurements and the faster run is the ceiling; diskWrite: 1 GiB written the way the materializer writes a big file (core/sync/file-sink.ts: O_DIRECT where the filesystem allows) and fdatasynced on the receiver\'s filesystem, the ceiling a synced file cannot pass; diskWriteBuffered: the same through the page cache, for comparison',
        profiles: profDir ?? 'set CANOPY_BENCH_CPU_PROF=1 for daemon CPU profiles (written when the daemons stop)',
        logs: `daemon logs in ${base}`,
      },
    };
  } finally {
    for (const d of [a, b]) await d.daemon?.stop();
    // The daemons' logs and homes stay, for a look after a miss or a failure; the data goes.
    for (const d of [a, b]) if (d.daemon) fs.writeFileSync(path.join(base, `${d.name}.log`), d.daemon.output());
    await testnet?.stop().catch(() => undefined);
    // CANOPY_BENCH_KEEP_DATA=1 leaves the data too, for runs in a row: ext4 makes creating
    // files slow for minutes after many were deleted (its inode allocator skips and re-reads
    // recently freed inodes), which moved the receiver's system CPU for the 10,000 files
    // between 3.6 and 10.5 s from run to run.
    if (!process.env.CANOPY_BENCH_KEEP_DATA) for (const dir of [staging, a.folder, b.folder]) fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- measuring

interface Measured {
  fromChange: number;
  fromScanStart: number | undefined;
  scanSeconds: number;
  afterScan: number;
  scans: number;
  cpu: { sender: number; receiver: number; senderUser: number; senderSystem: number; receiverUser: number; receiverSystem: number };
}

/** Makes a change on the sender, polls the receiver until `arrived`, and reads the sender's scans from its log. */
async function measure(sender: Device, receiver: Device, change: () => Promise<void>, arrived: () => boolean | Promise<boolean>, everyMs: number, timeoutMs: number): Promise<Measured> {
  // Each part starts with nothing of the run's earlier writes left to write back (the staged
  // data, the 1 GiB disk check, the part before): on ext4 every fsync commits the whole
  // journal, so the receiver's first fsyncs would otherwise pay for them, by a different
  // amount each run (its system CPU for the 10,000 files swung between 3.7 and 12 s).
  flushToDisk();
  sender.logFrom = sender.daemon?.output().length ?? 0;
  const cpu0 = [cpuSeconds(sender.daemon), cpuSeconds(receiver.daemon)];
  const t0 = Date.now();
  await change();
  const t1 = await poll(arrived, everyMs, timeoutMs, 'the change to arrive');
  const cpu1 = [cpuSeconds(sender.daemon), cpuSeconds(receiver.daemon)];
  const scans = scanLines(sender).filter((s) => s.at >= t0 && s.at - s.seconds * 1000 <= t1);
  const firstStart = scans.length ? Math.min(...scans.map((s) => s.at - s.seconds * 1000)) : undefined;
  const lastEnd = scans.length ? Math.max(...scans.map((s) => s.at)) : t0;
  return {
    fromChange: (t1 - t0) / 1000,
    fromScanStart: firstStart === undefined ? undefined : (t1 - Math.max(t0, firstStart)) / 1000,
    scanSeconds: scans.reduce((s, x) => s + x.seconds, 0),
    afterScan: (t1 - lastEnd) / 1000,
    scans: scans.length,
    cpu: cpuBetween(cpu0, cpu1),
  };
}

/** `scan bench: +A ~C -R (N bytes hashed in S s)` lines the daemon logged since `logFrom`. */
function scanLines(d: Device): ScanLine[] {
  const text = d.daemon?.output().slice(d.logFrom) ?? '';
  const re = new RegExp(`^(\\S+) scan ${FOLDER_ID}: \\+(\\d+) ~(\\d+) -(\\d+) \\((\\d+) bytes hashed in ([\\d.]+) s\\)$`, 'gm');
  const out: ScanLine[] = [];
  for (const m of text.matchAll(re)) {
    out.push({ at: Date.parse(m[1] as string), added: Number(m[2]), changed: Number(m[3]), removed: Number(m[4]), hashedBytes: Number(m[5]), seconds: Number(m[6]) });
  }
  return out;
}

/** Polls `check` every `everyMs` until it is true; resolves with the time (Date.now()) it was first seen true. */
async function poll(check: () => boolean | Promise<boolean>, everyMs: number, timeoutMs: number, what: string): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return Date.now();
    if (Date.now() > deadline) throw new Error(`sync bench: timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

function sizeIs(file: string, size: number): boolean {
  try {
    return fs.statSync(file).size === size;
  } catch {
    return false;
  }
}

function contentIs(file: string, content: Buffer): boolean {
  try {
    return fs.readFileSync(file).equals(content);
  } catch {
    return false;
  }
}

/** True once every small file is present; directories already complete are not listed again. */
function smallFilesWatcher(root: string): () => boolean {
  const perDir = SMALL_FILES / SMALL_DIRS;
  const left = new Set(Array.from({ length: SMALL_DIRS }, (_, i) => smallDir(i)));
  return () => {
    for (const dir of [...left]) {
      let names: string[];
      try {
        names = fs.readdirSync(path.join(root, dir));
      } catch {
        continue;
      }
      if (names.filter((n) => n.endsWith('.bin') && n.startsWith('f')).length >= perDir) left.delete(dir);
    }
    return left.size === 0;
  };
}

async function peerOf(d: Device): Promise<PeerSyncInfo | undefined> {
  const s = await cliJson<StatusInfo>(d.home, ['status']);
  return s.sync?.peers[0];
}

async function counters(a: Device, b: Device): Promise<{ aOut: number; bIn: number; lo: number | undefined }> {
  const [pa, pb] = await Promise.all([peerOf(a), peerOf(b)]);
  if (!pa || !pb) throw new Error('sync bench: the devices are not connected');
  return { aOut: pa.bytesOut, bIn: pb.bytesIn, lo: loopbackBytes() };
}

/** Bytes received on the loopback interface so far (Linux), all traffic. */
function loopbackBytes(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/net/dev', 'utf8').split('\n').find((l) => l.trim().startsWith('lo:'));
    return line ? Number(line.trim().slice(3).trim().split(/\s+/)[0]) : undefined;
  } catch {
    return undefined;
  }
}

interface CpuTimes {
  user: number;
  system: number;
}

/** User and system CPU seconds of the sender and the receiver between two readings. */
function cpuBetween(before: (CpuTimes | undefined)[], after: (CpuTimes | undefined)[]): Measured['cpu'] {
  const d = (i: number, k: keyof CpuTimes) => round((after[i]?.[k] ?? 0) - (before[i]?.[k] ?? 0));
  return {
    sender: round(d(0, 'user') + d(0, 'system')), receiver: round(d(1, 'user') + d(1, 'system')),
    senderUser: d(0, 'user'), senderSystem: d(0, 'system'), receiverUser: d(1, 'user'), receiverSystem: d(1, 'system'),
  };
}

/** User and system CPU seconds of a daemon (Linux), all its threads. */
function cpuSeconds(d: BenchDaemon | undefined): CpuTimes | undefined {
  return cpuOfPid(d?.child.pid);
}

/** User and system CPU seconds of a process (Linux), all its threads. */
function cpuOfPid(pid: number | undefined): CpuTimes | undefined {
  if (!pid) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- processes

async function mustRun(args: string[], home: string): Promise<void> {
  const r = await runCli(args, home);
  if (r.code !== 0) throw new Error(`canopy ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
}

/** One raw-stream run: the sender's seconds, and the CPU each process used in them. */
export interface RawRun {
  seconds: number;
  cpu: Measured['cpu'];
}

/** Runs the raw-stream receiver and sender as two processes; resolves with the sender's seconds and both processes' CPU. */
async function rawPair(recvArgs: string[], sendArgs: (ready: { port?: number }) => string[]): Promise<RawRun> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sync-raw-child.js');
  const recv = spawn(process.execPath, [script, ...recvArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let send: ReturnType<typeof spawn> | undefined;
  try {
    const ready = JSON.parse(await firstLine(recv, 60_000)) as { port?: number };
    send = spawn(process.execPath, [script, ...sendArgs(ready)], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The receiver from /proc (from before the sender starts); the sender reports its own, over its timed writes only.
    const recvCpu0 = cpuOfPid(recv.pid);
    const result = JSON.parse(await firstLine(send, 300_000)) as { seconds: number; cpuUser: number; cpuSystem: number };
    const sendCpu = { user: result.cpuUser, system: result.cpuSystem };
    return { seconds: result.seconds, cpu: cpuBetween([{ user: 0, system: 0 }, recvCpu0], [sendCpu, cpuOfPid(recv.pid)]) };
  } finally {
    for (const c of [send, recv]) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

function firstLine(child: ReturnType<typeof spawn>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`sync bench: raw stream child timed out: ${err}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const i = out.indexOf('\n');
      if (i >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, i));
      }
    });
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sync bench: raw stream child exited (${code}) early: ${err}`));
    });
  });
}

/** RAW_BYTES over a bare Hyperswarm stream between two processes: seconds, and the CPU of both ends (the repair bench measures against it too). */
export function rawHyperswarm(bootstrap: string): Promise<RawRun> {
  const topic = createHash('sha256').update(`canopy-bench-raw-${randomBytes(8).toString('hex')}`).digest('hex');
  return rawPair(['hs-recv', bootstrap, topic, String(RAW_BYTES)], () => ['hs-send', bootstrap, topic, String(RAW_BYTES)]);
}

/**
 * Seconds to write RAW_BYTES into `dir` and fdatasync them: the receiving disk's own ceiling
 * (a synced file must reach it), beside the two transports'. `sink` writes the way the
 * materializer writes a big file (file-sink.ts: past the page cache where the filesystem
 * allows), `buffered` with plain writes, for comparison.
 */
async function diskWriteSeconds(dir: string, how: 'sink' | 'buffered'): Promise<number> {
  const file = path.join(dir, '.bench-disk-write');
  const piece = seededBytes('disk-write', 16 * MiB);
  const t0 = performance.now();
  try {
    if (how === 'sink') {
      const sink = await openFileSink(file, RAW_BYTES);
      try {
        for (let done = 0; done < RAW_BYTES; done += piece.length) await sink.write(piece, done);
        await sink.end(RAW_BYTES);
        fs.fdatasyncSync(sink.fd);
      } finally {
        await sink.close();
      }
    } else {
      const fd = fs.openSync(file, 'w');
      try {
        for (let done = 0; done < RAW_BYTES; done += piece.length) fs.writeSync(fd, piece);
        fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
  } finally {
    fs.rmSync(file, { force: true });
  }
  return (performance.now() - t0) / 1000;
}

async function rawTcpStream(): Promise<number> {
  return (await rawPair(['tcp-recv', String(RAW_BYTES)], (ready) => ['tcp-send', String(ready.port), String(RAW_BYTES)])).seconds;
}

// ---------------------------------------------------------------- data

/** Seeded bytes (AES-CTR, as testing's writeSeededFile) written in 16 MiB pieces; returns their SHA-256. */
function writeSeeded(file: string, size: number, seed: string): string {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16));
  const zeros = Buffer.alloc(16 * MiB);
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  try {
    for (let done = 0; done < size; done += zeros.length) {
      const piece = cipher.update(zeros.subarray(0, Math.min(zeros.length, size - done)));
      h.update(piece);
      fs.writeSync(fd, piece);
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Writes the data made above to disk now, so its writeback does not run during a measurement. */
function flushToDisk(): void {
  try {
    execFileSync('sync', { stdio: 'ignore' });
  } catch {
    // no sync(1) here: the measurements just see some writeback
  }
}

function smallDir(i: number): string {
  return `d${String(i).padStart(3, '0')}`;
}

function smallPath(i: number): string {
  return `${smallDir(Math.floor(i / (SMALL_FILES / SMALL_DIRS)))}/f${i}.bin`;
}

function writeSmallFiles(root: string): Buffer {
  const all = seededBytes('sync-small', SMALL_FILES * SMALL_SIZE);
  for (let d = 0; d < SMALL_DIRS; d++) fs.mkdirSync(path.join(root, smallDir(d)), { recursive: true });
  for (let i = 0; i < SMALL_FILES; i++) fs.writeFileSync(path.join(root, smallPath(i)), all.subarray(i * SMALL_SIZE, (i + 1) * SMALL_SIZE));
  return all;
}

function checkSmallFiles(root: string, all: Buffer): number {
  let bad = 0;
  for (let i = 0; i < SMALL_FILES; i++) {
    try {
      if (!fs.readFileSync(path.join(root, smallPath(i))).equals(all.subarray(i * SMALL_SIZE, (i + 1) * SMALL_SIZE))) bad++;
    } catch {
      bad++;
    }
  }
  return bad;
}

/** Copies `src` to `dst` with one byte inserted at `offset`; returns the copy's SHA-256. */
function insertByte(src: string, dst: string, offset: number, byte: number): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(16 * MiB);
  const fin = fs.openSync(src, 'r');
  const fout = fs.openSync(dst, 'w');
  try {
    let pos = 0;
    let inserted = false;
    for (;;) {
      const want = !inserted && offset - pos < buf.length ? offset - pos : buf.length;
      const n = want === 0 ? 0 : fs.readSync(fin, buf, 0, want, pos);
      if (n > 0) {
        h.update(buf.subarray(0, n));
        fs.writeSync(fout, buf, 0, n);
        pos += n;
      }
      if (!inserted && pos === offset) {
        const one = Buffer.from([byte]);
        h.update(one);
        fs.writeSync(fout, one);
        inserted = true;
        continue;
      }
      if (n === 0) break;
    }
  } finally {
    fs.closeSync(fin);
    fs.closeSync(fout);
  }
  return h.digest('hex');
}

function sha256File(file: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(16 * MiB);
  const fd = fs.openSync(file, 'r');
  try {
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

const round = (n: number) => Math.round(n * 100) / 100;
const round3 = (n: number) => Math.round(n * 1000) / 1000;
