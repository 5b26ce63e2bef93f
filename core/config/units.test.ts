// Sizes, durations and rates: the forms people type, and format/parse round trips.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isCanopyError } from '../errors/index.js';
import { formatDuration, formatRate, formatSize, parseDuration, parseRate, parseSize } from './units.js';

const KiB = 1024;
const MiB = KiB * 1024;
const GiB = MiB * 1024;
const TiB = GiB * 1024;

describe('parseSize', () => {
  it.each([
    ['0', 0],
    [0, 0],
    [4096, 4096],
    ['4096', 4096],
    ['100 GiB', 100 * GiB],
    ['512MiB', 512 * MiB],
    ['1.5 GB', 1.5e9],
    ['1.5 gb', 1.5e9],
    ['2 kib', 2 * KiB],
    ['2 KB', 2000],
    ['3 TiB', 3 * TiB],
    ['20G', 20 * GiB],
    ['20g', 20 * GiB],
    ['1 PB', 1e15],
    ['  7 B ', 7],
    ['10 bytes', 10],
    ['.5 KiB', 512],
    ['1.5 Gi', 1.5 * GiB],
  ] as const)('%j -> %d', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['lots', '', '-1', '-1 GiB', '1 XB', '1.2.3 GB', 'GiB', '1 GiB GiB', '1e9', '99999 PiB'])('rejects %j', (input) => {
    expect(() => parseSize(input)).toThrow(/expected a size like "100 GiB"/);
  });

  it.each([1.5, -1, Number.NaN, Infinity, 2 ** 60])('rejects the number %d (whole bytes only)', (n) => {
    expect(() => parseSize(n)).toThrow();
  });

  it('throws BAD_ARGUMENT naming the input', () => {
    try {
      parseSize('lots');
      expect.unreachable();
    } catch (err) {
      expect(isCanopyError(err, 'BAD_ARGUMENT')).toBe(true);
      expect((err as Error).message).toBe('expected a size like "100 GiB", got "lots"');
    }
  });

  it('accepts every unit spelling in any case, with or without a space', () => {
    const units: [string, number][] = [
      ['B', 1],
      ['KiB', KiB],
      ['MiB', MiB],
      ['GiB', GiB],
      ['TiB', TiB],
      ['kB', 1e3],
      ['MB', 1e6],
      ['GB', 1e9],
      ['TB', 1e12],
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4000 }), fc.constantFrom(...units), fc.boolean(), fc.boolean(), (n, [unit, mult], space, upper) => {
        const u = upper ? unit.toUpperCase() : unit.toLowerCase();
        expect(parseSize(`${n}${space ? ' ' : ''}${u}`)).toBe(n * mult);
      }),
    );
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [50 * GiB, '50 GiB'],
    [3.2 * GiB, '3.2 GiB'],
    [123.4 * GiB, '123 GiB'],
    [1024 * MiB - 1, '1 GiB'],
    [2048 * TiB, '2 PiB'],
  ])('%d -> %s', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  it('is exact for whole multiples of a unit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1023 }), fc.constantFrom(1, KiB, MiB, GiB, TiB), (n, unit) => {
        expect(parseSize(formatSize(n * unit))).toBe(n * unit);
      }),
    );
  });

  it('round-trips through parseSize within 5%', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 52 }), (n) => {
        const back = parseSize(formatSize(n));
        expect(Math.abs(back - n)).toBeLessThanOrEqual(n * 0.05 + 0.5);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    [0, 0],
    [90, 90_000],
    [0.5, 500],
    ['30', 30_000],
    ['500ms', 500],
    ['15m', 15 * 60_000],
    ['2h', 2 * 3_600_000],
    ['30d', 30 * 86_400_000],
    ['1w', 7 * 86_400_000],
    ['1.5h', 5_400_000],
    ['1h30m', 5_400_000],
    ['1h 30m 15s', 5_415_000],
    ['2 hours', 7_200_000],
    ['10 MIN', 600_000],
    ['365d', 365 * 86_400_000],
  ] as const)('%j -> %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['', 'soon', '-5m', '5 parsecs', '1h30', 'h', '1x', '5m-'])('rejects %j', (input) => {
    expect(() => parseDuration(input)).toThrow(/expected a duration like "15m"/);
  });

  it('round-trips exactly through formatDuration', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 * 86_400_000 }), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms);
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    [0, '0s'],
    [500, '500ms'],
    [5_400_000, '1h30m'],
    [30 * 86_400_000, '30d'],
    [90_061_001, '1d1h1m1s1ms'],
  ])('formatDuration(%d) = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('parseRate', () => {
  it.each([
    ['0', 0],
    [0, 0],
    ['unlimited', 0],
    ['20 MiB/s', 20 * MiB],
    ['20MiB/s', 20 * MiB],
    ['1 GB/s', 1e9],
    ['512 KiB / s', 512 * KiB],
    ['5 MiB', 5 * MiB],
    [1_000_000, 1_000_000],
  ] as const)('%j -> %d B/s', (input, rate) => {
    expect(parseRate(input)).toBe(rate);
  });

  it.each(['fast', '20 MiB/h', '-1 MiB/s', '/s'])('rejects %j', (input) => {
    expect(() => parseRate(input)).toThrow(/expected a rate like "20 MiB\/s"/);
  });

  it('round-trips through formatRate', () => {
    expect(formatRate(0)).toBe('unlimited');
    expect(formatRate(20 * MiB)).toBe('20 MiB/s');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1023 }), fc.constantFrom(1, KiB, MiB, GiB), (n, unit) => {
        expect(parseRate(formatRate(n * unit))).toBe(n * unit);
      }),
    );
  });
});
