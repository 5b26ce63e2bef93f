// @vitest-environment happy-dom
/**
 * The views rendered for real (React DOM in happy-dom) over the FakeClient: what they show
 * for the API's answers, what they call, and that a command the engine does not do yet
 * (NOT_IMPLEMENTED) or a failing one is said in place, never a blank or crashed view.
 */
import { act, type ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiCallError } from '../../core/api/http-client.js';
import type { ConflictInfo, FileEntry, QuotaInfo } from '../../core/api/types.js';
import { App } from './App.js';
import { Activity } from './components/Activity.js';
import { Conflicts } from './components/Conflicts.js';
import { Devices } from './components/Devices.js';
import { Files } from './components/Files.js';
import { Overview } from './components/Overview.js';
import { QuotaSlider } from './components/QuotaSlider.js';
import { FakeClient, folder, status } from './test-fixtures.js';
import { renderWithStore, settle, unmountRendered } from './test-render.js';

const notYet = (command: string) => () => {
  throw new ApiCallError('NOT_IMPLEMENTED', `${command} is not implemented yet`);
};

let container: HTMLElement;

async function render(client: FakeClient, ui: ReactNode): Promise<HTMLElement> {
  container = await renderWithStore(client, ui);
  return container;
}

function button(name: string | RegExp): HTMLButtonElement {
  const all = [...container.querySelectorAll('button')];
  const b = all.find((x) => (typeof name === 'string' ? x.textContent?.trim() === name : name.test(x.textContent ?? '')));
  if (!b) throw new Error(`no button ${String(name)} among: ${all.map((x) => x.textContent).join(' | ')}`);
  return b;
}

async function click(el: HTMLElement): Promise<void> {
  await act(async () => el.click());
  await settle();
}

function entry(path: string, over: Partial<FileEntry> = {}): FileEntry {
  return { path, kind: 'file', size: 10, mtimeMs: 0, headVersion: `v-${path}`, heads: 1, chunks: 1, localState: 'synced', priority: 'normal', pinned: false, local: true, replicas: 2, targetReplicas: 3, ...over };
}

let client: FakeClient;
beforeEach(() => {
  client = new FakeClient().on('status', () => status()).on('folder.list', () => [folder()]);
});
afterEach(unmountRendered);

describe('views with commands not built yet', () => {
  it('Activity says each missing command in place and still offers the working ones', async () => {
    for (const c of ['quota.get', 'job.reports', 'job.run', 'gc'] as const) client.on(c, notYet(c));
    const el = await render(client, <Activity />);
    expect(el.textContent).toContain('Reading the quota: not available yet.');
    expect(el.textContent).toContain('Loading the job reports: not available yet.');
    await click(button('Run audit'));
    expect(client.calls.find((c) => c.command === 'job.run')?.params).toEqual({ job: 'audit', dryRun: false });
    expect(el.textContent).toContain('Running the job: not available yet.');
  });

  it('Overview shows devices and falls back to the store total without quota.get', async () => {
    client.on('quota.get', notYet('quota.get')).on('device.list', () => [
      { id: 'dev-1', name: 'laptop', labels: { site: 'home' }, trust: 'owner', isLocal: true, online: true, lastSeen: null, addedAt: 0, revokedAt: null },
      { id: 'dev-2', name: 'nas', labels: {}, trust: 'owner', isLocal: false, online: false, lastSeen: Date.now() - 3 * 3600_000, addedAt: 0, revokedAt: null },
    ]);
    const el = await render(client, <Overview onShowFolders={() => undefined} />);
    expect(el.textContent).toContain('Replication health is not known yet');
    expect(el.querySelector('[aria-label^="laptop, this device"]')).not.toBeNull();
    expect(el.querySelector('[aria-label^="nas, offline, last seen 3 h ago"]')?.textContent).toContain('Storage not reported yet.');
    expect(el.querySelector('.stacked-bar')?.getAttribute('aria-label')).toBe('Storage of laptop: Stored 1 KiB, Free within quota 3 KiB');
    expect(el.textContent).toContain('not available yet on this device (quota.get)');
  });
});

