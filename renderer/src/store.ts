/**
 * The UI's state: what the device said (`status`, `folder.list`), scans in progress (from
 * `scan.progress` events), calls in flight, and errors to show. The reducers are pure
 * functions (unit-tested); `createCanopyStore` wires them to one CanopyClient.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { ApiEvent, CanopyClient, Params, FolderInfo, JobName, JobReport, ScanReport, StatusInfo } from '../../core/api/types.js';

export interface ScanState {
  folderId: string;
  phase: 'walk' | 'hash' | 'done';
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** When the first progress of this scan arrived (for its rate and time left). */
  startedAt?: number;
}

export interface UiError {
  id: number;
  /** What the user (or the app) was doing: "Scan Photos", "Load status". */
  action: string;
  code: string;
  message: string;
  at: number;
}

export type ConnectionState = 'connecting' | 'ready' | 'failed';

/** What views reload when it changes: each counter goes up when an event says its data moved. */
export interface Revisions {
  devices: number;
  files: number;
  conflicts: number;
  jobs: number;
  quota: number;
}

export interface JobProgress {
  job: JobName;
  done: number;
  total: number;
}

export interface EvictProgress {
  freedBytes: number;
  targetBytes: number;
  done: boolean;
  unfreeableBytes: number;
}

export interface CanopyData {
  connection: ConnectionState;
  status: StatusInfo | null;
  folders: FolderInfo[];
  /** Scans in progress, by folder id. */
  scans: Record<string, ScanState>;
  /** Folder ids with a `scan` call in flight ('*' for all). */
  scanning: Record<string, true>;
  adding: boolean;
  errors: UiError[];
  /** Latest message for the screen-reader live region. */
  announcement: string;
  rev: Revisions;
  /** Jobs running now, by name (from job.progress events). */
  jobs: Partial<Record<JobName, JobProgress>>;
  /** Reports that arrived as events since the page opened, newest first. */
  recentReports: JobReport[];
  evict: EvictProgress | null;
  quotaFull: { usedBytes: number; maxBytes: number } | null;
}

export interface CanopyActions {
  /** The transport, for views that call commands of their own (use-call.ts). */
  readonly client: CanopyClient;
  /** Loads everything and follows events; returns the function that stops following. */
  start(): () => void;
  refresh(): Promise<void>;
  scan(folderId?: string): Promise<void>;
  /** Resolves true when the folder was added. */
  addFolder(path: string, options?: AddFolderOptions): Promise<boolean>;
  dismissError(id: number): void;
  reportError(action: string, err: unknown): void;
}

export type AddFolderOptions = Omit<Params<'folder.add'>, 'path'>;

export type CanopyState = CanopyData & CanopyActions;
export type CanopyStore = StoreApi<CanopyState>;

export const MAX_ERRORS = 5;

export function initialData(): CanopyData {
  return {
    connection: 'connecting', status: null, folders: [], scans: {}, scanning: {}, adding: false, errors: [], announcement: '',
    rev: { devices: 0, files: 0, conflicts: 0, jobs: 0, quota: 0 }, jobs: {}, recentReports: [], evict: null, quotaFull: null,
  };
}

/** Folders in a stable, readable order: by label, then id. */
export function sortFolders(folders: readonly FolderInfo[]): FolderInfo[] {
  return [...folders].sort((a, b) => a.label.localeCompare(b.label) || a.id.localeCompare(b.id));
}

export function upsertFolder(folders: readonly FolderInfo[], folder: FolderInfo): FolderInfo[] {
  return sortFolders([...folders.filter((f) => f.id !== folder.id), folder]);
}

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  if (!(key in record)) return record;
  const next = { ...record };
  delete next[key];
  return next;
}

/** What a scan report says about its folder, before the next `folder.list` confirms it. */
export function applyReport(folders: readonly FolderInfo[], report: ScanReport, now: number): FolderInfo[] {
  return folders.map((f) => (f.id === report.folderId ? { ...f, files: report.files, bytes: report.bytes, lastScanAt: now } : f));
}

