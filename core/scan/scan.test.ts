/**
 * The scanner against real folders on disk and a real SQLite home (through the Engine, as
 * the daemon uses it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { chunkFileSync } from '../chunking/file-chunker.js';
import { seededBytes, sleep, tmpDir, writeSeededFile } from '../testing/index.js';

let base: string;
let engine: Engine;
let root: string;
let folderId: string;

beforeEach(() => {
  base = tmpDir('canopy-scan-');
  root = path.join(base, 'docs');
  fs.mkdirSync(root);
  engine = Engine.init(path.join(base, 'home'), { name: 'test' });
  folderId = engine.folders.add({ path: root, id: 'docs' }).id;
});
afterEach(async () => {
  await engine.close();
  fs.rmSync(base, { recursive: true, force: true });
});

const scan = async (paths?: string[]) => (await engine.scan(folderId, paths))[0]!;
const head = (p: string) => engine.versions.preferredHead(folderId, p);

describe('scanner', () => {
  it('indexes files of every shape: empty, tiny, multi-chunk, unicode names, empty dirs, symlinks', async () => {
    fs.writeFileSync(path.join(root, 'empty.txt'), '');
    fs.writeFileSync(path.join(root, 'one.bin'), 'x');
    writeSeededFile(path.join(root, 'big', 'random.bin'), 5 * 1024 * 1024, 'big');
    fs.writeFileSync(path.join(root, 'café ☕ 日本.txt'), 'unicode');
    fs.mkdirSync(path.join(root, 'empty-dir'));
    fs.symlinkSync('one.bin', path.join(root, 'link'));
    fs.symlinkSync('/nonexistent/target', path.join(root, 'dangling'));

    const r = await scan();
    expect(r).toMatchObject({ files: 4, dirs: 2, symlinks: 2, added: 8, changed: 0, removed: 0, problems: [] });
    expect(r.bytes).toBe(5 * 1024 * 1024 + 1 + 7);
    expect(head('empty.txt')).toMatchObject({ kind: 'file', size: 0, chunkCount: 0 });
    expect(head('one.bin')).toMatchObject({ kind: 'file', size: 1, chunkCount: 1 });
    expect(head('café ☕ 日本.txt')?.size).toBe(7);
    expect(head('empty-dir')?.kind).toBe('dir');
    expect(head('link')).toMatchObject({ kind: 'symlink', target: 'one.bin' });
    expect(head('dangling')).toMatchObject({ kind: 'symlink', target: '/nonexistent/target' });
    const big = head('big/random.bin')!;
    const chunks = engine.versions.chunks(big.id);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.reduce((s, c) => s + c.size, 0)).toBe(5 * 1024 * 1024);
    for (const c of chunks.slice(0, -1)) expect(c.size).toBeGreaterThanOrEqual(256 * 1024);
    // offsets are contiguous
    chunks.forEach((c, i) => expect(c.offset).toBe(i === 0 ? 0 : chunks[i - 1]!.offset + chunks[i - 1]!.size));
  });

  it('rescans an unchanged folder without reading a single file', async () => {
    for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(root, `f${i}.txt`), `file ${i}`);
    await scan();
    const versions = engine.db.prepare('SELECT count(*) FROM versions').pluck().get();
    const again = await scan();
    expect(again).toMatchObject({ hashedFiles: 0, added: 0, changed: 0, removed: 0, unchanged: 50 });
    expect(engine.db.prepare('SELECT count(*) FROM versions').pluck().get()).toBe(versions);
  });

  it('records an edit as a new version whose parent is the old one, and a delete as a tombstone', async () => {
    const file = path.join(root, 'notes.txt');
    fs.writeFileSync(file, 'first');
    await scan();
    const v1 = head('notes.txt')!;
    fs.writeFileSync(file, 'second, longer');
    const r = await scan();
    expect(r).toMatchObject({ changed: 1, added: 0 });
    const v2 = head('notes.txt')!;
    expect(v2.parents).toEqual([v1.id]);
    expect(v2.vector[engine.identity.deviceId]).toBeGreaterThan(v1.vector[engine.identity.deviceId]!);
    fs.rmSync(file);
    expect(await scan()).toMatchObject({ removed: 1 });
    const v3 = head('notes.txt')!;
    expect(v3).toMatchObject({ kind: 'tombstone', parents: [v2.id] });
    expect(engine.versions.history(folderId, 'notes.txt').map((v) => v.id)).toEqual([v3.id, v2.id, v1.id]);
    expect(engine.versions.heads(folderId, 'notes.txt')).toHaveLength(1);
  });

  it('treats a rename as a delete plus an add that reuses the same chunks', async () => {
    writeSeededFile(path.join(root, 'a.bin'), 600_000, 'rename');
    await scan();
    const before = engine.versions.chunks(head('a.bin')!.id).map((c) => c.hash);
    fs.renameSync(path.join(root, 'a.bin'), path.join(root, 'b.bin'));
    expect(await scan()).toMatchObject({ added: 1, removed: 1 });
    expect(engine.versions.chunks(head('b.bin')!.id).map((c) => c.hash)).toEqual(before);
    expect(head('a.bin')?.kind).toBe('tombstone');
  });

  it('does not make a version when only the modification time changed', async () => {
    const file = path.join(root, 't.txt');
    fs.writeFileSync(file, 'same');
    await scan();
    const v = head('t.txt')!.id;
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const r = await scan();
    expect(r).toMatchObject({ hashedFiles: 1, changed: 0 });
    expect(head('t.txt')!.id).toBe(v);
    expect(await scan()).toMatchObject({ hashedFiles: 0 });
  });

  it('follows .canopyignore (gitignore syntax) and never indexes its own temp files', async () => {
    fs.writeFileSync(path.join(root, '.canopyignore'), '*.tmp\nbuild/\n!keep.tmp\n');
    fs.writeFileSync(path.join(root, 'x.tmp'), 'no');
    fs.writeFileSync(path.join(root, 'keep.tmp'), 'yes');
    fs.mkdirSync(path.join(root, 'build'));
    fs.writeFileSync(path.join(root, 'build', 'out.o'), 'no');
    fs.writeFileSync(path.join(root, '.canopy-tmp-abc'), 'partial download');
    fs.writeFileSync(path.join(root, 'real.txt'), 'yes');
    await scan();
    const paths = engine.db.prepare('SELECT path FROM local_files WHERE folder_id = ? ORDER BY path').pluck().all(folderId);
    expect(paths).toEqual(['.canopyignore', 'keep.tmp', 'real.txt']);
  });

  it('scans only the paths it is given, and sees a deleted subtree through its root', async () => {
    fs.mkdirSync(path.join(root, 'sub/deep'), { recursive: true });
    fs.writeFileSync(path.join(root, 'sub/deep/a.txt'), 'a');
    fs.writeFileSync(path.join(root, 'other.txt'), 'o');
    await scan();
    fs.writeFileSync(path.join(root, 'other.txt'), 'changed but not scanned');
    fs.rmSync(path.join(root, 'sub'), { recursive: true });
    const r = await scan(['sub']);
    expect(r).toMatchObject({ removed: 3, changed: 0 });
    expect(head('sub/deep/a.txt')?.kind).toBe('tombstone');
    expect(head('other.txt')?.size).toBe(1);
  });

  it('scans hundreds of single paths at once, each as a walk would see it', async () => {
    fs.writeFileSync(path.join(root, '.canopyignore'), 'ignored/\n');
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(root, `f${i}.txt`), `file ${i}`);
    fs.writeFileSync(path.join(root, 'edited.txt'), 'before');
    fs.writeFileSync(path.join(root, 'deleted.txt'), 'bye');
    await scan();
    fs.writeFileSync(path.join(root, 'edited.txt'), 'after, longer');
    fs.rmSync(path.join(root, 'deleted.txt'));
    fs.writeFileSync(path.join(root, 'new.txt'), 'new');
    fs.symlinkSync('new.txt', path.join(root, 'link'));
    fs.mkdirSync(path.join(root, 'dir/inner'), { recursive: true });
    fs.writeFileSync(path.join(root, 'dir/inner/x.txt'), 'x');
    fs.mkdirSync(path.join(root, 'ignored'));
    fs.writeFileSync(path.join(root, 'ignored/y.txt'), 'y');
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const touched = [...Array.from({ length: 300 }, (_, i) => `f${i}.txt`), 'edited.txt', 'deleted.txt', 'new.txt', 'link', 'dir', 'ignored/y.txt', 'pipe', 'never-existed.txt'];
    const r = await scan(touched);
    // New: new.txt, link, dir, dir/inner, dir/inner/x.txt; the 300 untouched files stay as they were.
    expect(r).toMatchObject({ added: 5, changed: 1, removed: 1, unchanged: 300 });
    expect(r.problems.map((p) => `${p.code}:${p.path}`)).toEqual(['BAD_PATH:pipe']);
    expect(head('edited.txt')?.size).toBe(13);
    expect(head('deleted.txt')?.kind).toBe('tombstone');
    expect(head('link')).toMatchObject({ kind: 'symlink', target: 'new.txt' });
    expect(head('dir/inner/x.txt')?.size).toBe(1);
    expect(head('ignored/y.txt')).toBeUndefined();
    expect(head('never-existed.txt')).toBeUndefined();
  });

  it('reports a name that is not valid UTF-8 and a FIFO, and indexes everything else', async () => {
    fs.writeFileSync(path.join(root, 'good.txt'), 'fine');
    fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'latin1 name');
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const r = await scan();
    expect(r.files).toBe(1);
    const codes = r.problems.map((p) => `${p.code}:${p.path}`).sort();
    expect(codes).toEqual(['BAD_PATH:bad-\ufffd\ufffd.txt', 'BAD_PATH:pipe']);
    expect(r.problems.find((p) => p.path === 'pipe')?.message).toMatch(/not a regular file/);
    const stored = engine.db.prepare('SELECT count(*) FROM scan_problems WHERE folder_id = ?').pluck().get(folderId);
    expect(stored).toBe(2);
  });

  it('never records a file half-written: a file that keeps changing is retried, reported, then indexed once it settles', async () => {
    const file = path.join(root, 'growing.log');
    writeSeededFile(file, 64 * 1024 * 1024, 'grow');
    // Another process appends to the file every few milliseconds for a while.
    const writer = spawn(process.execPath, ['-e', `
      const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(file)}, 'a');
      const end = Date.now() + 4000; const t = setInterval(() => { fs.writeSync(fd, 'more data\\n'); if (Date.now() > end) { clearInterval(t); fs.closeSync(fd); } }, 2);`]);
    // Listened to now: on a busy machine the scan below can outlast the writer.
    const writerDone = new Promise((r) => writer.on('exit', r));
    await sleep(100);
    const during = await scan();
    await writerDone;
    const problem = during.problems.find((p) => p.path === 'growing.log');
    const recorded = head('growing.log');
    if (problem) {
      expect(problem.code).toBe('UNSTABLE_FILE');
      expect(recorded).toBeUndefined();
    } else {
      // The read slipped between two appends: then what was recorded is a consistent state.
      expect(recorded!.size).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    }
    const after = await scan();
    expect(after.problems).toEqual([]);
    const settled = head('growing.log')!;
    expect(settled.size).toBe(fs.statSync(file).size);
    expect(engine.versions.chunks(settled.id).reduce((s, c) => s + c.size, 0)).toBe(settled.size);
  });

  it('rechunks an edited big file from its previous chunks to exactly what a fresh chunking gives', async () => {
    const file = path.join(root, 'big.bin');
    writeSeededFile(file, 24 * 1024 * 1024, 'big');
    await scan();
    const before = engine.versions.chunks(head('big.bin')!.id);
    const data = fs.readFileSync(file);
    const mid = data.length >> 1;
    fs.writeFileSync(file, Buffer.concat([data.subarray(0, mid), Buffer.from('inserted'), data.subarray(mid)]));
    const r = await scan();
    expect(r).toMatchObject({ changed: 1, problems: [] });
    const after = engine.versions.chunks(head('big.bin')!.id);
    expect(after).toEqual(chunkFileSync(file).chunks);
    // FastCDC resynchronised: only the chunk around the insertion is new.
    const old = new Set(before.map((c) => c.hash));
    expect(after.filter((c) => !old.has(c.hash)).length).toBeLessThanOrEqual(2);
  });

  it('keeps the previous version of a file it cannot read instead of treating it as deleted', async () => {
    if (process.getuid?.() === 0) {
      // root reads everything; the CLI test covers this case by running as another user
      return;
    }
    const file = path.join(root, 'secret.txt');
    fs.writeFileSync(file, 'v1');
    await scan();
    fs.writeFileSync(file, 'v2 changed');
    fs.chmodSync(file, 0);
    const r = await scan();
    fs.chmodSync(file, 0o644);
    expect(r.problems.map((p) => p.path)).toEqual(['secret.txt']);
    expect(head('secret.txt')?.size).toBe(2);
  });

  it('handles a file over 4 GiB (sparse, so it costs no disk)', async () => {
    const file = path.join(root, 'huge.img');
    const size = 4 * 1024 ** 3 + 3 * 1024 * 1024 + 17;
    const fd = fs.openSync(file, 'w');
    fs.ftruncateSync(fd, size);
    fs.writeSync(fd, seededBytes('tail', 1024 * 1024), 0, 1024 * 1024, size - 1024 * 1024);
    fs.closeSync(fd);
    const r = await scan();
    expect(r.problems).toEqual([]);
    const v = head('huge.img')!;
    expect(v.size).toBe(size);
    const chunks = engine.versions.chunks(v.id);
    expect(chunks.reduce((s, c) => s + c.size, 0)).toBe(size);
    expect(chunks.at(-1)!.offset + chunks.at(-1)!.size).toBe(size);
    expect(chunks.at(-1)!.offset).toBeGreaterThan(2 ** 32);
  }, 120_000);
});
