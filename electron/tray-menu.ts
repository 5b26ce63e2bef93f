/**
 * The tray icon's context menu as plain data: status line, pause/resume, open window,
 * quick settings (the quota popover), launch at login, quit. Pure, so it is tested without
 * Electron; main.ts turns it into a Menu and wires the clicks.
 */
import type { StatusInfo } from '../core/api/types.js';
import { formatSize } from '../core/config/units.js';

export type TrayAction = 'toggle-sync' | 'open-window' | 'open-popover' | 'toggle-login' | 'quit';

export interface TrayItem {
  label?: string;
  type?: 'normal' | 'separator' | 'checkbox';
  enabled?: boolean;
  checked?: boolean;
  action?: TrayAction;
}

/** "laptop: 12 GiB of 50 GiB · 2 devices connected" (or why not). */
export function statusLine(status: StatusInfo | null, error: string | null = null): string {
  if (!status) return error ? `Canopy: ${error}` : 'Canopy: starting…';
  const store = `${formatSize(status.store.bytes)} of ${formatSize(status.store.maxBytes)}`;
  const sync = status.sync;
  const net = !sync ? 'not syncing' : sync.paused ? 'paused' : sync.peers.length === 0 ? 'no device reachable' : `${sync.peers.length} ${sync.peers.length === 1 ? 'device' : 'devices'} connected`;
  return `${status.device.name}: ${store} · ${net}`;
}

export function trayMenu(opts: { status: StatusInfo | null; error?: string | null; launchAtLogin: boolean }): TrayItem[] {
  const paused = opts.status?.sync?.paused === true;
  const canSync = opts.status?.sync != null;
  return [
    { label: statusLine(opts.status, opts.error ?? null), enabled: false },
    { type: 'separator' },
    { label: paused ? 'Resume syncing' : 'Pause syncing', action: 'toggle-sync', enabled: canSync },
    { label: 'Open Canopy', action: 'open-window' },
    { label: 'Quota…', action: 'open-popover' },
    { type: 'separator' },
    { label: 'Start at login', type: 'checkbox', checked: opts.launchAtLogin, action: 'toggle-login' },
    { type: 'separator' },
    { label: 'Quit Canopy', action: 'quit' },
  ];
}

/** The tooltip: the status line alone. */
export function trayTooltip(status: StatusInfo | null): string {
  return statusLine(status);
}
