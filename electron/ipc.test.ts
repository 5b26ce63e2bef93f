import { describe, expect, it, vi } from 'vitest';
import type { ApiEvent, CanopyClient, CommandName } from '../core/api/types.js';
import { ApiCallError } from '../core/api/http-client.js';
import { CanopyError } from '../core/errors/index.js';
import { CALL_CHANNEL, EVENT_CHANNEL } from './bridge.js';
import { MAX_MESSAGE_BYTES, bindIpc, checkSender, handleCall, parseCallMessage, sameFileUrl, senderInfo, type ExpectedSender, type SenderInfo } from './ipc.js';

// ipc.ts imports Electron's types only; if that ever changes, this keeps the test from
// loading the real module (which would try to download a binary).
vi.mock('electron', () => ({}));

const URL_OK = 'file:///opt/Canopy/resources/app.asar/dist/renderer/index.html';
const expected: ExpectedSender = { webContentsId: 7, url: URL_OK };
const good: SenderInfo = { webContentsId: 7, frame: { url: URL_OK, isMainFrame: true } };

function fakeApi(): CanopyClient & { calls: { command: string; params: unknown }[]; emit(e: ApiEvent): void } {
  const calls: { command: string; params: unknown }[] = [];
  const listeners = new Set<(e: ApiEvent) => void>();
  return {
    calls,
    async call(command: CommandName, params: unknown) {
      calls.push({ command, params });
      if (command === 'folder.remove') throw new CanopyError('NOT_FOUND', 'no folder "x"');
      if (command === 'ls') throw new TypeError('a bug');
      return [] as never;
    },
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    emit(e) {
      for (const l of listeners) l(e);
    },
  } as CanopyClient & { calls: { command: string; params: unknown }[]; emit(e: ApiEvent): void };
}

describe('checkSender', () => {
  it('accepts our window main frame showing our index.html', () => {
    expect(checkSender(good, expected)).toEqual({ ok: true, value: true });
  });

  it('ignores a query or fragment on our page', () => {
    expect(checkSender({ ...good, frame: { url: `${URL_OK}?a=1#/folders`, isMainFrame: true } }, expected).ok).toBe(true);
  });

  it.each<[string, SenderInfo]>([
    ['another window', { ...good, webContentsId: 8 }],
    ['a destroyed frame', { ...good, frame: null }],
    ['a subframe', { ...good, frame: { url: URL_OK, isMainFrame: false } }],
    ['a web page', { ...good, frame: { url: 'https://evil.example/index.html', isMainFrame: true } }],
    ['the daemon page over http', { ...good, frame: { url: 'http://127.0.0.1:7420/index.html', isMainFrame: true } }],
    ['another local file', { ...good, frame: { url: 'file:///tmp/evil.html', isMainFrame: true } }],
    ['a sibling path', { ...good, frame: { url: 'file:///opt/Canopy/resources/app.asar/dist/renderer/index.html/../x.html', isMainFrame: true } }],
    ['a file on another host', { ...good, frame: { url: 'file://server/opt/Canopy/resources/app.asar/dist/renderer/index.html', isMainFrame: true } }],
    ['a data URL', { ...good, frame: { url: 'data:text/html,<script>1</script>', isMainFrame: true } }],
    ['about:blank', { ...good, frame: { url: 'about:blank', isMainFrame: true } }],
    ['garbage', { ...good, frame: { url: 'not a url', isMainFrame: true } }],
  ])('rejects %s', (_name, sender) => {
    const r = checkSender(sender, expected);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('UNAUTHORIZED');
  });
});

describe('sameFileUrl', () => {
  it('compares decoded paths', () => {
    expect(sameFileUrl('file:///a%20b/index.html', 'file:///a b/index.html')).toBe(true);
  });
  it('is case-sensitive unless asked (Windows)', () => {
    expect(sameFileUrl('file:///C:/App/index.html', 'file:///c:/app/index.html')).toBe(false);
    expect(sameFileUrl('file:///C:/App/index.html', 'file:///c:/app/index.html', true)).toBe(true);
  });
  it('rejects bad percent-encoding', () => {
    expect(sameFileUrl('file:///%E0%A4%A/index.html', URL_OK)).toBe(false);
  });
});

