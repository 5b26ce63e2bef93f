/**
 * The desktop window's remembered size: a small JSON file in the app's userData folder.
 * Reading never fails (a missing or damaged file means the defaults), writing is atomic
 * and best effort: losing a window size is not worth an error dialog.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface WindowState {
  width: number;
  height: number;
  maximized: boolean;
}

export const DEFAULT_WINDOW_STATE: Readonly<WindowState> = { width: 1100, height: 720, maximized: false };
export const MIN_WIDTH = 640;
export const MIN_HEIGHT = 480;
const MAX_SIDE = 16_384;

function side(value: unknown, min: number, fallback: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(MAX_SIDE, Math.max(min, Math.round(value)));
}

/** Whatever was in the file, as a usable state. */
export function parseWindowState(raw: unknown): WindowState {
  const o = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  return {
    width: side(o['width'], MIN_WIDTH, DEFAULT_WINDOW_STATE.width),
    height: side(o['height'], MIN_HEIGHT, DEFAULT_WINDOW_STATE.height),
    maximized: o['maximized'] === true,
  };
}

/** Shrinks a remembered size to fit the screen it opens on (a smaller monitor, say). */
export function fitToWorkArea(state: WindowState, area: { width: number; height: number }): WindowState {
  return {
    ...state,
    width: Math.max(Math.min(MIN_WIDTH, area.width), Math.min(state.width, area.width)),
    height: Math.max(Math.min(MIN_HEIGHT, area.height), Math.min(state.height, area.height)),
  };
}

export function readWindowState(file: string): WindowState {
  try {
    return parseWindowState(JSON.parse(fs.readFileSync(file, 'utf8')));
  } catch {
    return { ...DEFAULT_WINDOW_STATE };
  }
}

/** Writes through a temp file and a rename; returns false (and leaves the old file) on failure. */
export function writeWindowState(file: string, state: WindowState): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(tmp, `${JSON.stringify(parseWindowState(state))}\n`, { mode: 0o600 });
    fs.renameSync(tmp, file);
    return true;
  } catch {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // The folder itself is unusable; nothing was left behind.
    }
    return false;
  }
}
