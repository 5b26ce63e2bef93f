/**
 * The wire schemas of signed log entries, and their limits: what a peer may send, checked
 * with zod. Versions entries, which a scan of many files makes long (10,000 versions in a
 * few entries), also have a hand-written check (versionsBodyFast) that accepts exactly what
 * the schema accepts in the shape a real device writes, in a fraction of the time; anything
 * else goes to zod, which decides and says why.
 */
import { z } from 'zod';
import { deviceIdFromPublicKey, isDeviceId } from '../identity/index.js';
import { DATA_CLASSES, FOLDER_ID_RE, PRIORITIES } from '../folders/index.js';
import { LABEL_RE, TRUST_LEVELS } from '../config/schema.js';


/**
 * Bounds on what a peer may send. Generous for real use (a scan batch is at most a few
 * thousand versions, chunks are ≤ 4 MiB), small enough that one entry cannot exhaust
 * memory or the database, and every entry fits in one network frame (< 16 MiB).
 */
export const ENTRY_LIMITS = {
  bodyBytes: 8 * 1024 * 1024,
  signatureBytes: 64,
  versionsPerEntry: 10_000,
  chunksPerVersion: 100_000,
  /** A chunk is ≤ 4 MiB today; frames are < 16 MiB, so nothing bigger can ever travel. */
  chunkBytes: 16 * 1024 * 1024,
  parentsPerVersion: 1_000,
  vectorEntries: 1_000,
  pathChars: 4096,
  segmentBytes: 255,
  targetChars: 4096,
  folderLabelChars: 1024,
  deviceNameChars: 255,
  labels: 64,
  labelChars: 255,
} as const;

export const LOG_ENTRY_KINDS = ['versions', 'folder', 'device', 'ack', 'priority'] as const;
export const DEVICE_OPS = ['add', 'update', 'remove'] as const;
export type DeviceOp = (typeof DEVICE_OPS)[number];

export { FOLDER_ID_RE };
const HASH_RE = /^[0-9a-f]{64}$/;
const VERSION_ID_RE = /^[0-9a-f]{32}$/;
export const PUBLIC_KEY_RE = /^[0-9a-f]{64}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

const count = z.int().min(0);
const positive = z.int().min(1);
const deviceId = z.string().refine(isDeviceId, 'expected a device id (32 base32 characters)');
const folderId = z.string().regex(FOLDER_ID_RE, 'expected a folder id');
const versionId = z.string().regex(VERSION_ID_RE, 'expected a version id (32 lowercase hex)');
const chunkHash = z.string().regex(HASH_RE, 'expected a chunk hash (64 lowercase hex)');
/** What a version records at a path; the schema and the fast check share the list. */
const VERSION_KINDS = ['file', 'dir', 'symlink', 'tombstone'] as const;
const sortedUnique = (xs: readonly string[]) => xs.every((x, i) => i === 0 || (xs[i - 1] as string) < x);
const labelToken = z.string().min(1).max(ENTRY_LIMITS.labelChars).regex(LABEL_RE);
const isLabelName = (k: string) => k.length <= ENTRY_LIMITS.labelChars && LABEL_RE.test(k) && k !== '__proto__';

/**
 * A JSON object used as a map. Its keys are checked on the raw object, before zod copies it:
 * zod's record silently drops a "__proto__" key, so a signed body could otherwise carry keys
 * that no schema ever looked at (and that the stored copy would lack).
 */
function keyedRecord<V extends z.ZodType>(what: string, keyOk: (k: string) => boolean, value: V, maxKeys: number) {
  return z
    .custom<Record<string, unknown>>((v) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
      const keys = Object.keys(v);
      return keys.length <= maxKeys && keys.every(keyOk);
    }, `expected ${what} (at most ${maxKeys} entries)`)
    .pipe(z.record(z.string(), value));
}

