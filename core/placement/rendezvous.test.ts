import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { place, prepareCandidates, topK, type Candidate } from './rendezvous.js';

const chunk = (i: number, salt = '') => createHash('sha256').update(`${salt}chunk-${i}`).digest('hex');
const devices = (n: number, weight: (i: number) => number = () => 1, labels: (i: number) => Record<string, string> = () => ({})): Candidate[] =>
  Array.from({ length: n }, (_, i) => ({ id: `dev-${i}`, weight: weight(i), labels: labels(i) }));

describe('rendezvous placement', () => {
  it('is deterministic, distinct, and reports the shortfall when too few devices are eligible', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 10_000 }), (n, factor, i) => {
      const p = prepareCandidates(devices(n));
      const a = place({ hash: chunk(i), factor }, p);
      const b = place({ hash: chunk(i), factor }, prepareCandidates([...devices(n)].reverse()));
      expect(a.designated).toEqual(b.designated);
      expect(new Set(a.designated).size).toBe(a.designated.length);
      expect(a.designated.length).toBe(Math.min(n, factor));
      expect(a.shortfall).toBe(Math.max(0, factor - n));
    }));
  });

  it('never designates a device whose weight is zero', () => {
    const p = prepareCandidates(devices(5, (i) => (i % 2 === 0 ? 0 : 1)));
    for (let i = 0; i < 500; i++) {
      const r = place({ hash: chunk(i), factor: 3 }, p);
      expect(r.designated.every((id) => Number(id.slice(4)) % 2 === 1)).toBe(true);
      expect(r.shortfall).toBe(1);
    }
  });

  it('gives each device a share of chunks that follows its weight as closely as a fair draw would', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 2, maxLength: 8 }), fc.string({ maxLength: 4 }), (ws, salt) => {
      const p = prepareCandidates(devices(ws.length, (i) => ws[i] as number));
      const total = ws.reduce((a, b) => a + b, 0);
      const wins = new Array<number>(ws.length).fill(0);
      const N = 20_000;
      for (let i = 0; i < N; i++) wins[Number((place({ hash: chunk(i, salt), factor: 1 }, p).designated[0] as string).slice(4))]! += 1;
      // Within 5 standard deviations of a fair draw: a biased placement fails, chance never does.
      ws.forEach((w, i) => {
        const share = w / total;
        expect(Math.abs((wins[i] as number) / N - share)).toBeLessThan(5 * Math.sqrt((share * (1 - share)) / N));
      });
    }), { numRuns: 8 });
  });

  it('moves close to the optimal 1/n of chunks when a device joins, and only onto the new device', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 3 }), fc.string({ maxLength: 4 }), (n, factor, salt) => {
      const before = prepareCandidates(devices(n));
      const after = prepareCandidates(devices(n + 1));
      const N = 10_000;
      let moved = 0;
      let landed = 0;
      for (let i = 0; i < N; i++) {
        const a = place({ hash: chunk(i, salt), factor }, before).designated;
        const b = place({ hash: chunk(i, salt), factor }, after).designated;
        const came = b.filter((id) => !a.includes(id));
        expect(came.every((id) => id === `dev-${n}`)).toBe(true);
        landed += came.length;
        moved += a.filter((id) => !b.includes(id)).length;
      }
      // Optimal: the new device takes its fair share, factor/(n+1) of the chunks, and nothing else moves.
      // Each chunk lands on the new device with chance q, so within 5 standard deviations of N * q.
      const q = Math.min(factor, n + 1) / (n + 1);
      expect(Math.abs(landed - N * q)).toBeLessThanOrEqual(5 * Math.sqrt(N * q * (1 - q)));
      expect(moved).toBe(factor <= n ? landed : 0);
    }), { numRuns: 10 });
  });

  it('spans as many distinct label values as the rule asks, whenever the candidates allow', () => {
    fc.assert(fc.property(
      fc.array(fc.constantFrom('home', 'office', 'cloud', 'parents'), { minLength: 1, maxLength: 9 }),
      fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1000 }),
      (sites, factor, minDistinct, i) => {
        const p = prepareCandidates(devices(sites.length, (k) => 1 + (k % 3), (k) => ({ site: sites[k] as string })));
        const r = place({ hash: chunk(i), factor, diversity: [{ label: 'site', minDistinct }] }, p);
        const spanned = new Set(r.designated.map((id) => sites[Number(id.slice(4))])).size;
        expect(spanned).toBeGreaterThanOrEqual(Math.min(minDistinct, factor, new Set(sites).size));
        expect(r.designated.length).toBe(Math.min(factor, sites.length));
      },
    ));
  });

  it('puts the owner first when asked and keeps it among the designated', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 1000 }), (n, factor, i) => {
      const owner = `dev-${i % n}`;
      const r = place({ hash: chunk(i), factor, owner, ownerFirst: true }, prepareCandidates(devices(n)));
      expect(r.designated[0]).toBe(owner);
    }));
  });

  it('the fast path (no diversity rules) agrees with the full score order', () => {
    // A rule every device satisfies alike makes place() walk the fully sorted order instead.
    const p = prepareCandidates(devices(20, (i) => 1 + (i % 5), () => ({ zone: 'one' })));
    for (let i = 0; i < 2000; i++) {
      const fast = place({ hash: chunk(i), factor: 3 }, p).designated;
      const full = place({ hash: chunk(i), factor: 3, diversity: [{ label: 'zone', minDistinct: 1 }] }, p).designated;
      expect(fast).toEqual(full);
      const idx = new Int32Array(3);
      const len = topK(chunk(i), 3, p, idx, new Float64Array(3));
      expect(Array.from(idx.subarray(0, len), (k) => p.list[k]?.id)).toEqual(full);
    }
  });
});
