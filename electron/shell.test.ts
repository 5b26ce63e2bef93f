/**
 * The desktop shell's pure parts: tray menu, popover placement, autostart entry,
 * notifications. None of them loads Electron.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusInfo } from '../core/api/types.js';
import { AUTOSTART_FILE_NAME, autostartDesktopEntry, autostartDir, launchCommand, linuxAutostartEnabled, quoteExecArg, setLinuxAutostart } from './autostart.js';
import { NotificationThrottle, notificationFor } from './notifications.js';
import { hasBounds, popoverPosition, POPOVER_SIZE, type Rect } from './popover.js';
import { statusLine, trayMenu } from './tray-menu.js';

function status(sync: StatusInfo['sync']): StatusInfo {
  return {
    device: { id: 'd', name: 'laptop', labels: {} }, home: '/h', version: '0.1.0', via: 'daemon', daemon: null, folders: [],
    store: { chunks: 1, bytes: 12 * 1024 ** 3, quarantined: 0, maxBytes: 50 * 1024 ** 3, diskFreeBytes: 0 }, versions: 0, logSeq: 0, sync, health: null,
  };
}
const sync = (over: Partial<NonNullable<StatusInfo['sync']>> = {}): NonNullable<StatusInfo['sync']> => ({ online: true, paused: false, meshed: true, peers: [], folders: [], rateIn: 0, etaSeconds: null, ...over });

describe('tray menu', () => {
  it('opens with a status line, then pause, open, quota, login and quit', () => {
    const menu = trayMenu({ status: status(sync({ peers: [{} as never, {} as never] })), launchAtLogin: true });
    expect(menu[0]).toEqual({ label: 'laptop: 12 GiB of 50 GiB · 2 devices connected', enabled: false });
    expect(menu.filter((i) => i.action).map((i) => [i.label, i.action])).toEqual([
      ['Pause syncing', 'toggle-sync'], ['Open Canopy', 'open-window'], ['Quota…', 'open-popover'], ['Start at login', 'toggle-login'], ['Quit Canopy', 'quit'],
    ]);
    expect(menu.find((i) => i.action === 'toggle-login')).toMatchObject({ type: 'checkbox', checked: true });
  });

  it('offers resume when paused, and no pause without syncing', () => {
    expect(trayMenu({ status: status(sync({ paused: true })), launchAtLogin: false })[2]).toMatchObject({ label: 'Resume syncing', enabled: true });
    expect(trayMenu({ status: status(null), launchAtLogin: false })[2]).toMatchObject({ label: 'Pause syncing', enabled: false });
  });

  it('says what is going on before the first status, and when it fails', () => {
    expect(statusLine(null)).toBe('Canopy: starting…');
    expect(statusLine(null, 'database is locked')).toBe('Canopy: database is locked');
    expect(statusLine(status(sync()))).toBe('laptop: 12 GiB of 50 GiB · no device reachable');
    expect(statusLine(status(sync({ paused: true })))).toBe('laptop: 12 GiB of 50 GiB · paused');
  });
});

describe('popover placement', () => {
  const screen: Rect = { x: 0, y: 0, width: 1920, height: 1080 };
  const size = POPOVER_SIZE;

  it('opens below a tray icon in a top bar, centred on it', () => {
    expect(popoverPosition({ trayBounds: { x: 1700, y: 0, width: 24, height: 24 }, cursor: { x: 0, y: 0 }, size, workArea: { ...screen, y: 24, height: 1056 } })).toEqual({ x: 1542, y: 30 });
  });

  it('opens above a tray icon in a bottom taskbar, kept inside the screen', () => {
    expect(popoverPosition({ trayBounds: { x: 1890, y: 1050, width: 24, height: 30 }, cursor: { x: 0, y: 0 }, size, workArea: { ...screen, height: 1040 } })).toEqual({ x: 1580, y: 740 });
  });

  it('opens beside an icon in a side panel', () => {
    expect(popoverPosition({ trayBounds: { x: 0, y: 500, width: 40, height: 40 }, cursor: { x: 0, y: 0 }, size, workArea: { ...screen, x: 40, width: 1880 } })).toEqual({ x: 46, y: 370 });
  });

  it('uses the cursor where the tray reports no bounds (Linux)', () => {
    expect(hasBounds({ x: 0, y: 0, width: 0, height: 0 })).toBe(false);
    expect(popoverPosition({ trayBounds: { x: 0, y: 0, width: 0, height: 0 }, cursor: { x: 800, y: 10 }, size, workArea: screen })).toEqual({ x: 630, y: 16 });
    expect(popoverPosition({ trayBounds: null, cursor: { x: 5, y: 1075 }, size, workArea: screen })).toEqual({ x: 0, y: 769 });
  });

  it('always lands fully inside the work area', () => {
    const area = fc.record({ x: fc.integer({ min: -3000, max: 3000 }), y: fc.integer({ min: -3000, max: 3000 }), width: fc.integer({ min: 400, max: 4000 }), height: fc.integer({ min: 300, max: 3000 }) });
    fc.assert(
      fc.property(area, fc.integer({ min: -5000, max: 8000 }), fc.integer({ min: -5000, max: 8000 }), fc.option(fc.record({ x: fc.integer({ min: -5000, max: 8000 }), y: fc.integer({ min: -5000, max: 8000 }), width: fc.integer({ min: 0, max: 64 }), height: fc.integer({ min: 0, max: 64 }) })), (wa, cx, cy, tb) => {
        const p = popoverPosition({ trayBounds: tb, cursor: { x: cx, y: cy }, size, workArea: wa });
        return p.x >= wa.x && p.y >= wa.y && p.x + size.width <= wa.x + wa.width && p.y + size.height <= wa.y + wa.height;
      }),
    );
  });
});

describe('launch at login on Linux', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('writes a desktop entry that starts the app hidden, quoting what needs it', () => {
    const text = autostartDesktopEntry('/opt/My Apps/Canopy.AppImage', ['--hidden']);
    expect(text.split('\n')).toContain('Exec="/opt/My Apps/Canopy.AppImage" --hidden');
    expect(text.startsWith('[Desktop Entry]\nType=Application\n')).toBe(true);
    expect(quoteExecArg('50%')).toBe('"50%%"');
    expect(quoteExecArg('a"b$c')).toBe('"a\\"b\\$c"');
    expect(quoteExecArg('')).toBe('""');
  });

  it('finds the XDG autostart folder', () => {
    expect(autostartDir({ XDG_CONFIG_HOME: '/x/cfg' }, '/home/me')).toBe('/x/cfg/autostart');
    expect(autostartDir({ XDG_CONFIG_HOME: 'relative' }, '/home/me')).toBe('/home/me/.config/autostart');
    expect(autostartDir({}, '/home/me')).toBe('/home/me/.config/autostart');
  });

  it('adds and removes the entry (removing twice is fine)', () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'canopy-autostart-')), 'autostart');
    dirs.push(path.dirname(dir));
    expect(linuxAutostartEnabled(dir)).toBe(false);
    expect(setLinuxAutostart(true, { dir, exec: '/usr/bin/canopy-desktop', args: ['--hidden'] })).toBe(true);
    expect(fs.readFileSync(path.join(dir, AUTOSTART_FILE_NAME), 'utf8')).toContain('Exec=/usr/bin/canopy-desktop --hidden');
    expect(fs.readdirSync(dir)).toEqual([AUTOSTART_FILE_NAME]);
    expect(setLinuxAutostart(false, { dir, exec: 'x' })).toBe(false);
    expect(setLinuxAutostart(false, { dir, exec: 'x' })).toBe(false);
    expect(linuxAutostartEnabled(dir)).toBe(false);
  });

  it('starts the AppImage itself when run from one', () => {
    expect(launchCommand({ APPIMAGE: '/home/me/Canopy.AppImage' }, '/tmp/.mount/canopy', null)).toEqual({ exec: '/home/me/Canopy.AppImage', args: ['--hidden'] });
    expect(launchCommand({}, '/usr/bin/electron', '/src/canopy')).toEqual({ exec: '/usr/bin/electron', args: ['/src/canopy', '--hidden'] });
  });
});

describe('notifications', () => {
  it('speaks up for conflicts and a full quota only', () => {
    expect(notificationFor({ type: 'conflict', folderId: 'docs', path: 'plan.txt', heads: 2 })).toEqual({ title: 'Edits to merge', body: 'docs/plan.txt was changed on 2 devices apart. Open Canopy to merge them.' });
    expect(notificationFor({ type: 'quota.full', usedBytes: 50 * 1024 ** 3, maxBytes: 50 * 1024 ** 3 })).toEqual({ title: 'Canopy storage is full', body: '50 GiB of 50 GiB used. Raise the quota or free some space.' });
    expect(notificationFor({ type: 'folder.removed', folderId: 'x' })).toBeNull();
  });

  it('lets one through per kind in a burst', () => {
    const t = new NotificationThrottle(1000);
    expect(t.allow('conflict', 0)).toBe(true);
    expect(t.allow('conflict', 500)).toBe(false);
    expect(t.allow('quota.full', 500)).toBe(true);
    expect(t.allow('conflict', 1000)).toBe(true);
  });
});
