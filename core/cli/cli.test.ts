/**
 * The `canopy` CLI as a user runs it: the built program in separate processes, real homes,
 * real folders, a real daemon with its HTTP API.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileEntry, FolderInfo, ScanReport, StatusInfo, VersionInfo } from '../api/types.js';
import { cliJson, CLI, runCli, startDaemonProcess, tmpDir, waitFor, writeSeededFile, type DaemonProcess } from '../testing/index.js';
import { isAlive } from '../home/index.js';

let base: string;
let home: string;
let docs: string;
const daemons: DaemonProcess[] = [];

beforeEach(() => {
  base = tmpDir('canopy-cli-');
  home = path.join(base, 'home');
  docs = path.join(base, 'docs');
  fs.mkdirSync(docs);
});
afterEach(async () => {
  for (const d of daemons.splice(0)) if (d.child.exitCode === null) await d.stop();
  fs.rmSync(base, { recursive: true, force: true });
});

async function init(): Promise<void> {
  const r = await runCli(['init', '--name', 'laptop', '--label', 'site=home'], { home });
  expect(r.code, r.stderr).toBe(0);
}

async function daemon(): Promise<DaemonProcess> {
  const d = await startDaemonProcess(home);
  daemons.push(d);
  return d;
}

describe('canopy CLI', () => {
  it('init creates an owner-only identity and refuses to run twice', async () => {
    await init();
    expect(fs.statSync(path.join(home, 'identity.json')).mode & 0o077).toBe(0);
    expect(fs.statSync(home).mode & 0o077).toBe(0);
    expect(fs.readFileSync(path.join(home, 'config.toml'), 'utf8')).toMatch(/laptop/);
    const again = await runCli(['init'], { home });
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/already holds a Canopy device/);
  });

  it('says to run init, in one line and without a stack trace, on a new home', async () => {
    const r = await runCli(['status'], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^canopy: .*canopy init/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('shares, scans, lists and shows the history of a folder with documented JSON shapes', async () => {
    await init();
    fs.writeFileSync(path.join(docs, 'a.txt'), 'hello');
    fs.mkdirSync(path.join(docs, 'sub'));
    writeSeededFile(path.join(docs, 'sub', 'b.bin'), 3_000_000, 'b');
    const added = await cliJson<FolderInfo>(home, ['folder', 'add', docs, '--id', 'docs', '--priority', 'high']);
    expect(added).toMatchObject({ id: 'docs', path: fs.realpathSync(docs), mode: 'full', priority: 'high', dataClass: 'standard', attached: true });

    const [report] = await cliJson<ScanReport[]>(home, ['scan', 'docs']);
    expect(report).toMatchObject({ folderId: 'docs', files: 2, dirs: 1, added: 3, bytes: 3_000_005, problems: [] });
    expect(typeof report!.seconds).toBe('number');
    expect(typeof report!.mibPerSecond).toBe('number');

    const human = await runCli(['scan'], { home });
    expect(human.stdout).toMatch(/docs: 2 files.*MiB\/s/);

    const list = await cliJson<FolderInfo[]>(home, ['folder', 'list']);
    expect(list).toEqual([expect.objectContaining({ id: 'docs', files: 2, bytes: 3_000_005 })]);

    const status = await cliJson<StatusInfo>(home, ['status']);
    expect(status).toMatchObject({ via: 'direct', daemon: null, device: { name: 'laptop', labels: { site: 'home' } } });
    expect(status.versions).toBe(3);

    const ls = await cliJson<FileEntry[]>(home, ['ls', 'docs']);
    expect(ls.map((e) => e.path)).toEqual(['a.txt', 'sub', 'sub/b.bin']);
    expect(ls.find((e) => e.path === 'sub/b.bin')).toMatchObject({ kind: 'file', size: 3_000_000, heads: 1, localState: 'synced' });
    expect((await cliJson<FileEntry[]>(home, ['ls', 'docs/sub'])).map((e) => e.path)).toEqual(['sub', 'sub/b.bin']);

    fs.writeFileSync(path.join(docs, 'a.txt'), 'hello again');
    await cliJson(home, ['scan']);
    // a filesystem path works as well as FOLDER/PATH
    const log = await cliJson<VersionInfo[]>(home, ['log', path.join(docs, 'a.txt')]);
    expect(log).toHaveLength(2);
    expect(log[0]).toMatchObject({ size: 11, isHead: true, parents: [log[1]!.id], state: 'confirmed', authorName: 'laptop' });
    expect((await runCli(['log', 'docs/a.txt'], { home })).stdout).toMatch(/VERSION\s+STATE/);

    const removed = await runCli(['folder', 'remove', 'docs'], { home });
    expect(removed.code).toBe(0);
    expect(fs.readFileSync(path.join(docs, 'a.txt'), 'utf8')).toBe('hello again');
    expect((await cliJson<FolderInfo[]>(home, ['folder', 'list']))[0]).toMatchObject({ attached: false });
  });

  it('gives clear one-line errors for bad input', async () => {
    await init();
    const cases: [string[], RegExp][] = [
      [['folder', 'add', path.join(base, 'missing')], /does not exist/],
      [['folder', 'add', docs, '--id', 'Bad Id!'], /folder id .* not valid/],
      [['folder', 'add', home], /overlaps the device's home/],
      [['scan', 'nope'], /no folder with id "nope"/],
      [['ls', 'nope/x'], /no folder with id "nope"/],
      [['init', '--label', 'oops'], /key=value/],
      [['invite', '--expires', '0'], /^canopy: an invite stays valid for more than 0 and at most 30 days, got --expires 0\n$/],
      [['invite', '--expires', '31d'], /^canopy: an invite stays valid for more than 0 and at most 30 days, got --expires 31d\n$/],
      [['invite', '--expires', 'soon'], /expected a duration like "15m"/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, { home });
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const bad = await runCli(['folder', 'add', docs, '--mode', 'sometimes'], { home });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/sometimes/);
  });

  it('refuses an invalid config value with the key and the expected form, and changes nothing', async () => {
    await init();
    const file = path.join(home, 'config.toml');
    const original = fs.readFileSync(file, 'utf8');
    expect(original).toMatch(/# max = "50 GiB"/);
    fs.writeFileSync(file, original.replace('# max = "50 GiB"', 'max = "lots"'));
    const r = await runCli(['status'], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/storage\.max: expected a size like "100 GiB", got "lots"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.readFileSync(file, 'utf8')).toBe(original.replace('# max = "50 GiB"', 'max = "lots"'));
  });

  it('refuses a corrupt or foreign database and leaves it for the user to inspect', async () => {
    await init();
    const dbFile = path.join(home, 'canopy.db');
    fs.rmSync(`${dbFile}-wal`, { force: true });
    fs.rmSync(`${dbFile}-shm`, { force: true });
    fs.writeFileSync(dbFile, Buffer.alloc(4096, 7));
    const r = await runCli(['status'], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/corrupt or not a database/);
    expect(fs.readFileSync(dbFile).equals(Buffer.alloc(4096, 7))).toBe(true);

    fs.rmSync(dbFile);
    const foreign = new Database(dbFile);
    foreign.exec('CREATE TABLE photos (id INTEGER)');
    foreign.close();
    const f = await runCli(['status'], { home });
    expect(f.stderr).toMatch(/not a Canopy database/);
  });

  it('runs a daemon the CLI talks to, refuses a second one, watches folders and stops cleanly', async () => {
    await init();
    // Without a daemon nothing indexes a new folder yet, and the CLI says what will.
    const alone = await runCli(['folder', 'add', docs, '--id', 'docs'], { home });
    expect(alone.stdout).toMatch(/as folder docs .*Run `canopy scan docs` or start the daemon to index it\./);
    const d = await daemon();
    const status = await cliJson<StatusInfo>(home, ['status']);
    expect(status).toMatchObject({ via: 'daemon', daemon: { pid: d.info.pid, url: d.info.url } });

    const second = await runCli(['daemon', '--port', '0'], { home });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`in use by a running Canopy daemon \\(pid ${d.info.pid}\\)`));

    // With one, the daemon indexes a folder as it is added.
    const more = path.join(base, 'more');
    fs.mkdirSync(more);
    fs.writeFileSync(path.join(more, 'there.txt'), 'before the share');
    const added = await runCli(['folder', 'add', more, '--id', 'more'], { home });
    expect(added.stdout).toMatch(/as folder more .*The running daemon is indexing it and will keep it in sync\./);
    await waitFor(async () => (await cliJson<FileEntry[]>(home, ['ls', 'more'])).find((e) => e.path === 'there.txt'), 'the daemon to index the new folder');

    fs.writeFileSync(path.join(docs, 'new.txt'), 'seen by the watcher');
    const entry = await waitFor(async () => (await cliJson<FileEntry[]>(home, ['ls', 'docs'])).find((e) => e.path === 'new.txt'), 'the watcher to index new.txt');
    expect(entry.size).toBe(19);
    fs.rmSync(path.join(docs, 'new.txt'));
    await waitFor(async () => (await cliJson<FileEntry[]>(home, ['ls', 'docs'])).find((e) => e.path === 'new.txt' && e.kind === 'tombstone'), 'the delete to be recorded');

    // `canopy stop` returns once the daemon's process has ended, cleanly.
    const stopped = await runCli(['stop'], { home });
    expect(stopped.stdout).toBe(`Stopped the daemon (pid ${d.info.pid}).\n`);
    expect(isAlive(d.info.pid)).toBe(false);
    expect(await d.stop()).toBe(0);
    expect(d.output()).toMatch(/SIGTERM, shutting down[\s\S]*stopped cleanly/);
    expect((await runCli(['stop'], { home })).stdout).toBe('No daemon is running for this home.\n');
    expect(fs.existsSync(path.join(home, 'daemon.json'))).toBe(false);
    expect(fs.existsSync(path.join(home, 'lock'))).toBe(false);
    expect((await cliJson<StatusInfo>(home, ['status'])).via).toBe('direct');
  });

  it('stop never signals a process that a stale daemon.json names but that is no daemon', async () => {
    await init();
    // After a crash daemon.json stays, and its pid may later be another program's.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(home, 'daemon.json'), JSON.stringify({ pid: other.pid, url: 'http://127.0.0.1:9', token: 'stale', startedAt: 0 }));
      const r = await runCli(['stop'], { home });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`canopy: daemon.json names pid ${other.pid}, but no daemon with that pid answers at http://127.0.0.1:9: it may have crashed, and pid ${other.pid} was not signalled\n`);
      expect(other.exitCode).toBeNull();
      expect(isAlive(other.pid!)).toBe(true);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('guards the HTTP API with the token and serves events over WebSocket', async () => {
    await init();
    await cliJson(home, ['folder', 'add', docs, '--id', 'docs']);
    const d = await daemon();
    const call = (token: string | undefined, headers: Record<string, string> = {}) =>
      fetch(`${d.info.url}/api/v1/call/status`, { method: 'POST', headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers }, body: '{}' });
    expect((await call(undefined)).status).toBe(401);
    expect((await call('wrong-token')).status).toBe(401);
    const ok = await call(d.info.token);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { result: StatusInfo }).result.device.name).toBe('laptop');
    const bad = await fetch(`${d.info.url}/api/v1/call/folder.add`, { method: 'POST', headers: { authorization: `Bearer ${d.info.token}` }, body: '{"path": 5}' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('BAD_ARGUMENT');

    const wsUrl = `${d.info.url.replace('http', 'ws')}/api/v1/events`;
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(wsUrl);
      ws.on('open', () => resolve('opened'));
      ws.on('error', () => resolve('refused'));
    });
    expect(refused).toBe('refused');

    const ws = new WebSocket(`${wsUrl}?token=${d.info.token}`);
    const events: { type: string }[] = [];
    ws.on('message', (m) => events.push(JSON.parse(String(m)) as { type: string }));
    await new Promise((r) => ws.on('open', r));
    await fetch(`${d.info.url}/api/v1/call/scan`, { method: 'POST', headers: { authorization: `Bearer ${d.info.token}` }, body: '{}' });
    await waitFor(() => events.some((e) => e.type === 'scan.done'), 'a scan.done event');
    ws.close();
  });

  it('survives kill -9 in the middle of a scan: the database is sound and the index converges', async () => {
    await init();
    for (let d = 0; d < 40; d++) {
      fs.mkdirSync(path.join(docs, `d${d}`));
      for (let f = 0; f < 150; f++) fs.writeFileSync(path.join(docs, `d${d}`, `f${f}.txt`), `dir ${d} file ${f}\n`.repeat(1 + (f % 7)));
    }
    writeSeededFile(path.join(docs, 'big.bin'), 300 * 1024 * 1024, 'crash');
    await cliJson(home, ['folder', 'add', docs, '--id', 'docs']);
    const child = spawn(process.execPath, [CLI, '--home', home, 'scan'], { stdio: 'ignore' });
    // Let it get properly under way, then pull the plug.
    await waitFor(() => {
      try {
        const db = new Database(path.join(home, 'canopy.db'), { readonly: true });
        const n = db.prepare('SELECT count(*) FROM versions').pluck().get() as number;
        db.close();
        return n > 500;
      } catch {
        return false;
      }
    }, 'the scan to record versions', 60_000);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));

    const db = new Database(path.join(home, 'canopy.db'));
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();

    // The stale lock is taken over, and a rescan converges on what is on disk.
    const [report] = await cliJson<ScanReport[]>(home, ['scan']);
    expect(report!.problems).toEqual([]);
    const ls = await cliJson<FileEntry[]>(home, ['ls', 'docs']);
    const files = ls.filter((e) => e.kind === 'file');
    expect(files).toHaveLength(40 * 150 + 1);
    for (const e of files) expect(e.size).toBe(fs.statSync(path.join(docs, e.path)).size);
    const again = await cliJson<ScanReport[]>(home, ['scan']);
    expect(again[0]).toMatchObject({ hashedFiles: 0, added: 0, changed: 0, removed: 0 });
  }, 180_000);

  it.runIf(process.getuid?.() === 0)('reports a file it is not allowed to read and keeps indexing the rest (run as an unprivileged user)', async () => {
    await init();
    fs.writeFileSync(path.join(docs, 'open.txt'), 'readable');
    fs.writeFileSync(path.join(docs, 'private.txt'), 'nobody may read this');
    await cliJson(home, ['folder', 'add', docs, '--id', 'docs']);
    const nobody = 65534;
    for (const p of [base, home, docs, ...fs.readdirSync(home).map((n) => path.join(home, n))]) fs.chownSync(p, nobody, nobody);
    fs.chownSync(path.join(docs, 'open.txt'), nobody, nobody);
    fs.chmodSync(path.join(docs, 'private.txt'), 0o600); // owned by root
    const r = await runCli(['scan', '--json'], { home, uid: nobody, gid: nobody });
    expect(r.code, r.stderr).toBe(0);
    const [report] = JSON.parse(r.stdout) as ScanReport[];
    expect(report!.files).toBe(1);
    expect(report!.problems).toEqual([expect.objectContaining({ path: 'private.txt', code: 'IO_ERROR', message: expect.stringMatching(/permission denied/) })]);
  });
});
