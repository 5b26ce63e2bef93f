/**
 * A hostile peer against a real daemon: a client that holds a valid pairing (it paired
 * through a real invite, so it is a member and its signatures verify) sends garbage frames,
 * oversize messages, chunks that do not match their hash, paths that try to leave the
 * folder, and forged entries. Each time the daemon must cut it off (or, for bad paths,
 * refuse just those versions), write nothing outside the shared folder, and keep running.
 *
 * The daemon is the built program in its own process on a loopback testnet; the hostile
 * client runs in this process (core/testing/hostile-peer.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectHttp } from '../api/http-client.js';
import type { CanopyClient, InviteInfo, StatusInfo } from '../api/types.js';
import { blake3Hex } from '../chunking/hash.js';
import { identityFromSeed } from '../identity/index.js';
import { codecs } from '../net/messages.js';
import { TEMP_PREFIX } from '../scan/ignore.js';
import { cliJson, runCli, startDaemonProcess, startTestnetProcess, tmpDir, waitFor, type DaemonProcess, type TestnetProcess } from '../testing/index.js';
import { encodeMessage, HostilePeer, Raw, signedEntry, versionsEntry } from '../testing/hostile-peer.js';

let testnet: TestnetProcess | undefined;
let daemon: DaemonProcess | undefined;
/** The daemon's HTTP API (what the CLI talks to), for the cheap checks between steps. */
let api: CanopyClient;
let base: string;
let home: string;
/** The folder's parent: must only ever hold the folder itself. */
let share: string;
let docs: string;
/** What a planted symlink points at: must keep exactly its one file, unchanged. */
let outside: string;
const VICTIM = 'victim.txt';
const peers: HostilePeer[] = [];
let invitesThisTest = 0;

beforeAll(async () => {
  base = tmpDir('canopy-hostile-');
  home = path.join(base, 'home');
  share = path.join(base, 'share');
  docs = path.join(share, 'docs');
  outside = path.join(base, 'outside');
  fs.mkdirSync(docs, { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, VICTIM), 'not yours');
  fs.writeFileSync(path.join(docs, 'hello.txt'), 'hello from the daemon');
  const [net, init] = await Promise.all([startTestnetProcess(), runCli(['init', '--name', 'target'], { home })]);
  testnet = net;
  expect(init.code, init.stderr).toBe(0);
  await cliJson(home, ['folder', 'add', docs, '--id', 'docs']);
  daemon = await startDaemonProcess(home, ['--bootstrap', testnet.bootstrap]);
  api = connectHttp({ url: daemon.info.url, token: daemon.info.token });
});

beforeEach(() => {
  invitesThisTest = 0;
});

// After every scenario: the daemon runs and answers the CLI, and nothing left the folder.
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.destroy()));
  await assertDaemonAlive();
  const status = await cliJson<StatusInfo>(home, ['status']);
  expect(status.via).toBe('daemon');
  expect(status.daemon?.pid).toBe(daemon?.child.pid);
  assertNothingOutside();
});

afterAll(async () => {
  await Promise.all(peers.splice(0).map((p) => p.destroy()));
  if (daemon && daemon.child.exitCode === null) await daemon.stop();
  await testnet?.stop();
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

/**
 * A fresh pairing: a new invite, a new device identity, the sync channel open, hello sent.
 * Each scenario's first invite comes from `canopy invite`; further ones from the same API
 * call over HTTP (a CLI process per step would cost more than the step on two busy cores).
 */
async function hostilePeer(): Promise<HostilePeer> {
  const invite = invitesThisTest++ === 0
    ? await cliJson<InviteInfo>(home, ['invite', '--expires', '5m'])
    : await api.call('invite.create', { expiresInMs: 5 * 60_000 });
  expect(invite.listening).toBe(true);
  const peer = await HostilePeer.pair({ bootstrap: (testnet as TestnetProcess).bootstrap, code: invite.code });
  peers.push(peer);
  peer.sendHello();
  return peer;
}

function readDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(home, 'canopy.db'), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}

function problems(): { path: string; code: string; message: string }[] {
  return readDb((db) => db.prepare("SELECT path, code, message FROM sync_problems WHERE folder_id = 'docs'").all() as { path: string; code: string; message: string }[]);
}

/** Every name under `dir`, recursively, without following symlinks. */
function tree(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = e.name;
    out.push(rel);
    if (e.isDirectory()) out.push(...tree(path.join(dir, rel)).map((x) => `${rel}/${x}`));
  }
  return out.sort();
}

