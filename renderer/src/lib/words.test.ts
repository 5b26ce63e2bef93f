import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { PlacementHealth, QuotaChange, QuotaInfo, SyncInfo } from '../../../core/api/types.js';
import { deviceBars, scanSpeedWords, formatEta, formatRate, healthWords, quotaChangeWords, quotaNowWords, shortOfCopiesWords, storageBar, syncWords } from './words.js';

const GIB = 1024 ** 3;

function health(over: Partial<PlacementHealth> = {}): PlacementHealth {
  return { chunks: 100, underReplicated: 0, overReplicated: 0, misplaced: 0, shortfall: 0, repairQueue: 0, devices: [], computedAt: 1, ...over };
}

function quota(over: Partial<QuotaInfo> = {}): QuotaInfo {
  return {
    maxBytes: 10 * GIB, reservedBytes: 0, minFreeBytes: 0, shareExcess: true, autoEvict: true, evictionStrategy: 'hybrid',
    usage: { ownBytes: 2 * GIB, replicaBytes: 3 * GIB, cacheBytes: 1 * GIB, pinnedBytes: 0, totalBytes: 6 * GIB, historyBytes: 0 }, diskFreeBytes: 100 * GIB, full: false, ...over,
  };
}

describe('healthWords', () => {
  it('says plainly when nothing is known, nothing is stored, or all is well', () => {
    expect(healthWords(null)).toEqual({ level: 'unknown', text: 'Replication health is not known yet: placement has not run on this device.' });
    expect(healthWords(health({ chunks: 0 })).text).toBe('Nothing to replicate yet.');
    expect(healthWords(health())).toEqual({ level: 'ok', text: 'All 100 chunks have every copy they should.' });
  });

  it('lists what is wrong, with counts', () => {
    const w = healthWords(health({ underReplicated: 1, shortfall: 2, repairQueue: 3 }));
    expect(w.level).toBe('warn');
    expect(w.text).toBe('1 chunk has fewer copies than wanted; 2 chunks cannot get enough copies because too few devices are eligible; 3 repairs queued.');
  });
});

describe('storageBar', () => {
  it('splits a quota into own, replicas, cache and free', () => {
    const bar = storageBar({ ownBytes: 2, replicaBytes: 3, cacheBytes: 1 }, 10);
    expect(bar.map((s) => [s.key, s.bytes, s.share])).toEqual([['own', 2, 0.2], ['replicas', 3, 0.3], ['cache', 1, 0.1], ['free', 4, 0.4]]);
  });

  it('never overflows: shares add up to at most 1 for any sizes', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), fc.nat(), (own, rep, cache, max) => {
        const bar = storageBar({ ownBytes: own, replicaBytes: rep, cacheBytes: cache }, max);
        const total = bar.reduce((n, s) => n + s.share, 0);
        return total <= 1 + 1e-9 && bar.every((s) => s.share >= 0);
      }),
    );
  });

  it('uses the exact breakdown for this device and the capacity facts for others', () => {
    const devices = [
      { id: 'me', isLocal: true },
      { id: 'nas', isLocal: false },
      { id: 'phone', isLocal: false },
    ].map((d) => ({ ...d, name: d.id, labels: {}, trust: 'owner' as const, online: true, lastSeen: null, addedAt: 0, revokedAt: null }));
    const bars = deviceBars(devices, health({ devices: [{ id: 'nas', name: 'nas', heldBytes: 5, quotaBytes: 10, full: false }] }), quota(), null);
    expect(bars.get('me')?.known).toBe('exact');
    expect(bars.get('nas')).toMatchObject({ known: 'total', full: false });
    expect(bars.get('nas')?.segments.find((s) => s.key === 'free')?.bytes).toBe(5);
    expect(bars.get('phone')).toEqual({ segments: [], known: 'none', full: false });
    // Before any audit ran here, a device's own capacity report still draws its bar.
    const reported = deviceBars([{ ...devices[2]!, storage: { maxBytes: 8, usedBytes: 6, full: true } }], null, null, null).get('phone');
    expect(reported).toMatchObject({ known: 'total', full: true });
    expect(reported?.segments.find((s) => s.key === 'free')?.bytes).toBe(2);
    // Without quota.get (not built yet), this device falls back to the store total.
    expect(deviceBars(devices.slice(0, 1), null, null, { bytes: 3, maxBytes: 4 }).get('me')?.known).toBe('total');
  });
});

