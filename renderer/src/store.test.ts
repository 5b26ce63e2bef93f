import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiCallError } from '../../core/api/http-client.js';
import type { ApiEvent } from '../../core/api/types.js';
import { MAX_ERRORS, applyEvent, createCanopyStore, describeError, initialData, needsRefresh, pushError, sortFolders, upsertFolder } from './store.js';
import { FakeClient, folder, report, status } from './test-fixtures.js';

const NOW = 1_750_000_000_000;

describe('reducers', () => {
  it('keeps folders sorted by label, then id', () => {
    const out = sortFolders([folder({ id: 'b', label: 'Photos' }), folder({ id: 'z', label: 'Code' }), folder({ id: 'a', label: 'Photos' })]);
    expect(out.map((f) => f.id)).toEqual(['z', 'a', 'b']);
  });

  it('upserts a folder by id', () => {
    const list = [folder({ id: 'a', label: 'A' }), folder({ id: 'b', label: 'B' })];
    const out = upsertFolder(list, folder({ id: 'a', label: 'C' }));
    expect(out.map((f) => [f.id, f.label])).toEqual([['b', 'B'], ['a', 'C']]);
    expect(list[0]?.label).toBe('A');
  });

  it('tracks scan progress per folder from events', () => {
    const ev: ApiEvent = { type: 'scan.progress', folderId: 'docs', phase: 'hash', filesDone: 2, filesTotal: 4, bytesDone: 10, bytesTotal: 40 };
    const s = applyEvent({ ...initialData(), folders: [folder()] }, ev, NOW);
    expect(s.scans).toEqual({ docs: { folderId: 'docs', phase: 'hash', filesDone: 2, filesTotal: 4, bytesDone: 10, bytesTotal: 40, startedAt: NOW } });
    const next = applyEvent(s, { ...ev, filesDone: 3 }, NOW + 500);
    expect(next.scans['docs']).toMatchObject({ filesDone: 3, startedAt: NOW });
  });

  it('ends the progress on scan.done and applies the report', () => {
    const start = { ...initialData(), folders: [folder()], scans: { docs: { folderId: 'docs', phase: 'hash' as const, filesDone: 1, filesTotal: 1, bytesDone: 1, bytesTotal: 1 } } };
    const s = applyEvent(start, { type: 'scan.done', report: report({ files: 42, bytes: 99, added: 2, changed: 1, removed: 3 }) }, NOW);
    expect(s.scans).toEqual({});
    expect(s.folders[0]).toMatchObject({ files: 42, bytes: 99, lastScanAt: NOW });
    expect(s.announcement).toBe('Scan of Documents finished: 2 added, 1 changed, 3 removed.');
  });

  it('adds and removes folders from events', () => {
    let s = applyEvent(initialData(), { type: 'folder.added', folder: folder({ id: 'p', label: 'Photos' }) }, NOW);
    expect(s.folders.map((f) => f.id)).toEqual(['p']);
    s = { ...s, scans: { p: { folderId: 'p', phase: 'walk', filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 } } };
    s = applyEvent(s, { type: 'folder.removed', folderId: 'p' }, NOW);
    expect(s.folders).toEqual([]);
    expect(s.scans).toEqual({});
    expect(s.announcement).toBe('Folder Photos removed.');
  });

  it('shows watch errors and leaves problems to the next reload', () => {
    const base = { ...initialData(), folders: [folder()] };
    const s = applyEvent(base, { type: 'watch.error', folderId: 'docs', message: 'ENOSPC: inotify watches exhausted' }, NOW);
    expect(s.errors).toEqual([{ id: 1, action: 'Watch Documents', code: 'WATCH_ERROR', message: 'ENOSPC: inotify watches exhausted', at: NOW }]);
    expect(applyEvent(base, { type: 'problem', folderId: 'docs', path: 'x', code: 'EACCES', message: 'denied' }, NOW)).toBe(base);
  });

  it('knows which events change the lists', () => {
    expect(needsRefresh({ type: 'scan.done', report: report() })).toBe(true);
    expect(needsRefresh({ type: 'folder.removed', folderId: 'x' })).toBe(true);
    expect(needsRefresh({ type: 'scan.progress', folderId: 'x', phase: 'walk', filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 })).toBe(false);
  });

  it('describes any thrown value', () => {
    expect(describeError(new ApiCallError('NOT_FOUND', 'no such folder'))).toEqual({ code: 'NOT_FOUND', message: 'no such folder' });
    expect(describeError(new Error('boom'))).toEqual({ code: 'ERROR', message: 'boom' });
    expect(describeError('plain')).toEqual({ code: 'ERROR', message: 'plain' });
  });

  it('keeps the newest errors with unique ids', () => {
    let errors = pushError([], 'A', new Error('1'), NOW);
    for (let i = 2; i <= MAX_ERRORS + 2; i++) errors = pushError(errors, 'A', new Error(String(i)), NOW);
    expect(errors).toHaveLength(MAX_ERRORS);
    expect(errors.at(-1)?.message).toBe(String(MAX_ERRORS + 2));
    expect(new Set(errors.map((e) => e.id)).size).toBe(MAX_ERRORS);
  });
});

