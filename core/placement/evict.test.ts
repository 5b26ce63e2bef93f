import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EVICTION_STRATEGIES } from '../config/schema.js';
import { chooseEvictions, evictable, type EvictCandidate } from './evict.js';

const candidate = fc.record({
  hash: fc.string({ minLength: 1, maxLength: 8 }),
  size: fc.integer({ min: 1, max: 1000 }),
  lastAccess: fc.integer({ min: 0, max: 1000 }),
  pinned: fc.boolean(),
  priority: fc.constantFrom('critical', 'high', 'normal', 'low', 'expendable'),
  verifiedElsewhere: fc.integer({ min: 0, max: 5 }),
  minimum: fc.integer({ min: 1, max: 5 }),
  designatedHere: fc.boolean(),
  unreferenced: fc.boolean(),
}) as fc.Arbitrary<EvictCandidate>;

const base = (over: Partial<EvictCandidate>): EvictCandidate => ({
  hash: 'h', size: 10, lastAccess: 0, pinned: false, priority: 'normal', verifiedElsewhere: 3, minimum: 2, designatedHere: false, ...over,
});

describe('eviction choice', () => {
  it('never drops a pinned chunk or a copy that would leave fewer verified replicas than the minimum', () => {
    fc.assert(fc.property(fc.array(candidate, { maxLength: 40 }), fc.integer({ min: 0, max: 50_000 }), fc.constantFrom(...EVICTION_STRATEGIES), (cands, need, strategy) => {
      const r = chooseEvictions(cands, need, strategy);
      for (const c of r.evict) {
        expect(c.pinned).toBe(false);
        expect(c.unreferenced || c.verifiedElsewhere >= c.minimum).toBe(true);
      }
      expect(r.freedBytes).toBe(r.evict.reduce((s, c) => s + c.size, 0));
      // It stops once enough is freed, and only falls short when nothing else may go.
      const allowedBytes = cands.filter(evictable).reduce((s, c) => s + c.size, 0);
      if (r.shortBytes > 0) expect(r.freedBytes).toBe(allowedBytes);
      if (r.evict.length > 0) expect(r.freedBytes - (r.evict.at(-1) as EvictCandidate).size).toBeLessThan(need);
      expect(r.kept.pinned).toBe(cands.filter((c) => c.pinned).reduce((s, c) => s + c.size, 0));
    }));
  });

  it('drops by strategy: lru oldest first, priority lowest first, redundant most copies first, hybrid not-designated first', () => {
    const old = base({ hash: 'old', lastAccess: 1 });
    const recent = base({ hash: 'recent', lastAccess: 9 });
    expect(chooseEvictions([recent, old], 10, 'lru').evict.map((c) => c.hash)).toEqual(['old']);
    const exp = base({ hash: 'exp', priority: 'expendable', lastAccess: 9 });
    const high = base({ hash: 'high', priority: 'high', lastAccess: 1 });
    expect(chooseEvictions([high, exp], 10, 'priority').evict.map((c) => c.hash)).toEqual(['exp']);
    const many = base({ hash: 'many', verifiedElsewhere: 5, lastAccess: 9 });
    const few = base({ hash: 'few', verifiedElsewhere: 2, lastAccess: 1 });
    expect(chooseEvictions([few, many], 10, 'redundant').evict.map((c) => c.hash)).toEqual(['many']);
    const mine = base({ hash: 'mine', designatedHere: true, priority: 'expendable' });
    const cache = base({ hash: 'cache', designatedHere: false, priority: 'critical' });
    expect(chooseEvictions([mine, cache], 10, 'hybrid').evict.map((c) => c.hash)).toEqual(['cache']);
  });

  it('drops unreferenced chunks first whatever the strategy', () => {
    for (const s of EVICTION_STRATEGIES) {
      const r = chooseEvictions([base({ hash: 'kept', lastAccess: 0 }), base({ hash: 'garbage', lastAccess: 9, unreferenced: true, verifiedElsewhere: 0 })], 10, s);
      expect(r.evict.map((c) => c.hash)).toEqual(['garbage']);
    }
  });
});
