// @vitest-environment happy-dom
/**
 * The edit controls of issue 6 over the FakeClient: renaming, relabelling and re-trusting a
 * device, a folder's mode/priority/class menus, and the replication and schedules form,
 * with what each calls and how a refusal is shown in place.
 */
import { act, type ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiCallError } from '../../core/api/http-client.js';
import type { DeviceInfo, SettingsInfo } from '../../core/api/types.js';
import { Devices, parseLabels } from './components/Devices.js';
import { FolderTable } from './components/FolderTable.js';
import { SettingsForm, durationText, parseDiversity } from './components/SettingsForm.js';
import { FakeClient, folder, status } from './test-fixtures.js';
import { renderWithStore, settle, unmountRendered } from './test-render.js';

let container: HTMLElement;
let client: FakeClient;

async function render(ui: ReactNode): Promise<HTMLElement> {
  container = await renderWithStore(client, ui);
  return container;
}

function button(name: string): HTMLButtonElement {
  const b = [...container.querySelectorAll('button')].find((x) => x.textContent?.trim() === name || x.getAttribute('aria-label') === name);
  if (!b) throw new Error(`no button ${name}`);
  return b;
}

async function click(el: HTMLElement): Promise<void> {
  await act(async () => el.click());
  await settle();
}

async function type(el: HTMLInputElement | HTMLSelectElement, value: string): Promise<void> {
  await act(async () => {
    const proto = el instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, 'value')?.set?.call(el, value);
    el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }));
  });
}

async function submit(form: HTMLFormElement): Promise<void> {
  await act(async () => form.requestSubmit());
  await settle();
}

const laptop: DeviceInfo = { id: 'dev-2-aaaaaaaa', name: 'laptop', labels: { site: 'home' }, trust: 'owner', isLocal: false, online: true, lastSeen: null, addedAt: 1, revokedAt: null };

beforeEach(() => {
  client = new FakeClient().on('status', () => status()).on('folder.list', () => [folder()]);
});

afterEach(unmountRendered);

describe('parsing helpers', () => {
  it('reads labels and diversity rules, refusing malformed ones', () => {
    expect(parseLabels('site=home, power = ups')).toEqual({ site: 'home', power: 'ups' });
    expect(parseLabels('')).toEqual({});
    expect(parseLabels('site')).toBeUndefined();
    expect(parseDiversity('site:2, power:1')).toEqual([{ label: 'site', min_distinct: 2 }, { label: 'power', min_distinct: 1 }]);
    expect(parseDiversity('site')).toBeUndefined();
    expect(durationText(3_600_000)).toBe('1h');
    expect(durationText(90_000)).toBe('90s');
  });
});

describe('Devices: edit a device', () => {
  it('renames, relabels and re-trusts through device.update, then reloads the list', async () => {
    let current = laptop;
    client.on('device.list', () => [current]).on('device.update', (p) => {
      const q = p as { id: string; name: string; labels: Record<string, string>; trust: DeviceInfo['trust'] };
      current = { ...current, name: q.name, labels: q.labels, trust: q.trust };
      return current;
    });
    const el = await render(<Devices />);
    await click(button('Edit laptop'));
    const form = el.querySelector<HTMLFormElement>('form[aria-label="Edit laptop"]');
    if (!form) throw new Error('no edit form');
    const [name, labels] = [...form.querySelectorAll('input')] as HTMLInputElement[];
    await type(name as HTMLInputElement, 'Work laptop');
    await type(labels as HTMLInputElement, 'site=office, power=battery');
    await type(form.querySelector('select') as HTMLSelectElement, 'storage-only');
    await submit(form);
    expect(client.calls.find((c) => c.command === 'device.update')?.params).toEqual({ id: laptop.id, name: 'Work laptop', labels: { site: 'office', power: 'battery' }, trust: 'storage-only' });
    expect(el.querySelector('[data-testid="device-row"] th')?.textContent).toContain('Work laptop');
    expect(el.textContent).toContain('storage-only');
  });

  it('does not send malformed labels, and shows a refusal in place', async () => {
    client.on('device.list', () => [laptop]).on('device.update', () => {
      throw new ApiCallError('UNAUTHORIZED', 'this is a storage-only device');
    });
    const el = await render(<Devices />);
    await click(button('Edit laptop'));
    const form = el.querySelector<HTMLFormElement>('form[aria-label="Edit laptop"]') as HTMLFormElement;
    const labels = form.querySelectorAll('input')[1] as HTMLInputElement;
    await type(labels, 'nonsense');
    expect(button('Save').disabled).toBe(true);
    await type(labels, 'site=home');
    await submit(form);
    expect(el.textContent).toContain('this is a storage-only device');
    expect(el.querySelector('form[aria-label="Edit laptop"]')).not.toBeNull();
  });
});