function assertNothingOutside(): void {
  expect(fs.readdirSync(share)).toEqual(['docs']);
  expect(fs.readdirSync(outside)).toEqual([VICTIM]);
  expect(fs.readFileSync(path.join(outside, VICTIM), 'utf8')).toBe('not yours');
  expect(fs.existsSync('/etc/canopy-pwned')).toBe(false);
  expect(fs.readdirSync(base).sort()).toEqual(['home', 'outside', 'share']);
  expect(fs.existsSync('/tmp/outside/inside.txt')).toBe(false);
}

/** The daemon survived: its process runs, logged no crash, and answers its API. */
async function assertDaemonAlive(): Promise<void> {
  const d = daemon as DaemonProcess;
  expect(d.child.exitCode, d.output()).toBe(null);
  expect(d.output()).not.toMatch(/Uncaught|unhandled|\n\s+at /i);
  const status = await api.call('status', {});
  expect(status.daemon?.pid).toBe(d.child.pid);
}

/**
 * The connection was dropped, the daemon stays up, nothing left the folder; with `code`, the
 * daemon also logged the cut-off and its `error` message (id 0) reached the peer first.
 */
async function assertCutOff(peer: HostilePeer, code?: string): Promise<void> {
  await peer.waitCutOff();
  expect(peer.closed).toBe(true);
  if (code) {
    // The daemon logs every cut-off with its reason.
    await waitFor(() => (daemon as DaemonProcess).output().includes(`cutting off device ${peer.deviceId.slice(0, 8)}: ${code}`), `the daemon to log cutting off ${peer.deviceId.slice(0, 8)} (${code})`);
    expect(peer.cutOffError, 'the error message (id 0) should reach the peer before the stream is destroyed').toMatchObject({ id: 0, code });
  }
  await assertDaemonAlive();
  assertNothingOutside();
}

const tmpNames = () => tree(docs).filter((n) => path.basename(n).startsWith(TEMP_PREFIX));

