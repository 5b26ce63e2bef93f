/**
 * Opens the device's metadata database (better-sqlite3, WAL) and brings its schema up to
 * date. Owns: pragmas, the Canopy application id, migrations, and turning SQLite's
 * "not a database" and "corrupt" failures into one clear BAD_DATABASE error.
 *
 * Crash safety: every multi-row change in the engine runs inside `db.transaction`, and WAL
 * with synchronous=NORMAL keeps the file consistent after a kill -9 at any point (the last
 * transactions may be lost, never half-applied).
 */
import Database from 'better-sqlite3';
import { CanopyError } from '../errors/index.js';
import { MIGRATIONS } from './schema.js';

export type Db = Database.Database;

/** 'CNPY' as a big-endian int32: marks the file as ours so a foreign SQLite file is refused. */
export const APPLICATION_ID = 0x434e5059;

export function openDatabase(file: string, opts: { readonly?: boolean } = {}): Db {
  let db: Db;
  try {
    db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  } catch (err) {
    throw badDatabase(file, err);
  }
  try {
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // A checkpoint every ~40 MiB of log rather than every 4 MiB: each one syncs the WAL and
      // the database file, and a burst of arriving files wrote several a second. The WAL file
      // is cut back to 64 MiB after a checkpoint, so it does not stay at its high-water mark.
      db.pragma('wal_autocheckpoint = 10000');
      db.pragma('journal_size_limit = 67108864');
    }
    // SQLite's default page cache is 2 MiB; the index of 10,000 files is already 13 MiB, and
    // the versions, chunks and heads a log batch inserts land all over their B-trees. Pages
    // are only cached as they are used, so a small home costs no more.
    db.pragma('cache_size = -65536');
    db.pragma('foreign_keys = ON');
    checkOwnership(db, file);
    if (!opts.readonly) migrate(db, file);
    return db;
  } catch (err) {
    db.close();
    throw err instanceof CanopyError ? err : badDatabase(file, err);
  }
}

function checkOwnership(db: Db, file: string): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (appId === APPLICATION_ID) return;
  const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
  if (appId !== 0 || tables.n > 0) {
    throw new CanopyError('BAD_DATABASE', `${file} is not a Canopy database (it belongs to another program); move it away or use another --home`, { file });
  }
}

function migrate(db: Db, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new CanopyError('BAD_DATABASE', `${file} was written by a newer Canopy (schema ${current}, this one knows ${MIGRATIONS.length}); upgrade Canopy`, { file, schema: current });
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    const step = db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
      if (v === 0) db.pragma(`application_id = ${APPLICATION_ID}`);
    });
    step();
  }
}

function badDatabase(file: string, err: unknown): CanopyError {
  const msg = err instanceof Error ? err.message : String(err);
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || /not a database|malformed/i.test(msg)) {
    return new CanopyError('BAD_DATABASE', `${file} is corrupt or not a database (${msg}); restore it from a backup or move it away to start this device fresh`, { file }, { cause: err });
  }
  return new CanopyError('BAD_DATABASE', `cannot open database ${file}: ${msg}`, { file }, { cause: err });
}

/** Keys per query of manyAtOnce: a JSON array parameter of a few thousand stays small. */
export const KEYS_PER_QUERY = 1024;

/**
 * Runs `query` on `keys` as JSON arrays of at most KEYS_PER_QUERY (for a statement that walks
 * `json_each(?)` first and seeks each key), and returns every row. Thousands of point
 * queries cost about three times as much here as the same rows read this way.
 */
export function manyAtOnce<R>(keys: readonly string[], query: (json: string) => R[]): R[] {
  const out: R[] = [];
  for (let i = 0; i < keys.length; i += KEYS_PER_QUERY) {
    for (const row of query(JSON.stringify(keys.slice(i, i + KEYS_PER_QUERY)))) out.push(row);
  }
  return out;
}

/** `PRAGMA integrity_check` as a list of problems; empty when the file is sound. */
export function integrityProblems(db: Db): string[] {
  const rows = db.pragma('integrity_check') as { integrity_check: string }[];
  return rows.map((r) => r.integrity_check).filter((r) => r !== 'ok');
}
