/**
 * The shape of config.toml: every setting, its default, what values it accepts, and the
 * camelCase `CanopyConfig` the rest of the engine reads.
 *
 * The zod schema works on the TOML-shaped (snake_case) object so that issue paths are
 * already the key paths a user sees in their file; `toCanopyConfig` then renames keys.
 * Every leaf carries its own "expected ..." message because zod's generic wording
 * ("Invalid input") does not tell a person what to type instead.
 */

import { hostname } from 'node:os';
import { z } from 'zod';
import { EXPECTED_DURATION, EXPECTED_RATE, EXPECTED_SIZE, formatSize, tryDuration, tryRate, trySize } from './units.js';

export const PRIORITIES = ['critical', 'high', 'normal', 'low', 'expendable'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const TRUST_LEVELS = ['owner', 'storage-only'] as const;
export type Trust = (typeof TRUST_LEVELS)[number];

export const EVICTION_STRATEGIES = ['lru', 'priority', 'redundant', 'hybrid'] as const;
export type EvictionStrategy = (typeof EVICTION_STRATEGIES)[number];

/** Label names and values: short tokens that are safe in logs, URLs and TOML bare keys. */
export const LABEL_RE = /^[A-Za-z0-9_.-]+$/;
const LABEL_EXPECTED = 'letters, digits, "_", "." or "-"';

// ---------------------------------------------------------------------------------------
// The camelCase config the engine uses. Sizes are bytes, durations milliseconds, rates
// bytes per second (0 = unlimited).

export interface DeviceConfig {
  name: string;
  /** Free-form facts about the device (site=home, power=ups) used by diversity rules. */
  labels: Record<string, string>;
  trust: Trust;
}

export interface StorageConfig {
  /** Most bytes this device lends to the pool. */
  max: number;
  /** Bytes of `max` kept back for this device's own files. */
  reserved: number;
  /** Stop accepting chunks when the disk has less than this free. */
  minFree: number;
  shareExcess: boolean;
  autoEvict: boolean;
  evictionStrategy: EvictionStrategy;
}

export interface DiversityRule {
  /** Label name whose values must differ among a chunk's copies, e.g. "site". */
  label: string;
  /** How many distinct values of that label the copies should span. */
  minDistinct: number;
}

/** Copies kept per priority, plus the default priority and diversity rules. */
export interface ReplicationConfig extends Record<Priority, number> {
  defaultPriority: Priority;
  diversity: DiversityRule[];
}

export interface PlacementConfig {
  capacityWeight: number;
  diversityWeight: number;
  reliabilityWeight: number;
  /** How long a file used here (opened, written) stays materialized in an on-demand folder; 0 = forever. */
  keepRecent: number;
}

export interface JobsConfig {
  auditInterval: number;
  repairInterval: number;
  scrubInterval: number;
  scrubRate: number;
  cleanupInterval: number;
  gcInterval: number;
  offlineGrace: number;
  /** Fraction (0..1) of extra copies cleanup leaves in place rather than deleting. */
  retainedOverhead: number;
}

export interface RetentionConfig {
  tombstones: number;
  /** 0 = unlimited. */
  maxVersionsPerPath: number;
  /** 0 = keep forever. */
  maxVersionAge: number;
  gcGrace: number;
  /** Below this much free disk space, gc runs in emergency mode. */
  emergencyFree: number;
}

export interface NetworkConfig {
  /** "host:port" or "ip@host:port" strings; empty = the public HyperDHT bootstrap nodes. */
  bootstrap: string[];
  uploadLimit: number;
  downloadLimit: number;
  maxPeers: number;
  maxInflightRequests: number;
  /** Direct TCP links to devices on the same network (net/direct.ts). */
  direct: boolean;
  /** 0 = any free port. */
  directPort: number;
}

export interface ApiConfig {
  /** Always a loopback address. */
  host: string;
  /** 0 = pick a free port. */
  port: number;
}

export interface ScanConfig {
  debounce: number;
  /** 0 = one per CPU but one (the engine thread keeps a core), at least one. */
  hashThreads: number;
  rescanInterval: number;
  unstableRetries: number;
}

export interface CanopyConfig {
  device: DeviceConfig;
  storage: StorageConfig;
  replication: ReplicationConfig;
  placement: PlacementConfig;
  jobs: JobsConfig;
  retention: RetentionConfig;
  network: NetworkConfig;
  api: ApiConfig;
  scan: ScanConfig;
}

// ---------------------------------------------------------------------------------------
// Defaults, in the form a user would write them (also what the starter file shows).

export const DEFAULTS = {
  device: { labels: {} as Record<string, string>, trust: 'owner' },
  storage: {
    max: '50 GiB',
    reserved: '5 GiB',
    min_free: '2 GiB',
    share_excess: true,
    auto_evict: true,
    eviction_strategy: 'hybrid',
  },
  replication: {
    critical: 5,
    high: 3,
    normal: 2,
    low: 1,
    expendable: 1,
    default_priority: 'normal',
    diversity: [] as { label: string; min_distinct: number }[],
  },
  placement: { capacity_weight: 1.0, diversity_weight: 1.0, reliability_weight: 0.5, keep_recent: '30d' },
  jobs: {
    audit_interval: '1h',
    repair_interval: '10m',
    scrub_interval: '24h',
    scrub_rate: '20 MiB/s',
    cleanup_interval: '24h',
    gc_interval: '24h',
    offline_grace: '2h',
    retained_overhead: 0.1,
  },
  retention: {
    tombstones: '30d',
    max_versions_per_path: 100,
    max_version_age: '365d',
    gc_grace: '1d',
    emergency_free: '1 GiB',
  },
  network: { bootstrap: [] as string[], upload_limit: '0', download_limit: '0', max_peers: 32, max_inflight_requests: 256, direct: true, direct_port: 0 },
  api: { host: '127.0.0.1', port: 0 },
  // The debounce is idle time before every change reaches the other devices. Saves finish
  // within milliseconds (write, then rename), and a burst (a checkout, a copy) keeps
  // restarting it up to the watcher's maxWait, so 100 ms still makes one scan of a burst.
  scan: { debounce: '100ms', hash_threads: 0, rescan_interval: '1h', unstable_retries: 3 },
} as const;

// 255 = the longest DNS name, so any host name passes as a default.
const MAX_NAME_LENGTH = 255;

/** The device name when none is configured: the OS host name, made to fit the name rules. */
export function defaultDeviceName(): string {
  // eslint-disable-next-line no-control-regex
  const name = hostname().replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, MAX_NAME_LENGTH);
  return name === '' ? 'canopy-device' : name;
}

