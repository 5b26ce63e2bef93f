import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { auditChunks, classifyChunk } from './audit.js';
import type { ChunkPlacement } from './seam.js';

const DEVICES = ['a', 'b', 'c', 'd', 'e', 'f'];

function chunk(p: Partial<ChunkPlacement> & Pick<ChunkPlacement, 'designated' | 'holders'>): ChunkPlacement {
  return { hash: 'h'.repeat(64), size: 1000, priority: 'normal', factor: p.designated.length, minimum: p.designated.length, shortfall: 0, ...p };
}

/** Any placement over the six devices: designated and holders are arbitrary subsets. */
const placementArb = fc.record({
  designated: fc.subarray(DEVICES, { minLength: 0 }),
  holders: fc.subarray(DEVICES),
  factor: fc.integer({ min: 1, max: 5 }),
  minimum: fc.integer({ min: 1, max: 5 }),
  shortfall: fc.integer({ min: 0, max: 3 }),
  size: fc.integer({ min: 1, max: 4 << 20 }),
}).map((r) => chunk({ ...r, minimum: Math.min(r.minimum, r.factor) }));
const liveArb = fc.subarray(DEVICES).map((l) => new Set(l));
const localArb = fc.constantFrom(...DEVICES);

describe('audit classification', () => {
  it('a chunk on exactly its designated devices is healthy', () => {
    const h = classifyChunk(chunk({ designated: ['a', 'b'], holders: ['a', 'b'] }), new Set(DEVICES), 'a');
    expect(h).toMatchObject({ liveHolders: 2, under: false, over: false, misplaced: false, repairHere: false, belowMinimum: false });
  });

  it('a holder gone past the grace period stops counting, and the device that takes its share repairs', () => {
    // c was designated with a; c is gone, placement moved its share to b.
    const p = chunk({ designated: ['a', 'b'], holders: ['a', 'c'] });
    const live = new Set(['a', 'b', 'd']);
    expect(classifyChunk(p, live, 'b')).toMatchObject({ liveHolders: 1, under: true, belowMinimum: true, repairHere: true });
    expect(classifyChunk(p, live, 'a')).toMatchObject({ repairHere: false });
  });

  it('copies on undesignated devices while a designated device lacks one are misplaced', () => {
    const p = chunk({ designated: ['a', 'b'], holders: ['a', 'c'] });
    expect(classifyChunk(p, new Set(DEVICES), 'd')).toMatchObject({ misplaced: true, under: false, over: false });
  });

  it('more live copies than the factor is over-replicated', () => {
    const p = chunk({ designated: ['a', 'b'], holders: ['a', 'b', 'c'] });
    expect(classifyChunk(p, new Set(DEVICES), 'a')).toMatchObject({ over: true, under: false, misplaced: false });
  });

  it('a shortfall lowers the target: placed on every eligible device is not under-replicated', () => {
    const p = chunk({ designated: ['a', 'b'], holders: ['a', 'b'], factor: 3, minimum: 3, shortfall: 1 });
    expect(classifyChunk(p, new Set(DEVICES), 'a')).toMatchObject({ under: false, shortfall: true, belowMinimum: false });
  });

  it('properties hold for any placement', () => {
    fc.assert(fc.property(placementArb, liveArb, localArb, (p, live, local) => {
      const h = classifyChunk(p, live, local);
      const liveHolders = new Set(p.holders.filter((d) => live.has(d))).size;
      expect(h.liveHolders).toBe(liveHolders);
      // never both under and over; "under" is exactly "fewer than placement can give"
      expect(h.under && h.over).toBe(false);
      expect(h.under).toBe(liveHolders < p.factor - p.shortfall);
      expect(h.over).toBe(liveHolders > p.factor);
      // below the minimum is a kind of under-replication
      if (h.belowMinimum) expect(h.under).toBe(true);
      // repair only where this device is live, designated and not holding
      expect(h.repairHere).toBe(live.has(local) && p.designated.includes(local) && !p.holders.includes(local));
      // misplaced needs a stray copy
      if (h.misplaced) expect(p.holders.some((d) => live.has(d) && !p.designated.includes(d))).toBe(true);
    }));
  });

  it('sums agree with per-chunk classification, and held bytes with the holders', () => {
    fc.assert(fc.property(fc.array(placementArb, { maxLength: 30 }), liveArb, localArb, (chunks, live, local) => {
      const { counts, heldBytes } = auditChunks(chunks, live, local);
      const each = chunks.map((p) => classifyChunk(p, live, local));
      expect(counts.chunks).toBe(chunks.length);
      expect(counts.underReplicated).toBe(each.filter((h) => h.under).length);
      expect(counts.overReplicated).toBe(each.filter((h) => h.over).length);
      expect(counts.repairQueue).toBe(each.filter((h) => h.repairHere).length);
      for (const d of DEVICES) {
        const want = chunks.filter((p) => p.holders.includes(d)).reduce((s, p) => s + p.size, 0);
        expect(heldBytes.get(d) ?? 0).toBe(want);
      }
    }));
  });
});