describe('parseCallMessage', () => {
  it('accepts a known command with plain params', () => {
    expect(parseCallMessage({ command: 'folder.add', params: { path: '/x' } })).toEqual({ ok: true, value: { command: 'folder.add', params: { path: '/x' } } });
  });

  it('defaults missing params to {}', () => {
    expect(parseCallMessage({ command: 'status' })).toEqual({ ok: true, value: { command: 'status', params: {} } });
    expect(parseCallMessage({ command: 'status', params: undefined })).toMatchObject({ ok: true });
  });

  it.each<[string, unknown]>([
    ['an unknown command', { command: 'shell.exec', params: {} }],
    ['a prototype key as command', { command: '__proto__', params: {} }],
    ['a constructor key as command', { command: 'constructor', params: {} }],
    ['an empty command', { command: '', params: {} }],
    ['a non-string command', { command: 42, params: {} }],
    ['a missing command', { params: {} }],
    ['a huge command name', { command: 'x'.repeat(10_000) }],
    ['null', null],
    ['a string', 'status'],
    ['an array', ['status', {}]],
    ['extra fields', { command: 'status', params: {}, channel: 'x' }],
    ['array params', { command: 'status', params: [] }],
    ['string params', { command: 'status', params: 'x' }],
    ['null params', { command: 'status', params: null }],
    ['a class instance as params', { command: 'status', params: new Date() }],
    ['oversized params', { command: 'folder.add', params: { path: 'x'.repeat(MAX_MESSAGE_BYTES + 1) } }],
  ])('rejects %s', (_name, raw) => {
    const r = parseCallMessage(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('BAD_ARGUMENT');
  });

  it('rejects params that are not plain data', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(parseCallMessage({ command: 'status', params: cyclic }).ok).toBe(false);
  });
});

describe('handleCall', () => {
  it('runs a good call and wraps the result', async () => {
    const api = fakeApi();
    await expect(handleCall(api, good, expected, { command: 'folder.list', params: {} })).resolves.toEqual({ ok: true, result: [] });
    expect(api.calls).toEqual([{ command: 'folder.list', params: {} }]);
  });

  it('never reaches the API for a bad sender or message', async () => {
    const api = fakeApi();
    const r1 = await handleCall(api, { ...good, webContentsId: 99 }, expected, { command: 'folder.list' });
    const r2 = await handleCall(api, good, expected, { command: 'nope' });
    expect(r1).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    expect(r2).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENT', message: 'unknown command "nope"' } });
    expect(api.calls).toEqual([]);
  });

  it('accepts the tray popover as well as the window, each checked on its own', async () => {
    const api = fakeApi();
    const popover: ExpectedSender = { webContentsId: 8, url: URL_OK };
    const both = [expected, popover];
    await expect(handleCall(api, { webContentsId: 8, frame: { url: `${URL_OK}#tray`, isMainFrame: true } }, both, { command: 'status' })).resolves.toMatchObject({ ok: true });
    await expect(handleCall(api, { webContentsId: 8, frame: { url: 'file:///tmp/evil.html', isMainFrame: true } }, both, { command: 'status' })).resolves.toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED', message: 'IPC from an unexpected page' } });
    await expect(handleCall(api, { webContentsId: 9, frame: { url: URL_OK, isMainFrame: true } }, both, { command: 'status' })).resolves.toMatchObject({ ok: false, error: { message: 'IPC from an unknown window' } });
    await expect(handleCall(api, good, [], { command: 'status' })).resolves.toMatchObject({ ok: false });
    expect(api.calls).toHaveLength(1);
  });

  it('answers API errors as data with their code', async () => {
    const r = await handleCall(fakeApi(), good, expected, { command: 'folder.remove', params: { id: 'x' } });
    expect(r).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: 'no folder "x"' } });
  });

  it('keeps the code of an error relayed from the engine thread', async () => {
    const relayed: CanopyClient = { call: async () => Promise.reject(new ApiCallError('ENGINE_STOPPED', "Canopy's engine is not running")), subscribe: () => () => undefined };
    await expect(handleCall(relayed, good, expected, { command: 'status' })).resolves.toEqual({ ok: false, error: { code: 'ENGINE_STOPPED', message: "Canopy's engine is not running" } });
  });

  it('reports a non-Canopy error as INTERNAL', async () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const r = await handleCall(fakeApi(), good, expected, { command: 'ls', params: { target: 'x' } });
    expect(r).toEqual({ ok: false, error: { code: 'INTERNAL', message: 'a bug' } });
    expect(spy).toHaveBeenCalled();
    spy.mockRestore();
  });
});