// ---------------------------------------------------------------------------------------
// Leaf validators. Each reports `expected <what>`; the loader appends `, got <value>`.

/** Marks a custom issue whose message already says what it got. */
const COMPLETE = { complete: true };

const expected = (what: string) => ({ error: `expected ${what}` });

function quantity(what: string, parse: (v: unknown) => number | undefined, opts: { positive?: boolean } = {}) {
  const want = opts.positive ? `${what}, greater than 0` : what;
  return z.union([z.number(), z.string()], expected(want)).transform((value, ctx) => {
    const n = parse(value);
    if (n === undefined || (opts.positive && n === 0)) {
      ctx.addIssue({ code: 'custom', message: `expected ${want}`, input: value });
      return z.NEVER;
    }
    return n;
  });
}

const size = () => quantity(EXPECTED_SIZE, trySize);
const duration = () => quantity(EXPECTED_DURATION, tryDuration);
/** Intervals of periodic jobs: 0 would make a job spin, so it is refused. */
const interval = () => quantity(EXPECTED_DURATION, tryDuration, { positive: true });
const rate = () => quantity(EXPECTED_RATE, tryRate);

function int(min: number, max: number, note = '') {
  const msg = expected(`a whole number from ${min} to ${max}${note}`);
  return z.int(msg).min(min, msg).max(max, msg);
}

function nonNegative() {
  const msg = expected('a number >= 0');
  return z.number(msg).min(0, msg);
}