describe('Folders: mode, priority and class menus', () => {
  it('saves a change through folder.update', async () => {
    client.on('folder.update', (p) => ({ ...folder(), ...(p as object) }));
    const el = await render(<FolderTable onAttach={() => undefined} />);
    const priority = el.querySelector<HTMLSelectElement>('select[aria-label^="Priority"]');
    if (!priority) throw new Error('no priority menu');
    await type(priority, 'critical');
    await settle();
    expect(client.calls.find((c) => c.command === 'folder.update')?.params).toEqual({ id: 'docs', priority: 'critical' });
    const mode = el.querySelector<HTMLSelectElement>('select[aria-label^="Mode"]') as HTMLSelectElement;
    await type(mode, 'on-demand');
    await settle();
    expect(client.calls.filter((c) => c.command === 'folder.update').map((c) => c.params)).toContainEqual({ id: 'docs', mode: 'on-demand' });
  });
});

describe('Activity: replication and schedules', () => {
  const settings: SettingsInfo = {
    replication: { critical: 5, high: 3, normal: 2, low: 1, expendable: 1, defaultPriority: 'normal', diversity: [] },
    jobs: { auditInterval: 3_600_000, repairInterval: 600_000, scrubInterval: 86_400_000, scrubRate: 20 << 20, cleanupInterval: 86_400_000, gcInterval: 86_400_000, offlineGrace: 7_200_000, retainedOverhead: 0.1 },
    restartNeeded: [],
  };

  it('sends the form as a config.toml patch and says what needs a restart', async () => {
    client.on('settings.get', () => settings).on('settings.set', () => ({ ...settings, restartNeeded: ['jobs.gc_interval'] }));
    const el = await render(<SettingsForm />);
    await type(el.querySelector('input[aria-label="Copies for normal"]') as HTMLInputElement, '3');
    await type(el.querySelector('input[placeholder="site:2"]') as HTMLInputElement, 'site:2');
    await type(el.querySelector('input[aria-label="Audit every"]') as HTMLInputElement, '30m');
    await submit(el.querySelector('form') as HTMLFormElement);
    const sent = client.calls.find((c) => c.command === 'settings.set')?.params as { replication: Record<string, unknown>; jobs: Record<string, unknown> };
    expect(sent.replication).toMatchObject({ normal: 3, critical: 5, diversity: [{ label: 'site', min_distinct: 2 }] });
    expect(sent.jobs).toMatchObject({ audit_interval: '30m', repair_interval: '10m', gc_interval: '1d' });
    expect(el.textContent).toContain('Restart Canopy for jobs.gc_interval');
  });

  it('sets how long on-demand folders keep used files when the device reports it', async () => {
    const withKeep: SettingsInfo = { ...settings, placement: { keepRecent: 30 * 86_400_000 } };
    client.on('settings.get', () => withKeep).on('settings.set', () => withKeep);
    const el = await render(<SettingsForm />);
    const keep = el.querySelector('input[aria-label="Keep used on-demand files for"]') as HTMLInputElement;
    expect(keep.value).toBe('30d');
    await type(keep, '7d');
    await submit(el.querySelector('form') as HTMLFormElement);
    expect(client.calls.find((c) => c.command === 'settings.set')?.params).toMatchObject({ placement: { keep_recent: '7d' } });
  });

  it('shows the schema\'s refusal next to the form', async () => {
    client.on('settings.get', () => settings).on('settings.set', () => {
      throw new ApiCallError('BAD_CONFIG', 'replication.low: expected at most replication.normal (2)');
    });
    const el = await render(<SettingsForm />);
    await submit(el.querySelector('form') as HTMLFormElement);
    expect(el.textContent).toContain('replication.low: expected at most replication.normal (2)');
  });
});
