/**
 * What a person does with a path's history (DESIGN.md section 5): read any version
 * (`preferred`, `confirmed_only`, `provisional_allowed` or an exact id), restore an old
 * version as a new head, and settle a conflict with a merge version whose parents are all
 * the heads (take one, keep both under distinct names, or merged content).
 *
 * Owns: picking a version by read mode, reading its verified bytes from the working copy
 * or the chunk store, and recording restores and merges. Every new version goes into the
 * DAG first (so nothing depends on the disk write succeeding) and is then materialized.
 */
import type { Engine } from '../engine/index.js';
import { CanopyError } from '../errors/index.js';
import { blake3Hex } from '../chunking/hash.js';
import { chunkLengths } from '../chunking/fastcdc.js';
import { compareHeads, latestFirst, preferredHead, type ChunkRef, type NewLocalVersion, type Version } from '../versions/index.js';
import { LocalChunks } from '../sync/local-chunks.js';
import { Materializer, type FetchChunk } from '../sync/materialize.js';
import { conflictCopyPath } from './names.js';

export type ReadMode = 'preferred' | 'confirmed_only' | 'provisional_allowed';

export interface PickOptions {
  mode?: ReadMode | undefined;
  /** An exact version id, or an unambiguous prefix of one (as `canopy log` prints them). */
  version?: string | undefined;
}

export interface HistoryOptions {
  /**
   * Where chunks this device does not hold come from. Absent (full mode today): a clear
   * NOT_FOUND error. Sharded mode plugs the fetcher in here.
   */
  fetchChunk?: FetchChunk | undefined;
  /**
   * Brings the working copy in line after a new version and returns the paths it could not
   * write yet; default: the local materializer with the chunks this device holds.
   */
  materialize?: ((folderId: string, paths: readonly string[]) => Promise<string[]>) | undefined;
}

export type Resolution = { take: string } | { keepBoth: true } | { content: Buffer };

export interface ResolveOutcome {
  version: Version;
  /** Paths keep-both created for the other heads. */
  created: string[];
  /** Paths recorded but not written to the working copy yet (their chunks are on other devices; sync brings them). */
  pending: string[];
}

export class History {
  readonly local: LocalChunks;
  private readonly materializer: Materializer;

  constructor(private readonly engine: Engine, private readonly opts: HistoryOptions = {}) {
    const folderRoot = (id: string) => engine.folders.get(id)?.local?.path;
    this.local = new LocalChunks(engine.db, engine.store, folderRoot);
    this.materializer = new Materializer({ db: engine.db, versions: engine.versions, store: engine.store, local: this.local, scanner: engine.scanner, folderRoot });
  }

  /** The version a read of `folderId/path` means. */
  pick(folderId: string, path: string, opts: PickOptions = {}): Version {
    const versions = this.engine.versions;
    if (opts.version !== undefined) return this.byId(folderId, path, opts.version);
    const heads = versions.heads(folderId, path);
    if (heads.length === 0) throw new CanopyError('NOT_FOUND', `no versions of ${folderId}/${path}`, { folderId, path });
    switch (opts.mode ?? 'preferred') {
      case 'preferred':
        return preferredHead(heads) as Version;
      case 'provisional_allowed':
        return [...heads].sort((a, b) => Number(a.kind === 'tombstone') - Number(b.kind === 'tombstone') || latestFirst(a, b))[0] as Version;
      case 'confirmed_only': {
        const found = this.latestConfirmed(heads);
        if (!found) throw new CanopyError('NOT_FOUND', `no version of ${folderId}/${path} is confirmed yet (a majority of the devices must have it); read with --mode provisional_allowed`, { folderId, path });
        return found;
      }
    }
  }

  /** The confirmed versions nearest the heads (each branch walked back to its first confirmed version), best first. */
  private latestConfirmed(heads: readonly Version[]): Version | undefined {
    const found: Version[] = [];
    const seen = new Set<string>();
    const queue = [...heads];
    while (queue.length > 0) {
      const v = queue.shift() as Version;
      if (seen.has(v.id)) continue;
      seen.add(v.id);
      if (v.state === 'confirmed') {
        found.push(v);
        continue;
      }
      for (const p of v.parents) {
        const parent = this.engine.versions.get(p);
        if (parent) queue.push(parent);
      }
    }
    return found.sort(compareHeads)[0];
  }

  private byId(folderId: string, path: string, id: string): Version {
    const exact = this.engine.versions.get(id);
    if (exact) {
      if (exact.folderId !== folderId || exact.path !== path) {
        throw new CanopyError('NOT_FOUND', `version ${id} is a version of ${exact.folderId}/${exact.path}, not of ${folderId}/${path}`, { id });
      }
      return exact;
    }
    const matches = this.engine.versions.history(folderId, path).filter((v) => v.id.startsWith(id.toLowerCase()));
    if (matches.length === 1) return matches[0] as Version;
    if (matches.length > 1) throw new CanopyError('BAD_ARGUMENT', `version prefix ${id} matches ${matches.length} versions of ${folderId}/${path}; give more characters`, { id });
    throw new CanopyError('NOT_FOUND', `no version ${id} of ${folderId}/${path} (see \`canopy log ${folderId}/${path}\`)`, { id });
  }