export function folderName(folders: readonly FolderInfo[], id: string): string {
  return folders.find((f) => f.id === id)?.label ?? id;
}

/** One API event applied to the state. Pure; `now` stamps what needs a time. */
export function applyEvent(state: CanopyData, event: ApiEvent, now: number): CanopyData {
  switch (event.type) {
    case 'scan.progress': {
      const { type: _type, ...progress } = event;
      const startedAt = state.scans[event.folderId]?.startedAt ?? now;
      return { ...state, scans: { ...state.scans, [event.folderId]: { ...progress, startedAt } } };
    }
    case 'scan.done': {
      const r = event.report;
      const changes = `${r.added} added, ${r.changed} changed, ${r.removed} removed`;
      return {
        ...state,
        scans: without(state.scans, r.folderId),
        folders: applyReport(state.folders, r, now),
        rev: bump(state.rev, 'files'),
        announcement: `Scan of ${folderName(state.folders, r.folderId)} finished: ${changes}.`,
      };
    }
    case 'folder.added':
      return { ...state, folders: upsertFolder(state.folders, event.folder), announcement: `Folder ${event.folder.label} added.` };
    case 'folder.removed':
      return {
        ...state,
        folders: state.folders.filter((f) => f.id !== event.folderId),
        scans: without(state.scans, event.folderId),
        announcement: `Folder ${folderName(state.folders, event.folderId)} removed.`,
      };
    case 'watch.error':
      return { ...state, errors: pushError(state.errors, `Watch ${folderName(state.folders, event.folderId)}`, { code: 'WATCH_ERROR', message: event.message }, now) };
    case 'problem':
      // Counted in the folder's problems column once the list is reloaded.
      return state;
    case 'sync.progress':
      return state.status ? { ...state, status: { ...state.status, sync: event.sync } } : state;
    case 'device.updated':
      return { ...state, rev: bump(state.rev, 'devices') };
    case 'folder.updated':
      return { ...state, folders: upsertFolder(state.folders, event.folder) };
    case 'device.online':
      return { ...state, rev: bump(state.rev, 'devices'), announcement: `${event.name} is ${event.online ? 'online' : 'offline'}.` };
    case 'conflict':
      return { ...state, rev: bump(bump(state.rev, 'conflicts'), 'files'), announcement: `${event.path} was edited on ${event.heads} devices apart: merge it in Conflicts.` };
    case 'conflict.resolved':
      return { ...state, rev: bump(bump(state.rev, 'conflicts'), 'files'), announcement: `${event.path} is merged.` };
    case 'materialized':
      return { ...state, rev: bump(state.rev, 'files') };
    case 'job.progress':
      return { ...state, jobs: { ...state.jobs, [event.job]: { job: event.job, done: event.done, total: event.total } } };
    case 'job.report': {
      const jobs = { ...state.jobs };
      delete jobs[event.report.job];
      const recentReports = [event.report, ...state.recentReports].slice(0, 20);
      return { ...state, jobs, recentReports, rev: bump(state.rev, 'jobs'), announcement: `${event.report.job} finished: ${event.report.message}` };
    }
    case 'quota.full':
      return { ...state, quotaFull: { usedBytes: event.usedBytes, maxBytes: event.maxBytes }, rev: bump(state.rev, 'quota') };
    case 'evict.progress': {
      const { type: _type, ...evict } = event;
      return { ...state, evict, rev: event.done ? bump(bump(state.rev, 'quota'), 'files') : state.rev };
    }
    default:
      return state;
  }
}

function bump(rev: Revisions, key: keyof Revisions): Revisions {
  return { ...rev, [key]: rev[key] + 1 };
}

