/**
 * Which API events become native notifications, and their words: pure, so it is tested
 * without Electron. Conflicts and a full quota need the person even with the window closed.
 */
import type { ApiEvent } from '../core/api/types.js';
import { formatSize } from '../core/config/units.js';

export interface NotificationText {
  title: string;
  body: string;
}

export function notificationFor(event: ApiEvent): NotificationText | null {
  switch (event.type) {
    case 'conflict':
      return { title: 'Edits to merge', body: `${event.folderId}/${event.path} was changed on ${event.heads} devices apart. Open Canopy to merge them.` };
    case 'quota.full':
      return { title: 'Canopy storage is full', body: `${formatSize(event.usedBytes)} of ${formatSize(event.maxBytes)} used. Raise the quota or free some space.` };
    default:
      return null;
  }
}

/**
 * Keeps a burst (a sync bringing 50 conflicts at once) from becoming 50 notifications: at
 * most one per `key` within `windowMs`.
 */
export class NotificationThrottle {
  private readonly last = new Map<string, number>();
  constructor(private readonly windowMs = 10_000) {}

  allow(key: string, now: number): boolean {
    const prev = this.last.get(key);
    if (prev !== undefined && now - prev < this.windowMs) return false;
    this.last.set(key, now);
    return true;
  }
}

/** The throttle key: one per kind of event (conflicts together, quota together). */
export function throttleKey(event: ApiEvent): string {
  return event.type;
}
