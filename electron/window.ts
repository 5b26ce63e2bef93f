/**
 * The desktop window's security settings, as plain data so they are unit-tested: the
 * BrowserWindow options (isolated, sandboxed, no Node) and the Content-Security-Policy the
 * main process adds to every response. renderer/index.html carries its own meta CSP too,
 * since the same page is also served by the daemon over HTTP.
 */
import type { BrowserWindowConstructorOptions } from 'electron';
import type { WindowState } from './window-state.js';

/**
 * Nothing but our own files: no inline script, no eval, no network (the page talks to the
 * engine over IPC only), no plugins, no frames, no forms posting anywhere.
 */
export const DESKTOP_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'none'",
  "object-src 'none'",
  "frame-src 'none'",
  "worker-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** URL patterns the window's session refuses outright: the desktop page never goes online. */
export const BLOCKED_URL_PATTERNS = ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*', 'ftp://*/*'];

/** Matches the page's background (renderer/src/styles.css) so the window never flashes white. */
export const BACKGROUND = { light: '#f6f7f4', dark: '#161a17' } as const;

export function windowOptions(opts: { state: WindowState; preload: string; dark: boolean; icon?: string | undefined }): BrowserWindowConstructorOptions {
  const { state, preload, icon } = opts;
  return {
    width: state.width,
    height: state.height,
    minWidth: 640,
    minHeight: 480,
    title: 'Canopy',
    show: false,
    backgroundColor: opts.dark ? BACKGROUND.dark : BACKGROUND.light,
    autoHideMenuBar: true,
    ...(icon ? { icon } : {}),
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      safeDialogs: true,
    },
  };
}
