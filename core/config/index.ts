/**
 * A device's settings: reading, validating and updating `<home>/config.toml`.
 *
 * Owns the file format and its error messages. Every problem names the file, the key path
 * as written in TOML and what was expected, and all problems are reported at once, because
 * fixing a config one error per run is miserable. Unknown keys are errors (a typo must not
 * silently fall back to a default) but come with a "did you mean" hint.
 */

import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseTomlText, stringify as stringifyToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { CanopyError, errnoCode, fromFsError } from '../errors/index.js';
import { writeFileAtomic } from './atomic.js';
import { configSchema, defaultDeviceName, DEFAULTS, KNOWN_KEYS, sectionSchemas, toCanopyConfig } from './schema.js';
import type { CanopyConfig, ConfigToml } from './schema.js';

export { resolveHome } from './home.js';
export type { ResolveHomeOptions } from './home.js';
export { writeFileAtomic } from './atomic.js';
export type { AtomicWriteOptions } from './atomic.js';
export { parseSize, parseDuration, parseRate, formatSize, formatDuration, formatRate } from './units.js';
export { PRIORITIES, TRUST_LEVELS, EVICTION_STRATEGIES, LABEL_RE, defaultDeviceName, isLoopbackHost, isBootstrapNode } from './schema.js';
export type {
  CanopyConfig,
  ConfigToml,
  DeviceConfig,
  StorageConfig,
  ReplicationConfig,
  DiversityRule,
  PlacementConfig,
  JobsConfig,
  RetentionConfig,
  NetworkConfig,
  ApiConfig,
  ScanConfig,
  Priority,
  Trust,
  EvictionStrategy,
} from './schema.js';

export const CONFIG_FILE = 'config.toml';

/** One thing wrong with a config; `path` is the TOML key path ("" for syntax errors). */
export interface ConfigProblem {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** Deep partial of the TOML-shaped settings; `null` removes a key (back to its default). */
export type ConfigPatch = PatchOf<ConfigToml>;
type PatchOf<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: PatchOf<NonNullable<T[K]>> | null } : T;

export function configPath(home: string): string {
  return join(home, CONFIG_FILE);
}

/** All settings at their defaults (device name = host name). */
export function defaultConfig(): CanopyConfig {
  return validate({}, CONFIG_FILE);
}

/** Parses and validates config.toml text; `file` is only used in messages. */
export function parseConfig(text: string, file: string = CONFIG_FILE): CanopyConfig {
  return validate(parseToml(text, file), file);
}

/** Reads `<home>/config.toml`; a missing file means all defaults. */
export function loadConfig(home: string): CanopyConfig {
  const file = configPath(home);
  const text = readIfExists(file);
  return text === undefined ? defaultConfig() : parseConfig(text, file);
}

/**
 * Merges `patch` (snake_case, like the file) into config.toml and writes it atomically,
 * keeping the user's other settings. The merged result is validated first, so an invalid
 * patch throws BAD_CONFIG and leaves the file untouched. Comments are not preserved.
 * Returns the resulting config.
 */
export function writeConfig(home: string, patch: ConfigPatch): CanopyConfig {
  const file = configPath(home);
  const text = readIfExists(file);
  // A file we cannot parse is refused rather than replaced: it may hold settings we would lose.
  const current = text === undefined ? {} : parseToml(text, file);
  const merged = mergePatch(current, patch as Record<string, unknown>);
  const config = validate(merged, file);

  let mode = 0o644;
  if (text !== undefined) {
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      /* raced with a delete; use the default */
    }
  }
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fromFsError(err, 'creating', home);
  }
  writeFileAtomic(file, WRITTEN_HEADER + stringifyToml(merged), { mode });
  return config;
}

const WRITTEN_HEADER = '# Canopy settings for this device. Updated by canopy, which does not keep comments.\n\n';

// ---------------------------------------------------------------------------------------
// Parsing and validation

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw fromFsError(err, 'reading', file);
  }
}

