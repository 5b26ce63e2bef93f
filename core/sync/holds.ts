/**
 * Holder questions: "which of these chunks do you hold, verified?", the cheap way for cleanup
 * to confirm holders without moving the chunks' bytes. Owns the answer's wire form (a
 * bitfield, checked bit for bit) and what this device answers.
 *
 * The answer is a claim, not a proof: it is made from the index (the chunk store's table,
 * and working-copy files whose indexed version holds the chunk and whose size, mtime and
 * inode still match what was indexed), without reading or hashing a byte. A peer may lie or
 * be stale; that is why cleanup asks `minimum` distinct designated holders and drops only
 * copies it is not designated for.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Db } from '../db/index.js';
import type { ChunkStore } from '../store/index.js';

/** At most this many hashes per question (32 bytes each: 128 KiB frames). */
export const MAX_HOLDS_PER_QUESTION = 4096;

/** `held[i]` as bits, least significant bit first; padding bits are zero. */
export function toBitfield(held: readonly boolean[]): Uint8Array {
  const out = new Uint8Array(Math.ceil(held.length / 8));
  held.forEach((h, i) => {
    if (h) out[i >> 3] = (out[i >> 3] as number) | (1 << (i & 7));
  });
  return out;
}

/** The bits of an answer to a question of `count` hashes; throws when the bitfield does not fit it exactly. */
export function fromBitfield(count: number, bits: Uint8Array): boolean[] {
  if (bits.byteLength !== Math.ceil(count / 8)) throw new Error(`holds answer has ${bits.byteLength} bytes for ${count} hashes`);
  const tail = count & 7;
  if (tail !== 0 && ((bits[bits.byteLength - 1] as number) >> tail) !== 0) throw new Error('holds answer sets bits past the hashes asked about');
  return Array.from({ length: count }, (_, i) => (((bits[i >> 3] as number) >> (i & 7)) & 1) === 1);
}

interface IndexedFile {
  folderId: string;
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

/** What this device says it holds: the chunk store, or an indexed, unchanged working-copy file. */
export class HeldHere {
  private readonly files;

  constructor(db: Db, private readonly store: ChunkStore, private readonly folderRoot: (folderId: string) => string | undefined) {
    // The same path as LocalChunks.locations (chunk -> versions -> the working copy reflecting
    // that version), with the file's indexed stats to compare against an lstat.
    this.files = db.prepare(`SELECT DISTINCT f.folder_id AS folderId, f.path AS path, f.size AS size, f.mtime_ms AS mtimeMs, f.ino AS ino
      FROM version_chunks c
      JOIN versions v ON v.id = c.version_id
      JOIN local_files f ON f.folder_id = v.folder_id AND f.path = v.path AND f.version_id = c.version_id
      WHERE c.chunk = ? AND f.kind = 'file'`);
  }

  /** One answer per hash, in order. Never throws for a missing or unreadable file: that is a "no". */
  async check(hashes: readonly string[]): Promise<boolean[]> {
    const out: boolean[] = [];
    for (const h of hashes) out.push(this.store.has(h) || (await this.inUnchangedFile(h)));
    return out;
  }

  private async inUnchangedFile(hash: string): Promise<boolean> {
    for (const f of this.files.all(hash) as IndexedFile[]) {
      const root = this.folderRoot(f.folderId);
      if (root === undefined) continue;
      const st = await fsp.lstat(path.join(root, f.path)).catch(() => undefined);
      // The scanner's own "unchanged" test (size, mtime, inode); an edit it has not indexed yet is a "no".
      if (st?.isFile() && st.size === f.size && st.mtimeMs === f.mtimeMs && st.ino === f.ino) return true;
    }
    return false;
  }
}