describe('createCanopyStore', () => {
  let client: FakeClient;
  beforeEach(() => {
    vi.useFakeTimers();
    client = new FakeClient().on('status', () => status()).on('folder.list', () => [folder({ id: 'b', label: 'B' }), folder({ id: 'a', label: 'A' })]);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('loads status and folders on start', async () => {
    const store = createCanopyStore(client, { now: () => NOW });
    store.getState().start();
    await vi.runAllTimersAsync();
    const s = store.getState();
    expect(s.connection).toBe('ready');
    expect(s.status?.device.name).toBe('laptop');
    expect(s.folders.map((f) => f.id)).toEqual(['a', 'b']);
  });

  it('shows a failed load as an error, not silence', async () => {
    client.on('status', () => {
      throw new ApiCallError('DAEMON_UNREACHABLE', 'the daemon does not answer');
    });
    const store = createCanopyStore(client, { now: () => NOW });
    store.getState().start();
    await vi.runAllTimersAsync();
    expect(store.getState().connection).toBe('failed');
    expect(store.getState().errors).toEqual([{ id: 1, action: 'Load the device status', code: 'DAEMON_UNREACHABLE', message: 'the daemon does not answer', at: NOW }]);
  });

  it('follows events and reloads once after a burst', async () => {
    const store = createCanopyStore(client, { now: () => NOW, refreshDelayMs: 100 });
    const stop = store.getState().start();
    await vi.runAllTimersAsync();
    client.calls.length = 0;
    client.emit({ type: 'scan.progress', folderId: 'a', phase: 'walk', filesDone: 1, filesTotal: 0, bytesDone: 0, bytesTotal: 0 });
    expect(store.getState().scans['a']?.filesDone).toBe(1);
    client.emit({ type: 'scan.done', report: report({ folderId: 'a' }) });
    client.emit({ type: 'scan.done', report: report({ folderId: 'b' }) });
    await vi.runAllTimersAsync();
    expect(client.calls.map((c) => c.command)).toEqual(['status', 'folder.list']);
    stop();
    expect(client.listeners.size).toBe(0);
  });

  it('scans one folder, marking it busy meanwhile', async () => {
    let finish: (v: unknown) => void = () => undefined;
    client.on('scan', () => new Promise((resolve) => (finish = resolve)));
    const store = createCanopyStore(client, { now: () => NOW });
    await store.getState().refresh();
    const running = store.getState().scan('a');
    expect(store.getState().scanning).toEqual({ a: true });
    expect(store.getState().announcement).toBe('Scanning A…');
    // A second click while it runs does not start another scan.
    await store.getState().scan('a');
    finish([report({ folderId: 'a', files: 77 })]);
    await running;
    expect(client.calls.filter((c) => c.command === 'scan')).toEqual([{ command: 'scan', params: { folder: 'a' } }]);
    expect(store.getState().scanning).toEqual({});
    expect(store.getState().folders.find((f) => f.id === 'a')?.files).toBe(77);
  });

  it('scans everything without a folder id', async () => {
    client.on('scan', () => []);
    const store = createCanopyStore(client);
    await store.getState().scan();
    expect(client.calls).toEqual([{ command: 'scan', params: {} }]);
  });

  it('shows a failed scan as an error', async () => {
    client.on('scan', () => {
      throw new ApiCallError('NOT_FOUND', 'folder "a" is not attached on this device');
    });
    const store = createCanopyStore(client, { now: () => NOW });
    await store.getState().refresh();
    await store.getState().scan('a');
    expect(store.getState().errors.map((e) => [e.action, e.code])).toEqual([['Scan A', 'NOT_FOUND']]);
    expect(store.getState().scanning).toEqual({});
  });

  it('adds a folder by its trimmed path', async () => {
    client.on('folder.add', (p) => folder({ id: 'new', label: 'New', path: (p as { path: string }).path }));
    const store = createCanopyStore(client);
    expect(await store.getState().addFolder('  /data/new  ')).toBe(true);
    expect(client.calls.at(-1)).toEqual({ command: 'folder.add', params: { path: '/data/new' } });
    expect(store.getState().folders.map((f) => f.id)).toEqual(['new']);
    expect(store.getState().adding).toBe(false);
  });

  it('refuses an empty path without calling, and reports call errors', async () => {
    const store = createCanopyStore(client);
    expect(await store.getState().addFolder('   ')).toBe(false);
    expect(client.calls).toEqual([]);
    client.on('folder.add', () => {
      throw new ApiCallError('BAD_PATH', '/nope does not exist');
    });
    expect(await store.getState().addFolder('/nope')).toBe(false);
    expect(store.getState().errors.map((e) => [e.action, e.code, e.message])).toEqual([
      ['Add a folder', 'BAD_ARGUMENT', 'Enter the path of the folder to add.'],
      ['Add a folder', 'BAD_PATH', '/nope does not exist'],
    ]);
    const first = store.getState().errors[0];
    if (first) store.getState().dismissError(first.id);
    expect(store.getState().errors).toHaveLength(1);
  });
});
