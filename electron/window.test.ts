import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BLOCKED_URL_PATTERNS, DESKTOP_CSP, windowOptions } from './window.js';
import { DEFAULT_WINDOW_STATE, MIN_HEIGHT, MIN_WIDTH, fitToWorkArea, parseWindowState, readWindowState, writeWindowState } from './window-state.js';

describe('windowOptions', () => {
  const opts = windowOptions({ state: { width: 900, height: 700, maximized: false }, preload: '/app/dist/electron/preload.cjs', dark: false });

  it('isolates and sandboxes the page, without Node', () => {
    expect(opts.webPreferences).toMatchObject({
      preload: '/app/dist/electron/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
  });

  it('uses the remembered size', () => {
    expect(opts).toMatchObject({ width: 900, height: 700 });
  });

  it('paints the theme background before the page loads', () => {
    expect(windowOptions({ state: DEFAULT_WINDOW_STATE, preload: 'p', dark: true }).backgroundColor).toBe('#161a17');
  });
});

describe('DESKTOP_CSP', () => {
  const directives = new Map(DESKTOP_CSP.split(';').map((d) => {
    const [name = '', ...values] = d.trim().split(/\s+/);
    return [name, values] as const;
  }));
  it('allows only our own scripts and styles, nothing inline or evaluated', () => {
    expect(directives.get('default-src')).toEqual(["'none'"]);
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('style-src')).toEqual(["'self'"]);
    expect(DESKTOP_CSP).not.toMatch(/unsafe-(inline|eval)/);
  });
  it('gives the page no network', () => {
    expect(directives.get('connect-src')).toEqual(["'none'"]);
    expect(BLOCKED_URL_PATTERNS).toEqual(expect.arrayContaining(['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*']));
  });
});

describe('window state', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'canopy-winstate-'));
    dirs.push(d);
    return d;
  };

  it('parses what it wrote and falls back on anything odd', () => {
    expect(parseWindowState({ width: 1000.4, height: 800, maximized: true })).toEqual({ width: 1000, height: 800, maximized: true });
    expect(parseWindowState({ width: 10, height: 1e9 })).toEqual({ width: MIN_WIDTH, height: 16_384, maximized: false });
    expect(parseWindowState({ width: 'wide', height: Number.NaN, maximized: 'yes' })).toEqual(DEFAULT_WINDOW_STATE);
    expect(parseWindowState(null)).toEqual(DEFAULT_WINDOW_STATE);
    expect(parseWindowState([1, 2])).toEqual(DEFAULT_WINDOW_STATE);
  });

  it('fits a remembered size to a smaller screen', () => {
    expect(fitToWorkArea({ width: 2500, height: 1400, maximized: false }, { width: 1280, height: 760 })).toEqual({ width: 1280, height: 760, maximized: false });
    expect(fitToWorkArea({ width: 800, height: 600, maximized: true }, { width: 1280, height: 760 })).toEqual({ width: 800, height: 600, maximized: true });
    expect(fitToWorkArea({ width: 800, height: 600, maximized: false }, { width: 500, height: 400 })).toEqual({ width: 500, height: 400, maximized: false });
    expect(MIN_HEIGHT).toBeLessThan(DEFAULT_WINDOW_STATE.height);
  });

  it('round-trips through a file in a folder it creates', () => {
    const file = path.join(tmp(), 'user-data', 'window-state.json');
    expect(writeWindowState(file, { width: 1234, height: 777, maximized: true })).toBe(true);
    expect(readWindowState(file)).toEqual({ width: 1234, height: 777, maximized: true });
    expect(fs.readdirSync(path.dirname(file))).toEqual(['window-state.json']);
  });

  it('reads a missing or damaged file as the defaults', () => {
    const dir = tmp();
    expect(readWindowState(path.join(dir, 'missing.json'))).toEqual(DEFAULT_WINDOW_STATE);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{ not json');
    expect(readWindowState(path.join(dir, 'bad.json'))).toEqual(DEFAULT_WINDOW_STATE);
  });

  it('reports a failed write and leaves no temp file', () => {
    const dir = tmp();
    const blocker = path.join(dir, 'file');
    fs.writeFileSync(blocker, '');
    expect(writeWindowState(path.join(blocker, 'window-state.json'), DEFAULT_WINDOW_STATE)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual(['file']);
  });
});
