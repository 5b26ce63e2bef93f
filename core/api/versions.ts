/**
 * The API's version commands (DESIGN.md section 5): `file.cat`, `file.restore`,
 * `conflict.resolve` and `gc`, over core/history and core/gc. The result shapes are the
 * ones agreed in types.ts; `log` and `conflicts` stay in service.ts.
 */
import type { Engine } from '../engine/index.js';
import type { SyncService } from '../sync/index.js';
import { CanopyError } from '../errors/index.js';
import { History } from '../history/index.js';
import { collectGarbage } from '../gc/index.js';
import type { Version } from '../versions/index.js';
import { MAX_API_CONTENT_BYTES, type ApiEvent, type FileContent, type GcReport, type Params, type ResolveResult, type VersionInfo } from './types.js';

export interface VersionCommandDeps {
  engine: Engine;
  sync: SyncService | undefined;
  resolveTarget: (target: string) => { folderId: string; rel: string };
  emit: (event: ApiEvent) => void;
}

export class VersionCommands {
  private readonly history: History;

  constructor(private readonly deps: VersionCommandDeps) {
    const sync = deps.sync;
    // With a running sync, its materializer writes the new version (fetching what this
    // device lacks from peers); without one, the local materializer writes what is here.
    // Reading a version this device does not hold (the other side of a conflict, for the
    // merge view) asks the connected devices for its chunks.
    this.history = new History(deps.engine, sync ? {
      materialize: async (folderId) => (sync.folderAttached(folderId), []),
      fetchChunk: (hash, size) => sync.fetchChunk(hash, size),
    } : {});
  }

  async cat(p: Params<'file.cat'>): Promise<FileContent> {
    const { folderId, rel } = this.fileTarget(p.target);
    const v = this.history.pick(folderId, rel, { mode: p.mode, version: p.version });
    if (v.kind === 'tombstone' || v.kind === 'dir') {
      return { folderId, path: rel, versionId: v.id, kind: v.kind, size: 0, state: v.state, encoding: 'utf8', data: '', truncated: false, offset: 0 };
    }
    const offset = p.offset ?? 0;
    const { data, truncated } = await this.history.read(v, offset, p.maxBytes ?? MAX_API_CONTENT_BYTES);
    const text = p.encoding === 'base64' ? undefined : asText(data, truncated);
    return {
      folderId, path: rel, versionId: v.id, kind: v.kind, size: v.size, state: v.state,
      encoding: text === undefined ? 'base64' : 'utf8', data: text ?? data.toString('base64'), truncated, offset,
    };
  }

  async restore(p: Params<'file.restore'>): Promise<VersionInfo> {
    const { folderId, rel } = this.fileTarget(p.target);
    return this.info((await this.history.restore(folderId, rel, p.version)).version);
  }

  async resolve(p: Params<'conflict.resolve'>): Promise<ResolveResult> {
    const { folderId, rel } = this.fileTarget(p.target);
    const how = p.take !== undefined ? { take: p.take }
      : p.keepBoth ? { keepBoth: true as const }
      : { content: p.content !== undefined ? Buffer.from(p.content, 'utf8') : decodeBase64(p.contentBase64 ?? '') };
    const out = await this.history.resolve(folderId, rel, how);
    this.deps.emit({ type: 'conflict.resolved', folderId, path: rel, versionId: out.version.id });
    return { folderId, path: rel, version: this.info(out.version), created: out.created, ...(out.pending.length > 0 ? { pending: out.pending } : {}) };
  }

  gc(p: Params<'gc'>): Promise<GcReport> {
    return collectGarbage(this.deps.engine, { dryRun: p.dryRun, emergency: p.emergency });
  }

  private fileTarget(target: string): { folderId: string; rel: string } {
    const t = this.deps.resolveTarget(target);
    if (t.rel === '') throw new CanopyError('BAD_ARGUMENT', 'give a path inside the folder, e.g. FOLDER/notes.txt');
    return t;
  }

  private info(v: Version): VersionInfo {
    const e = this.deps.engine;
    const heads = new Set(e.versions.heads(v.folderId, v.path).map((h) => h.id));
    const author = e.mesh.device(v.author);
    return {
      id: v.id, path: v.path, kind: v.kind, parents: v.parents, author: v.author, authorName: author?.name ?? null,
      size: v.size, mtimeMs: v.mtimeMs, createdAt: v.createdAt, state: v.state, vector: { ...v.vector }, chunks: v.chunkCount,
      isHead: heads.has(v.id), target: v.target,
    };
  }
}

/** The content as text when it is valid UTF-8 without NULs (a cut multi-byte character at the end is allowed). */
function asText(data: Buffer, truncated: boolean): string | undefined {
  if (data.includes(0)) return undefined;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let cut = 0; cut <= (truncated ? 3 : 0) && cut <= data.length; cut++) {
    try {
      return decoder.decode(data.subarray(0, data.length - cut));
    } catch {
      // try one byte less: the piece may end inside a character
    }
  }
  return undefined;
}

function decodeBase64(s: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) throw new CanopyError('BAD_ARGUMENT', 'contentBase64 is not valid base64');
  return Buffer.from(s, 'base64');
}