/** The code and message of anything thrown by a call. */
export function describeError(err: unknown): { code: string; message: string } {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; message?: unknown };
    const message = typeof e.message === 'string' && e.message !== '' ? e.message : String(err);
    return { code: typeof e.code === 'string' ? e.code : 'ERROR', message };
  }
  return { code: 'ERROR', message: String(err) };
}

/** Adds an error (newest last), keeping at most MAX_ERRORS. */
export function pushError(errors: readonly UiError[], action: string, err: unknown, now: number): UiError[] {
  const { code, message } = describeError(err);
  const id = errors.reduce((max, e) => Math.max(max, e.id), 0) + 1;
  return [...errors, { id, action, code, message, at: now }].slice(-MAX_ERRORS);
}

/** Events that change what `status`/`folder.list` say, so the store reloads them. */
export function needsRefresh(event: ApiEvent): boolean {
  return event.type === 'scan.done' || event.type === 'folder.added' || event.type === 'folder.removed' || event.type === 'materialized' || event.type === 'device.online' || event.type === 'device.updated';
}

export interface StoreOptions {
  now?: () => number;
  /** Delay that coalesces reloads after bursts of events (the watcher scans often). */
  refreshDelayMs?: number;
}

export function createCanopyStore(client: CanopyClient, opts: StoreOptions = {}): CanopyStore {
  const now = opts.now ?? Date.now;
  const delay = opts.refreshDelayMs ?? 400;
  let timer: ReturnType<typeof setTimeout> | undefined;

  return createStore<CanopyState>()((set, get) => {
    const fail = (action: string, err: unknown) => set((s) => ({ errors: pushError(s.errors, action, err, now()) }));

    const scheduleRefresh = () => {
      if (timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        void get().refresh();
      }, delay);
    };

    return {
      ...initialData(),
      client,

      start() {
        const unsubscribe = client.subscribe((event) => {
          set((s) => applyEvent(s, event, now()));
          if (needsRefresh(event)) scheduleRefresh();
        });
        void get().refresh();
        return () => {
          unsubscribe();
          clearTimeout(timer);
          timer = undefined;
        };
      },

      async refresh() {
        try {
          const [status, folders] = await Promise.all([client.call('status', {}), client.call('folder.list', {})]);
          set({ status, folders: sortFolders(folders), connection: 'ready' });
        } catch (err) {
          set((s) => ({ connection: s.status ? s.connection : 'failed' }));
          fail('Load the device status', err);
        }
      },

      async scan(folderId) {
        const key = folderId ?? '*';
        if (get().scanning[key]) return;
        const name = folderId ? folderName(get().folders, folderId) : 'all folders';
        set((s) => ({ scanning: { ...s.scanning, [key]: true }, announcement: `Scanning ${name}…` }));
        try {
          const reports = await client.call('scan', folderId ? { folder: folderId } : {});
          set((s) => {
            let folders = s.folders;
            for (const r of reports) folders = applyReport(folders, r, now());
            return { folders };
          });
          scheduleRefresh();
        } catch (err) {
          fail(`Scan ${name}`, err);
        } finally {
          set((s) => ({ scanning: without(s.scanning, key) }));
        }
      },

      async addFolder(path, options = {}) {
        const trimmed = path.trim();
        if (trimmed === '') {
          fail('Add a folder', { code: 'BAD_ARGUMENT', message: 'Enter the path of the folder to add.' });
          return false;
        }
        if (get().adding) return false;
        set({ adding: true });
        try {
          const folder = await client.call('folder.add', { ...options, path: trimmed });
          set((s) => ({ folders: upsertFolder(s.folders, folder), announcement: `Folder ${folder.label} added.` }));
          scheduleRefresh();
          return true;
        } catch (err) {
          fail('Add a folder', err);
          return false;
        } finally {
          set({ adding: false });
        }
      },

      dismissError(id) {
        set((s) => ({ errors: s.errors.filter((e) => e.id !== id) }));
      },

      reportError(action, err) {
        fail(action, err);
      },
    };
  });
}
