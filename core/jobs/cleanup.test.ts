import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planCleanup, type CleanupInput, type StoredChunk } from './cleanup.js';

const DEVICES = ['a', 'b', 'c', 'd', 'e', 'f'];

function stored(p: Partial<StoredChunk> & Pick<StoredChunk, 'designated' | 'holders'>): StoredChunk {
  return { hash: 'h'.repeat(64), size: 1000, priority: 'normal', factor: p.designated.length, minimum: p.designated.length, shortfall: 0, lastAccess: 0, ...p };
}

function input(localId: string, over: Partial<CleanupInput> = {}): CleanupInput {
  return { localId, live: new Set(DEVICES), freeBytes: () => null, retainedOverhead: 0, ...over };
}

describe('cleanup choice', () => {
  it('drops an extra copy held on an undesignated device, to be confirmed with the designated holders', () => {
    const plan = planCleanup([stored({ designated: ['a', 'b'], holders: ['a', 'b', 'c'] })], input('c'));
    expect(plan.drops).toEqual([{ hash: 'h'.repeat(64), size: 1000, confirmWith: ['a', 'b'], minimum: 2 }]);
  });

  it('never drops on a designated device', () => {
    const plan = planCleanup([stored({ designated: ['a', 'b'], holders: ['a', 'b', 'c', 'd'] })], input('a'));
    expect(plan.drops).toEqual([]);
  });

  it('keeps a copy while fewer than the minimum designated devices hold the chunk', () => {
    // b is designated but lacks it: c's copy is over the factor in count, yet still needed.
    const plan = planCleanup([stored({ designated: ['a', 'b'], holders: ['a', 'c', 'd'] })], input('c'));
    expect(plan.drops).toEqual([]);
    expect(plan.keptForMinimum).toBe(1);
  });

  it('designated holders gone past the grace period do not count toward the minimum', () => {
    const plan = planCleanup([stored({ designated: ['a', 'b'], holders: ['a', 'b', 'c'] })], input('c', { live: new Set(['a', 'c', 'd']) }));
    expect(plan.drops).toEqual([]);
  });

  it('deletes first on the device with the least free space', () => {
    // factor 2, four holders: the two extra holders c and d both drop; with three holders only the fuller one does.
    const free = (d: string) => ({ c: 10, d: 1000 })[d] ?? null;
    const three = [stored({ designated: ['a', 'b'], holders: ['a', 'b', 'c', 'd'].slice(0, 4) })];
    expect(planCleanup(three, input('c', { freeBytes: free })).drops).toHaveLength(1);
    expect(planCleanup(three, input('d', { freeBytes: free })).drops).toHaveLength(1);
    const justOneExtraToGo = [stored({ designated: ['a', 'b'], holders: ['a', 'b', 'c', 'd'], factor: 3, minimum: 2 })];
    expect(planCleanup(justOneExtraToGo, input('c', { freeBytes: free })).drops).toHaveLength(1);
    const roomy = planCleanup(justOneExtraToGo, input('d', { freeBytes: free }));
    expect(roomy.drops).toHaveLength(0);
    expect(roomy.leftToFullerDevices).toBe(1);
  });

  it('keeps the retained overhead, the most recently used first', () => {
    const chunks = ['1', '2', '3', '4'].map((n, i) => stored({ hash: n.repeat(64), designated: ['a', 'b'], holders: ['a', 'b', 'c'], lastAccess: i }));
    const plan = planCleanup(chunks, input('c', { retainedOverhead: 0.5 }));
    expect(plan.retained).toBe(2);
    expect(plan.drops.map((d) => d.hash[0])).toEqual(['2', '1']);
  });

  /**
   * Every device cleans up at the same moment from the same facts, and every drop it plans is
   * applied (the confirmations all succeed: the worst case). No chunk may end below its
   * minimum, nor lose a designated copy.
   */
  it('concurrent cleanups on every device never leave a chunk below its minimum', () => {
    const chunkArb = fc.record({
      designated: fc.subarray(DEVICES, { minLength: 1, maxLength: 4 }),
      holders: fc.subarray(DEVICES, { minLength: 1 }),
      extraFactor: fc.integer({ min: 0, max: 2 }),
      minimumLess: fc.integer({ min: 0, max: 2 }),
      lastAccess: fc.nat(),
    }).map((r) => {
      const factor = r.designated.length + r.extraFactor;
      return stored({ designated: r.designated, holders: r.holders, factor, minimum: Math.max(1, factor - r.minimumLess), shortfall: r.extraFactor, lastAccess: r.lastAccess });
    });
    const freeArb = fc.dictionary(fc.constantFrom(...DEVICES), fc.option(fc.nat({ max: 1000 }), { nil: null }));
    fc.assert(fc.property(
      fc.array(chunkArb, { minLength: 1, maxLength: 12 }).map((cs) => cs.map((c, i) => ({ ...c, hash: i.toString(16).padStart(64, '0') }))),
      fc.subarray(DEVICES, { minLength: 1 }).map((l) => new Set(l)),
      freeArb, fc.double({ min: 0, max: 1, noNaN: true }),
      (chunks, live, freeMap, overhead) => {
        const dropped = new Map<string, Set<string>>();
        for (const device of DEVICES) {
          const mine = chunks.filter((c) => c.holders.includes(device));
          const plan = planCleanup(mine, { localId: device, live, freeBytes: (d) => freeMap[d] ?? null, retainedOverhead: overhead });
          for (const d of plan.drops) {
            const set = dropped.get(d.hash) ?? new Set<string>();
            set.add(device);
            dropped.set(d.hash, set);
          }
        }
        for (const c of chunks) {
          const gone = dropped.get(c.hash);
          if (!gone) continue;
          for (const d of gone) expect(c.designated).not.toContain(d);
          const left = c.holders.filter((d) => live.has(d) && !gone.has(d));
          expect(left.length).toBeGreaterThanOrEqual(c.minimum);
          expect(left.length).toBeGreaterThanOrEqual(c.factor);
        }
      },
    ), { numRuns: 500 });
  });

  it('a planned drop always names at least the minimum designated holders to confirm with', () => {
    fc.assert(fc.property(fc.subarray(DEVICES, { minLength: 1 }), fc.subarray(DEVICES), fc.constantFrom(...DEVICES), (designated, holders, local) => {
      const plan = planCleanup([stored({ designated, holders: [...holders, local] })], input(local));
      for (const d of plan.drops) {
        expect(d.confirmWith.length).toBeGreaterThanOrEqual(d.minimum);
        expect(d.confirmWith).not.toContain(local);
        for (const x of d.confirmWith) expect(designated).toContain(x);
      }
    }));
  });
});
