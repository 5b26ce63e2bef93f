/**
 * The device's own change log: an append-only, signed sequence of entries (new versions,
 * folder changes). Peers exchange these logs by "origin X up to seq N" vectors, so every
 * entry must be verifiable on its own by its origin's public key, even when relayed.
 *
 * Owns: sequence numbers for the local origin, canonical encoding, signing, storing.
 * Callers run `append` inside their own transaction so an entry and the rows it describes
 * land together or not at all.
 */
import type { Db } from '../db/index.js';
import { sign, type Identity } from '../identity/index.js';
import { canonicalBytes, type Json } from './canonical.js';

export type LogEntryKind = 'versions' | 'folder' | 'device' | 'ack' | 'priority';

export interface AppendedEntry {
  origin: string;
  seq: number;
  body: Buffer;
  signature: Buffer;
}

export class ChangeLog {
  /** Called after each local append (inside the caller's transaction: defer real work). */
  onAppend: (() => void) | undefined;
  private readonly insert;
  private readonly maxSeq;

  constructor(private readonly db: Db, private readonly identity: Identity) {
    this.insert = db.prepare('INSERT INTO change_log (origin, seq, kind, body, signature, received_at) VALUES (?, ?, ?, ?, ?, ?)');
    this.maxSeq = db.prepare('SELECT max(seq) AS seq FROM change_log WHERE origin = ?');
  }

  /**
   * The sequence number the next local entry will get. Read from the database every time
   * (one primary-key lookup): this device's own old entries can come back from peers after
   * its database was restored, and a cached counter would then reuse a seq.
   */
  nextSeq(): number {
    const row = this.maxSeq.get(this.identity.deviceId) as { seq: number | null };
    return (row.seq ?? 0) + 1;
  }

  /**
   * Signs and stores one entry. `build` receives the seq the entry will carry, so the seq is
   * part of the signed bytes (a relay cannot renumber entries).
   */
  append(kind: LogEntryKind, build: (seq: number) => Json): AppendedEntry {
    const seq = this.nextSeq();
    const body = canonicalBytes(build(seq));
    const signature = sign(this.identity, body);
    this.insert.run(this.identity.deviceId, seq, kind, body, signature, Date.now());
    this.onAppend?.();
    return { origin: this.identity.deviceId, seq, body, signature };
  }
}

export { canonicalBytes, canonicalJson, RawJson } from './canonical.js';
export type { Json } from './canonical.js';