describe('quotaChangeWords', () => {
  const change = (evict: Partial<QuotaChange['evict']>, dryRun = true): QuotaChange => ({
    quota: quota({ maxBytes: 4 * GIB }), dryRun, evict: { targetBytes: 4 * GIB, freesBytes: 0, freesUnpinnedCacheBytes: 0, unfreeableBytes: 0, reason: null, ...evict },
  });

  it('says what moving the slider frees', () => {
    expect(quotaChangeWords(change({ freesBytes: 3.2 * GIB, freesUnpinnedCacheBytes: 3.2 * GIB }))).toBe('Applying this frees about 3.2 GiB of unpinned cache.');
    expect(quotaChangeWords(change({ freesBytes: 3 * GIB, freesUnpinnedCacheBytes: 1 * GIB }))).toBe('Applying this frees about 1 GiB of unpinned cache and hands about 2 GiB of replicas over to other devices.');
  });

  it('says when nothing has to go, and what cannot go and why', () => {
    expect(quotaChangeWords(change({}))).toBe('Nothing needs to go: everything fits in 4 GiB.');
    expect(quotaChangeWords(change({ unfreeableBytes: GIB, reason: 'pinned files' }))).toBe('Nothing can be freed; 1 GiB cannot go (pinned files).');
  });

  it('puts the engine’s byte counts in units and drops its repeated opening', () => {
    const reason = '1000095 bytes cannot be freed: 1000000 bytes are pinned and 95 bytes would fall below their minimum copies';
    expect(quotaChangeWords(change({ freesBytes: 3_000_000, unfreeableBytes: 1_000_095, reason })))
      .toBe('Applying this hands about 2.9 MiB of replicas over to other devices; 977 KiB cannot go (977 KiB are pinned and 95 B would fall below their minimum copies).');
  });
});

describe('shortOfCopiesWords', () => {
  it('says one chunk in the singular', () => {
    expect(shortOfCopiesWords(1)).toBe('1 chunk is short of copies.');
    expect(shortOfCopiesWords(3)).toBe('3 chunks are short of copies.');
  });
});

describe('quotaNowWords', () => {
  it('says the quota and the usage, and when the store is over it', () => {
    expect(quotaNowWords(quota({ maxBytes: 4 * GIB }))).toBe('Now 4 GiB; 6 GiB in use: full, 2 GiB over (pinned, or still needed for its copies).');
    expect(quotaNowWords(quota())).toBe('Now 10 GiB; 6 GiB in use.');
    expect(quotaNowWords(quota({ full: true }))).toBe('Now 10 GiB; 6 GiB in use: full.');
  });
});

describe('sync and time words', () => {
  const sync = (over: Partial<SyncInfo> = {}): SyncInfo => ({ online: true, paused: false, meshed: true, peers: [], folders: [{ folderId: 'docs', neededFiles: 3, neededBytes: 700 * 1024 * 1024 }], rateIn: 0, etaSeconds: null, ...over });

  it('gives rate and time left for a folder receiving files', () => {
    expect(syncWords(sync({ rateIn: 100 * 1024 * 1024, etaSeconds: 7, peers: [{} as SyncInfo['peers'][number]] }), 'docs')).toBe('3 files (700 MiB) to receive at 100 MiB/s, about 7 s left');
    expect(syncWords(sync(), 'docs')).toBe('3 files (700 MiB) to receive (waiting for a device that has them)');
    expect(syncWords(sync({ paused: true }), 'docs')).toBe('3 files (700 MiB) to receive (paused)');
    expect(syncWords(sync(), 'other')).toBeNull();
    expect(syncWords(null, 'docs')).toBeNull();
  });

  it('formats rates and times left', () => {
    expect(formatRate(0)).toBe('—');
    expect(formatRate(1536)).toBe('1.5 KiB/s');
    expect(formatEta(null)).toBe('');
    expect(formatEta(0.2)).toBe('about 1 s left');
    expect(formatEta(150)).toBe('about 3 min left');
    expect(formatEta(7200)).toBe('about 2 h left');
  });
});

describe('scanSpeedWords', () => {
  it('says the hashing rate and time left once a second has passed', () => {
    const scan = { phase: 'hash', bytesDone: 100 * 1024 * 1024, bytesTotal: 300 * 1024 * 1024, startedAt: 0 };
    expect(scanSpeedWords(scan, 2000)).toBe('at 50 MiB/s, about 4 s left');
    expect(scanSpeedWords(scan, 500)).toBe('');
    expect(scanSpeedWords({ ...scan, phase: 'walk' }, 2000)).toBe('');
    expect(scanSpeedWords({ ...scan, startedAt: undefined }, 2000)).toBe('');
  });
});
