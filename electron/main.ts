/**
 * The Electron main process: a thin shell over core/api. It owns this device's engine,
 * hosted like the daemon hosts it (engine, sync, watchers, rescans) but on a worker thread
 * (engine-thread.ts), so SQLite queries, signing, chunk checks and the network never hold
 * up the tray or the windows; hashing runs in the engine's own worker pool below that. It
 * serves the API to the sandboxed window and the tray popover over IPC (ipc.ts), and shows
 * the tray, notifications and launch-at-login. Nothing here knows about folders or files;
 * the UI is renderer/, built into dist/renderer/.
 *
 * One instance per user: a second launch focuses the first one's window.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import os from 'node:os';
import { app, BrowserWindow, dialog, ipcMain, Menu, nativeImage, nativeTheme, Notification, screen, session, Tray, type MenuItemConstructorOptions } from 'electron';
import type { ApiEvent, StatusInfo } from '../core/api/types.js';
import { resolveHome } from '../core/config/index.js';
import { startEngineThread, type EngineThread, type LinkClient } from './engine-link.js';
import { autostartDir, launchCommand, linuxAutostartEnabled, setLinuxAutostart } from './autostart.js';
import { bindIpc, type ExpectedSender, type IpcBinding } from './ipc.js';
import { NotificationThrottle, notificationFor, throttleKey } from './notifications.js';
import { POPOVER_SIZE, popoverPosition } from './popover.js';
import { trayMenu, trayTooltip, type TrayAction, type TrayItem } from './tray-menu.js';
import { BLOCKED_URL_PATTERNS, DESKTOP_CSP, windowOptions } from './window.js';
import { fitToWorkArea, readWindowState, writeWindowState, type WindowState } from './window-state.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RENDERER_INDEX = path.join(here, '..', 'renderer', 'index.html');
const PRELOAD = path.join(here, 'preload.cjs');
const RENDERER_URL = pathToFileURL(RENDERER_INDEX).href;
const TRAY_ICON = path.join(here, '..', '..', 'assets', 'icon.png');
/** Started at login: stay in the tray, no window. */
const START_HIDDEN = process.argv.includes('--hidden');
const STATUS_EVERY_MS = 15_000;

let thread: EngineThread | undefined;
let api: LinkClient | undefined;
let binding: IpcBinding | undefined;
let win: BrowserWindow | null = null;
let shutdown: Promise<void> | undefined;
let engineClosed = false;
let tray: Tray | null = null;
let popover: BrowserWindow | null = null;
let lastStatus: StatusInfo | null = null;
let lastStatusError: string | null = null;
let statusTimer: ReturnType<typeof setInterval> | undefined;
let quitting = false;
const throttle = new NotificationThrottle();

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

function liveWindows(): BrowserWindow[] {
  return [win, popover].filter((w): w is BrowserWindow => w !== null && !w.isDestroyed());
}

/** Our windows may call the API: the main window and the tray popover, both showing our index.html. */
function expectedSenders(): ExpectedSender[] {
  return liveWindows().map((w) => ({ webContentsId: w.webContents.id, url: RENDERER_URL, caseInsensitive: process.platform === 'win32' }));
}

function showWindow(): void {
  if (!win || win.isDestroyed()) win = createWindow();
  else {
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  }
}

// --- the tray, its menu and the quota popover ---

function launchAtLogin(): boolean {
  if (process.platform === 'linux') return linuxAutostartEnabled(autostartDir(process.env, os.homedir()));
  return app.getLoginItemSettings().openAtLogin;
}

function setLaunchAtLogin(enabled: boolean): void {
  if (process.platform === 'linux') {
    const cmd = launchCommand(process.env, process.execPath, app.isPackaged ? null : app.getAppPath());
    try {
      setLinuxAutostart(enabled, { dir: autostartDir(process.env, os.homedir()), ...cmd });
    } catch (err) {
      dialog.showErrorBox('Canopy', `Could not change the autostart entry: ${message(err)}`);
    }
    return;
  }
  app.setLoginItemSettings({ openAtLogin: enabled, args: ['--hidden'] });
}

function runTrayAction(action: TrayAction): void {
  switch (action) {
    case 'open-window':
      showWindow();
      break;
    case 'open-popover':
      showPopover(null);
      break;
    case 'toggle-sync':
      void api?.call(lastStatus?.sync?.paused ? 'sync.resume' : 'sync.pause', {}).then(() => refreshStatus(), (err: unknown) => log(`pause/resume failed: ${message(err)}`));
      break;
    case 'toggle-login':
      setLaunchAtLogin(!launchAtLogin());
      updateTray();
      break;
    case 'quit':
      quitting = true;
      app.quit();
      break;
  }
}

function toMenuItem(item: TrayItem): MenuItemConstructorOptions {
  const action = item.action;
  return {
    ...(item.label !== undefined ? { label: item.label } : {}),
    type: item.type ?? 'normal',
    ...(item.enabled !== undefined ? { enabled: item.enabled } : {}),
    ...(item.checked !== undefined ? { checked: item.checked } : {}),
    ...(action ? { click: () => runTrayAction(action) } : {}),
  };
}

