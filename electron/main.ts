/**
 * The Electron main process: a thin shell over core/api. It owns this device's engine
 * (opened like the daemon opens it, and watching folders like the daemon does), wraps it
 * in ApiService and serves that to one sandboxed window over IPC (ipc.ts). Nothing here
 * knows about folders or files; the UI is renderer/, built into dist/renderer/.
 *
 * One instance per user: a second launch focuses the first one's window.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, nativeTheme, screen, session } from 'electron';
import type { ApiService } from '../core/api/service.js';
import { hostDevice, type DeviceHost } from '../core/host/index.js';
import { resolveHome } from '../core/config/index.js';
import type { Engine } from '../core/engine/index.js';
import { bindIpc, type ExpectedSender, type IpcBinding } from './ipc.js';
import { BLOCKED_URL_PATTERNS, DESKTOP_CSP, windowOptions } from './window.js';
import { fitToWorkArea, readWindowState, writeWindowState, type WindowState } from './window-state.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RENDERER_INDEX = path.join(here, '..', 'renderer', 'index.html');
const PRELOAD = path.join(here, 'preload.cjs');
const RENDERER_URL = pathToFileURL(RENDERER_INDEX).href;

let engine: Engine | undefined;
let api: ApiService | undefined;
let binding: IpcBinding | undefined;
let win: BrowserWindow | null = null;
let host: DeviceHost | undefined;
let shutdown: Promise<void> | undefined;
let engineClosed = false;

function log(line: string): void {
  console.log(`canopy: ${line}`);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function windowStateFile(): string {
  return path.join(app.getPath('userData'), 'window-state.json');
}

function lockDownSession(): void {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.webRequest.onBeforeRequest({ urls: BLOCKED_URL_PATTERNS }, (_details, callback) => callback({ cancel: true }));
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [DESKTOP_CSP] } });
  });
}

/** Every web contents (ours and any a bug might create): no navigation, no popups, no webviews. */
function guardContents(): void {
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event) => event.preventDefault());
    contents.on('will-redirect', (event) => event.preventDefault());
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });
}

function createWindow(): BrowserWindow {
  const remembered = readWindowState(windowStateFile());
  const state = fitToWorkArea(remembered, screen.getPrimaryDisplay().workAreaSize);
  const w = new BrowserWindow(windowOptions({ state, preload: PRELOAD, dark: nativeTheme.shouldUseDarkColors }));
  if (state.maximized) w.maximize();
  w.once('ready-to-show', () => w.show());
  w.on('close', () => {
    const size = w.getNormalBounds();
    const next: WindowState = { width: size.width, height: size.height, maximized: w.isMaximized() };
    if (!writeWindowState(windowStateFile(), next)) log('could not save the window size');
  });
  w.on('closed', () => {
    if (win === w) win = null;
  });
  w.webContents.on('render-process-gone', (_event, details) => log(`renderer gone: ${details.reason}`));
  w.loadFile(RENDERER_INDEX).catch((err: unknown) => log(`could not load the UI from ${RENDERER_INDEX}: ${message(err)}`));
  return w;
}

function expectedSender(): ExpectedSender | null {
  if (!win || win.isDestroyed()) return null;
  return { webContentsId: win.webContents.id, url: RENDERER_URL, caseInsensitive: process.platform === 'win32' };
}

function openEngine(): boolean {
  const home = resolveHome();
  try {
    // The same hosting as `canopy daemon` (engine, sync, watchers, rescans), minus HTTP.
    host = hostDevice(home, { log });
  } catch (err) {
    dialog.showErrorBox('Canopy cannot start', `Could not open the Canopy home at ${home}:\n\n${message(err)}`);
    return false;
  }
  engine = host.engine;
  api = host.api;
  return true;
}

function stop(): Promise<void> {
  shutdown ??= (async () => {
    binding?.dispose();
    await host?.stop().catch((err: unknown) => log(`closing the engine failed: ${message(err)}`));
  })();
  return shutdown;
}

function main(): void {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return;
  }
  app.enableSandbox();
  guardContents();

  app.on('second-instance', () => {
    if (!win) return;
    if (win.isMinimized()) win.restore();
    win.focus();
  });

  app.on('will-quit', (event) => {
    if (!engine || engineClosed) return;
    event.preventDefault();
    void stop().finally(() => {
      engineClosed = true;
      app.quit();
    });
  });

  app.on('window-all-closed', () => {
    // The engine keeps syncing on macOS while the app stays in the dock, as apps there do.
    if (process.platform !== 'darwin') app.quit();
  });

  app.on('activate', () => {
    if (!win && api) win = createWindow();
  });

  app.whenReady().then(() => {
    lockDownSession();
    if (!openEngine() || !api) {
      app.exit(1);
      return;
    }
    binding = bindIpc({ ipcMain, api, expected: expectedSender, target: () => (win && !win.isDestroyed() ? win.webContents : null) });
    win = createWindow();
  }).catch((err: unknown) => {
    dialog.showErrorBox('Canopy cannot start', message(err));
    app.exit(1);
  });
}

main();
