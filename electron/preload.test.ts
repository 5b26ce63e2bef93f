/**
 * Runs the real preload source the way a sandboxed preload runs: as CommonJS, with a
 * `require` that knows only a fake 'electron'. Checks that the page gets exactly
 * `window.canopy = { call, subscribe, getPathForFile }` and nothing of Electron's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import ts from 'typescript';
import { describe, expect, it, vi } from 'vitest';
import { CALL_CHANNEL, EVENT_CHANNEL, type CanopyBridge } from './bridge.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = fs.readFileSync(path.join(here, 'preload.cts'), 'utf8');

type Listener = (event: unknown, ...args: unknown[]) => void;

function loadPreload() {
  const exposed: [string, unknown][] = [];
  const listeners = new Map<string, Set<Listener>>();
  const ipcRenderer = {
    invoke: vi.fn(async (..._args: unknown[]) => ({ ok: true, result: 'answer' })),
    on: vi.fn((channel: string, l: Listener) => {
      if (!listeners.has(channel)) listeners.set(channel, new Set());
      listeners.get(channel)?.add(l);
    }),
    removeListener: vi.fn((channel: string, l: Listener) => void listeners.get(channel)?.delete(l)),
    send: vi.fn(),
    sendSync: vi.fn(),
  };
  const electron = {
    contextBridge: { exposeInMainWorld: vi.fn((key: string, api: unknown) => void exposed.push([key, api])) },
    ipcRenderer,
    webUtils: { getPathForFile: vi.fn(() => '/home/me/Photos') },
  };
  const required: string[] = [];
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 }, fileName: 'preload.cts' }).outputText;
  const module = { exports: {} };
  const fakeRequire = (id: string) => {
    required.push(id);
    if (id === 'electron') return electron;
    throw new Error(`a sandboxed preload cannot require "${id}"`);
  };
  vm.runInNewContext(`(function (require, module, exports) {${js}\n})`, { Promise, TypeError })(fakeRequire, module, module.exports);
  const emit = (channel: string, ...args: unknown[]) => {
    for (const l of listeners.get(channel) ?? []) l({ sender: 'the IpcRendererEvent' }, ...args);
  };
  return { exposed, electron, ipcRenderer, required, listeners, emit };
}

describe('preload bridge', () => {
  it('requires nothing but electron', () => {
    expect(loadPreload().required).toEqual(['electron']);
  });

  it('exposes exactly call, subscribe and getPathForFile as window.canopy', () => {
    const { exposed } = loadPreload();
    expect(exposed).toHaveLength(1);
    const [key, api] = exposed[0] ?? [];
    expect(key).toBe('canopy');
    expect(Object.keys(api as object).sort()).toEqual(['call', 'getPathForFile', 'subscribe']);
    for (const fn of Object.values(api as object)) expect(typeof fn).toBe('function');
  });

  it('uses the channel names of bridge.ts', () => {
    expect(source).toContain(`const CALL_CHANNEL = '${CALL_CHANNEL}';`);
    expect(source).toContain(`const EVENT_CHANNEL = '${EVENT_CHANNEL}';`);
  });

  it('sends a call as one { command, params } message and returns the reply', async () => {
    const { exposed, ipcRenderer } = loadPreload();
    const api = exposed[0]?.[1] as CanopyBridge;
    await expect(api.call('folder.add', { path: '/x' })).resolves.toEqual({ ok: true, result: 'answer' });
    expect(ipcRenderer.invoke).toHaveBeenCalledWith(CALL_CHANNEL, { command: 'folder.add', params: { path: '/x' } });
  });

  it('refuses a non-string command without sending it', async () => {
    const { exposed, ipcRenderer } = loadPreload();
    const api = exposed[0]?.[1] as { call(c: unknown, p: unknown): Promise<unknown> };
    await expect(api.call({ toString: () => 'status' }, {})).rejects.toThrow('command must be a string');
    expect(ipcRenderer.invoke).not.toHaveBeenCalled();
  });

  it('delivers event payloads only, never the IPC event, and unsubscribes once', () => {
    const { exposed, emit, listeners, ipcRenderer } = loadPreload();
    const api = exposed[0]?.[1] as CanopyBridge;
    const seen: unknown[][] = [];
    const off = api.subscribe((...args: unknown[]) => void seen.push(args));
    emit(EVENT_CHANNEL, { type: 'folder.removed', folderId: 'x' });
    expect(seen).toEqual([[{ type: 'folder.removed', folderId: 'x' }]]);
    off();
    off();
    expect(listeners.get(EVENT_CHANNEL)?.size).toBe(0);
    expect(ipcRenderer.removeListener).toHaveBeenCalledTimes(1);
    emit(EVENT_CHANNEL, { type: 'folder.removed', folderId: 'y' });
    expect(seen).toHaveLength(1);
  });

  it('rejects a non-function listener', () => {
    const api = loadPreload().exposed[0]?.[1] as { subscribe(l: unknown): unknown };
    expect(() => api.subscribe('nope')).toThrow('listener must be a function');
  });

  it('asks webUtils for a dropped file path', () => {
    const { exposed, electron } = loadPreload();
    const api = exposed[0]?.[1] as CanopyBridge;
    const file = {} as File;
    expect(api.getPathForFile(file)).toBe('/home/me/Photos');
    expect(electron.webUtils.getPathForFile).toHaveBeenCalledWith(file);
  });

  it('never uses send or sendSync', () => {
    const { exposed, ipcRenderer } = loadPreload();
    const api = exposed[0]?.[1] as CanopyBridge;
    void api.call('status', {});
    api.subscribe(() => undefined)();
    expect(ipcRenderer.send).not.toHaveBeenCalled();
    expect(ipcRenderer.sendSync).not.toHaveBeenCalled();
  });
});
