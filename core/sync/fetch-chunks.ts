/**
 * Fetching named chunks into the local store (repair, pins, opening online-only files):
 * each chunk's size comes from the versions that reference it, the bytes from peers
 * (checked against the hash by the session and again by the store), several at a time.
 */
import type { Engine } from '../engine/index.js';
import { isCanopyError } from '../errors/index.js';
import type { LocalChunks } from './local-chunks.js';

const PARALLEL = 16;
const HASH_RE = /^[0-9a-f]{64}$/;

export interface FetchResult {
  fetched: number;
  failed: { hash: string; reason: string }[];
}

export async function fetchIntoStore(
  engine: Engine, local: LocalChunks, get: (hash: string, size: number) => Promise<Buffer>, hashes: readonly string[], signal?: AbortSignal,
  makeRoom?: (bytes: number) => Promise<boolean>,
): Promise<FetchResult> {
  const sizeOf = engine.db.prepare('SELECT size FROM version_chunks WHERE chunk = ? LIMIT 1').pluck();
  const out: FetchResult = { fetched: 0, failed: [] };
  const queue = [...new Set(hashes)];
  const one = async (hash: string): Promise<void> => {
    if (signal?.aborted) return void out.failed.push({ hash, reason: 'cancelled' });
    if (!HASH_RE.test(hash)) return void out.failed.push({ hash, reason: 'not a chunk hash' });
    // Held already (store or an indexed working-copy file, DESIGN.md section 2: never twice).
    if (local.has(hash)) return void out.fetched++;
    const size = sizeOf.get(hash) as number | undefined;
    if (size === undefined) return void out.failed.push({ hash, reason: 'no kept version references this chunk' });
    try {
      // Full: evict what may go (auto_evict) before asking the network; still full: say so.
      if (engine.store.usage().bytes + size > engine.config.storage.max && !(await makeRoom?.(size))) {
        return void out.failed.push({ hash, reason: `QUOTA_EXCEEDED: the store is full (${engine.store.usage().bytes} of ${engine.config.storage.max} bytes) and nothing more may be evicted` });
      }
      const data = await get(hash, size);
      await engine.store.put(hash, data);
      out.fetched++;
    } catch (err) {
      out.failed.push({ hash, reason: isCanopyError(err) ? `${err.code}: ${err.message}` : String(err) });
    }
  };
  const workers = Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
    for (let h = queue.shift(); h !== undefined; h = queue.shift()) await one(h);
  });
  await Promise.all(workers);
  return out;
}
