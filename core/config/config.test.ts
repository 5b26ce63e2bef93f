// config.toml: defaults, validation messages, writeConfig merging, the starter file, resolveHome.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CanopyError, isCanopyError } from '../errors/index.js';
import { defaultConfig, defaultDeviceName, loadConfig, parseConfig, renderDefaultConfigToml, resolveHome, writeConfig } from './index.js';
import type { ConfigProblem } from './index.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The BAD_CONFIG error `fn` throws. */
function badConfig(fn: () => unknown): CanopyError {
  try {
    fn();
  } catch (err) {
    if (isCanopyError(err, 'BAD_CONFIG')) return err;
    throw err;
  }
  throw new Error('expected BAD_CONFIG, nothing was thrown');
}

const problems = (err: CanopyError) => (err.details?.['problems'] ?? []) as ConfigProblem[];

describe('defaults', () => {
  it('has a sane default for every setting', () => {
    const c = defaultConfig();
    expect(c).toEqual({
      device: { name: defaultDeviceName(), labels: {}, trust: 'owner' },
      storage: { max: 50 * GiB, reserved: 5 * GiB, minFree: 2 * GiB, shareExcess: true, autoEvict: true, evictionStrategy: 'hybrid' },
      replication: { critical: 5, high: 3, normal: 2, low: 1, expendable: 1, defaultPriority: 'normal', diversity: [] },
      placement: { capacityWeight: 1, diversityWeight: 1, reliabilityWeight: 0.5, keepRecent: 30 * DAY },
      jobs: {
        auditInterval: HOUR,
        repairInterval: 10 * 60_000,
        scrubInterval: DAY,
        scrubRate: 20 * MiB,
        cleanupInterval: DAY,
        gcInterval: DAY,
        offlineGrace: 2 * HOUR,
        retainedOverhead: 0.1,
      },
      retention: { tombstones: 30 * DAY, maxVersionsPerPath: 100, maxVersionAge: 365 * DAY, gcGrace: DAY, emergencyFree: GiB },
      network: { bootstrap: [], uploadLimit: 0, downloadLimit: 0, maxPeers: 32, maxInflightRequests: 256, direct: true, directPort: 0 },
      api: { host: '127.0.0.1', port: 0 },
      scan: { debounce: 100, hashThreads: 0, rescanInterval: HOUR, unstableRetries: 3 },
    });
  });

  it('keeps on-demand files 30 days by default; 0 (forever) and short test values are accepted', () => {
    expect(parseConfig('[placement]\nkeep_recent = 0').placement.keepRecent).toBe(0);
    expect(parseConfig('[placement]\nkeep_recent = "2s"').placement.keepRecent).toBe(2000);
    expect(parseConfig('[placement]\nkeep_recent = "7d"').placement.keepRecent).toBe(7 * DAY);
  });

  it('an empty file and empty sections mean defaults', () => {
    expect(parseConfig('')).toEqual(defaultConfig());
    expect(parseConfig('[storage]\n[jobs]\n[device]\n')).toEqual(defaultConfig());
    // The peer cap: generous by default, any whole number from 1 (a device with a single link).
    expect(defaultConfig().network.maxPeers).toBe(32);
    expect(parseConfig('[network]\nmax_peers = 2').network.maxPeers).toBe(2);
  });

  it('returns fresh objects, so callers cannot corrupt each other', () => {
    const a = defaultConfig();
    a.device.labels['x'] = 'y';
    a.network.bootstrap.push('a:1');
    expect(defaultConfig().device.labels).toEqual({});
    expect(defaultConfig().network.bootstrap).toEqual([]);
  });
});