function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    // Editors on Windows like to add a BOM, which is not TOML.
    // unsafeKeyBehaviour 'throw': a "__proto__" key must never reach object merging.
    return parseTomlText(text.replace(/^\uFEFF/, ''), { unsafeKeyBehaviour: 'throw' });
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
    const problem: ConfigProblem = { path: '', message: `TOML syntax error: ${reason}`, line: err.line, column: err.column };
    const context = err.codeblock.trimEnd();
    throw new CanopyError(
      'BAD_CONFIG',
      `${file}:${err.line}:${err.column}: ${problem.message}${context ? `\n${context}` : ''}`,
      { file, problems: [problem] },
      { cause: err },
    );
  }
}

function validate(toml: Record<string, unknown>, file: string): CanopyConfig {
  const result = configSchema.safeParse(toml, { reportInput: true });
  if (result.success) return toCanopyConfig(result.data);
  const found = result.error.issues.flatMap(describeIssue);
  // "lable: did you mean label?" already covers "label is missing"; saying both is noise.
  const suggested = new Set(found.map((p) => p.suggests));
  const problems: ConfigProblem[] = found.filter((p) => !(p.missing && suggested.has(p.path))).map(({ path, message }) => ({ path, message }));
  const lines = problems.map((p) => `${file}: ${p.path}: ${p.message}`);
  throw new CanopyError('BAD_CONFIG', lines.join('\n'), { file, problems });
}

interface FoundProblem extends ConfigProblem {
  /** For an unknown key: the path of the key we think was meant. */
  suggests?: string;
  /** The key was absent. */
  missing?: boolean;
}

function describeIssue(issue: z.core.$ZodIssue): FoundProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const parent = issue.input as Record<string, unknown> | undefined;
    return issue.keys.map((key) => {
      const hint = unknownKeyHint(issue.path, key, parent?.[key]);
      return { path: tomlPath([...issue.path, key]), message: hint.message, ...(hint.suggests ? { suggests: tomlPath([...issue.path, hint.suggests]) } : {}) };
    });
  }
  // Our own cross-field messages already say what they got.
  const complete = issue.code === 'custom' && (issue.params as { complete?: boolean } | undefined)?.complete === true;
  const missing = !complete && 'input' in issue && issue.input === undefined;
  let message = issue.message;
  if (!complete && 'input' in issue) message += missing ? ', but it is missing' : `, got ${describeValue(issue.input)}`;
  return [{ path: tomlPath(issue.path), message, missing }];
}

/** Key path as a user would write it: storage.max, device.labels."my key", replication.diversity[0].label. */
function tomlPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part);
      out += (out ? '.' : '') + (/^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key));
    }
  }
  return out;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (typeof value === 'object') return 'a table';
  return String(value);
}

