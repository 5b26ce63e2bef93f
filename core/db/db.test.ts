import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { integrityProblems, openDatabase } from './index.js';
import { MIGRATIONS } from './schema.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'canopy-db-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('metadata database', () => {
  it('creates the schema in WAL mode and reopens it without migrating again', () => {
    const file = path.join(dir, 'canopy.db');
    const db = openDatabase(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    db.prepare("INSERT INTO settings (key, value) VALUES ('k', 'v')").run();
    db.close();
    const again = openDatabase(file);
    expect(again.prepare('SELECT value FROM settings').pluck().get()).toBe('v');
    expect(integrityProblems(again)).toEqual([]);
    again.close();
  });

  it('refuses a SQLite file that belongs to another program', () => {
    const file = path.join(dir, 'other.db');
    const foreign = new Database(file);
    foreign.exec('CREATE TABLE invoices (id INTEGER)');
    foreign.close();
    expect(() => openDatabase(file)).toThrow(/not a Canopy database/);
    // and leaves it untouched
    const check = new Database(file);
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type='table'").pluck().all()).toEqual(['invoices']);
    check.close();
  });

  it('refuses a corrupt file with a message that says what to do', () => {
    const file = path.join(dir, 'canopy.db');
    fs.writeFileSync(file, Buffer.alloc(8192, 0x5a));
    expect(() => openDatabase(file)).toThrow(/corrupt or not a database.*backup/);
  });

  it('refuses a database from a newer Canopy', () => {
    const file = path.join(dir, 'canopy.db');
    openDatabase(file).close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    raw.close();
    expect(() => openDatabase(file)).toThrow(/newer Canopy/);
  });
});