describe('parseConfig', () => {
  it('reads every kind of value into engine units with camelCase keys', () => {
    const c = parseConfig(`
[device]
name = "laptop"
labels = { site = "home", net = "fibre", power = "ups" }
trust = "storage-only"

[storage]
max = "20GiB"
reserved = 1073741824
min_free = "1.5 GB"
share_excess = false
eviction_strategy = "lru"

[replication]
critical = 6
default_priority = "high"
diversity = [{ label = "site", min_distinct = 2 }]

[placement]
reliability_weight = 2

[jobs]
audit_interval = 90
scrub_rate = "5 MiB/s"
retained_overhead = 0

[retention]
max_versions_per_path = 0
max_version_age = 0

[network]
bootstrap = ["dht.example.org:49737", "10.0.0.1:1", "88.99.3.86@node1.hyperdht.org:49737"]
upload_limit = "1 MiB/s"

[api]
host = "::1"
port = 7777

[scan]
debounce = "1s"
hash_threads = 4
`);
    expect(c.device).toEqual({ name: 'laptop', labels: { site: 'home', net: 'fibre', power: 'ups' }, trust: 'storage-only' });
    expect(c.storage).toMatchObject({ max: 20 * GiB, reserved: GiB, minFree: 1.5e9, shareExcess: false, autoEvict: true, evictionStrategy: 'lru' });
    expect(c.replication).toMatchObject({ critical: 6, high: 3, defaultPriority: 'high', diversity: [{ label: 'site', minDistinct: 2 }] });
    expect(c.placement.reliabilityWeight).toBe(2);
    expect(c.jobs).toMatchObject({ auditInterval: 90_000, scrubRate: 5 * MiB, retainedOverhead: 0 });
    expect(c.retention).toMatchObject({ maxVersionsPerPath: 0, maxVersionAge: 0 });
    expect(c.network.bootstrap).toHaveLength(3);
    expect(c.network.uploadLimit).toBe(MiB);
    expect(c.api).toEqual({ host: '::1', port: 7777 });
    expect(c.scan).toMatchObject({ debounce: 1000, hashThreads: 4 });
  });

  it('accepts the other loopback spellings for api.host', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1']) {
      expect(parseConfig(`[api]\nhost = "${host}"`).api.host).toBe(host);
    }
  });

  it('accepts a UTF-8 BOM', () => {
    expect(parseConfig('\uFEFF[storage]\nmax = "1 GiB"\nreserved = 0').storage.max).toBe(GiB);
  });

  // [TOML, key path, the message after "config.toml: <path>: "]
  const bad: [string, string, string | RegExp][] = [
    ['[storage]\nmax = "lots"', 'storage.max', 'expected a size like "100 GiB", got "lots"'],
    ['[storage]\nmin_free = -5', 'storage.min_free', 'expected a size like "100 GiB", got -5'],
    ['[storage]\nmax = 1.5', 'storage.max', 'expected a size like "100 GiB", got 1.5'],
    ['[storage]\nshare_excess = "yes"', 'storage.share_excess', 'expected true or false, got "yes"'],
    ['[storage]\neviction_strategy = "random"', 'storage.eviction_strategy', 'expected one of "lru", "priority", "redundant", "hybrid", got "random"'],
    ['[storage]\nmax = "1 GiB"', 'storage.reserved', 'expected at most storage.max (1 GiB), got 5 GiB'],
    ['[device]\nname = ""', 'device.name', 'expected a non-empty device name, got ""'],
    ['[device]\nname = 5', 'device.name', 'expected a device name, got 5'],
    ['[device]\ntrust = "everyone"', 'device.trust', 'expected one of "owner", "storage-only", got "everyone"'],
    ['[device]\nlabels = { site = "my home" }', 'device.labels.site', /expected a label value \(letters, digits.*\), got "my home"/],
    ['[device]\nlabels = { "my site" = "home" }', 'device.labels."my site"', /label names may only contain letters, digits/],
    ['[device]\nlabels = { site = 1 }', 'device.labels.site', /expected a label value .*, got 1/],
    ['[device]\nlabels = "home"', 'device.labels', 'expected a table of labels, like { site = "home" }, got "home"'],
    ['[replication]\ncritical = 17', 'replication.critical', 'expected a whole number from 1 to 16, got 17'],
    ['[replication]\nlow = 0', 'replication.low', 'expected a whole number from 1 to 16, got 0'],
    ['[replication]\nnormal = 2.5', 'replication.normal', 'expected a whole number from 1 to 16, got 2.5'],
    ['[replication]\nhigh = 6', 'replication.high', /expected at most replication.critical \(5\).*got 6/],
    ['[replication]\nexpendable = 2', 'replication.expendable', /expected at most replication.low \(1\).*got 2/],
    ['[replication]\ndefault_priority = "urgent"', 'replication.default_priority', /expected one of "critical", "high", "normal", "low", "expendable", got "urgent"/],
    ['[replication]\ndiversity = [{ label = "site" }]', 'replication.diversity[0].min_distinct', 'expected a whole number from 1 to 16, but it is missing'],
    ['[replication]\ndiversity = [{ label = "a b", min_distinct = 2 }]', 'replication.diversity[0].label', /expected a label name .*, got "a b"/],
    ['[replication]\ndiversity = [{ label = "site", min_distinct = 2 }, { label = "site", min_distinct = 3 }]', 'replication.diversity[1].label', /at most once/],
    ['[replication]\ndiversity = { label = "site" }', 'replication.diversity', /expected an array of tables/],
    ['[placement]\ncapacity_weight = -1', 'placement.capacity_weight', 'expected a number >= 0, got -1'],
    ['[placement]\ndiversity_weight = nan', 'placement.diversity_weight', 'expected a number >= 0, got NaN'],
    ['[placement]\nreliability_weight = inf', 'placement.reliability_weight', 'expected a number >= 0, got Infinity'],
    ['[placement]\nkeep_recent = "a while"', 'placement.keep_recent', /expected a duration like "15m", "2h" or "30d", got "a while"/],
    ['[jobs]\nretained_overhead = 1.5', 'jobs.retained_overhead', 'expected a fraction from 0 to 1, like 0.1, got 1.5'],
    ['[jobs]\naudit_interval = "soon"', 'jobs.audit_interval', /expected a duration like "15m", "2h" or "30d", greater than 0, got "soon"/],
    ['[jobs]\nrepair_interval = 0', 'jobs.repair_interval', /greater than 0, got 0/],
    ['[jobs]\nscrub_rate = "fast"', 'jobs.scrub_rate', 'expected a rate like "20 MiB/s" (0 = unlimited), got "fast"'],
    ['[jobs]\noffline_grace = true', 'jobs.offline_grace', /expected a duration .*, got true/],
    ['[retention]\ntombstones = 1979-05-27', 'retention.tombstones', /expected a duration .*, got a date \(1979-05-27/],
    ['[retention]\nmax_versions_per_path = -1', 'retention.max_versions_per_path', 'expected a whole number from 0 to 1000000 (0 = unlimited), got -1'],
    ['[retention]\nemergency_free = [1]', 'retention.emergency_free', 'expected a size like "100 GiB", got an array'],
    ['[network]\nbootstrap = ["localhost"]', 'network.bootstrap[0]', /expected a "host:port" string .*, got "localhost"/],
    ['[network]\nbootstrap = ["a.example:0"]', 'network.bootstrap[0]', /port from 1 to 65535/],
    ['[network]\nbootstrap = ["ok.example:1", "a.example:65536"]', 'network.bootstrap[1]', /got "a.example:65536"/],
    ['[network]\nbootstrap = ["bad_host!:80"]', 'network.bootstrap[0]', /got "bad_host!:80"/],
    ['[network]\nbootstrap = "a:1"', 'network.bootstrap', 'expected an array of "host:port" strings, got "a:1"'],
    ['[network]\ndownload_limit = "lots/s"', 'network.download_limit', /expected a rate/],
    ['[network]\nmax_peers = 0', 'network.max_peers', 'expected a whole number from 1 to 1024, got 0'],
    ['[network]\nmax_peers = 1025', 'network.max_peers', 'expected a whole number from 1 to 1024, got 1025'],
    ['[network]\nmax_peers = "all"', 'network.max_peers', 'expected a whole number from 1 to 1024, got "all"'],
    ['[api]\nhost = "0.0.0.0"', 'api.host', /expected a loopback address .*, got "0.0.0.0"/],
    ['[api]\nhost = "192.168.1.2"', 'api.host', /loopback/],
    ['[api]\nhost = "127.0.0.256"', 'api.host', /loopback/],
    ['[api]\nport = 65536', 'api.port', 'expected a whole number from 0 to 65535 (0 = any free port), got 65536'],
    ['[scan]\ndebounce = "5 parsecs"', 'scan.debounce', /expected a duration .*, got "5 parsecs"/],
    ['[scan]\nhash_threads = -1', 'scan.hash_threads', /expected a whole number from 0 to 256 \(0 = one per CPU but one\), got -1/],
    ['[scan]\nrescan_interval = "0s"', 'scan.rescan_interval', /greater than 0/],
    ['[scan]\nunstable_retries = "3"', 'scan.unstable_retries', 'expected a whole number from 0 to 100, got "3"'],
    ['storage = 5', 'storage', 'expected a table, got 5'],
  ];

  it.each(bad)('%j: reports %s', (toml, keyPath, message) => {
    const err = badConfig(() => parseConfig(toml));
    const line = err.message.split('\n').find((l) => l.startsWith(`config.toml: ${keyPath}: `));
    expect(line, err.message).toBeDefined();
    const rest = (line ?? '').slice(`config.toml: ${keyPath}: `.length);
    if (typeof message === 'string') expect(rest).toBe(message);
    else expect(rest).toMatch(message);
    expect(problems(err).map((p) => p.path)).toContain(keyPath);
  });

  it('names the file it was given', () => {
    const err = badConfig(() => parseConfig('[storage]\nmax = "lots"', '/home/me/.local/share/canopy/config.toml'));
    expect(err.message).toBe('/home/me/.local/share/canopy/config.toml: storage.max: expected a size like "100 GiB", got "lots"');
    expect(err.details).toMatchObject({ file: '/home/me/.local/share/canopy/config.toml' });
  });

  it('reports several problems together, one per line, with a structured list', () => {
    const err = badConfig(() => parseConfig('[storage]\nmax = "lots"\nauto_evict = 1\n[api]\nport = -1\n[scann]\n'));
    expect(err.message.split('\n')).toHaveLength(4);
    expect(problems(err)).toEqual([
      { path: 'storage.max', message: 'expected a size like "100 GiB", got "lots"' },
      { path: 'storage.auto_evict', message: 'expected true or false, got 1' },
      { path: 'api.port', message: 'expected a whole number from 0 to 65535 (0 = any free port), got -1' },
      { path: 'scann', message: 'unknown section [scann]; did you mean [scan]?' },
    ]);
  });

  describe('unknown keys', () => {
    it.each([
      ['[storage]\nmaxx = "1 GiB"', 'storage.maxx', 'unknown setting; did you mean "max"?'],
      ['[storage]\nminFree = "1 GiB"', 'storage.minFree', 'unknown setting; did you mean "min_free"? (keys are snake_case)'],
      ['[network]\nmax-peers = 3', 'network.max-peers', 'unknown setting; did you mean "max_peers"? (keys are snake_case)'],
      ['[replication]\ndiversity = [{ lable = "site", min_distinct = 2 }]', 'replication.diversity[0].lable', 'unknown setting; did you mean "label"?'],
      ['[strage]\nmax = 1', 'strage', 'unknown section [strage]; did you mean [storage]?'],
      ['max_peers = 3', 'max_peers', 'unknown setting; settings go in a section: did you mean network.max_peers (under [network])?'],
      ['[jobs]\nmax_peers = 3', 'jobs.max_peers', 'unknown setting in [jobs]; "max_peers" belongs under [network]'],
      ['[api]\nbananas = 1', 'api.bananas', 'unknown setting; expected one of "host", "port"'],
      ['[device]\n"__proto__" = 1', '', /unsafe|__proto__/],
    ])('%j', (toml, keyPath, message) => {
      const err = badConfig(() => parseConfig(toml));
      if (keyPath === '') {
        expect(err.message).toMatch(message);
        return;
      }
      expect(err.message).toBe(`config.toml: ${keyPath}: ${message as string}`);
    });
  });

  describe('TOML syntax errors', () => {
    it('name the line and column', () => {
      const err = badConfig(() => parseConfig('[storage]\nmax = "1 GiB"\nreserved = = 2\n'));
      expect(err.message.split('\n')[0]).toMatch(/^config\.toml:3:\d+: TOML syntax error: /);
      expect(err.message).toContain('reserved = = 2');
      expect(problems(err)[0]).toMatchObject({ path: '', line: 3 });
      expect(typeof problems(err)[0]?.column).toBe('number');
    });

    it.each(['[storage\nmax = 1', 'a = 1\na = 2', 'x = "unterminated', 'n = 99999999999999999999'])('%j is BAD_CONFIG', (toml) => {
      const err = badConfig(() => parseConfig(toml));
      expect(err.message).toMatch(/^config\.toml:\d+:\d+: TOML syntax error/);
    });
  });
});