function unknownKeyHint(parentPath: readonly PropertyKey[], key: string, value: unknown): { message: string; suggests?: string } {
  const parent = parentPath.map((p) => (typeof p === 'number' ? '[]' : `.${String(p)}`)).join('').replace(/^\./, '');
  const known = KNOWN_KEYS.get(parent) ?? [];
  const isSection = parent === '' && typeof value === 'object' && value !== null && !Array.isArray(value);
  const what = isSection ? `unknown section [${key}]` : 'unknown setting';
  const show = (k: string) => (isSection ? `[${k}]` : JSON.stringify(k));

  // People write maxPeers or max-peers for max_peers.
  const snake = key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/-/g, '_').toLowerCase();
  if (snake !== key && known.includes(snake)) return { message: `${what}; did you mean ${show(snake)}? (keys are snake_case)`, suggests: snake };

  const close = closest(snake, known);
  if (close) return { message: `${what}; did you mean ${show(close)}?`, suggests: close };

  // The right key in the wrong place: a top-level `max = ...`, or `max_peers` under [storage].
  for (const section of Object.keys(sectionSchemas)) {
    if (section !== parent && KNOWN_KEYS.get(section)?.includes(snake)) {
      return {
        message:
          parent === ''
            ? `${what}; settings go in a section: did you mean ${section}.${snake} (under [${section}])?`
            : `${what} in [${parent}]; ${JSON.stringify(snake)} belongs under [${section}]`,
      };
    }
  }
  return { message: `${what}; expected one of ${known.map(show).join(', ')}` };
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** Edit distance counting a swap of neighbours as one edit ("lable" -> "label"). */
function levenshtein(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** RFC 7386-style merge: tables merge, arrays and scalars replace, null deletes. */
function mergePatch(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  // Null-prototype objects: a "__proto__" key in a patch stays an ordinary (and unknown) key.
  const out: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, base);
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete out[key];
    else if (isTable(value)) out[key] = mergePatch(isTable(out[key]) ? out[key] : {}, value);
    else out[key] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The commented starter file written by `canopy init`

interface SectionDoc {
  about: string;
  keys: Record<string, { doc: string; example?: unknown }>;
}

const DOCS: Record<keyof typeof sectionSchemas, SectionDoc> = {
  device: {
    about: 'This device.',
    keys: {
      name: { doc: 'Name shown on your other devices. Defaults to the host name.' },
      labels: {
        doc: 'Facts about where this device is, used to spread copies (see replication.diversity).\nNames and values: letters, digits, "_", "." and "-".',
        example: { site: 'home', net: 'fibre', power: 'ups' },
      },
      trust: { doc: '"owner" (a device you use your files on) or "storage-only" (only stores copies for the others).' },
    },
  },
  storage: {
    about: 'Disk space this device lends to the pool.',
    keys: {
      max: { doc: 'Most space Canopy may use here.' },
      reserved: { doc: 'Part of max kept for files you use on this device (at most max).' },
      min_free: { doc: 'Stop taking new chunks when the disk has less free space than this.' },
      share_excess: { doc: 'Store extra copies for other devices when there is room to spare.' },
      auto_evict: { doc: 'Drop expendable copies automatically when space runs low.' },
      eviction_strategy: { doc: 'What to drop first: "lru", "priority", "redundant" or "hybrid".' },
    },
  },
  replication: {
    about: 'How many copies of each chunk to keep, by file priority (1 to 16; higher priorities at least as many).',
    keys: {
      critical: { doc: '' },
      high: { doc: '' },
      normal: { doc: '' },
      low: { doc: '' },
      expendable: { doc: '' },
      default_priority: { doc: 'Priority of files with no rule of their own.' },
      diversity: {
        doc: 'Spread copies over devices with different label values, e.g. at least 2 sites.',
        example: [{ label: 'site', min_distinct: 2 }],
      },
    },
  },
  placement: {
    about: 'How much each factor counts when choosing devices for a copy (numbers >= 0), and how long on-demand files stay.',
    keys: {
      capacity_weight: { doc: 'Prefer devices with more free quota.' },
      diversity_weight: { doc: 'Prefer devices that satisfy diversity rules.' },
      reliability_weight: { doc: 'Prefer devices that are online and pass audits.' },
      keep_recent: { doc: 'On-demand folders: a file opened or written here stays on disk this long after its last use,\nthen the daily cleanup frees it (online-only) once enough copies exist elsewhere; 0 = forever.' },
    },
  },
  jobs: {
    about: 'Background work.',
    keys: {
      audit_interval: { doc: 'Check that peers still hold their copies.' },
      repair_interval: { doc: 'Make missing copies.' },
      scrub_interval: { doc: 'Re-hash local chunks to find bit rot.' },
      scrub_rate: { doc: 'Read speed limit for scrubbing.' },
      cleanup_interval: { doc: 'Remove copies beyond the replication factor.' },
      gc_interval: { doc: 'Delete chunks no version refers to.' },
      offline_grace: { doc: 'How long a device may be offline before its copies are replaced.' },
      retained_overhead: { doc: 'Fraction (0 to 1) of surplus copies cleanup leaves in place.' },
    },
  },
  retention: {
    about: 'How long history is kept.',
    keys: {
      tombstones: { doc: 'How long a deletion is remembered.' },
      max_versions_per_path: { doc: 'Old versions kept per file; 0 = unlimited.' },
      max_version_age: { doc: 'Drop versions older than this; 0 = keep forever.' },
      gc_grace: { doc: 'Wait this long before deleting an unreferenced chunk.' },
      emergency_free: { doc: 'Below this much free disk space, gc deletes more aggressively.' },
    },
  },
  network: {
    about: 'Peer-to-peer networking.',
    keys: {
      bootstrap: { doc: 'DHT bootstrap nodes as "host:port"; empty = the public HyperDHT nodes.', example: ['dht.example.org:49737'] },
      upload_limit: { doc: 'Upload speed limit; 0 = unlimited.' },
      download_limit: { doc: 'Download speed limit; 0 = unlimited.' },
      max_peers: { doc: 'Most simultaneous connections to mesh devices; over it the device keeps the nearest by labels (most shared key=value pairs) and drops the farthest.' },
      max_inflight_requests: { doc: 'Most chunk requests outstanding per peer; whatever the count, at most 32 MiB of chunks are asked of one peer at once.' },
      direct: { doc: 'Sync over a direct TCP link with devices on the same network (private addresses only), Hyperswarm staying the fallback.' },
      direct_port: { doc: 'TCP port for direct links; 0 = any free port.' },
    },
  },
  api: {
    about: 'Local control API used by the CLI and the app. Loopback addresses only.',
    keys: {
      host: { doc: '127.0.0.1, ::1 or localhost.' },
      port: { doc: '0 = pick a free port.' },
    },
  },
  scan: {
    about: 'Watching and hashing your files.',
    keys: {
      debounce: { doc: 'Wait for changes to settle this long before scanning.' },
      hash_threads: { doc: 'Hashing threads; 0 = one per CPU but one (at least one).' },
      rescan_interval: { doc: 'Full rescan to catch changes the watcher missed.' },
      unstable_retries: { doc: 'Times to retry a file that keeps changing while being read.' },
    },
  },
};

/** Keys shown as floats in the starter file (1.0 rather than 1), since they are weights. */
const FLOAT_KEYS = new Set(['capacity_weight', 'diversity_weight', 'reliability_weight', 'retained_overhead']);

/**
 * The commented config.toml that `canopy init` writes. Every setting is listed with a short
 * explanation; those in `overrides` are set, the rest are shown commented out at their
 * defaults so that future default changes still reach this device. Throws BAD_CONFIG if
 * the overrides are invalid.
 */
export function renderDefaultConfigToml(overrides: ConfigPatch = {}): string {
  const set = mergePatch({}, overrides as Record<string, unknown>);
  validate(set, CONFIG_FILE);

  const out: string[] = [
    '# Canopy settings for this device.',
    '#',
    '# Lines starting with "#" show defaults or examples: remove the "#" and edit to change one.',
    '# Sizes: "100 GiB", "512MiB", "1.5 GB" or a number of bytes.',
    '# Durations: "500ms", "15m", "2h", "30d" or a number of seconds.',
    '# Rates: "20 MiB/s"; 0 means unlimited.',
  ];
  for (const [section, doc] of Object.entries(DOCS) as [keyof typeof DOCS, SectionDoc][]) {
    const given = isTable(set[section]) ? set[section] : {};
    out.push('', `# ${doc.about}`, `[${section}]`);
    for (const key of KNOWN_KEYS.get(section) ?? []) {
      const keyDoc = doc.keys[key];
      if (keyDoc?.doc) out.push(...keyDoc.doc.split('\n').map((l) => `# ${l}`));
      if (key in given) {
        out.push(`${key} = ${tomlValue(given[key], FLOAT_KEYS.has(key))}`);
      } else {
        const fallback = section === 'device' && key === 'name' ? defaultDeviceName() : (DEFAULTS[section] as Record<string, unknown>)[key];
        const shown = keyDoc?.example ?? fallback;
        out.push(`# ${key} = ${tomlValue(shown, FLOAT_KEYS.has(key))}`);
      }
    }
  }
  const text = `${out.join('\n')}\n`;
  // The file must load back to exactly what was asked for; fail here rather than at start-up.
  parseConfig(text);
  return text;
}

/** A TOML value on one line (inline tables and arrays), for the starter file. */
function tomlValue(value: unknown, float = false): string {
  if (typeof value === 'string') return tomlString(value);
  if (typeof value === 'number') return float && Number.isInteger(value) ? value.toFixed(1) : String(value);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? '[]' : `[ ${value.map((v) => tomlValue(v)).join(', ')} ]`;
  if (isTable(value)) {
    const entries = Object.entries(value).map(([k, v]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k)} = ${tomlValue(v)}`);
    return entries.length === 0 ? '{}' : `{ ${entries.join(', ')} }`;
  }
  throw new CanopyError('BAD_CONFIG', `cannot write ${String(value)} to config.toml`);
}

function tomlString(s: string): string {
  // JSON escapes are valid TOML basic-string escapes, except that TOML also wants DEL escaped.
  return JSON.stringify(s).replace(/\u007f/g, '\\u007f');
}
