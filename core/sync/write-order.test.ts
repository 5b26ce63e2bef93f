/**
 * WriteOrder, which writes of a pass may run side by side: never two paths of which one is
 * under the other or equal to it (letter case aside, for case-insensitive disks), and, for
 * paths that differ in more than case, exactly those with no written path above them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WriteOrder } from './write-order.js';

const segment = fc.constantFrom('a', 'b', 'A', 'B', 'ab', 'x');
const pathArb = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
const related = (p: string, q: string) => {
  const [x, y] = [p.toLowerCase(), q.toLowerCase()];
  return x === y || y.startsWith(`${x}/`) || x.startsWith(`${y}/`);
};

function independentOf(paths: string[]): boolean[] {
  const order = new WriteOrder();
  return paths.map((p) => order.independent(p));
}

describe('WriteOrder', () => {
  it('never lets two related paths (one under the other, or equal case aside) both run side by side', () => {
    fc.assert(
      fc.property(fc.uniqueArray(pathArb, { maxLength: 30 }), (list) => {
        const paths = [...list].sort();
        const free = independentOf(paths);
        for (let i = 0; i < paths.length; i++) {
          for (let j = i + 1; j < paths.length; j++) {
            if (related(paths[i]!, paths[j]!)) expect(free[i] && free[j], `${paths[i]} and ${paths[j]}`).toBe(false);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('in one letter case, holds back exactly the paths under another written path', () => {
    fc.assert(
      fc.property(fc.uniqueArray(pathArb.map((p) => p.toLowerCase()), { maxLength: 30 }), (list) => {
        const paths = [...new Set(list)].sort();
        const written = new Set(paths);
        const expected = paths.map((p) => !p.split('/').some((_, i, segs) => i > 0 && written.has(segs.slice(0, i).join('/'))));
        expect(independentOf(paths)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