  /** The verified chunks of a file version, in order; starts at the chunk holding `offset`. */
  async *chunks(v: Version, offset = 0): AsyncGenerator<{ offset: number; data: Buffer }> {
    if (v.kind !== 'file') throw notAFile(v);
    for (const c of this.engine.versions.chunks(v.id)) {
      if (c.offset + c.size <= offset) continue;
      yield { offset: c.offset, data: await this.chunk(v, c) };
    }
  }

  /** Up to `maxBytes` of a version's content from `offset`. Symlinks read as their target. */
  async read(v: Version, offset: number, maxBytes: number): Promise<{ data: Buffer; truncated: boolean }> {
    if (v.kind === 'symlink') {
      const all = Buffer.from(v.target ?? '', 'utf8');
      return { data: all.subarray(offset, offset + maxBytes), truncated: offset + maxBytes < all.length };
    }
    const parts: Buffer[] = [];
    let got = 0;
    for await (const c of this.chunks(v, offset)) {
      const from = Math.max(0, offset - c.offset);
      const part = c.data.subarray(from, from + (maxBytes - got));
      parts.push(part);
      got += part.length;
      if (got >= maxBytes) break;
    }
    return { data: Buffer.concat(parts), truncated: offset + got < v.size };
  }

  /** Makes an old version the new head: a new version whose parent is the current head (so it can be undone). */
  async restore(folderId: string, path: string, versionId: string): Promise<{ version: Version; pending: string[] }> {
    this.engine.requireAttached(folderId);
    // An edit the scanner has not seen yet becomes a version first: the restore then sits on top of it.
    await this.engine.scan(folderId, [path]);
    const old = this.byId(folderId, path, versionId);
    if (old.kind === 'dir') throw new CanopyError('BAD_ARGUMENT', `${folderId}/${path} version ${old.id.slice(0, 12)} is a directory; restore the files inside it`);
    await this.ensureReadable(old);
    const version = await this.record(folderId, () => {
      const head = this.engine.versions.preferredHead(folderId, path);
      return [copyOf(old, path, this.engine.now(), this.engine.versions.chunks(old.id), head ? [head.id] : [])];
    });
    const pending = await this.materialize(folderId, [path]);
    return { version: version[0] as Version, pending };
  }

  /** Settles a conflict: one merge version whose parents are ALL the heads, so it closes everywhere. */
  async resolve(folderId: string, path: string, how: Resolution): Promise<ResolveOutcome> {
    this.engine.requireAttached(folderId);
    await this.engine.scan(folderId, [path]);
    const taken = 'take' in how ? this.byId(folderId, path, how.take) : undefined;
    if (taken) await this.ensureReadable(taken);
    const merged = 'content' in how ? await this.storeContent(how.content) : undefined;
    const names = new Map(this.engine.mesh.devices().map((d) => [d.id, d.name]));
    const created: string[] = [];
    const recorded = await this.record(folderId, () => {
      const heads = this.engine.versions.heads(folderId, path);
      if (heads.length < 2) throw new CanopyError('NOT_FOUND', `${folderId}/${path} has no conflict to resolve (it has ${heads.length} head${heads.length === 1 ? '' : 's'})`, { folderId, path });
      const parents = heads.map((h) => h.id);
      const now = this.engine.now();
      const preferred = preferredHead(heads) as Version;
      if (merged && heads.some((h) => h.kind === 'dir')) {
        throw new CanopyError('BAD_ARGUMENT', `${folderId}/${path} is a directory on some branch; merged content would replace it with a file: resolve it with --take or --keep-both`, { folderId, path });
      }
      const changes: NewLocalVersion[] = [];
      if (merged) {
        changes.push({ folderId, path, kind: 'file', size: merged.size, mtimeMs: now, mode: preferred.kind === 'file' ? preferred.mode : 0o644, chunks: merged.chunks, parentIds: parents });
      } else {
        const source = taken ?? preferred;
        changes.push(copyOf(source, path, now, this.engine.versions.chunks(source.id), parents));
      }
      if ('keepBoth' in how) {
        const used = new Set(changes.map((c) => c.path));
        for (const h of heads) {
          if (h.id === preferred.id || (h.kind !== 'file' && h.kind !== 'symlink')) continue;
          const copyPath = this.freePath(folderId, conflictCopyPath(path, names.get(h.author) ?? h.author.slice(0, 8), h.createdAt), used);
          used.add(copyPath);
          created.push(copyPath);
          changes.push(copyOf(h, copyPath, now, this.engine.versions.chunks(h.id), undefined));
        }
      }
      return changes;
    });
    const pending = await this.materialize(folderId, [path, ...created]);
    return { version: recorded[0] as Version, created, pending };
  }

