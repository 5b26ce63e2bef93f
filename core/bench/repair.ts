/**
 * `npm run bench -- repair`: how fast the mesh heals after losing a device, as a ratio to
 * the raw transfer rate of a bare Hyperswarm stream measured in the same run (target 0.70).
 *
 * Four real daemons on a loopback testnet: `source` shares a folder holding 1 GiB (its
 * working copy holds every chunk), three storage devices hold what placement designates
 * them (factor 2). One storage device is killed; once the offline grace has passed, the
 * survivors' repairs fetch the share placement moved to them. The figure is the bytes the
 * repairs fetched over the time from the first repair's start to the last one's end (from
 * their stored reports), checked against the chunk files on disk afterwards.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { InviteInfo, JobReport, StatusInfo } from '../api/types.js';
import { copiesOnDisk, referencedChunks, setConfig, storedOnDisk } from '../testing/disk.js';
import { sleep, writeSeededFile } from '../testing/index.js';
import { cliJson, runCli, startDaemon, startTestnet, type BenchDaemon, type BenchTestnet } from './procs.js';
import { RAW_BYTES, rawHyperswarm } from './sync.js';

const MiB = 1024 * 1024;
const DATA_BYTES = 1024 * MiB;
const GRACE_MS = 3000;
const NAMES = ['source', 'store-1', 'store-2', 'store-3'] as const;

interface Device {
  name: string;
  home: string;
  daemon?: BenchDaemon | undefined;
}

export async function benchRepair(workDir: string): Promise<Record<string, unknown>> {
  const base = path.join(workDir, 'repair');
  fs.rmSync(base, { recursive: true, force: true });
  const devices: Device[] = NAMES.map((name) => ({ name, home: path.join(base, `${name}-home`) }));
  const [source] = devices as [Device];
  const folder = path.join(base, 'source-files');
  let testnet: BenchTestnet | undefined;
  try {
    writeSeededFile(path.join(folder, 'data.bin'), DATA_BYTES, 'bench-repair');
    testnet = await startTestnet();
    const rawFirst = (await rawHyperswarm(testnet.bootstrap)).seconds;
    for (const d of devices) {
      await mustRun(['init', '--name', d.name], d.home);
      // Roomy quotas: 1 GiB barely changes any device's free space, so placement (weighted by
      // free space) stays put while the stores fill, and each device holds about its share.
      configure(d.home, '64 GiB');
    }
    await cliJson(source.home, ['folder', 'add', folder, '--id', 'bench']);
    await cliJson(source.home, ['scan']);
    for (const d of devices) d.daemon = await startDaemon(d.home, ['--bootstrap', testnet.bootstrap]);
    for (const d of devices.slice(1)) {
      const invite = await cliJson<InviteInfo>(source.home, ['invite', '--expires', '10m']);
      await cliJson(d.home, ['join', invite.code]);
    }
    const chunks = referencedChunks(source.home);
    const storage = devices.slice(1);
    // Placed: every chunk on 2 devices (the source's working copy counts as one). The storage
    // devices' repairs fetch their share as soon as they have the source's versions.
    const placedBy = Date.now() + 900_000;
    while (fewestCopies(chunks, devices, source) < 2) {
      if (Date.now() > placedBy) throw new Error('repair bench: timed out waiting for every chunk to reach 2 copies');
      await Promise.all(storage.map((d) => cliJson<JobReport>(d.home, ['repair'])));
      await sleep(500);
    }

    // How the sessions run (direct TCP links on one network, else Hyperswarm), as the source sees them.
    const links = Object.fromEntries(((await cliJson<StatusInfo>(source.home, ['status'])).sync?.peers ?? []).map((p) => [p.name, p.link]));
    const victim = storage.map((d) => ({ d, held: storedOnDisk(d.home).size })).sort((a, b) => b.held - a.held)[0]!.d;
    const victimBytes = [...storedOnDisk(victim.home)].reduce((s, h) => s + (chunks.get(h) ?? 0), 0);
    const survivors = devices.filter((d) => d !== victim);
    const before = new Map(survivors.map((d) => [d, storedOnDisk(d.home)]));
    const lostAt = Date.now();
    victim.daemon?.child.kill('SIGKILL');
    await victim.daemon?.stop(1000);
    victim.daemon = undefined;
    // Nobody asks: once the survivors see the device gone past the grace period, their
    // schedule runs an audit, which starts the repairs (sync's own pass over designated
    // chunks may take part: the fetcher shares requests, and either way the bytes move once).
    // Measured on disk: from the first refetched chunk file to the last one needed.
    let firstNewAt: number | undefined;
    await poll(() => {
      if (firstNewAt === undefined && survivors.some((d) => storedOnDisk(d.home).size > (before.get(d)?.size ?? 0))) firstNewAt = Date.now();
      return fewestCopies(chunks, survivors, source) >= 2;
    }, 250, 900_000, 'every chunk back to 2 copies');
    const healedAt = Date.now();
    const repairedBytes = survivors.reduce((sum, d) => {
      const had = before.get(d) ?? new Set<string>();
      return sum + [...storedOnDisk(d.home)].filter((h) => !had.has(h)).reduce((s2, h) => s2 + (chunks.get(h) ?? 0), 0);
    }, 0);
    const seconds = ((healedAt - (firstNewAt ?? healedAt)) / 1000) || 0.1;
    // The repair runs' own reports (for the record): they end shortly after the files are in.
    const repairAfterLoss = async (d: Device) => (await cliJson<JobReport[]>(d.home, ['jobs'])).find((r) => r.job === 'repair' && r.startedAt >= lostAt);
    const reportsBy = Date.now() + 60_000;
    let reports = await Promise.all(survivors.map(repairAfterLoss));
    while (reports.some((r) => r === undefined) && Date.now() < reportsBy) {
      await sleep(1000);
      reports = await Promise.all(survivors.map(repairAfterLoss));
    }
    const firstRepair = Math.min(...reports.filter((r): r is JobReport => r !== undefined).map((r) => r.startedAt));
    for (const d of survivors) await d.daemon?.stop();
    const rawLast = (await rawHyperswarm(testnet.bootstrap)).seconds;
    const raw = Math.min(rawFirst, rawLast);
    const rawMiBps = RAW_BYTES / MiB / raw;
    const repairMiBps = repairedBytes / MiB / seconds;
    return {
      benchmark: 'repair',
      machine: { cpus: os.availableParallelism(), node: process.version, platform: `${os.platform()} ${os.arch()}`, loadAverage: round(os.loadavg()[0] ?? 0) },
      setup: 'four daemons on a loopback testnet; source shares 1 GiB, three storage devices hold their placement (factor 2); the storage device holding most is killed; repairs after the offline grace',
      data: { bytes: DATA_BYTES, chunks: chunks.size },
      lost: { device: victim.name, heldBytes: victimBytes },
      links,
      repair: {
        repairedBytes, seconds: round(seconds), mibPerSecond: round(repairMiBps),
        secondsFromLossToFirstRepairRun: Number.isFinite(firstRepair) ? round((firstRepair - lostAt) / 1000) : null,
        secondsFromLossToHealed: round((healedAt - lostAt) / 1000),
        repairRuns: Object.fromEntries(survivors.map((d, i) => {
          const r = reports[i];
          return [d.name, r ? { ...r.counts, seconds: round((r.finishedAt - r.startedAt) / 1000) } : null];
        })),
      },
      raw: { hyperswarmMiBps: round(rawMiBps), hyperswarmSecondsEachRun: [round(rawFirst), round(rawLast)], bytes: RAW_BYTES },
      ratioToRawHyperswarm: round(repairMiBps / rawMiBps),
      targets: { repairAtLeast70PctOfRawHyperswarm: repairedBytes > 0 && firstNewAt !== undefined && repairMiBps >= 0.7 * rawMiBps },
      notes: {
        seconds: 'on disk: from the first chunk file refetched on a survivor to the moment every chunk is back to 2 copies; repairedBytes are the chunk files new on the survivors (they repair in parallel)',
        secondsFromLossToFirstRepairRun: 'the grace period plus the time sync takes to notice the lost connection',
        raw: 'a bare Hyperswarm stream between two processes on the same testnet, before and after; the faster run is the ceiling',
        links: 'how each device\'s session with the source ran: "direct" is the TCP link devices on one network use (net/direct.ts); CANOPY_BENCH_DIRECT=0 measures Hyperswarm only',
        logs: `daemon logs in ${base}`,
      },
    };
  } finally {
    for (const d of devices) await d.daemon?.stop();
    for (const d of devices) if (d.daemon) fs.writeFileSync(path.join(base, `${d.name}.log`), d.daemon.output());
    await testnet?.stop().catch(() => undefined);
    fs.rmSync(folder, { recursive: true, force: true });
    for (const d of devices) fs.rmSync(path.join(d.home, 'chunks'), { recursive: true, force: true });
  }
}

/** Factor 2, a short grace, jobs only when the bench (or the grace) says. */
function configure(home: string, max: string): void {
  setConfig(home, {
    max: `"${max}"`, reserved: '"0"', min_free: '"0"', normal: '2', offline_grace: `"${GRACE_MS / 1000}s"`,
    audit_interval: '"1h"', repair_interval: '"1h"', scrub_interval: '"1h"', cleanup_interval: '"1h"',
    // CANOPY_BENCH_DIRECT=0: the devices meet only over Hyperswarm (no direct TCP links).
    ...(process.env.CANOPY_BENCH_DIRECT === '0' ? { direct: 'false' } : {}),
  });
}

/** The fewest copies any chunk has on `devices` (the source's working copy holds them all). */
function fewestCopies(chunks: Map<string, number>, devices: Device[], source: Device): number {
  return Math.min(...copiesOnDisk(chunks, devices.map((d) => d.home), [source.home]).values());
}

async function poll(check: () => boolean, everyMs: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`repair bench: timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function mustRun(args: string[], home: string): Promise<void> {
  const r = await runCli(args, home);
  if (r.code !== 0) throw new Error(`canopy ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
}

const round = (n: number) => Math.round(n * 100) / 100;