describe('Overview links', () => {
  it('says how each connected device is reached: a direct link on this network, or Hyperswarm', async () => {
    const peer = (deviceId: string, name: string, link: 'direct' | 'hyperswarm') => ({ deviceId, name, connectedAt: 0, bytesIn: 0, bytesOut: 0, rateIn: 0, link });
    client.on('status', () => ({
      ...status(), sync: { online: true, paused: false, meshed: true, folders: [], rateIn: 0, etaSeconds: 0, peers: [peer('dev-2', 'nas', 'direct'), peer('dev-3', 'phone', 'hyperswarm')] },
    })).on('quota.get', notYet('quota.get')).on('device.list', () => [
      { id: 'dev-1', name: 'laptop', labels: {}, trust: 'owner', isLocal: true, online: true, lastSeen: null, addedAt: 0, revokedAt: null },
      { id: 'dev-2', name: 'nas', labels: {}, trust: 'owner', isLocal: false, online: true, lastSeen: null, addedAt: 0, revokedAt: null },
      { id: 'dev-3', name: 'phone', labels: {}, trust: 'owner', isLocal: false, online: true, lastSeen: null, addedAt: 0, revokedAt: null },
    ]);
    const el = await render(client, <Overview onShowFolders={() => undefined} />);
    expect(el.querySelector('[aria-label^="nas, online"]')?.textContent).toContain('direct link');
    expect(el.querySelector('[aria-label^="phone, online"]')?.textContent).toContain('over Hyperswarm');
    expect(el.querySelector('[aria-label^="laptop, this device"]')?.textContent).not.toMatch(/direct link|over Hyperswarm/);
  });
});