  /**
   * Refuses to make a version the head when its bytes are nowhere to be had (overwritten
   * before any device copied them): a head must always be readable. Fetched chunks are kept.
   */
  private async ensureReadable(v: Version): Promise<void> {
    if (v.kind !== 'file') return;
    try {
      for await (const _ of this.chunks(v)) {
        // each chunk verified (and, when fetched, kept in the store)
      }
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CanopyError('NOT_FOUND', `the content of ${v.folderId}/${v.path} version ${v.id.slice(0, 12)} cannot be read here (${why}); with the daemon running it is fetched from your other devices, or pick another version`, { id: v.id });
    }
  }

  /** A name for a keep-both copy that no live path uses. */
  private freePath(folderId: string, wanted: string, taken: ReadonlySet<string>): string {
    const dot = wanted.lastIndexOf('.');
    const hasExt = dot > wanted.lastIndexOf('/') + 1 && dot > wanted.lastIndexOf(')');
    for (let n = 1; ; n++) {
      const candidate = n === 1 ? wanted : hasExt ? `${wanted.slice(0, dot)} ${n}${wanted.slice(dot)}` : `${wanted} ${n}`;
      const live = this.engine.versions.heads(folderId, candidate).some((h) => h.kind !== 'tombstone');
      if (!live && !taken.has(candidate)) return candidate;
    }
  }

  /** Records changes under the folder's lock (no scan interleaves), in one transaction. */
  private record(folderId: string, build: () => NewLocalVersion[]): Promise<Version[]> {
    return this.engine.scanner.withFolderLock(folderId, async () => this.engine.db.transaction(() => this.engine.versions.recordLocalBatch(build()))());
  }

  private async materialize(folderId: string, paths: readonly string[]): Promise<string[]> {
    if (this.opts.materialize) return this.opts.materialize(folderId, paths);
    const report = await this.materializer.apply(folderId, paths, (hash, size) => this.fetch(hash, size));
    return report.problems.map((p) => p.path);
  }

  /** Chunks merged content and puts the chunks into the store, so the merge version is readable at once. */
  private async storeContent(content: Buffer): Promise<{ size: number; chunks: ChunkRef[] }> {
    const chunks: ChunkRef[] = [];
    let offset = 0;
    for (const len of content.length === 0 ? [] : chunkLengths(content)) {
      const data = content.subarray(offset, offset + len);
      const hash = blake3Hex(data);
      await this.engine.store.put(hash, data);
      chunks.push({ hash, offset, size: len });
      offset += len;
    }
    return { size: content.length, chunks };
  }

  private async chunk(v: Version, c: ChunkRef): Promise<Buffer> {
    const data = await this.local.read(c.hash);
    if (data && data.length === c.size) return data;
    return this.fetch(c.hash, c.size, v);
  }

  private async fetch(hash: string, size: number, v?: Version): Promise<Buffer> {
    if (this.opts.fetchChunk) {
      const data = await this.opts.fetchChunk(hash, size).catch((err: unknown) => {
        throw new CanopyError('NOT_FOUND', `chunk ${hash.slice(0, 12)}${v ? ` of ${v.folderId}/${v.path}` : ''} is not on this device and no connected device could send it: ${err instanceof Error ? err.message : String(err)}`, { hash, reason: 'not-reachable' });
      });
      if (data.length !== size || blake3Hex(data) !== hash) throw new CanopyError('CORRUPT_CHUNK', `chunk ${hash.slice(0, 12)} arrived damaged (its bytes do not match its hash)`, { hash });
      // Kept, so the branch stays readable here (the store holds opened files and branches); a full store only means it is not kept.
      await this.engine.store.put(hash, data).catch(() => undefined);
      return data;
    }
    const of = v ? ` of ${v.folderId}/${v.path} (version ${v.id.slice(0, 12)})` : '';
    throw new CanopyError('NOT_FOUND', `chunk ${hash.slice(0, 12)}${of} is not held on this device (not in the working copy nor the chunk store); it must be fetched from a device that has it`, { hash, reason: 'not-local' });
  }
}

/** A new version of `path` with the content of `v`. */
function copyOf(v: Version, path: string, now: number, chunks: readonly ChunkRef[], parentIds: string[] | undefined): NewLocalVersion {
  return {
    folderId: v.folderId, path, kind: v.kind, size: v.size, mtimeMs: now, mode: v.mode,
    target: v.target ?? undefined, chunks: [...chunks], parentIds,
  };
}

function notAFile(v: Version): CanopyError {
  const what = v.kind === 'tombstone' ? 'a deletion' : v.kind === 'dir' ? 'a directory' : 'a symlink';
  return new CanopyError('BAD_ARGUMENT', `version ${v.id.slice(0, 12)} of ${v.folderId}/${v.path} is ${what}, not file content${v.kind === 'tombstone' ? '; pick an older version with --version (see `canopy log`)' : ''}`, { id: v.id, kind: v.kind });
}
