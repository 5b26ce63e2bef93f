/**
 * On-demand files used here stay only while recent, with real daemons on a local testnet:
 * alpha keeps the folder in full mode; beta attaches it on demand, opens two files and pins
 * a third, edits one of the opened files without it being scanned yet, lets them age past a
 * tiny `placement.keep_recent`, and runs `canopy cleanup`. The old unchanged file becomes
 * online-only (gone from disk, still listed, still readable); the pinned and the edited stay.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FileEntry, JobReport, ReplicaInfo, SettingsInfo } from '../api/types.js';
import { setConfig } from '../testing/disk.js';
import { cliJson, runCli, sleep, tmpDir, waitFor, writeSeededFile } from '../testing/index.js';
import { TestMesh } from '../testing/mesh.js';

let mesh: TestMesh | undefined;
let base: string;

afterEach(async () => {
  await mesh?.close();
  mesh = undefined;
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

const FILES = ['a.bin', 'b.bin', 'c.bin'];
const EDIT = 'an edit made on beta, not scanned yet';

describe('on-demand expiry between devices', () => {
  it('cleanup frees an opened file once it is no longer recent, keeping pinned files and unscanned edits', async () => {
    base = tmpDir('canopy-expire-it-');
    mesh = await TestMesh.create(base, ['alpha', 'beta']);
    const m = mesh;
    const alpha = m.device('alpha');
    const beta = m.device('beta');
    // beta scans only when told (a long debounce), so an edit there stays unscanned; its
    // cleanup runs only when the test asks (the one-shot dry run below starts its interval).
    setConfig(beta.home, { keep_recent: '"1h"', debounce: '"10m"', cleanup_interval: '"1h"' });
    await cliJson(beta.home, ['cleanup', '--dry-run']);
    for (const f of FILES) writeSeededFile(path.join(alpha.folder, f), 700_000, f);
    await m.share('alpha');
    for (const n of ['alpha', 'beta']) await m.start(n);
    await m.pair('alpha', 'beta');
    await cliJson(beta.home, ['folder', 'add', beta.folder, '--id', 'docs', '--mode', 'on-demand']);

    // beta knows every chunk is on its designated devices (placement's view of holders).
    for (const f of FILES) {
      await waitFor(async () => {
        const r = await cliJson<ReplicaInfo>(beta.home, ['replicas', `docs/${f}`]);
        return r.chunks.length > 0 && r.chunks.every((c) => c.designated.every((d) => c.holders.includes(d)));
      }, `every chunk of ${f} on its designated devices, as beta sees it`, 120_000);
    }
    await cliJson(beta.home, ['open', 'docs/a.bin']);
    await cliJson(beta.home, ['open', 'docs/c.bin']);
    await cliJson(beta.home, ['pin', 'docs/b.bin']);
    for (const f of FILES) expect(fs.existsSync(path.join(beta.folder, f))).toBe(true);
    fs.appendFileSync(path.join(beta.folder, 'c.bin'), EDIT);

    // Used files stay one second now; the setting applies to the running daemon.
    const settings = await cliJson<SettingsInfo>(beta.home, ['settings', 'set', 'placement.keep_recent=1s']);
    expect(settings.placement?.keepRecent).toBe(1000);
    expect((await runCli(['settings'], { home: beta.home })).stdout).toMatch(/On-demand a used file stays 1s after its last use, then cleanup frees it/);
    const bad = await runCli(['settings', 'set', 'placement.keep_recent=soon'], { home: beta.home });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/placement\.keep_recent: expected a duration/);
    await sleep(1500);

    const dry = await cliJson<JobReport>(beta.home, ['cleanup', '--dry-run']);
    expect(dry.counts).toMatchObject({ expireWouldFree: 1, expireFreed: 0, expireKeptEdited: 1, expireKeptPinned: 1 });
    for (const f of FILES) expect(fs.existsSync(path.join(beta.folder, f))).toBe(true);

    const report = await cliJson<JobReport>(beta.home, ['cleanup']);
    expect(report.ok).toBe(true);
    expect(report.counts).toMatchObject({ expireCandidates: 2, expireFreed: 1, expireKeptEdited: 1, expireKeptPinned: 1, expireFailed: 0 });
    expect(report.message).toMatch(/on-demand files unused for 1s: freed 1, kept 1 edited since the last scan, 1 pinned/);

    // a.bin is online-only on beta: gone from disk, still listed, still readable.
    expect(fs.existsSync(path.join(beta.folder, 'a.bin'))).toBe(false);
    const listed = await cliJson<FileEntry[]>(beta.home, ['ls', 'docs']);
    expect(listed.find((e) => e.path === 'a.bin')).toMatchObject({ kind: 'file', local: false });
    expect(listed.find((e) => e.path === 'b.bin')).toMatchObject({ local: true, pinned: true });
    const copy = path.join(base, 'a-from-beta.bin');
    const cat = await runCli(['cat', 'docs/a.bin', '--output', copy], { home: beta.home });
    expect(cat.code, cat.stderr).toBe(0);
    expect(fs.readFileSync(copy).equals(fs.readFileSync(path.join(alpha.folder, 'a.bin')))).toBe(true);
    // The pinned file and the unscanned edit stay, the edit intact.
    expect(fs.existsSync(path.join(beta.folder, 'b.bin'))).toBe(true);
    expect(fs.readFileSync(path.join(beta.folder, 'c.bin')).subarray(-EDIT.length).toString()).toBe(EDIT);
    // Freeing is not a deletion: alpha keeps its file; and beta's sync does not bring it back.
    await sleep(2000);
    expect(fs.existsSync(path.join(alpha.folder, 'a.bin'))).toBe(true);
    expect(fs.existsSync(path.join(beta.folder, 'a.bin'))).toBe(false);
    expect((await cliJson<FileEntry[]>(alpha.home, ['ls', 'docs/a.bin']))[0]?.kind).toBe('file');
  }, 300_000);
});
