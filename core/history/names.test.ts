import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { conflictCopyPath } from './names.js';

const DAY = Date.UTC(2026, 10, 21, 15, 30);

describe('conflictCopyPath', () => {
  it('names the device and the day, beside the original, keeping the extension', () => {
    expect(conflictCopyPath('notes/plan.txt', 'laptop', DAY)).toBe('notes/plan (conflict from laptop 2026-11-21).txt');
    expect(conflictCopyPath('.bashrc', 'home server', DAY)).toBe('.bashrc (conflict from home server 2026-11-21)');
    expect(conflictCopyPath('a.tar.gz', 'x', DAY)).toBe('a.tar (conflict from x 2026-11-21).gz');
    expect(conflictCopyPath('Makefile', 'a/b:c', DAY)).toBe('Makefile (conflict from a_b_c 2026-11-21)');
  });

  it('always stays in the same directory and within 255 bytes per name', () => {
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 300 }).filter((s) => !s.includes('/')), fc.string({ maxLength: 300 }), (base, device) => {
      const out = conflictCopyPath(`dir/${base}`, device, DAY);
      expect(out.startsWith('dir/')).toBe(true);
      const name = out.slice(4);
      expect(name.includes('/')).toBe(false);
      expect(Buffer.byteLength(name, 'utf8')).toBeLessThanOrEqual(255);
      expect(name).toContain('(conflict from ');
    }));
  });
});
