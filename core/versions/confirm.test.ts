/**
 * The pure rules of confirmed state and the preferred head: the majority threshold agrees
 * with counting holders one by one, and the preferred head does not depend on the order in
 * which a device happens to list its heads.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { confirmedUpTo } from './confirm.js';
import { compareHeads, preferredHead, type HeadCandidate } from './heads.js';

describe('confirmedUpTo', () => {
  it('is the highest seq a majority holds, counted one device at a time', () => {
    fc.assert(fc.property(fc.array(fc.nat(20), { maxLength: 6 }), fc.boolean(), fc.integer({ min: 1, max: 25 }), (acks, authorCounts, seq) => {
      const devices = acks.length + (authorCounts ? 1 : 0);
      const majority = Math.floor(Math.max(devices, 1) / 2) + 1;
      const holders = acks.filter((a) => a >= seq).length + (authorCounts ? 1 : 0);
      const upTo = confirmedUpTo(acks, authorCounts, majority);
      expect(seq <= upTo).toBe(holders >= majority);
    }));
  });

  it('a lone device confirms its own versions; two of three is enough; one of two is not', () => {
    expect(confirmedUpTo([], true, 1)).toBe(Number.MAX_SAFE_INTEGER);
    expect(confirmedUpTo([5, 0], true, 2)).toBe(5);
    expect(confirmedUpTo([0], true, 2)).toBe(0);
    // A revoked author no longer counts for its own versions.
    expect(confirmedUpTo([7, 3], false, 2)).toBe(3);
  });
});

const head: fc.Arbitrary<HeadCandidate> = fc.record({
  id: fc.stringMatching(/^[0-9a-f]{4}$/),
  state: fc.constantFrom('provisional' as const, 'confirmed' as const),
  kind: fc.constantFrom('file' as const, 'tombstone' as const),
  vector: fc.constant({}),
  createdAt: fc.integer({ min: 0, max: 5 }),
});

describe('preferredHead', () => {
  it('does not depend on the order heads are listed in', () => {
    fc.assert(fc.property(fc.uniqueArray(head, { selector: (h) => h.id, minLength: 1, maxLength: 6 }), fc.nat(), (heads, seed) => {
      const shuffled = [...heads].sort((a, b) => ((a.id.charCodeAt(0) * (seed + 1)) % 7) - ((b.id.charCodeAt(0) * (seed + 1)) % 7));
      expect(preferredHead(shuffled)?.id).toBe(preferredHead(heads)?.id);
    }));
  });

  it('keeps the file over a deletion, then confirmed over provisional, then the latest, then the lowest id', () => {
    const h = (id: string, state: HeadCandidate['state'], createdAt: number, kind: HeadCandidate['kind'] = 'file'): HeadCandidate => ({ id, state, createdAt, kind, vector: {} });
    expect(preferredHead([h('a', 'confirmed', 9, 'tombstone'), h('b', 'provisional', 1)])?.id).toBe('b');
    expect(preferredHead([h('a', 'provisional', 9), h('b', 'confirmed', 1)])?.id).toBe('b');
    expect(preferredHead([h('a', 'confirmed', 1), h('b', 'confirmed', 2)])?.id).toBe('b');
    expect(preferredHead([h('b', 'confirmed', 2), h('a', 'confirmed', 2)])?.id).toBe('a');
    expect(compareHeads(h('a', 'confirmed', 2), h('a', 'confirmed', 2))).toBe(0);
  });
});
