import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { nearness, overCap, rankPeers, retryDelayMs, RECONNECT_BACKOFF } from './peer-cap.js';

const labels = fc.dictionary(fc.constantFrom('site', 'net', 'power', 'room'), fc.constantFrom('a', 'b', 'c'));
const peers = fc.uniqueArray(fc.record({ deviceId: fc.stringMatching(/^[0-9a-f]{4,8}$/), labels }), { selector: (p) => p.deviceId, maxLength: 12 });

describe('nearness and ranking', () => {
  it('counts shared key=value pairs only', () => {
    expect(nearness({ site: 'home', net: 'fibre' }, { site: 'home', net: 'dsl', power: 'ups' })).toBe(1);
    expect(nearness({ site: 'home' }, {})).toBe(0);
    expect(nearness({ site: 'home', power: 'ups' }, { power: 'ups', site: 'home' })).toBe(2);
  });

  it('puts nearer peers first, ties by device id', () => {
    const me = { site: 'home', net: 'fibre' };
    const ranked = rankPeers(me, [
      { deviceId: 'd', labels: { site: 'office' } },
      { deviceId: 'c', labels: { site: 'home' } },
      { deviceId: 'b', labels: { site: 'home', net: 'fibre' } },
      { deviceId: 'a', labels: {} },
    ]);
    expect(ranked.map((p) => p.deviceId)).toEqual(['b', 'c', 'a', 'd']);
  });

  it('property: the ranking is a deterministic permutation ordered by nearness, and the cap keeps the nearest', () => {
    fc.assert(fc.property(labels, peers, fc.integer({ min: 1, max: 12 }), (me, ps, cap) => {
      const ranked = rankPeers(me, ps);
      expect(ranked.map((p) => p.deviceId).sort()).toEqual(ps.map((p) => p.deviceId).sort());
      expect(rankPeers(me, [...ps].reverse())).toEqual(ranked);
      for (let i = 1; i < ranked.length; i++) {
        const [a, b] = [ranked[i - 1]!, ranked[i]!];
        const [na, nb] = [nearness(me, a.labels), nearness(me, b.labels)];
        expect(na > nb || (na === nb && a.deviceId < b.deviceId)).toBe(true);
      }
      const { keep, drop } = overCap(me, ps, cap);
      expect(keep.length).toBe(Math.min(cap, ps.length));
      expect([...keep, ...drop]).toEqual(ranked);
      for (const k of keep) for (const d of drop) expect(nearness(me, k.labels)).toBeGreaterThanOrEqual(nearness(me, d.labels));
    }));
  });
});

describe('retry backoff', () => {
  it('doubles from the base up to the ceiling', () => {
    const top = [0, 1, 2, 3, 4, 10, 50].map((a) => retryDelayMs(a, 1));
    expect(top).toEqual([2000, 4000, 8000, 16000, 32000, 300_000, 300_000]);
    expect(retryDelayMs(0, 0)).toBe(1000);
    expect(retryDelayMs(3, 0)).toBe(8000);
  });

  it('property: jitter stays within [half, all] of the capped exponential, never above the ceiling, and grows with attempts', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 100 }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (attempt, r) => {
      const d = retryDelayMs(attempt, r);
      const exp = Math.min(RECONNECT_BACKOFF.maxMs, RECONNECT_BACKOFF.baseMs * 2 ** attempt);
      expect(d).toBeGreaterThanOrEqual(Math.floor(exp / 2));
      expect(d).toBeLessThanOrEqual(RECONNECT_BACKOFF.maxMs);
      expect(retryDelayMs(attempt + 1, r)).toBeGreaterThanOrEqual(d);
    }));
  });
});
