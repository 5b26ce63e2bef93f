/**
 * Where the tray popover opens: next to the tray icon when the platform reports its bounds
 * (macOS, Windows), else next to the cursor (most Linux trays report nothing), always
 * inside the work area of the display it opens on. Pure: tested without Electron.
 */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export const POPOVER_SIZE = { width: 340, height: 300 } as const;
const GAP = 6;

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), Math.max(min, max));
}

/** A tray that reports no bounds answers zeros (Linux) or nothing. */
export function hasBounds(r: Rect | null | undefined): r is Rect {
  return !!r && r.width > 0 && r.height > 0;
}

/**
 * The popover's top-left corner. Anchored on the tray icon's rectangle (or the cursor's
 * point): centred under it when the icon sits in a top bar, above it when it sits in a
 * bottom bar, beside it for a side bar; then pushed inside the work area.
 */
export function popoverPosition(opts: { trayBounds: Rect | null | undefined; cursor: Point; size: { width: number; height: number }; workArea: Rect }): Point {
  const { size, workArea: wa } = opts;
  const fromTray = hasBounds(opts.trayBounds);
  const anchor: Rect = fromTray ? (opts.trayBounds as Rect) : { x: opts.cursor.x, y: opts.cursor.y, width: 0, height: 0 };
  const cx = anchor.x + anchor.width / 2;
  const cy = anchor.y + anchor.height / 2;
  let x = Math.round(cx - size.width / 2);
  let y: number;
  const inLowerHalf = cy > wa.y + wa.height / 2;
  // Only a real icon tells which edge its panel is on; a cursor just says where to be near.
  const nearLeft = fromTray && anchor.x + anchor.width <= wa.x + GAP * 2;
  const nearRight = fromTray && anchor.x >= wa.x + wa.width - GAP * 2;
  if (nearLeft || nearRight) {
    // A side panel: open beside the icon, level with it.
    x = nearLeft ? anchor.x + anchor.width + GAP : anchor.x - size.width - GAP;
    y = Math.round(cy - size.height / 2);
  } else {
    y = inLowerHalf ? anchor.y - size.height - GAP : anchor.y + anchor.height + GAP;
  }
  return {
    x: clamp(x, wa.x, wa.x + wa.width - size.width),
    y: clamp(y, wa.y, wa.y + wa.height - size.height),
  };
}
