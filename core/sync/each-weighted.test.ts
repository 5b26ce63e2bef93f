/**
 * eachWeighted, the materializer's write scheduler: every item runs once, items start in
 * order, the weights running at once never pass the capacity (except one item alone, whose
 * weight is capped), and it never stalls, whatever the weights and finishing times.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eachWeighted } from './materialize.js';

describe('eachWeighted', () => {
  it('runs each item once, in order, within the capacity', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ weight: fc.integer({ min: 0, max: 300 }), ticks: fc.integer({ min: 0, max: 3 }) }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 64 }),
        async (items, capacity) => {
          const started: number[] = [];
          let running = 0;
          let peak = 0;
          await eachWeighted(items.map((_, i) => i), capacity, (i) => items[i]!.weight, async (i) => {
            started.push(i);
            running += Math.min(capacity, items[i]!.weight);
            peak = Math.max(peak, running);
            // Finish after a few turns of the microtask queue, in varying order.
            for (let t = 0; t < items[i]!.ticks; t++) await Promise.resolve();
            running -= Math.min(capacity, items[i]!.weight);
          });
          expect(started).toEqual(items.map((_, i) => i));
          expect(peak).toBeLessThanOrEqual(capacity);
          expect(running).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