describe('files', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'canopy-config-'));
  });
  afterEach(() => {
    rmSync(home, { recursive: true, force: true });
  });
  const file = () => path.join(home, 'config.toml');

  describe('loadConfig', () => {
    it('uses defaults when config.toml is missing', () => {
      expect(loadConfig(home)).toEqual(defaultConfig());
    });

    it('reads config.toml and names its full path in errors', () => {
      writeFileSync(file(), '[storage]\nmax = "10 GiB"\n');
      expect(loadConfig(home).storage.max).toBe(10 * GiB);
      writeFileSync(file(), '[storage]\nmax = "ten"\n');
      expect(badConfig(() => loadConfig(home)).message).toBe(`${file()}: storage.max: expected a size like "100 GiB", got "ten"`);
    });

    it('reports an unreadable config.toml as IO_ERROR', () => {
      rmSync(home, { recursive: true });
      // A directory where the file should be.
      mkdirSync(file(), { recursive: true });
      try {
        loadConfig(home);
        expect.unreachable();
      } catch (err) {
        expect(isCanopyError(err, 'IO_ERROR')).toBe(true);
      }
    });
  });

  describe('writeConfig', () => {
    const original = '# my notes\n[device]\nname = "nas"\nlabels = { site = "home" }\n\n[storage]\nmax = "2 TiB"\nreserved = "10 GiB"\n\n[network]\nbootstrap = ["a.example:1"]\n';

    it('merges a patch, keeping the user\'s other settings', () => {
      writeFileSync(file(), original);
      const c = writeConfig(home, { storage: { max: '3 TiB' }, device: { labels: { power: 'ups' } }, jobs: { scrub_rate: '5 MiB/s' } });
      expect(c.storage.max).toBe(3 * 1024 * GiB);
      const back = loadConfig(home);
      expect(back).toEqual(c);
      expect(back.storage.reserved).toBe(10 * GiB);
      expect(back.device).toEqual({ name: 'nas', labels: { site: 'home', power: 'ups' }, trust: 'owner' });
      expect(back.network.bootstrap).toEqual(['a.example:1']);
      expect(back.jobs.scrubRate).toBe(5 * MiB);
      // Values are written as given, so the file stays readable.
      expect(readFileSync(file(), 'utf8')).toContain('max = "3 TiB"');
    });

    it('replaces arrays and deletes keys patched with null', () => {
      writeFileSync(file(), original);
      const c = writeConfig(home, { network: { bootstrap: ['b.example:2', 'c.example:3'] }, storage: { reserved: null }, device: { labels: { site: null } } });
      expect(c.network.bootstrap).toEqual(['b.example:2', 'c.example:3']);
      expect(c.storage.reserved).toBe(5 * GiB);
      expect(c.device.labels).toEqual({});
      expect(readFileSync(file(), 'utf8')).not.toContain('reserved');
    });

    it('creates config.toml when there is none', () => {
      writeConfig(home, { api: { port: 4000 } });
      expect(loadConfig(home).api.port).toBe(4000);
      expect(readFileSync(file(), 'utf8')).toMatch(/^# /);
    });

    it('refuses an invalid patch without touching the file', () => {
      writeFileSync(file(), original);
      const before = statSync(file());
      const err = badConfig(() => writeConfig(home, { storage: { max: 'lots' }, api: { host: '0.0.0.0' } }));
      expect(err.message).toContain(`${file()}: storage.max: expected a size like "100 GiB", got "lots"`);
      expect(err.message).toContain(`${file()}: api.host: expected a loopback address`);
      expect(readFileSync(file(), 'utf8')).toBe(original);
      expect(statSync(file()).mtimeMs).toBe(before.mtimeMs);
      expect(readdirSync(home)).toEqual(['config.toml']);
    });

    it('refuses unknown keys and cross-field violations in a patch', () => {
      writeFileSync(file(), original);
      // Deliberately untyped: the CLI may pass whatever a user typed.
      expect(badConfig(() => writeConfig(home, { storage: { maxx: 1 } } as never)).message).toContain('storage.maxx: unknown setting; did you mean "max"?');
      expect(badConfig(() => writeConfig(home, { storage: { reserved: '3 TiB' } })).message).toContain('storage.reserved: expected at most storage.max');
      expect(readFileSync(file(), 'utf8')).toBe(original);
    });

    it('refuses to rewrite a file it cannot parse', () => {
      writeFileSync(file(), '[storage\n');
      expect(badConfig(() => writeConfig(home, { api: { port: 1 } })).message).toMatch(/TOML syntax error/);
      expect(readFileSync(file(), 'utf8')).toBe('[storage\n');
    });

    it('keeps the file mode and leaves no temp files', () => {
      writeFileSync(file(), original, { mode: 0o600 });
      writeConfig(home, { api: { port: 1234 } });
      if (process.platform !== 'win32') expect(statSync(file()).mode & 0o777).toBe(0o600);
      expect(readdirSync(home)).toEqual(['config.toml']);
    });
  });

  describe('renderDefaultConfigToml', () => {
    it('writes a commented file that loads back to the defaults', () => {
      const text = renderDefaultConfigToml({});
      expect(parseConfig(text)).toEqual(defaultConfig());
      expect(text).toContain('# max = "50 GiB"');
      expect(text).toContain('[replication]');
      // Every setting is mentioned, so users can discover them.
      for (const key of ['max', 'reserved', 'min_free', 'eviction_strategy', 'critical', 'diversity', 'audit_interval', 'retained_overhead', 'tombstones', 'emergency_free', 'bootstrap', 'max_inflight_requests', 'host', 'port', 'hash_threads', 'unstable_retries']) {
        expect(text).toMatch(new RegExp(`^# ${key} = `, 'm'));
      }
    });

    it('sets overrides and keeps the rest as commented defaults', () => {
      const text = renderDefaultConfigToml({
        device: { name: 'laptop "work"', labels: { site: 'home', 'net.kind': 'fibre' } },
        storage: { max: '20GiB' },
        replication: { diversity: [{ label: 'site', min_distinct: 2 }] },
        placement: { capacity_weight: 2 },
      });
      const c = parseConfig(text);
      expect(c.device).toEqual({ name: 'laptop "work"', labels: { site: 'home', 'net.kind': 'fibre' }, trust: 'owner' });
      expect(c.storage.max).toBe(20 * GiB);
      expect(c.replication.diversity).toEqual([{ label: 'site', minDistinct: 2 }]);
      expect(c.placement.capacityWeight).toBe(2);
      expect(c.storage.reserved).toBe(5 * GiB);
      expect(text).toMatch(/^max = "20GiB"$/m);
      expect(text).toMatch(/^capacity_weight = 2\.0$/m);
    });

    it('refuses invalid overrides', () => {
      expect(badConfig(() => renderDefaultConfigToml({ storage: { max: 'lots' } })).message).toContain('storage.max');
      expect(badConfig(() => renderDefaultConfigToml({ device: { nmae: 'x' } } as never)).message).toContain('did you mean "name"?');
    });
  });
});