describe('a hostile peer with a valid pairing', () => {
  it('is cut off for frames that do not decode', async () => {
    // A truncated `entries` message: the array promises an entry the frame does not hold.
    const a = await hostilePeer();
    const entry = versionsEntry(a.identity, 1, [{ folder: 'docs', path: 'truncated.txt', data: Buffer.from('x') }]);
    const full = encodeMessage(codecs.entries, { entries: [entry] });
    a.send.entries.send(new Raw(full.subarray(0, full.length - 20)));
    await assertCutOff(a);
    // Protomux itself drops a connection whose frame does not decode (the session never sees
    // it, so no error message goes out); the daemon logs the stream's error and carries on.
    await waitFor(() => (daemon as DaemonProcess).output().includes(`connection to ${a.deviceId.slice(0, 8)}: `), 'the daemon to log the dropped connection');

    // Random bytes as a `data` message: too short for the id and the 32-byte hash.
    const b = await hostilePeer();
    b.send.data.send(new Raw(randomBytes(20)));
    await assertCutOff(b);
    expect(fs.existsSync(path.join(docs, 'truncated.txt'))).toBe(false);
  });

  it('is cut off for oversize messages', async () => {
    const a = await hostilePeer();
    const entry = versionsEntry(a.identity, 1, [{ folder: 'docs', path: 'many.txt', data: Buffer.from('many') }]);
    a.send.entries.send({ entries: Array.from({ length: 20_000 }, () => entry) });
    await assertCutOff(a, 'PROTOCOL');
    expect(a.cutOffError?.message).toMatch(/too many entries/);

    const b = await hostilePeer();
    b.send.request.send({ id: 1, hash: randomBytes(32), size: 64 * 1024 * 1024 });
    await assertCutOff(b, 'PROTOCOL');
    expect(b.cutOffError?.message).toMatch(/exceeds/);
    expect(fs.existsSync(path.join(docs, 'many.txt'))).toBe(false);
  });

  it('has its replica facts recorded, and is cut off for facts it breaks: too many hashes, a capacity that does not decode', async () => {
    const a = await hostilePeer();
    const held = randomBytes(32);
    const heldBy = () => readDb((db) => db.prepare('SELECT count(*) AS n FROM replicas WHERE device_id = ? AND chunk = ?').get(a.deviceId, held.toString('hex')) as { n: number }).n;
    a.send.inventory.send({ final: true, hashes: [held] });
    await waitFor(() => heldBy() === 1, 'the daemon to record what the peer holds');
    a.send.drop.send({ hashes: [held] });
    await waitFor(() => heldBy() === 0, 'the daemon to forget what the peer dropped');

    const b = await hostilePeer();
    b.send.drop.send({ hashes: Array.from({ length: 70_000 }, () => randomBytes(32)) });
    await assertCutOff(b, 'PROTOCOL');
    expect(b.cutOffError?.message).toMatch(/too many hashes/);

    const c = await hostilePeer();
    // A capacity figure beyond 2^53 (uint64 0xff...): it does not decode, and the connection drops.
    c.send.capacity.send(new Raw(Buffer.from([0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])));
    await assertCutOff(c);
    expect(readDb((db) => db.prepare('SELECT capacity FROM devices WHERE id = ?').get(c.deviceId) as { capacity: string | null } | undefined)?.capacity ?? null).toBeNull();
  });

  it('is told which chunks the daemon holds, from its index, and is cut off for holder questions or answers that break the protocol', async () => {
    const a = await hostilePeer();
    // hello.txt lives in the daemon's working copy (indexed, unchanged): a "yes" without a chunk moving; a random hash: "no".
    const inWorkingCopy = Buffer.from(blake3Hex(Buffer.from('hello from the daemon')), 'hex');
    a.send.holdsQuestion.send({ id: 7, hashes: [randomBytes(32), inWorkingCopy, randomBytes(32)] });
    await waitFor(() => a.holdsAnswers.length > 0, 'the daemon to answer the holds question');
    expect(a.holdsAnswers[0]).toMatchObject({ id: 7, count: 3 });
    expect([...(a.holdsAnswers[0]?.held ?? [])]).toEqual([0b010]);
    expect(a.requests).toEqual([]);

    // More hashes in one question than allowed.
    a.send.holdsQuestion.send({ id: 8, hashes: Array.from({ length: 4097 }, () => randomBytes(32)) });
    await assertCutOff(a, 'PROTOCOL');
    expect(a.cutOffError?.message).toMatch(/names 4097 hashes/);

    // An empty question.
    const b = await hostilePeer();
    b.send.holdsQuestion.send({ id: 1, hashes: [] });
    await assertCutOff(b, 'PROTOCOL');
    expect(b.cutOffError?.message).toMatch(/names 0 hashes/);

    // An answer to a question the daemon never asked.
    const c = await hostilePeer();
    c.send.holdsAnswer.send({ id: 123_456, count: 1, held: Buffer.from([1]) });
    await assertCutOff(c, 'PROTOCOL');
    expect(c.cutOffError?.message).toMatch(/never asked/);

    // A question whose hash list does not decode (it promises two hashes, holds one and a half).
    const d = await hostilePeer();
    const full = encodeMessage(codecs.holdsQuestion, { id: 2, hashes: [randomBytes(32), randomBytes(32)] });
    d.send.holdsQuestion.send(new Raw(full.subarray(0, full.length - 16)));
    await assertCutOff(d);
  });

  it('is offered a direct link on loopback only, and is cut off for an offer of its own with too many addresses', async () => {
    const a = await hostilePeer();
    // The daemon runs on a loopback testnet, so it listens, and offers, on 127.0.0.1 alone.
    await waitFor(() => a.directOffers.length > 0, 'the daemon to offer a direct link');
    expect(a.directOffers[0]?.addresses).toEqual([{ host: '127.0.0.1', port: expect.any(Number) }]);

    a.send.direct.send({ addresses: Array.from({ length: 9 }, (_, i) => ({ host: `10.0.0.${i + 1}`, port: 22000 })) });
    await assertCutOff(a, 'PROTOCOL');
    expect(a.cutOffError?.message).toMatch(/more than 8 direct addresses/);
  });

  it('is cut off for a chunk that does not match its hash, and the file is not created', async () => {
    const peer = await hostilePeer();
    const content = randomBytes(50_000);
    const hash = blake3Hex(content);
    // Same size, other bytes: only the hash can tell.
    peer.chunks.set(hash, randomBytes(content.length));
    peer.send.entries.send({ entries: [versionsEntry(peer.identity, 1, [{ folder: 'docs', path: 'corrupt.bin', data: content }])] });
    await assertCutOff(peer, 'CORRUPT_CHUNK');
    expect(peer.requests.map((r) => Buffer.from(r.hash).toString('hex'))).toContain(hash);
    expect(fs.existsSync(path.join(docs, 'corrupt.bin'))).toBe(false);
    await waitFor(() => problems().some((p) => p.path === 'corrupt.bin'), 'a sync problem for corrupt.bin');
    await waitFor(() => tmpNames().length === 0, 'no temp files left in the folder');
    expect(readDb((db) => db.prepare('SELECT count(*) FROM stored_chunks WHERE hash = ?').pluck().get(hash))).toBe(0);
  });

  it('cannot write outside the folder with traversal paths or a planted symlink; the rest syncs', async () => {
    const peer = await hostilePeer();
    const data = (s: string) => Buffer.from(`${s}\n`);
    const specs = [
      { folder: 'docs', path: 'good.txt', data: data('good') },
      { folder: 'docs', path: '../escape.txt', data: data('escape') },
      { folder: 'docs', path: '/etc/canopy-pwned', data: data('pwned') },
      { folder: 'docs', path: 'a/../../x', data: data('x') },
      { folder: 'docs', path: 'link', kind: 'symlink' as const, target: outside },
    ];
    for (const s of specs) if (s.data) peer.chunks.set(blake3Hex(s.data), s.data);
    peer.send.entries.send({ entries: [versionsEntry(peer.identity, 1, specs)] });

    await waitFor(() => fs.existsSync(path.join(docs, 'good.txt')) && fs.lstatSync(path.join(docs, 'link'), { throwIfNoEntry: false })?.isSymbolicLink(), 'good.txt and the symlink to arrive', 20_000);
    expect(fs.readFileSync(path.join(docs, 'good.txt'), 'utf8')).toBe('good\n');

    // Now, through the symlink (which points outside the folder): a new file, a directory,
    // and the deletion of a file that exists out there.
    const inside = data('inside');
    peer.chunks.set(blake3Hex(inside), inside);
    peer.send.entries.send({
      entries: [versionsEntry(peer.identity, 2, [
        { folder: 'docs', path: 'link/inside.txt', data: inside },
        { folder: 'docs', path: 'link/sub', kind: 'dir' },
        { folder: 'docs', path: `link/${VICTIM}`, kind: 'tombstone' },
      ])],
    });
    const throughLink = ['link/inside.txt', 'link/sub', `link/${VICTIM}`];
    await waitFor(() => throughLink.every((t) => problems().some((p) => p.path === t)), 'sync problems for every path through the symlink');

    const byPath = new Map(problems().map((p) => [p.path, p]));
    for (const bad of ['../escape.txt', '/etc/canopy-pwned', 'a/../../x', ...throughLink]) {
      expect(byPath.get(bad), bad).toMatchObject({ code: 'BAD_PATH' });
    }
    expect(byPath.has('good.txt')).toBe(false);
    assertNothingOutside();
    expect(tree(docs).filter((n) => !n.startsWith(TEMP_PREFIX))).toEqual(expect.arrayContaining(['good.txt', 'hello.txt', 'link']));
    expect(tree(docs)).not.toContain('a');
    expect(fs.readlinkSync(path.join(docs, 'link'))).toBe(outside);

    // Well-signed entries with bad paths are refused version by version, not as hostile
    // (a relay forwarding another device's entry is not at fault): the peer stays connected.
    expect(peer.closed).toBe(false);
    expect(peer.cutOffError).toBeUndefined();
    await assertDaemonAlive();
  });

  it('is cut off for forged entries', async () => {
    // Signed by a key that is not the origin's.
    const a = await hostilePeer();
    const stranger = identityFromSeed(randomBytes(32));
    a.send.entries.send({ entries: [versionsEntry(a.identity, 1, [{ folder: 'docs', path: 'forged-key.txt', data: Buffer.from('f') }], stranger)] });
    await assertCutOff(a, 'BAD_ENTRY');
    expect(a.cutOffError?.message).toMatch(/signature/);

    // Properly signed, then the body changed (still canonical JSON of the same length).
    const b = await hostilePeer();
    const good = versionsEntry(b.identity, 1, [{ folder: 'docs', path: 'forged-aaaa.txt', data: Buffer.from('f') }]);
    const tampered = Buffer.from(Buffer.from(good.body).toString('utf8').replace('forged-aaaa.txt', 'forged-bbbb.txt'), 'utf8');
    expect(tampered.equals(good.body)).toBe(false);
    b.send.entries.send({ entries: [{ ...good, body: tampered }] });
    await assertCutOff(b, 'BAD_ENTRY');

    // Impersonating the daemon itself: its origin and next seq, signed with our key.
    const c = await hostilePeer();
    const target = c.daemonHello?.deviceId as string;
    const seq = (c.daemonHello?.vector.find((v) => v.origin === target)?.seq ?? 0) + 1;
    const body = {
      t: 'versions', author: target, seq, createdAt: Date.now(),
      versions: [{ folder: 'docs', path: 'forged-daemon.txt', kind: 'file', size: 0, mtimeMs: Date.now(), mode: 0o644, chunks: [], parents: [], vector: { [target]: seq } }],
    };
    c.send.entries.send({ entries: [signedEntry(target, seq, 'versions', body, c.identity)] });
    await assertCutOff(c, 'BAD_ENTRY');

    expect(readDb((db) => db.prepare("SELECT count(*) FROM versions WHERE path LIKE 'forged%'").pluck().get())).toBe(0);
    expect(tree(docs).some((n) => n.startsWith('forged'))).toBe(false);
  });

  it('leaves the daemon running and nothing outside the folder', async () => {
    await assertDaemonAlive();
    assertNothingOutside();
    await waitFor(() => tmpNames().length === 0, 'no temp files left in the folder');
  });
});
