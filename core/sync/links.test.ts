import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PeerLinks, type LinksHost } from './links.js';

/** A stand-in for the sync service and its swarm: who is connected, who is banned, what was logged. */
function fakeHost(cap: number, labels: Record<string, Record<string, string>>) {
  const connected = new Set<string>();
  const banned = new Set<string>();
  const lines: string[] = [];
  let lookups = 0;
  let links: PeerLinks | undefined;
  const host: LinksHost = {
    cap,
    myLabels: () => ({ site: 'home', net: 'fibre' }),
    labelsOf: (id) => labels[id] ?? {},
    nameOf: (id) => id,
    connected: () => [...connected],
    isMember: (id) => id in labels,
    active: () => true,
    drop: (id) => {
      banned.add(id);
      connected.delete(id);
      links?.lost(id);
    },
    allow: (id) => void banned.delete(id),
    lookAgain: () => void lookups++,
    log: (l) => void lines.push(l),
    random: () => 1,
  };
  links = new PeerLinks(host);
  const connect = (id: string) => {
    if (banned.has(id)) return false;
    connected.add(id);
    links.opened(id);
    links.succeeded(id);
    return true;
  };
  const disconnect = (id: string) => {
    connected.delete(id);
    links.lost(id);
  };
  return { links, connected, banned, lines, connect, disconnect, lookups: () => lookups };
}

const LABELS = {
  near1: { site: 'home', net: 'fibre' },
  near2: { site: 'home' },
  far1: { site: 'office' },
  far2: {},
};

describe('PeerLinks', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('keeps the nearest under the cap whatever order they connect in, and logs each drop', () => {
    const h = fakeHost(2, LABELS);
    for (const id of ['far2', 'far1', 'near2', 'near1']) h.connect(id);
    expect([...h.connected].sort()).toEqual(['near1', 'near2']);
    expect([...h.banned].sort()).toEqual(['far1', 'far2']);
    expect(h.lines.filter((l) => l.includes('dropping the farthest device far'))).toHaveLength(2);
    expect(h.connect('far1')).toBe(false); // banned: the swarm does not take it back
  });

  it('lets dropped devices back when a kept one leaves, and the cap sorts it out when the near one returns', () => {
    const h = fakeHost(2, LABELS);
    for (const id of ['near1', 'near2', 'far1']) h.connect(id);
    expect(h.banned.has('far1')).toBe(true);
    h.disconnect('near2');
    expect(h.banned.size).toBe(0);
    expect(h.lookups()).toBeGreaterThan(0);
    h.connect('far1');
    h.connect('near2');
    expect([...h.connected].sort()).toEqual(['near1', 'near2']);
    expect(h.banned.has('far1')).toBe(true);
  });

  it('raises the cap for dropped devices while chunks are missing, and enforces it again once settled', () => {
    const h = fakeHost(1, LABELS);
    h.connect('near1');
    h.connect('far1');
    expect(h.banned.has('far1')).toBe(true);
    h.links.needMore();
    expect(h.connect('far1')).toBe(true);
    expect([...h.connected].sort()).toEqual(['far1', 'near1']);
    h.links.settled();
    expect([...h.connected]).toEqual(['near1']);
  });

  it('with known holders, lets back only the dropped devices that hold the missing chunks', () => {
    const h = fakeHost(1, LABELS);
    for (const id of ['near1', 'far1', 'far2']) h.connect(id);
    expect([...h.banned].sort()).toEqual(['far1', 'far2']);
    h.links.needMore(new Set(['far2', 'near1']));
    expect([...h.banned]).toEqual(['far1']);
    expect(h.lines.at(-1)).toMatch(/letting 1 dropped device connect again/);
    h.links.needMore(new Set(['nobody']));
    expect(h.lines.at(-1)).toMatch(/letting 1 dropped device connect again/);
  });

  it('retries a lost device on the backoff schedule until it is back, then starts over', () => {
    const h = fakeHost(4, LABELS);
    h.connect('near1');
    h.disconnect('near1');
    const at = (ms: number) => {
      vi.advanceTimersByTime(ms);
      return h.lookups();
    };
    expect(at(1999)).toBe(0);
    expect(at(1)).toBe(1); // 2 s
    expect(at(3999)).toBe(1);
    expect(at(1)).toBe(2); // then 4 s
    expect(at(8000)).toBe(3); // then 8 s
    h.connect('near1');
    expect(at(600_000)).toBe(3); // connected: no more lookups
    h.disconnect('near1');
    expect(at(2000)).toBe(4); // the schedule started over
  });
});
