/**
 * Priority overrides arrive as signed log entries in any order: the last writer (by
 * createdAt, then author) wins on every device, and a cleared override stays cleared.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openDatabase } from '../db/index.js';
import { applyPriorityOverride } from '../log/ingest.js';
import { tmpDir } from '../testing/index.js';
import { coversPath, PriorityRules } from './priorities.js';

const base = tmpDir('canopy-priorities-');
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
let n = 0;

const entry = fc.record({
  priority: fc.constantFrom('critical', 'high', 'normal', 'low', 'expendable', null),
  author: fc.constantFrom('aaaa', 'bbbb', 'cccc'),
  createdAt: fc.integer({ min: 0, max: 20 }),
});

describe('priority overrides', () => {
  it('end the same whatever order their entries arrive in', () => {
    fc.assert(fc.property(fc.uniqueArray(entry, { minLength: 1, maxLength: 8, selector: (e) => `${e.author}:${e.createdAt}` }), fc.infiniteStream(fc.integer()), (entries, rnd) => {
      const results = [entries, [...entries].reverse(), [...entries].sort(() => (rnd.next().value as number) % 3 - 1)].map((order) => {
        const db = openDatabase(path.join(base, `p${n++}.db`));
        try {
          db.prepare("INSERT INTO folders (id, label, data_class, priority, created_by, created_at) VALUES ('docs', 'docs', 'standard', 'normal', 'x', 0)").run();
          for (const e of order) applyPriorityOverride(db, { folder: 'docs', path: 'a/b', ...e });
          return new PriorityRules(db).effective('docs', 'a/b/c.txt', 'normal');
        } finally {
          db.close();
        }
      });
      const last = [...entries].sort((x, y) => x.createdAt - y.createdAt || (x.author < y.author ? -1 : 1)).at(-1);
      expect(results[0]).toBe(last?.priority ?? 'normal');
      expect(new Set(results).size).toBe(1);
    }), { numRuns: 40 });
  });

  it('cover a path and everything under it, nothing beside it', () => {
    expect(coversPath('a/b', 'a/b')).toBe(true);
    expect(coversPath('a/b', 'a/b/c')).toBe(true);
    expect(coversPath('a/b', 'a/bc')).toBe(false);
    expect(coversPath('', 'anything')).toBe(true);
  });
});
