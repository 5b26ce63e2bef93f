/**
 * LocalChunks against a real engine: chunks served from the store and from working-copy
 * files at their offsets, always verified; a file edited since it was indexed is not a
 * source; a symlink that replaced an indexed file is not followed.
 */
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Engine } from '../engine/index.js';
import { blake3Hex } from '../chunking/hash.js';
import { seededBytes, tmpDir, writeSeededFile } from '../testing/index.js';
import { LocalChunks } from './local-chunks.js';

let base: string;
let engine: Engine;
let root: string;
let local: LocalChunks;

beforeEach(() => {
  base = tmpDir('canopy-localchunks-');
  root = path.join(base, 'docs');
  fs.mkdirSync(root);
  engine = Engine.init(path.join(base, 'home'), { name: 'test' });
  engine.folders.add({ path: root, id: 'docs' });
  local = new LocalChunks(engine.db, engine.store, (id) => engine.folders.get(id)?.local?.path);
});
afterEach(async () => {
  await engine.close();
  fs.rmSync(base, { recursive: true, force: true });
});

const chunksOf = (p: string) => engine.versions.chunks(engine.versions.preferredHead('docs', p)!.id);

describe('LocalChunks', () => {
  it('serves a chunk from the store, verified', async () => {
    const data = seededBytes('stored', 1000);
    const hash = blake3Hex(data);
    expect(local.has(hash)).toBe(false);
    expect(await local.read(hash)).toBeUndefined();
    await engine.store.put(hash, data);
    expect(local.has(hash)).toBe(true);
    expect((await local.read(hash))?.equals(data)).toBe(true);
  });

  it('serves every chunk of a multi-chunk working-copy file from its offset', async () => {
    writeSeededFile(path.join(root, 'sub/big.bin'), 6 * 1024 * 1024, 'big');
    await engine.scan('docs');
    const bytes = fs.readFileSync(path.join(root, 'sub/big.bin'));
    const chunks = chunksOf('sub/big.bin');
    expect(chunks.length).toBeGreaterThan(2);
    for (const c of chunks) {
      expect(local.has(c.hash)).toBe(true);
      expect((await local.read(c.hash))?.equals(bytes.subarray(c.offset, c.offset + c.size))).toBe(true);
    }
    expect(engine.store.usage().chunks).toBe(0);
  });

  it('does not serve bytes of a file edited since it was indexed, and tries the next location', async () => {
    fs.writeFileSync(path.join(root, 'a.txt'), 'same content');
    fs.writeFileSync(path.join(root, 'b.txt'), 'same content');
    await engine.scan('docs');
    const [c] = chunksOf('a.txt');
    expect(chunksOf('b.txt')[0]?.hash).toBe(c!.hash);
    fs.writeFileSync(path.join(root, 'a.txt'), 'SAME CONTENT'); // same size, not rescanned
    expect((await local.read(c!.hash))?.toString()).toBe('same content'); // from b.txt
    fs.writeFileSync(path.join(root, 'b.txt'), 'other conten');
    expect(local.has(c!.hash)).toBe(true); // by index only
    expect(await local.read(c!.hash)).toBeUndefined();
    // readFromWorkingCopy can leave one file out ("held anywhere else?")
    fs.writeFileSync(path.join(root, 'b.txt'), 'same content');
    expect(await local.readFromWorkingCopy(c!.hash, { folderId: 'docs', path: 'b.txt' })).toBeUndefined();
    expect((await local.readFromWorkingCopy(c!.hash, { folderId: 'docs', path: 'a.txt' }))?.toString()).toBe('same content');
  });

  it('does not follow a symlink that replaced an indexed file', async () => {
    const secret = path.join(base, 'outside.txt');
    fs.writeFileSync(secret, 'indexed text');
    fs.writeFileSync(path.join(root, 'f.txt'), 'indexed text');
    await engine.scan('docs');
    const [c] = chunksOf('f.txt');
    fs.rmSync(path.join(root, 'f.txt'));
    fs.symlinkSync(secret, path.join(root, 'f.txt'));
    expect(await local.read(c!.hash)).toBeUndefined();
  });

  it.runIf(process.platform !== 'win32')('does not hang on a FIFO that replaced an indexed file', async () => {
    fs.writeFileSync(path.join(root, 'f.txt'), 'indexed text');
    await engine.scan('docs');
    const [c] = chunksOf('f.txt');
    fs.rmSync(path.join(root, 'f.txt'));
    execFileSync('mkfifo', [path.join(root, 'f.txt')]);
    expect(await local.read(c!.hash)).toBeUndefined();
  });

  it('ignores folders that are not attached', async () => {
    fs.writeFileSync(path.join(root, 'f.txt'), 'hello');
    await engine.scan('docs');
    const [c] = chunksOf('f.txt');
    const detached = new LocalChunks(engine.db, engine.store, () => undefined);
    expect(detached.has(c!.hash)).toBe(false);
    expect(await detached.read(c!.hash)).toBeUndefined();
    expect(detached.heldAmong([c!.hash]).size).toBe(0);
  });

  it('answers heldAmong for many hashes as has() does for each: store, working copy, neither, quarantined', async () => {
    fs.writeFileSync(path.join(root, 'f.txt'), 'in the working copy');
    await engine.scan('docs');
    const [inFile] = chunksOf('f.txt');
    const stored = seededBytes('stored', 1000);
    const quarantined = seededBytes('quarantined', 1000);
    await engine.store.put(blake3Hex(stored), stored);
    await engine.store.put(blake3Hex(quarantined), quarantined);
    engine.db.prepare('UPDATE stored_chunks SET quarantined = 1 WHERE hash = ?').run(blake3Hex(quarantined));
    const asked = [inFile!.hash, blake3Hex(stored), blake3Hex(quarantined), blake3Hex(seededBytes('nowhere', 10))];
    expect([...local.heldAmong(asked)].sort()).toEqual(asked.filter((h) => local.has(h)).sort());
    expect(local.heldAmong(asked).size).toBe(2);
  });
});
