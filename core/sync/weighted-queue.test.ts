/**
 * The materializer's write scheduler, WeightedQueue: every item
 * runs once, items start in the order pushed (also when pushed while others run), the
 * weights running at once never pass the capacity (except one item alone, whose weight is
 * capped), it never stalls whatever the weights and finishing times, and its waits
 * (backlogAtMost, drained) resolve exactly when their condition holds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WeightedQueue } from './weighted-queue.js';

describe('WeightedQueue', () => {
  it('runs every item once, in push order, within the capacity, whether pushed at once or while others run, and drained() waits for all', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ weight: fc.integer({ min: 0, max: 300 }), ticks: fc.integer({ min: 0, max: 3 }), pauseAfter: fc.integer({ min: 0, max: 3 }) }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 64 }),
        fc.boolean(),
        async (items, capacity, atOnce) => {
          const started: number[] = [];
          const finished = new Set<number>();
          let running = 0;
          let peak = 0;
          const queue = new WeightedQueue<number>(capacity, (i) => items[i]!.weight, async (i) => {
            started.push(i);
            running += Math.min(capacity, items[i]!.weight);
            peak = Math.max(peak, running);
            // Finish after a few turns of the microtask queue, in varying order.
            for (let t = 0; t < items[i]!.ticks; t++) await Promise.resolve();
            running -= Math.min(capacity, items[i]!.weight);
            finished.add(i);
          });
          for (let i = 0; i < items.length; i++) {
            queue.push(i);
            // Or pushed between other items' turns, as a pass queues slice after slice.
            if (!atOnce) for (let t = 0; t < items[i]!.pauseAfter; t++) await Promise.resolve();
          }
          await queue.drained();
          expect(finished.size).toBe(items.length);
          expect(started).toEqual(items.map((_, i) => i));
          expect(peak).toBeLessThanOrEqual(capacity);
          expect(running).toBe(0);
          expect(queue.backlog).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('backlogAtMost(n) resolves once no more than n items wait to start, and at once if already so', async () => {
    const release: (() => void)[] = [];
    const queue = new WeightedQueue<number>(2, () => 1, () => new Promise<void>((resolve) => release.push(resolve)));
    for (let i = 0; i < 10; i++) queue.push(i);
    expect(queue.backlog).toBe(8);
    let reached = false;
    const wait = queue.backlogAtMost(3).then(() => (reached = true));
    for (let done = 0; done < 5; done++) {
      expect(reached).toBe(false);
      release.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    expect(queue.backlog).toBe(3);
    await wait;
    expect(reached).toBe(true);
    await queue.backlogAtMost(5); // already true: resolves without anything finishing
    let drained = false;
    const all = queue.drained().then(() => (drained = true));
    while (release.length > 0) {
      expect(drained).toBe(false);
      release.shift()!();
      await new Promise((r) => setImmediate(r));
    }
    await all;
    expect(queue.backlog).toBe(0);
  });
});
