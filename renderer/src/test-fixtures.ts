/** Shared fixtures for the renderer's unit tests: API shapes and a scriptable fake client. */
import type { ApiEvent, CanopyClient, CommandName, FolderInfo, Params, Result, ScanReport, StatusInfo } from '../../core/api/types.js';

export function folder(over: Partial<FolderInfo> = {}): FolderInfo {
  return {
    id: 'docs', label: 'Documents', dataClass: 'standard', priority: 'normal', attached: true, path: '/home/me/Documents',
    mode: 'full', files: 10, bytes: 2048, lastScanAt: null, problems: 0, ...over,
  };
}

export function status(folders: FolderInfo[] = [folder()]): StatusInfo {
  return {
    device: { id: 'dev-1', name: 'laptop', labels: { site: 'home' } }, home: '/home/me/.local/share/canopy', version: '0.1.0',
    via: 'daemon', daemon: null, folders, store: { chunks: 3, bytes: 1024, quarantined: 0, maxBytes: 4096, diskFreeBytes: 1 << 30 },
    versions: 7, logSeq: 7, sync: null, health: null,
  };
}

export function report(over: Partial<ScanReport> = {}): ScanReport {
  return {
    folderId: 'docs', files: 11, dirs: 1, symlinks: 0, bytes: 4096, added: 1, changed: 0, removed: 0, unchanged: 10, adopted: 0, hashedFiles: 1,
    hashedBytes: 2048, seconds: 0.1, mibPerSecond: 20, problems: [], ...over,
  };
}

type Handler = (params: unknown) => unknown;

/** A CanopyClient whose answers the test sets per command, and whose events it emits. */
export class FakeClient implements CanopyClient {
  readonly calls: { command: CommandName; params: unknown }[] = [];
  readonly listeners = new Set<(e: ApiEvent) => void>();
  handlers: Partial<Record<CommandName, Handler>> = {};

  on(command: CommandName, handler: Handler): this {
    this.handlers[command] = handler;
    return this;
  }

  async call<C extends CommandName>(command: C, params: Params<C>): Promise<Result<C>> {
    this.calls.push({ command, params });
    const h = this.handlers[command];
    if (!h) throw Object.assign(new Error(`no handler for ${command}`), { code: 'NOT_FOUND' });
    return (await h(params)) as Result<C>;
  }

  subscribe(listener: (e: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: ApiEvent): void {
    for (const l of this.listeners) l(event);
  }
}
