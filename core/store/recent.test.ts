/**
 * The recent-chunks cache (store/recent.ts): bounded by bytes and by age, oldest out first,
 * and it hands back exactly what it was given.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RecentChunks } from './recent.js';

const bytes = (n: number, fill = 1) => Buffer.alloc(n, fill);

describe('RecentChunks', () => {
  it('returns what was put, views a worker\'s Uint8Array without copying it, and forgets what was cleared', () => {
    const recent = new RecentChunks({ maxBytes: 100, maxAgeMs: 1000 });
    const fromWorker = new Uint8Array([1, 2, 3]);
    recent.put('a', fromWorker);
    const got = recent.get('a') as Buffer;
    expect(Buffer.isBuffer(got)).toBe(true);
    expect([...got]).toEqual([1, 2, 3]);
    expect(got.buffer).toBe(fromWorker.buffer);
    expect(recent.get('b')).toBeUndefined();
    recent.clear();
    expect(recent.get('a')).toBeUndefined();
    expect(recent.size).toBe(0);
  });

  it('drops the oldest entries past the byte bound, and refuses one bigger than the bound', () => {
    const recent = new RecentChunks({ maxBytes: 100, maxAgeMs: 1000 });
    recent.put('a', bytes(40));
    recent.put('b', bytes(40));
    recent.put('c', bytes(40));
    expect(recent.get('a')).toBeUndefined();
    expect(recent.get('b')).toBeDefined();
    expect(recent.get('c')).toBeDefined();
    expect(recent.size).toBe(80);
    recent.put('huge', bytes(101));
    expect(recent.get('huge')).toBeUndefined();
    expect(recent.size).toBe(80);
  });

  it('drops entries older than the age bound', () => {
    let now = 0;
    const recent = new RecentChunks({ maxBytes: 100, maxAgeMs: 1000, now: () => now });
    recent.put('a', bytes(10));
    now = 600;
    recent.put('b', bytes(10));
    now = 1200;
    expect(recent.get('a')).toBeUndefined();
    expect(recent.get('b')).toBeDefined();
    now = 1700;
    expect(recent.get('b')).toBeUndefined();
    expect(recent.size).toBe(0);
  });

  it('never holds more than its bound, and keeps the newest put of a hash', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 255 }))), (puts) => {
        const recent = new RecentChunks({ maxBytes: 100, maxAgeMs: 1_000_000 });
        const last = new Map<string, number>();
        for (const [hash, size, fill] of puts) {
          recent.put(hash, bytes(size, fill));
          last.set(hash, fill);
          expect(recent.size).toBeLessThanOrEqual(100);
        }
        for (const [hash, fill] of last) {
          const got = recent.get(hash);
          if (got && got.length > 0) expect(got[0]).toBe(fill);
        }
      }),
    );
  });
});