describe('Devices', () => {
  it('creates an invite and shows its code, link and a QR code', async () => {
    client.on('device.list', () => []).on('invite.create', () => ({ id: 'i1', code: 'abcde-fghij', link: 'canopy://join/abcde-fghij', expiresAt: Date.now() + 60_000, listening: true }));
    const el = await render(client, <Devices />);
    await click(button('Create invite'));
    expect(el.querySelector('[data-testid="invite-code"]')?.textContent).toBe('abcde-fghij');
    const img = el.querySelector('img.qr');
    expect(img?.getAttribute('src')).toMatch(/^data:image\/svg\+xml;charset=utf-8,%3Csvg/);
    expect(img?.getAttribute('alt')).toBe('QR code of the invite link canopy://join/abcde-fghij');
  });

  it('shows a failed join next to the form', async () => {
    client.on('device.list', () => []).on('mesh.join', () => {
      throw new ApiCallError('INVITE_EXPIRED', 'this invite has expired');
    });
    const el = await render(client, <Devices />);
    const input = el.querySelector<HTMLInputElement>('input[name="invite-code"]');
    if (!input) throw new Error('no code field');
    await act(async () => {
      const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')?.set;
      setter?.call(input, 'old-code');
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await click(button('Join'));
    expect(client.calls.find((c) => c.command === 'mesh.join')?.params).toEqual({ code: 'old-code' });
    expect(el.textContent).toContain('Joining failed. this invite has expired');
  });
});

describe('Conflicts', () => {
  const conflict: ConflictInfo = {
    folderId: 'docs', path: 'plan.txt', heads: [
      { versionId: 'va', kind: 'file', author: 'a', authorName: 'alpha', createdAt: 1, size: 4, state: 'provisional', preferred: true },
      { versionId: 'vb', kind: 'file', author: 'b', authorName: 'beta', createdAt: 2, size: 4, state: 'provisional', preferred: false },
    ],
  };

  it('diffs both heads side by side and settles by taking one', async () => {
    client.on('conflicts', () => [conflict]).on('file.cat', (p) => {
      const v = (p as { version: string }).version;
      return { folderId: 'docs', path: 'plan.txt', versionId: v, kind: 'file', size: 4, state: 'provisional', encoding: 'utf8', data: v === 'va' ? 'same\nmine\n' : 'same\ntheirs\n', truncated: false };
    }).on('conflict.resolve', () => ({ folderId: 'docs', path: 'plan.txt', version: {}, created: [] }));
    const el = await render(client, <Conflicts />);
    await click(button(/docs\/plan\.txt/));
    const cells = [...el.querySelectorAll('.diff-cell')].map((c) => `${c.className.replace('diff-cell ', '')}:${c.querySelector('code')?.textContent}`);
    expect(cells).toEqual(['same:same', 'same:same', 'removed:mine', 'added:theirs']);
    await click(button('Take beta’s version'));
    expect(client.calls.find((c) => c.command === 'conflict.resolve')?.params).toEqual({ target: 'docs/plan.txt', take: 'vb' });
  });

  it('without file.cat, shows the facts and says why there is no diff', async () => {
    client.on('conflicts', () => [conflict]).on('file.cat', notYet('file.cat')).on('conflict.resolve', notYet('conflict.resolve'));
    const el = await render(client, <Conflicts />);
    await click(button(/docs\/plan\.txt/));
    expect(el.textContent).toContain('Showing the two versions: not available yet.');
    expect(el.textContent).toContain('alpha (shown in the folder now)');
    await click(button('Keep both'));
    expect(el.textContent).toContain('Merging: not available yet.');
  });
});

describe('Files', () => {
  it('draws a few dozen rows of a 100,000-entry folder, with copies against target', async () => {
    const list: FileEntry[] = [];
    for (let i = 0; i < 100_000; i++) list.push(entry(`f${i}.bin`));
    client.on('ls', () => list);
    const el = await render(client, <Files />);
    expect(el.querySelector('[data-testid="files-summary"]')?.textContent).toBe('100,000 files, 977 KiB');
    const rows = el.querySelectorAll('[role="row"]');
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.length).toBeLessThan(60);
    expect(el.querySelector('[role="treegrid"]')?.getAttribute('aria-rowcount')).toBe('100000');
    expect(rows[0]?.querySelector('.replicas-cell')?.textContent).toBe('2 / 3');
  });

  it('draws the rows scrolled to, and moves by keyboard across directories', async () => {
    const list: FileEntry[] = [entry('dir', { kind: 'dir' })];
    for (let i = 0; i < 5000; i++) list.push(entry(`dir/f${String(i).padStart(4, '0')}.bin`));
    for (let i = 0; i < 50_000; i++) list.push(entry(`top${i}.bin`));
    client.on('ls', () => list);
    const el = await render(client, <Files />);
    const grid = el.querySelector<HTMLElement>('[role="treegrid"]');
    if (!grid) throw new Error('no tree');
    const firstRow = () => el.querySelector('[role="row"]') as HTMLElement;
    expect(firstRow().dataset['path']).toBe('dir');
    // Open "dir" with the keyboard: its 5,000 files join the rows.
    firstRow().focus();
    await act(async () => firstRow().dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowRight', bubbles: true })));
    expect(grid.getAttribute('aria-rowcount')).toBe('55001');
    await act(async () => firstRow().dispatchEvent(new KeyboardEvent('keydown', { key: 'End', bubbles: true })));
    await settle();
    const last = [...el.querySelectorAll<HTMLElement>('[role="row"]')].at(-1);
    expect(last?.dataset['path']).toBe('top49999.bin');
    expect(el.querySelectorAll('[role="row"]').length).toBeLessThan(60);
  });

  it('says a pin that cannot be made yet, and applies one that can', async () => {
    client.on('ls', () => [entry('a.txt')]).on('file.pin', notYet('file.pin'));
    const el = await render(client, <Files />);
    await click(button('Pin'));
    expect(el.textContent).toContain('Pinning: not available yet.');
    client.on('file.pin', () => ({ folderId: 'docs', path: 'a.txt', pinned: true }));
    await click(button('Pin'));
    expect(button('Pinned').getAttribute('aria-pressed')).toBe('true');
  });
});

describe('a file\'s side panel', () => {
  it('shows the history and makes a file online-only, or says it cannot yet', async () => {
    client.on('ls', () => [entry('a.txt')]).on('file.replicas', notYet('file.replicas')).on('file.free', notYet('file.free')).on('log', () => [
      { id: 'v2', path: 'a.txt', kind: 'file', parents: ['v1'], author: 'dev-1', authorName: 'laptop', size: 10, mtimeMs: 0, createdAt: Date.now(), state: 'confirmed', vector: {}, chunks: 1, isHead: true, target: null },
      { id: 'v1', path: 'a.txt', kind: 'file', parents: [], author: 'dev-1', authorName: 'laptop', size: 5, mtimeMs: 0, createdAt: Date.now() - 86_400_000, state: 'confirmed', vector: {}, chunks: 1, isHead: false, target: null },
    ]).on('file.restore', () => ({}));
    const el = await render(client, <Files />);
    await click(button('History'));
    expect(el.textContent).toContain('Counting the copies: not available yet.');
    expect(el.querySelectorAll('.versions li')).toHaveLength(2);
    await click(button('Restore'));
    expect(client.calls.find((c) => c.command === 'file.restore')?.params).toEqual({ target: 'docs/a.txt', version: 'v1' });
    await click(button('Make online-only'));
    expect(el.textContent).toContain('Freeing the space: not available yet.');
    client.on('file.free', () => entry('a.txt', { local: false }));
    await click(button('Make online-only'));
    expect(client.calls.filter((c) => c.command === 'file.free').at(-1)?.params).toEqual({ target: 'docs/a.txt' });
    client.on('file.open', () => entry('a.txt', { local: true }));
    await click(button('Download'));
    await click(button('Make online-only'));
    expect(client.calls.map((c) => c.command).filter((c) => c === 'file.open' || c === 'file.free')).toEqual(['file.free', 'file.free', 'file.open', 'file.free']);
    expect(button('Download')).toBeDefined();
  });
});

describe('QuotaSlider', () => {
  const quota: QuotaInfo = {
    maxBytes: 8 * 1024 ** 3, reservedBytes: 0, minFreeBytes: 0, shareExcess: true, autoEvict: true, evictionStrategy: 'hybrid',
    usage: { ownBytes: 0, replicaBytes: 0, cacheBytes: 4 * 1024 ** 3, pinnedBytes: 0, totalBytes: 4 * 1024 ** 3, historyBytes: 0 }, diskFreeBytes: 100 * 1024 ** 3, full: false,
  };

  it('previews a move with a dry run, then applies it', async () => {
    client.on('quota.get', () => quota).on('quota.set', (p) => {
      const { maxBytes, dryRun } = p as { maxBytes: number; dryRun?: boolean };
      return { quota: { ...quota, maxBytes }, dryRun: dryRun === true, evict: { targetBytes: maxBytes, freesBytes: 3.2 * 1024 ** 3, freesUnpinnedCacheBytes: 3.2 * 1024 ** 3, unfreeableBytes: 0, reason: null } };
    });
    const el = await render(client, <QuotaSlider />);
    const slider = el.querySelector<HTMLInputElement>('input[type="range"]');
    if (!slider) throw new Error('no slider');
    await act(async () => {
      Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')?.set?.call(slider, String(1024 ** 3));
      slider.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await act(async () => new Promise((r) => setTimeout(r, 300)));
    await settle();
    expect(client.calls.find((c) => c.command === 'quota.set')?.params).toEqual({ maxBytes: 1024 ** 3, dryRun: true });
    expect(el.querySelector('[data-testid="quota-words"]')?.textContent).toBe('Applying this frees about 3.2 GiB of unpinned cache.');
    await click(button('Apply'));
    expect(client.calls.filter((c) => c.command === 'quota.set').at(-1)?.params).toEqual({ maxBytes: 1024 ** 3 });
  });
});

describe('dropping a folder on the window', () => {
  function drop(target: Element, data: { files?: File[]; items?: Record<string, string> }): void {
    const types = [...(data.files?.length ? ['Files'] : []), ...Object.keys(data.items ?? {})];
    const transfer = { files: data.files ?? [], types, getData: (f: string) => data.items?.[f] ?? '', dropEffect: 'none' };
    for (const type of ['dragover', 'drop']) {
      const ev = new Event(type, { bubbles: true, cancelable: true });
      Object.defineProperty(ev, 'dataTransfer', { value: transfer });
      target.dispatchEvent(ev);
    }
  }
  const pathField = () => container.querySelector<HTMLInputElement>('input[name="path"]');

  it('in a browser, reads the dropped file:// link and proposes it in Folders', async () => {
    client.on('device.list', () => []).on('quota.get', notYet('quota.get')).on('conflicts', () => []);
    const el = await render(client, <App transport="http" />);
    await act(async () => drop(el.querySelector('main') as Element, { items: { 'text/uri-list': 'file:///srv/My%20Photos' } }));
    await settle();
    expect(el.querySelector('h1')?.textContent).toBe('Folders');
    expect(pathField()?.value).toBe('/srv/My Photos');
  });

  it('in the desktop app, asks the bridge for the dropped folder path', async () => {
    client.on('device.list', () => []).on('quota.get', notYet('quota.get')).on('conflicts', () => []);
    const asked: string[] = [];
    const el = await render(client, <App transport="electron" pathForFile={(f) => (asked.push(f.name), `/home/me/${f.name}`)} />);
    await act(async () => drop(el.querySelector('main') as Element, { files: [new File([''], 'Music')] }));
    await settle();
    expect(asked).toEqual(['Music']);
    expect(pathField()?.value).toBe('/home/me/Music');
  });

  it('says why when a browser drop has no path', async () => {
    client.on('device.list', () => []).on('quota.get', notYet('quota.get')).on('conflicts', () => []);
    const el = await render(client, <App transport="http" />);
    await act(async () => drop(el.querySelector('main') as Element, { files: [new File([''], 'Music')] }));
    await settle();
    expect(el.querySelector('.field-error')?.textContent).toBe('The browser does not say where “Music” lives. Type its full path instead.');
  });
});
