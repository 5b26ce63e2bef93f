import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareVectors, mergeVectors, nextVector } from './vector.js';
import { compareHeads, preferredHead, type HeadCandidate } from './heads.js';

const vector = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.integer({ min: 0, max: 20 }));

describe('version vectors', () => {
  it('orders a vector against itself as equal and is antisymmetric', () => {
    fc.assert(fc.property(vector, vector, (a, b) => {
      expect(compareVectors(a, a)).toBe('equal');
      const ab = compareVectors(a, b);
      const ba = compareVectors(b, a);
      const mirror = { equal: 'equal', before: 'after', after: 'before', concurrent: 'concurrent' } as const;
      expect(ba).toBe(mirror[ab]);
    }));
  });

  it('treats a missing entry as zero', () => {
    expect(compareVectors({ a: 1, b: 0 }, { a: 1 })).toBe('equal');
    expect(compareVectors({}, { a: 1 })).toBe('before');
  });

  it('detects concurrent edits', () => {
    expect(compareVectors({ a: 2, b: 1 }, { a: 1, b: 2 })).toBe('concurrent');
  });

  it('merge dominates or equals every input', () => {
    fc.assert(fc.property(fc.array(vector, { maxLength: 5 }), (vs) => {
      const m = mergeVectors(vs);
      for (const v of vs) expect(['after', 'equal']).toContain(compareVectors(m, v));
    }));
  });

  it('a new version strictly dominates all of its parents', () => {
    fc.assert(fc.property(fc.array(vector, { maxLength: 4 }), fc.constantFrom('a', 'b', 'c', 'e'), fc.integer({ min: 1, max: 50 }), (parents, author, counter) => {
      const v = nextVector(parents, author, counter);
      for (const p of parents) expect(compareVectors(v, p)).toBe('after');
      expect(v[author]).toBeGreaterThanOrEqual(counter);
    }));
  });
});

const head = fc.record({
  id: fc.stringMatching(/^[0-9a-f]{8}$/),
  state: fc.constantFrom('provisional' as const, 'confirmed' as const),
  vector,
  createdAt: fc.integer({ min: 0, max: 1000 }),
});

describe('preferred head', () => {
  it('is the same whatever order the heads arrive in', () => {
    fc.assert(fc.property(fc.uniqueArray(head, { selector: (h) => h.id, minLength: 1, maxLength: 6 }), (heads) => {
      const a = preferredHead(heads);
      const b = preferredHead([...heads].reverse());
      expect(a?.id).toBe(b?.id);
    }));
  });

  it('prefers a confirmed head over any provisional one', () => {
    const heads: HeadCandidate[] = [
      { id: 'b', state: 'provisional', vector: { x: 9 }, createdAt: 9 },
      { id: 'a', state: 'confirmed', vector: { y: 1 }, createdAt: 1 },
    ];
    expect(preferredHead(heads)?.id).toBe('a');
  });

  it('breaks full ties by version id, never by the order given', () => {
    const h = (id: string): HeadCandidate => ({ id, state: 'provisional', vector: { a: 1 }, createdAt: 5 });
    expect(preferredHead([h('z'), h('m'), h('c')])?.id).toBe('c');
    expect(compareHeads(h('c'), h('c'))).toBe(0);
  });
});