describe('senderInfo', () => {
  const mainFrame = { frameTreeNodeId: 1, parent: null, url: URL_OK, detached: false };
  it('reads the main frame', () => {
    const ev = { sender: { id: 7, mainFrame }, senderFrame: mainFrame };
    expect(senderInfo(ev as never)).toEqual(good);
  });
  it('marks a subframe and a missing frame', () => {
    const sub = { frameTreeNodeId: 2, parent: mainFrame, url: URL_OK, detached: false };
    expect(senderInfo({ sender: { id: 7, mainFrame }, senderFrame: sub } as never).frame?.isMainFrame).toBe(false);
    expect(senderInfo({ sender: { id: 7, mainFrame }, senderFrame: null } as never).frame).toBeNull();
    expect(senderInfo({ sender: { id: 7, mainFrame }, senderFrame: { ...mainFrame, detached: true } } as never).frame).toBeNull();
  });
});

describe('bindIpc', () => {
  function setup(open = true) {
    const handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
    const ipcMain = {
      handle: vi.fn((channel: string, fn: (event: unknown, ...args: unknown[]) => unknown) => void handlers.set(channel, fn)),
      removeHandler: vi.fn((channel: string) => void handlers.delete(channel)),
    };
    const sent: unknown[][] = [];
    const contents = { send: (...args: unknown[]) => void sent.push(args), isDestroyed: () => false };
    const api = fakeApi();
    const binding = bindIpc({ ipcMain: ipcMain as never, api, expected: () => (open ? expected : null), target: () => (open ? contents : null) });
    return { handlers, ipcMain, sent, api, binding };
  }
  const mainFrame = { frameTreeNodeId: 1, parent: null, url: URL_OK, detached: false };
  const event = { sender: { id: 7, mainFrame }, senderFrame: mainFrame };

  it('serves the call channel through the checks', async () => {
    const { handlers, api } = setup();
    const handler = handlers.get(CALL_CHANNEL);
    expect(handler).toBeDefined();
    await expect(handler?.(event, { command: 'status' })).resolves.toEqual({ ok: true, result: [] });
    await expect(handler?.({ ...event, sender: { id: 3, mainFrame } }, { command: 'status' })).resolves.toMatchObject({ ok: false });
    expect(api.calls).toHaveLength(1);
  });

  it('forwards events to every open window, skipping destroyed ones', () => {
    const sent: string[] = [];
    const target = (name: string, destroyed = false) => ({ send: () => void sent.push(name), isDestroyed: () => destroyed });
    const api = fakeApi();
    const ipcMain = { handle: vi.fn(), removeHandler: vi.fn() };
    bindIpc({ ipcMain: ipcMain as never, api, expected: () => [expected], target: () => [target('window'), target('gone', true), target('popover')] });
    api.emit({ type: 'folder.removed', folderId: 'x' });
    expect(sent).toEqual(['window', 'popover']);
  });

  it('rejects calls while no window is open', async () => {
    const { handlers } = setup(false);
    await expect(Promise.resolve(handlers.get(CALL_CHANNEL)?.(event, { command: 'status' }))).resolves.toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
  });

  it('forwards events to the window and stops on dispose', () => {
    const { sent, api, binding, handlers } = setup();
    const e: ApiEvent = { type: 'folder.removed', folderId: 'x' };
    api.emit(e);
    expect(sent).toEqual([[EVENT_CHANNEL, e]]);
    binding.dispose();
    api.emit(e);
    expect(sent).toHaveLength(1);
    expect(handlers.size).toBe(0);
  });
});