export const remoteVersionSchema = z.object({
  folder: folderId,
  // Only bounded here; its structure is checked per version (see remotePathProblem) so one
  // bad path costs only that version, not the whole entry.
  path: z.string().max(ENTRY_LIMITS.pathChars),
  kind: z.enum(VERSION_KINDS),
  size: count,
  mtimeMs: z.number(),
  mode: z.int().min(0).max(0o7777),
  target: z.string().max(ENTRY_LIMITS.targetChars).optional(),
  chunks: z.array(z.tuple([chunkHash, z.int().min(0).max(ENTRY_LIMITS.chunkBytes)])).max(ENTRY_LIMITS.chunksPerVersion),
  parents: z.array(versionId).max(ENTRY_LIMITS.parentsPerVersion).refine(sortedUnique, 'parents must be sorted and unique'),
  vector: keyedRecord('a version vector keyed by device id', isDeviceId, count, ENTRY_LIMITS.vectorEntries),
});

const entryHeader = { author: deviceId, seq: positive, createdAt: count };

export const versionsEntrySchema = z.object({
  t: z.literal('versions'),
  ...entryHeader,
  versions: z.array(remoteVersionSchema).min(1).max(ENTRY_LIMITS.versionsPerEntry),
});

export const folderEntrySchema = z.object({
  t: z.literal('folder'),
  /** 'add' shares a folder (the first add wins); 'update' changes label, class or priority (the last update wins). */
  op: z.enum(['add', 'update']),
  id: folderId,
  label: z.string().max(ENTRY_LIMITS.folderLabelChars),
  dataClass: z.enum(DATA_CLASSES),
  priority: z.enum(PRIORITIES),
  ...entryHeader,
});

export const deviceEntrySchema = z.object({
  t: z.literal('device'),
  op: z.enum(DEVICE_OPS),
  id: deviceId,
  publicKey: z.string().regex(PUBLIC_KEY_RE, 'expected a public key (64 lowercase hex)'),
  name: z.string().min(1).max(ENTRY_LIMITS.deviceNameChars).refine((s) => !CONTROL_RE.test(s), 'control characters in the name'),
  labels: keyedRecord('labels of letters, digits, "_", "." or "-"', isLabelName, labelToken, ENTRY_LIMITS.labels),
  trust: z.enum(TRUST_LEVELS),
  ...entryHeader,
}).refine((d) => PUBLIC_KEY_RE.test(d.publicKey) && d.id === deviceIdFromPublicKey(Buffer.from(d.publicKey, 'hex')), { message: 'id does not belong to publicKey', path: ['id'] });

/** A device's acknowledgement: per origin, the seq up to which it holds that origin's log (confirmed state, core/versions/confirm.ts). */
export const ackEntrySchema = z.object({
  t: z.literal('ack'),
  ...entryHeader,
  vector: keyedRecord('a log vector keyed by device id', isDeviceId, count, ENTRY_LIMITS.vectorEntries),
});

/** A path's priority override (placement must be the same on every device); null goes back to inheriting. */
export const priorityEntrySchema = z.object({
  t: z.literal('priority'),
  folder: folderId,
  path: z.string().max(ENTRY_LIMITS.pathChars),
  priority: z.enum(PRIORITIES).nullable(),
  ...entryHeader,
});

export const entryBodySchema = z.discriminatedUnion('t', [versionsEntrySchema, folderEntrySchema, deviceEntrySchema, ackEntrySchema, priorityEntrySchema]);

export type RemoteVersion = z.infer<typeof remoteVersionSchema>;
export type VersionsEntryBody = z.infer<typeof versionsEntrySchema>;
export type FolderEntryBody = z.infer<typeof folderEntrySchema>;
export type DeviceEntryBody = z.infer<typeof deviceEntrySchema>;
export type AckEntryBody = z.infer<typeof ackEntrySchema>;
export type PriorityEntryBody = z.infer<typeof priorityEntrySchema>;
export type EntryBody = z.infer<typeof entryBodySchema>;

// ---------------------------------------------------------------------------------------
// The fast check of versions entries