describe('resolveHome', () => {
  const opts = { env: {}, platform: 'linux' as const, homedir: '/home/ann' };

  it('prefers --home, then CANOPY_HOME, then the platform folder', () => {
    const env = { CANOPY_HOME: '/srv/canopy-env', XDG_DATA_HOME: '/xdg' };
    expect(resolveHome('/mnt/explicit', { ...opts, env })).toBe('/mnt/explicit');
    expect(resolveHome(undefined, { ...opts, env })).toBe('/srv/canopy-env');
    expect(resolveHome('', { ...opts, env })).toBe('/srv/canopy-env');
    expect(resolveHome(undefined, { ...opts, env: { XDG_DATA_HOME: '/xdg' } })).toBe('/xdg/canopy');
    expect(resolveHome(undefined, opts)).toBe('/home/ann/.local/share/canopy');
  });

  it('ignores a relative XDG_DATA_HOME, as the XDG spec says', () => {
    expect(resolveHome(undefined, { ...opts, env: { XDG_DATA_HOME: 'rel/dir' } })).toBe('/home/ann/.local/share/canopy');
  });

  it('returns absolute paths, expanding ~', () => {
    expect(resolveHome('rel/home', opts)).toBe(path.resolve('rel/home'));
    expect(resolveHome('~/canopy-test', opts)).toBe('/home/ann/canopy-test');
    expect(resolveHome(undefined, { ...opts, env: { CANOPY_HOME: '~' } })).toBe('/home/ann');
  });

  it('uses Application Support on macOS and %APPDATA% on Windows', () => {
    expect(resolveHome(undefined, { env: {}, platform: 'darwin', homedir: '/Users/ann' })).toBe('/Users/ann/Library/Application Support/Canopy');
    expect(resolveHome(undefined, { env: { APPDATA: 'C:\\Users\\ann\\AppData\\Roaming' }, platform: 'win32', homedir: 'C:\\Users\\ann' })).toBe('C:\\Users\\ann\\AppData\\Roaming\\Canopy');
    expect(resolveHome(undefined, { env: {}, platform: 'win32', homedir: 'C:\\Users\\ann' })).toBe('C:\\Users\\ann\\AppData\\Roaming\\Canopy');
  });

  it('reads the real environment by default', () => {
    const saved = process.env['CANOPY_HOME'];
    try {
      process.env['CANOPY_HOME'] = '/tmp/from-env';
      expect(resolveHome()).toBe('/tmp/from-env');
      expect(path.isAbsolute(resolveHome('x'))).toBe(true);
    } finally {
      if (saved === undefined) delete process.env['CANOPY_HOME'];
      else process.env['CANOPY_HOME'] = saved;
    }
  });
});
