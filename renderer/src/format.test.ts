import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatPercent, formatWhen, fraction, labelPairs, scanFraction, scanLabel, storeUsage } from './format.js';
import type { ScanState } from './store.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('formatBytes', () => {
  it('uses binary units with one decimal below 100', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(50 * GiB)).toBe('50 GiB');
    expect(formatBytes(150.4 * MiB)).toBe('150 MiB');
    expect(formatBytes(-2 * KiB)).toBe('-2 KiB');
  });
  it('does not print 1024 of a unit', () => {
    expect(formatBytes(1023.97 * KiB)).toBe('1 MiB');
  });
  it('survives nonsense', () => {
    expect(formatBytes(Number.NaN)).toBe('—');
    expect(formatBytes(Number.POSITIVE_INFINITY)).toBe('—');
  });
});

describe('numbers and fractions', () => {
  it('groups thousands', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
  });
  it('clamps fractions and treats a zero total as empty', () => {
    expect(fraction(5, 10)).toBe(0.5);
    expect(fraction(20, 10)).toBe(1);
    expect(fraction(-1, 10)).toBe(0);
    expect(fraction(5, 0)).toBe(0);
  });
  it('never rounds a small share down to 0%', () => {
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(0.004)).toBe('<1%');
    expect(formatPercent(0.456)).toBe('46%');
  });
});

describe('formatWhen', () => {
  const now = Date.UTC(2025, 5, 15, 12, 0, 0);
  it('says never for a missing time', () => {
    expect(formatWhen(null, now)).toBe('never');
    expect(formatWhen(0, now)).toBe('never');
  });
  it('is relative for recent times', () => {
    expect(formatWhen(now - 10_000, now)).toBe('just now');
    expect(formatWhen(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(formatWhen(now - 3 * 3600_000, now)).toBe('3 h ago');
    expect(formatWhen(now - 2 * 86400_000, now)).toBe('2 d ago');
  });
  it('gives the date for old times', () => {
    expect(formatWhen(Date.UTC(2024, 0, 2, 10), now)).toBe('2024-01-02');
  });
});

describe('storeUsage', () => {
  const store = { chunks: 1, quarantined: 0, diskFreeBytes: 0 };
  it('measures against the quota with levels', () => {
    expect(storeUsage({ ...store, bytes: 10 * GiB, maxBytes: 50 * GiB })).toMatchObject({ fraction: 0.2, level: 'ok', label: '10 GiB of 50 GiB (20%)' });
    expect(storeUsage({ ...store, bytes: 46 * GiB, maxBytes: 50 * GiB }).level).toBe('high');
    expect(storeUsage({ ...store, bytes: 60 * GiB, maxBytes: 50 * GiB })).toMatchObject({ fraction: 1, level: 'full' });
  });
  it('reads a zero quota as full once anything is stored', () => {
    expect(storeUsage({ ...store, bytes: 0, maxBytes: 0 }).fraction).toBe(0);
    expect(storeUsage({ ...store, bytes: 1, maxBytes: 0 }).level).toBe('full');
  });
});

describe('scan progress', () => {
  const base: ScanState = { folderId: 'f', phase: 'walk', filesDone: 3, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
  it('counts files while walking and bytes while hashing', () => {
    expect(scanFraction(base)).toBe(0);
    expect(scanFraction({ ...base, filesTotal: 12 })).toBe(0.25);
    expect(scanFraction({ ...base, phase: 'hash', filesDone: 1, filesTotal: 2, bytesDone: 3 * MiB, bytesTotal: 4 * MiB })).toBe(0.75);
    expect(scanFraction({ ...base, phase: 'done' })).toBe(1);
  });
  it('describes each phase in words', () => {
    expect(scanLabel({ ...base, filesDone: 0 })).toBe('Starting the scan…');
    expect(scanLabel(base)).toBe('Looking for changes (3 files so far)');
    expect(scanLabel({ ...base, filesTotal: 1200 })).toBe('Looking at 3 of 1,200 files');
    expect(scanLabel({ ...base, phase: 'hash', filesDone: 12, filesTotal: 40, bytesDone: 3.1 * MiB, bytesTotal: 20 * MiB })).toBe('Hashing 12 of 40 files (3.1 MiB of 20 MiB)');
    expect(scanLabel({ ...base, phase: 'done', filesTotal: 40 })).toBe('Finishing (40 files)');
  });
});

describe('labels', () => {
  it('lists labels as sorted k=v pairs', () => {
    expect(labelPairs({ site: 'home', net: 'fibre' })).toEqual(['net=fibre', 'site=home']);
    expect(labelPairs({})).toEqual([]);
  });
});