function fraction() {
  const msg = expected('a fraction from 0 to 1, like 0.1');
  return z.number(msg).min(0, msg).max(1, msg);
}

const bool = () => z.boolean(expected('true or false'));

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, expected(`one of ${values.map((v) => JSON.stringify(v)).join(', ')}`));
}

const labelToken = (what: string) => z.string(expected(what)).regex(LABEL_RE, expected(what));

const deviceName = z
  .string(expected('a device name'))
  .min(1, expected('a non-empty device name'))
  .max(MAX_NAME_LENGTH, expected(`a device name of at most ${MAX_NAME_LENGTH} characters`))
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]*$/, expected('a device name without control characters'));

/** A table of label name → value. Names are checked here (zod records report key failures poorly). */
const labels = z.record(z.string(), labelToken(`a label value (${LABEL_EXPECTED})`), expected('a table of labels, like { site = "home" }')).superRefine((rec, ctx) => {
  for (const key of Object.keys(rec)) {
    if (!LABEL_RE.test(key)) {
      ctx.addIssue({ code: 'custom', path: [key], params: COMPLETE, message: `label names may only contain ${LABEL_EXPECTED}, got ${JSON.stringify(key)}` });
    }
  }
});

function isIPv4(host: string): boolean {
  const parts = host.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * "host:port", or HyperDHT's "ip@host:port" (a suggested IP for a named host). IPv6 is not
 * accepted because the DHT's bootstrap parser splits on ':'.
 */
export function isBootstrapNode(value: string): boolean {
  const m = /^(?:([^@]+)@)?([^:@]+):(\d{1,5})$/.exec(value);
  if (!m) return false;
  const [, ip, host = '', port = ''] = m;
  if (ip !== undefined && !isIPv4(ip)) return false;
  const p = Number(port);
  return (isIPv4(host) || HOSTNAME_RE.test(host)) && p >= 1 && p <= 65535;
}

const bootstrapNode = z
  .string(expected('a "host:port" string'))
  .refine(isBootstrapNode, expected('a "host:port" string with a port from 1 to 65535, like "dht.example.org:49737"'));

/** The API has no authentication of its own beyond the token, so it must stay on this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === '::1' || host.toLowerCase() === 'localhost' || (isIPv4(host) && host.split('.')[0] === '127');
}

const apiHost = z
  .string(expected('a loopback address'))
  .refine(isLoopbackHost, expected('a loopback address (127.0.0.1, ::1 or localhost); the API must not be reachable from other machines'));

// strictObject: an unknown key is a typo the user wants to hear about, not something to ignore.
const table = <S extends z.core.$ZodLooseShape>(shape: S) => z.strictObject(shape, expected('a table'));

const diversityRule = table({
  label: labelToken(`a label name (${LABEL_EXPECTED}), like "site"`),
  min_distinct: int(1, 16),
});

export const sectionSchemas = {
  device: table({
    name: deviceName.default(defaultDeviceName),
    labels: labels.prefault(DEFAULTS.device.labels),
    trust: oneOf(TRUST_LEVELS).prefault(DEFAULTS.device.trust),
  }),
  storage: table({
    max: size().prefault(DEFAULTS.storage.max),
    reserved: size().prefault(DEFAULTS.storage.reserved),
    min_free: size().prefault(DEFAULTS.storage.min_free),
    share_excess: bool().prefault(DEFAULTS.storage.share_excess),
    auto_evict: bool().prefault(DEFAULTS.storage.auto_evict),
    eviction_strategy: oneOf(EVICTION_STRATEGIES).prefault(DEFAULTS.storage.eviction_strategy),
  }).superRefine((s, ctx) => {
    if (s.reserved > s.max) {
      ctx.addIssue({ code: 'custom', path: ['reserved'], params: COMPLETE, message: `expected at most storage.max (${formatSize(s.max)}), got ${formatSize(s.reserved)}` });
    }
  }),
  replication: table({
    critical: int(1, 16).prefault(DEFAULTS.replication.critical),
    high: int(1, 16).prefault(DEFAULTS.replication.high),
    normal: int(1, 16).prefault(DEFAULTS.replication.normal),
    low: int(1, 16).prefault(DEFAULTS.replication.low),
    expendable: int(1, 16).prefault(DEFAULTS.replication.expendable),
    default_priority: oneOf(PRIORITIES).prefault(DEFAULTS.replication.default_priority),
    diversity: z
      .array(diversityRule, expected('an array of tables, like [{ label = "site", min_distinct = 2 }]'))
      .superRefine((rules, ctx) => {
        const seen = new Set<string>();
        rules.forEach((r, i) => {
          if (seen.has(r.label)) ctx.addIssue({ code: 'custom', path: [i, 'label'], params: COMPLETE, message: `expected each label at most once, but ${JSON.stringify(r.label)} appears again` });
          seen.add(r.label);
        });
      })
      .prefault(DEFAULTS.replication.diversity),
  }).superRefine((r, ctx) => {
    // A more important priority must never get fewer copies than a less important one.
    for (let i = 1; i < PRIORITIES.length; i++) {
      const higher = PRIORITIES[i - 1] as Priority;
      const lower = PRIORITIES[i] as Priority;
      if (r[lower] > r[higher]) {
        ctx.addIssue({
          code: 'custom',
          path: [lower],
          params: COMPLETE,
          message: `expected at most replication.${higher} (${r[higher]}); a lower priority cannot keep more copies than a higher one, got ${r[lower]}`,
        });
      }
    }
  }),
  placement: table({
    capacity_weight: nonNegative().prefault(DEFAULTS.placement.capacity_weight),
    diversity_weight: nonNegative().prefault(DEFAULTS.placement.diversity_weight),
    reliability_weight: nonNegative().prefault(DEFAULTS.placement.reliability_weight),
    keep_recent: duration().prefault(DEFAULTS.placement.keep_recent),
  }),
  jobs: table({
    audit_interval: interval().prefault(DEFAULTS.jobs.audit_interval),
    repair_interval: interval().prefault(DEFAULTS.jobs.repair_interval),
    scrub_interval: interval().prefault(DEFAULTS.jobs.scrub_interval),
    scrub_rate: rate().prefault(DEFAULTS.jobs.scrub_rate),
    cleanup_interval: interval().prefault(DEFAULTS.jobs.cleanup_interval),
    gc_interval: interval().prefault(DEFAULTS.jobs.gc_interval),
    offline_grace: duration().prefault(DEFAULTS.jobs.offline_grace),
    retained_overhead: fraction().prefault(DEFAULTS.jobs.retained_overhead),
  }),
  retention: table({
    tombstones: duration().prefault(DEFAULTS.retention.tombstones),
    max_versions_per_path: int(0, 1_000_000, ' (0 = unlimited)').prefault(DEFAULTS.retention.max_versions_per_path),
    max_version_age: duration().prefault(DEFAULTS.retention.max_version_age),
    gc_grace: duration().prefault(DEFAULTS.retention.gc_grace),
    emergency_free: size().prefault(DEFAULTS.retention.emergency_free),
  }),
  network: table({
    bootstrap: z.array(bootstrapNode, expected('an array of "host:port" strings')).prefault(DEFAULTS.network.bootstrap),
    upload_limit: rate().prefault(DEFAULTS.network.upload_limit),
    download_limit: rate().prefault(DEFAULTS.network.download_limit),
    max_peers: int(1, 1024).prefault(DEFAULTS.network.max_peers),
    max_inflight_requests: int(1, 4096).prefault(DEFAULTS.network.max_inflight_requests),
    direct: bool().prefault(DEFAULTS.network.direct),
    direct_port: int(0, 65535, ' (0 = any free port)').prefault(DEFAULTS.network.direct_port),
  }),
  api: table({
    host: apiHost.prefault(DEFAULTS.api.host),
    port: int(0, 65535, ' (0 = any free port)').prefault(DEFAULTS.api.port),
  }),
  scan: table({
    debounce: duration().prefault(DEFAULTS.scan.debounce),
    hash_threads: int(0, 256, ' (0 = one per CPU but one)').prefault(DEFAULTS.scan.hash_threads),
    rescan_interval: interval().prefault(DEFAULTS.scan.rescan_interval),
    unstable_retries: int(0, 100).prefault(DEFAULTS.scan.unstable_retries),
  }),
};

export const configSchema = table({
  device: sectionSchemas.device.prefault({}),
  storage: sectionSchemas.storage.prefault({}),
  replication: sectionSchemas.replication.prefault({}),
  placement: sectionSchemas.placement.prefault({}),
  jobs: sectionSchemas.jobs.prefault({}),
  retention: sectionSchemas.retention.prefault({}),
  network: sectionSchemas.network.prefault({}),
  api: sectionSchemas.api.prefault({}),
  scan: sectionSchemas.scan.prefault({}),
});

/** The TOML-shaped settings object as a user may write it (sizes as strings or numbers). */
export type ConfigToml = z.input<typeof configSchema>;
type ParsedToml = z.output<typeof configSchema>;

/** Known keys per table, in TOML path form ("" = top level), for "did you mean" hints. */
export const KNOWN_KEYS: ReadonlyMap<string, readonly string[]> = new Map<string, readonly string[]>([
  ['', Object.keys(sectionSchemas)],
  ...Object.entries(sectionSchemas).map(([name, schema]) => [name, Object.keys(unwrapShape(schema))] as [string, string[]]),
  ['replication.diversity[]', Object.keys(diversityRule.shape)],
]);

function unwrapShape(schema: unknown): Record<string, unknown> {
  // superRefine keeps the object schema (checks are attached to it), so .shape is there.
  return (schema as { shape: Record<string, unknown> }).shape;
}

export function toCanopyConfig(t: ParsedToml): CanopyConfig {
  return {
    device: { name: t.device.name, labels: { ...t.device.labels }, trust: t.device.trust },
    storage: {
      max: t.storage.max,
      reserved: t.storage.reserved,
      minFree: t.storage.min_free,
      shareExcess: t.storage.share_excess,
      autoEvict: t.storage.auto_evict,
      evictionStrategy: t.storage.eviction_strategy,
    },
    replication: {
      critical: t.replication.critical,
      high: t.replication.high,
      normal: t.replication.normal,
      low: t.replication.low,
      expendable: t.replication.expendable,
      defaultPriority: t.replication.default_priority,
      diversity: t.replication.diversity.map((r) => ({ label: r.label, minDistinct: r.min_distinct })),
    },
    placement: {
      capacityWeight: t.placement.capacity_weight,
      diversityWeight: t.placement.diversity_weight,
      reliabilityWeight: t.placement.reliability_weight,
      keepRecent: t.placement.keep_recent,
    },
    jobs: {
      auditInterval: t.jobs.audit_interval,
      repairInterval: t.jobs.repair_interval,
      scrubInterval: t.jobs.scrub_interval,
      scrubRate: t.jobs.scrub_rate,
      cleanupInterval: t.jobs.cleanup_interval,
      gcInterval: t.jobs.gc_interval,
      offlineGrace: t.jobs.offline_grace,
      retainedOverhead: t.jobs.retained_overhead,
    },
    retention: {
      tombstones: t.retention.tombstones,
      maxVersionsPerPath: t.retention.max_versions_per_path,
      maxVersionAge: t.retention.max_version_age,
      gcGrace: t.retention.gc_grace,
      emergencyFree: t.retention.emergency_free,
    },
    network: {
      bootstrap: [...t.network.bootstrap],
      uploadLimit: t.network.upload_limit,
      downloadLimit: t.network.download_limit,
      maxPeers: t.network.max_peers,
      maxInflightRequests: t.network.max_inflight_requests,
      direct: t.network.direct,
      directPort: t.network.direct_port,
    },
    api: { host: t.api.host, port: t.api.port },
    scan: {
      debounce: t.scan.debounce,
      hashThreads: t.scan.hash_threads,
      rescanInterval: t.scan.rescan_interval,
      unstableRetries: t.scan.unstable_retries,
    },
  };
}
