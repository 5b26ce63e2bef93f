/**
 * Human-friendly quantities: sizes ("100 GiB"), durations ("15m") and rates ("20 MiB/s").
 *
 * Owns parsing and formatting of these three kinds of value for both config.toml and CLI
 * flags (`--max 20GiB`). Internally everything is a plain number: bytes, milliseconds,
 * bytes per second. The `try*` variants return undefined instead of throwing so the config
 * validator can phrase its own message with the key path; the exported `parse*` functions
 * throw a CanopyError('BAD_ARGUMENT') whose message the CLI can print as is.
 */

import { CanopyError } from '../errors/index.js';

const KIB = 1024;
const MIB = KIB * 1024;
const GIB = MIB * 1024;
const TIB = GIB * 1024;
const PIB = TIB * 1024;

/**
 * Size units, lower-cased. Decimal "kB/MB/GB" mean powers of 1000 and "KiB/MiB/GiB" powers
 * of 1024, as the standards say. A bare letter ("20G") means binary, because that is what
 * df/du/docker print and what people copy from them.
 */
const SIZE_UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['b', 1],
  ['byte', 1],
  ['bytes', 1],
  ['kb', 1e3],
  ['mb', 1e6],
  ['gb', 1e9],
  ['tb', 1e12],
  ['pb', 1e15],
  ['k', KIB],
  ['m', MIB],
  ['g', GIB],
  ['t', TIB],
  ['p', PIB],
  ['ki', KIB],
  ['mi', MIB],
  ['gi', GIB],
  ['ti', TIB],
  ['pi', PIB],
  ['kib', KIB],
  ['mib', MIB],
  ['gib', GIB],
  ['tib', TIB],
  ['pib', PIB],
]);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

const DURATION_UNITS: ReadonlyMap<string, number> = new Map([
  ['ms', 1],
  ['msec', 1],
  ['msecs', 1],
  ['millisecond', 1],
  ['milliseconds', 1],
  ['s', SECOND],
  ['sec', SECOND],
  ['secs', SECOND],
  ['second', SECOND],
  ['seconds', SECOND],
  ['m', MINUTE],
  ['min', MINUTE],
  ['mins', MINUTE],
  ['minute', MINUTE],
  ['minutes', MINUTE],
  ['h', HOUR],
  ['hr', HOUR],
  ['hrs', HOUR],
  ['hour', HOUR],
  ['hours', HOUR],
  ['d', DAY],
  ['day', DAY],
  ['days', DAY],
  ['w', WEEK],
  ['week', WEEK],
  ['weeks', WEEK],
]);

/** What a valid value looks like; shared with the config validator so messages agree. */
export const EXPECTED_SIZE = 'a size like "100 GiB"';
export const EXPECTED_DURATION = 'a duration like "15m", "2h" or "30d"';
export const EXPECTED_RATE = 'a rate like "20 MiB/s" (0 = unlimited)';

const NUMBER_RE = /^(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)$/i;

function finish(value: number): number | undefined {
  const rounded = Math.round(value);
  return Number.isSafeInteger(rounded) && rounded >= 0 ? rounded : undefined;
}

/** Bytes, or undefined if `input` is not a size. Numbers must be whole bytes. */
export function trySize(input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : undefined;
  if (typeof input !== 'string') return undefined;
  const m = NUMBER_RE.exec(input.trim());
  if (!m) return undefined;
  const mult = SIZE_UNITS.get((m[2] ?? '').toLowerCase());
  if (mult === undefined) return undefined;
  return finish(Number(m[1]) * mult);
}

/** Milliseconds, or undefined. Numbers (and unit-less strings) are seconds; "1h30m" is allowed. */
export function tryDuration(input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? finish(input * SECOND) : undefined;
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  if (text === '') return undefined;
  if (/^(\d+(?:\.\d*)?|\.\d+)$/.test(text)) return finish(Number(text) * SECOND);
  // A sequence of <number><unit> parts, optionally separated by spaces: "1h30m", "1h 30m".
  const part = /(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)\s*/giy;
  let total = 0;
  let end = 0;
  for (let m = part.exec(text); m; m = part.exec(text)) {
    const mult = DURATION_UNITS.get((m[2] ?? '').toLowerCase());
    if (mult === undefined) return undefined;
    total += Number(m[1]) * mult;
    end = part.lastIndex;
  }
  return end === text.length ? finish(total) : undefined;
}

/** Bytes per second, or undefined. "0" and "unlimited" mean no limit (0); "/s" is optional. */
export function tryRate(input: unknown): number | undefined {
  if (typeof input === 'number') return trySize(input);
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  if (/^(unlimited|none|off)$/i.test(text)) return 0;
  return trySize(text.replace(/\s*\/\s*(s|sec|second)$/i, ''));
}

function describe(input: unknown): string {
  return typeof input === 'string' ? JSON.stringify(input) : String(input);
}

/** Parses "100 GiB", "512MiB", "1.5 GB", "0" or a whole number of bytes into bytes. */
export function parseSize(input: string | number): number {
  const n = trySize(input);
  if (n === undefined) throw new CanopyError('BAD_ARGUMENT', `expected ${EXPECTED_SIZE}, got ${describe(input)}`, { input });
  return n;
}

/** Parses "15m", "2h", "30d", "500ms", "1h30m" or a number of seconds into milliseconds. */
export function parseDuration(input: string | number): number {
  const n = tryDuration(input);
  if (n === undefined) throw new CanopyError('BAD_ARGUMENT', `expected ${EXPECTED_DURATION}, got ${describe(input)}`, { input });
  return n;
}

/** Parses "20 MiB/s", "1GB/s", "0" (unlimited) or a number of bytes per second. */
export function parseRate(input: string | number): number {
  const n = tryRate(input);
  if (n === undefined) throw new CanopyError('BAD_ARGUMENT', `expected ${EXPECTED_RATE}, got ${describe(input)}`, { input });
  return n;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * "3.2 GiB"-style display of a byte count: binary units, one decimal below 100 of a unit,
 * whole numbers above. Exact for whole multiples of a unit ("50 GiB"), within 5% otherwise,
 * and always accepted back by parseSize.
 */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  if (bytes < 0) return `-${formatSize(-bytes)}`;
  let value = Math.round(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  let shown = value >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
  // 1023.97 KiB would round up to "1024 KiB"; say "1 MiB" instead.
  if (shown >= 1024 && unit < BINARY_UNITS.length - 1) {
    shown = Math.round((value / 1024) * 10) / 10;
    unit++;
  }
  return `${shown} ${BINARY_UNITS[unit]}`;
}

/** Exact compound form of a duration: "1h30m", "500ms", "30d", "0s". parseDuration inverts it. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  let rest = Math.round(ms);
  if (rest === 0) return '0s';
  let out = '';
  for (const [unit, size] of [
    ['d', DAY],
    ['h', HOUR],
    ['m', MINUTE],
    ['s', SECOND],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** "20 MiB/s", or "unlimited" for 0. */
export function formatRate(bytesPerSecond: number): string {
  return bytesPerSecond === 0 ? 'unlimited' : `${formatSize(bytesPerSecond)}/s`;
}