function updateTray(): void {
  if (!tray || tray.isDestroyed()) return;
  tray.setToolTip(trayTooltip(lastStatus));
  tray.setContextMenu(Menu.buildFromTemplate(trayMenu({ status: lastStatus, error: lastStatusError, launchAtLogin: launchAtLogin() }).map(toMenuItem)));
}

let lastRefreshAt = 0;

/** Re-reads the status for the tray; at most every 2 s however often sync reports progress. */
function refreshStatus(force = true): void {
  const now = Date.now();
  if (!force && now - lastRefreshAt < 2000) return;
  lastRefreshAt = now;
  api?.call('status', {}).then(
    (s) => {
      lastStatus = s;
      lastStatusError = null;
      updateTray();
    },
    (err: unknown) => {
      lastStatusError = message(err);
      updateTray();
    },
  );
}

function createPopover(): BrowserWindow {
  const p = new BrowserWindow({
    ...windowOptions({ state: { ...POPOVER_SIZE, maximized: false }, preload: PRELOAD, dark: nativeTheme.shouldUseDarkColors }),
    minWidth: POPOVER_SIZE.width,
    minHeight: POPOVER_SIZE.height,
    frame: false,
    resizable: false,
    movable: false,
    minimizable: false,
    maximizable: false,
    fullscreenable: false,
    skipTaskbar: true,
    alwaysOnTop: true,
  });
  p.on('blur', () => p.hide());
  p.on('closed', () => {
    if (popover === p) popover = null;
  });
  p.loadFile(RENDERER_INDEX, { hash: 'tray' }).catch((err: unknown) => log(`could not load the popover: ${message(err)}`));
  return p;
}

/** Opens the popover next to the tray icon, or next to the cursor where the tray reports no bounds (most of Linux). */
function showPopover(trayBounds: Electron.Rectangle | null): void {
  if (!popover || popover.isDestroyed()) popover = createPopover();
  const cursor = screen.getCursorScreenPoint();
  const display = screen.getDisplayNearestPoint(trayBounds && trayBounds.width > 0 ? { x: trayBounds.x, y: trayBounds.y } : cursor);
  const at = popoverPosition({ trayBounds: trayBounds ?? tray?.getBounds() ?? null, cursor, size: POPOVER_SIZE, workArea: display.workArea });
  popover.setBounds({ ...at, ...POPOVER_SIZE });
  popover.show();
  popover.focus();
}

function createTray(): void {
  const image = nativeImage.createFromPath(TRAY_ICON).resize({ width: process.platform === 'darwin' ? 16 : 22 });
  tray = new Tray(image);
  // Left click opens the quota popover; the menu is on right click (and on left click where the platform insists).
  tray.on('click', (_event, bounds) => showPopover(bounds));
  updateTray();
  refreshStatus();
  statusTimer = setInterval(() => refreshStatus(), STATUS_EVERY_MS);
}

/** Native notifications for what needs the person (conflicts, a full quota), a burst at a time. */
function notify(event: ApiEvent): void {
  if (event.type === 'sync.progress' || event.type === 'device.online') refreshStatus(false);
  const text = notificationFor(event);
  if (!text || !Notification.isSupported() || !throttle.allow(throttleKey(event), Date.now())) return;
  const n = new Notification({ title: text.title, body: text.body, silent: false });
  n.on('click', showWindow);
  n.show();
}

async function openEngine(): Promise<boolean> {
  const home = resolveHome();
  try {
    thread = await startEngineThread({ home }, { log });
  } catch (err) {
    dialog.showErrorBox('Canopy cannot start', `Could not open the Canopy home at ${home}:\n\n${message(err)}`);
    return false;
  }
  api = thread.client;
  return true;
}

function stop(): Promise<void> {
  shutdown ??= (async () => {
    binding?.dispose();
    clearInterval(statusTimer);
    tray?.destroy();
    tray = null;
    await thread?.stop().catch((err: unknown) => log(`closing the engine failed: ${message(err)}`));
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

  app.on('second-instance', () => showWindow());
  app.on('before-quit', () => {
    quitting = true;
  });

  app.on('will-quit', (event) => {
    if (!thread || engineClosed) return;
    event.preventDefault();
    void stop().finally(() => {
      engineClosed = true;
      app.quit();
    });
  });

  app.on('window-all-closed', () => {
    // With a tray icon the engine keeps syncing when the window closes (Quit is in the
    // tray menu); without one (a desktop with no tray), closing the window quits, except
    // on macOS where apps stay in the dock.
    if (tray || quitting) return;
    if (process.platform !== 'darwin') app.quit();
  });

  app.on('activate', () => {
    if (!win && api) win = createWindow();
  });

  app.whenReady().then(async () => {
    lockDownSession();
    if (!(await openEngine()) || !api) {
      app.exit(1);
      return;
    }
    binding = bindIpc({ ipcMain, api, expected: expectedSenders, target: () => liveWindows().map((w) => w.webContents) });
    api.subscribe(notify);
    try {
      createTray();
    } catch (err) {
      // Some desktops have no tray (GNOME without the extension): the window is then the app.
      log(`no tray icon: ${message(err)}`);
      tray = null;
    }
    if (!START_HIDDEN || !tray) win = createWindow();
  }).catch((err: unknown) => {
    dialog.showErrorBox('Canopy cannot start', message(err));
    app.exit(1);
  });
}

main();
