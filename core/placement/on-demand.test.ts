/**
 * Which used files of an on-demand folder expire (pure), and what counts as "used": a file
 * written here (the scanner records it), not a file the sync wrote from another device's edit.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineMesh, MESH_FOLDER } from '../testing/engine-mesh.js';
import { chooseExpired, OnDemand, type HeldFile } from './on-demand.js';

const DAY = 86_400_000;
const NOW = 1_800_000_000_000;

const held = (path: string, over: Partial<HeldFile> = {}): HeldFile => ({ folderId: 'docs', path, usedAt: NOW - 40 * DAY, pinned: false, atHead: true, ...over });

describe('chooseExpired', () => {
  it('expires old, unpinned files at their head, and says why each other file stays', () => {
    const files = [
      held('old.txt'),
      held('pinned.txt', { pinned: true }),
      held('recent.txt', { usedAt: NOW - 2 * DAY }),
      held('never-used.txt', { usedAt: null }),
      held('behind.txt', { atHead: false }),
      held('edge.txt', { usedAt: NOW - 30 * DAY }), // exactly keep_recent ago: still recent
    ];
    const c = chooseExpired(files, 30 * DAY, NOW);
    expect(c.expire.map((f) => f.path)).toEqual(['old.txt']);
    expect(c.track.map((f) => f.path)).toEqual(['never-used.txt']);
    expect(c.stay).toEqual({ recent: 2, pinned: 1, untracked: 1, behind: 1 });
  });

  it('keeps everything with keep_recent = 0 (forever)', () => {
    const c = chooseExpired([held('old.txt', { usedAt: 0 }), held('b')], 0, NOW);
    expect(c.expire).toEqual([]);
    expect(c.stay.recent).toBe(2);
  });

  it('property: each file lands in exactly one place, and only old unpinned tracked files at their head expire', () => {
    const file = fc.record({
      path: fc.string({ minLength: 1, maxLength: 8 }),
      usedAt: fc.option(fc.integer({ min: NOW - 100 * DAY, max: NOW }), { nil: null }),
      pinned: fc.boolean(),
      atHead: fc.boolean(),
    }).map((f) => held(f.path, f));
    fc.assert(fc.property(fc.array(file, { maxLength: 30 }), fc.integer({ min: 0, max: 60 * DAY }), (files, keep) => {
      const c = chooseExpired(files, keep, NOW);
      const stayed = Object.values(c.stay).reduce((s, n) => s + n, 0);
      expect(c.expire.length + stayed).toBe(files.length);
      expect(c.track.length).toBe(c.stay.untracked);
      for (const f of c.expire) {
        expect(f.pinned).toBe(false);
        expect(f.atHead).toBe(true);
        expect(f.usedAt).not.toBeNull();
        expect(keep > 0 && NOW - (f.usedAt as number) > keep).toBe(true);
      }
      // Later, never fewer expire (a file does not become recent by waiting).
      expect(chooseExpired(files, keep, NOW + DAY).expire.length).toBeGreaterThanOrEqual(c.expire.length);
    }));
  });
});

describe('what counts as used', () => {
  let mesh: EngineMesh | undefined;
  afterEach(async () => {
    await mesh?.close();
    mesh = undefined;
  });

  const uses = (db: OnDemand) => new Map(db.heldFiles().map((r) => [r.path, r.usedAt]));

  it('a file written or edited here is used now; a file the sync wrote from another device is not', async () => {
    mesh = await EngineMesh.create(['alpha', 'beta']);
    const alpha = mesh.device('alpha');
    const beta = mesh.device('beta');
    fs.writeFileSync(path.join(alpha.root, 'shared.txt'), 'from alpha');
    await mesh.heal();
    beta.engine.folders.update(MESH_FOLDER, { mode: 'on-demand' });
    const betaUses = new OnDemand(beta.engine.db);
    // Written by the sync while beta's folder was in full mode: held, with no use recorded.
    expect(uses(betaUses)).toEqual(new Map([['shared.txt', null]]));

    // alpha edits it; the sync writes the new version on beta: still not used there.
    mesh.clock += DAY;
    fs.writeFileSync(path.join(alpha.root, 'shared.txt'), 'alpha again, longer');
    await mesh.heal();
    expect(fs.readFileSync(path.join(beta.root, 'shared.txt'), 'utf8')).toBe('alpha again, longer');
    expect(uses(betaUses).get('shared.txt')).toBeNull();

    // beta writes a new file and edits the shared one: both used at beta's clock.
    mesh.clock += DAY;
    const at = mesh.clock;
    fs.writeFileSync(path.join(beta.root, 'mine.txt'), 'written on beta');
    fs.writeFileSync(path.join(beta.root, 'shared.txt'), 'edited on beta');
    await beta.engine.scan(MESH_FOLDER);
    expect(uses(betaUses)).toEqual(new Map([['mine.txt', at], ['shared.txt', at]]));

    // alpha keeps its folder in full mode: its writes record nothing.
    fs.writeFileSync(path.join(alpha.root, 'alpha-only.txt'), 'x');
    await alpha.engine.scan(MESH_FOLDER);
    expect(alpha.engine.db.prepare('SELECT count(*) FROM recent_files').pluck().get()).toBe(0);
  });
});