const VERSION_KEYS = new Set(['folder', 'path', 'kind', 'size', 'mtimeMs', 'mode', 'target', 'chunks', 'parents', 'vector']);
const VERSIONS_ENTRY_KEYS = new Set(['t', 'author', 'seq', 'createdAt', 'versions']);
const KIND_SET: ReadonlySet<string> = new Set(VERSION_KINDS);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isIntIn = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
/** UTF-16 length is at least the code-point count zod's max() measures, so this never accepts what zod refuses. */
const isStringUpTo = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const onlyKeys = (o: Record<string, unknown>, allowed: ReadonlySet<string>) => Object.keys(o).every((k) => allowed.has(k));

/**
 * `raw` as versionsEntrySchema would return it, when it is a versions entry the fast checks
 * accept; undefined otherwise, and then zod decides (and words the reason). Accepts only
 * what zod accepts and returns what zod would (as `raw` itself: a parsed body is never
 * changed afterwards). Keys zod would strip send the entry to zod, so the two never differ.
 * The property test in entry-schema.test.ts holds the two to that.
 */
export function versionsBodyFast(raw: unknown): VersionsEntryBody | undefined {
  if (!isPlainObject(raw) || raw.t !== 'versions' || !onlyKeys(raw, VERSIONS_ENTRY_KEYS)) return undefined;
  if (!isDeviceId(raw.author) || !isIntIn(raw.seq, 1, Number.MAX_SAFE_INTEGER) || !isIntIn(raw.createdAt, 0, Number.MAX_SAFE_INTEGER)) return undefined;
  const versions = raw.versions;
  if (!Array.isArray(versions) || versions.length < 1 || versions.length > ENTRY_LIMITS.versionsPerEntry) return undefined;
  for (const v of versions) if (!versionFast(v)) return undefined;
  return raw as VersionsEntryBody;
}

function versionFast(v: unknown): boolean {
  if (!isPlainObject(v) || !onlyKeys(v, VERSION_KEYS)) return false;
  if (typeof v.folder !== 'string' || !FOLDER_ID_RE.test(v.folder)) return false;
  if (!isStringUpTo(v.path, ENTRY_LIMITS.pathChars) || typeof v.kind !== 'string' || !KIND_SET.has(v.kind)) return false;
  if (!isIntIn(v.size, 0, Number.MAX_SAFE_INTEGER) || typeof v.mtimeMs !== 'number' || !Number.isFinite(v.mtimeMs) || !isIntIn(v.mode, 0, 0o7777)) return false;
  if (Object.hasOwn(v, 'target') && !isStringUpTo(v.target, ENTRY_LIMITS.targetChars)) return false;
  return chunksFast(v.chunks) && parentsFast(v.parents) && vectorFast(v.vector);
}

function chunksFast(chunks: unknown): boolean {
  if (!Array.isArray(chunks) || chunks.length > ENTRY_LIMITS.chunksPerVersion) return false;
  for (const c of chunks) {
    if (!Array.isArray(c) || c.length !== 2 || typeof c[0] !== 'string' || !HASH_RE.test(c[0]) || !isIntIn(c[1], 0, ENTRY_LIMITS.chunkBytes)) return false;
  }
  return true;
}

function parentsFast(parents: unknown): boolean {
  if (!Array.isArray(parents) || parents.length > ENTRY_LIMITS.parentsPerVersion) return false;
  for (const p of parents as unknown[]) if (typeof p !== 'string' || !VERSION_ID_RE.test(p)) return false;
  return sortedUnique(parents as string[]);
}

function vectorFast(vector: unknown): boolean {
  if (!isPlainObject(vector)) return false;
  const keys = Object.keys(vector);
  if (keys.length > ENTRY_LIMITS.vectorEntries) return false;
  for (const k of keys) if (!isDeviceId(k) || !isIntIn(vector[k], 0, Number.MAX_SAFE_INTEGER)) return false;
  return true;
}
