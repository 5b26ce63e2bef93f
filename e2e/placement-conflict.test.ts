/**
 * The engine's placement, quota and merge under the UI, end to end: three real daemons
 * (separate processes) on a local testnet, Debian's Chromium on their web UIs.
 *
 * - copies against target (Files view) rise from 1 / 3 to 3 / 3 as devices pair and sync
 *   (a `high` folder: 3 copies; gamma attaches on demand, so its copies live in its store);
 * - two conflicts made with syncing paused, settled in the merge view (take one; edit the
 *   merged text and save): every device's folder holds the result, no device lists a conflict;
 * - on gamma, a file pinned and another lowered to `normal` in Files, then the quota slider
 *   (Activity) says what lowering it frees, Apply evicts: the store's usage goes down in
 *   `canopy status --json` / `canopy quota --json` and in the UI (Activity, tray popover),
 *   while the pinned file stays.
 *
 * Screenshots of each state go to test-output/screenshots/ (pc-*.png), listed at the end.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConflictInfo, QuotaChange, QuotaInfo, StatusInfo } from '../core/api/types.js';
import { formatBytes } from '../renderer/src/format.js';
import { quotaChangeWords } from '../renderer/src/lib/words.js';
import { writeConfig } from '../core/config/index.js';
import { cliJson, tmpDir, waitFor, writeSeededFile } from '../core/testing/index.js';
import { TestMesh } from '../core/testing/mesh.js';
import { e2eUnavailable, gotoView, launchBrowser, makeConflict, moveQuotaSlider, openUi, reportScreenshots, resolveInMergeView, screenshot } from './helpers.js';

const unavailable = e2eUnavailable();
if (unavailable) console.log(`e2e: skipped: ${unavailable}`);

const NAMES = ['alpha', 'beta', 'gamma'] as const;

/** The Files view's "copies" cell of `name` (e.g. "2 / 3"), read afresh from the daemon. */
async function copiesInUi(page: Page, name: string): Promise<string> {
  await page.reload();
  await gotoView(page, 'Files');
  const row = page.getByRole('treegrid', { name: /Files of/ }).getByRole('row', { name: new RegExp(`^${name.replace('.', '\\.')}`) });
  await row.waitFor({ timeout: 30_000 });
  return ((await row.locator('.replicas-cell').textContent()) ?? '').trim();
}

describe.skipIf(unavailable !== null)('placement, quota and merge through the UI on three real devices', () => {
  let base: string;
  let mesh: TestMesh;
  let browser: Browser;
  const pages: Record<string, { page: Page; errors: string[] }> = {};
  const shots: string[] = [];
  const quotaOf = (n: string) => cliJson<QuotaInfo>(mesh.device(n).home, ['quota']);

  beforeAll(async () => {
    base = tmpDir('canopy-e2e-pc-');
    mesh = await TestMesh.create(base, [...NAMES]);
    // The scheduled cleanup (first run a minute after start) would drop big.bin's spare copy on
    // its own once its priority goes down; the quota test wants eviction to be what frees it.
    for (const n of NAMES) writeConfig(mesh.device(n).home, { jobs: { retained_overhead: 1 } });
    const folder = mesh.device('alpha').folder;
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'first line\nsecond line\n');
    fs.writeFileSync(path.join(folder, 'todo.txt'), 'buy milk\n');
    writeSeededFile(path.join(folder, 'big.bin'), 3_000_000, 'big');
    writeSeededFile(path.join(folder, 'keep.bin'), 1_000_000, 'keep');
    for (const n of NAMES) await mesh.start(n);
    await cliJson(mesh.device('alpha').home, ['folder', 'add', folder, '--id', 'docs', '--priority', 'high']);
    browser = await launchBrowser();
    for (const n of NAMES) pages[n] = await openUi(browser, mesh.device(n));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await mesh?.close();
    if (base) fs.rmSync(base, { recursive: true, force: true });
    reportScreenshots(shots);
  }, 60_000);

  it('shows copies against target rising from 1 / 3 to 3 / 3 as devices pair and sync', async () => {
    const alpha = (pages['alpha'] as { page: Page }).page;
    expect(await copiesInUi(alpha, 'big.bin')).toBe('1 / 3');
    shots.push(await screenshot(alpha, 'pc-01-files-one-copy'));

    await mesh.pair('alpha', 'beta');
    await mesh.share('beta');
    await mesh.converged(['alpha', 'beta'], 60_000);
    await expect.poll(() => copiesInUi(alpha, 'big.bin'), { timeout: 30_000, interval: 1000 }).toBe('2 / 3');
    shots.push(await screenshot(alpha, 'pc-02-files-two-copies'));

    // gamma attaches on demand: it writes only pinned and opened files, and keeps in its
    // store the chunks placement designates it for (all of them: 3 copies, 3 devices).
    await mesh.pair('alpha', 'gamma');
    const gamma = mesh.device('gamma');
    await cliJson(gamma.home, ['folder', 'add', gamma.folder, '--id', 'docs', '--mode', 'on-demand']);
    await expect.poll(() => copiesInUi(alpha, 'big.bin'), { timeout: 60_000, interval: 1000 }).toBe('3 / 3');
    expect(await copiesInUi(alpha, 'keep.bin')).toBe('3 / 3');
    shots.push(await screenshot(alpha, 'pc-03-files-three-copies'));
    await waitFor(async () => (await quotaOf('gamma')).usage.totalBytes >= 4_000_000, 'gamma to store every chunk', 60_000);
  }, 180_000);

  it('settles two conflicts in the merge view (take one; edit and save) and every device ends with the result', async () => {
    // gamma (on demand) writes pinned files: pin both so its folder on disk can be checked too.
    const gamma = mesh.device('gamma');
    for (const f of ['notes.txt', 'todo.txt']) await cliJson(gamma.home, ['pin', `docs/${f}`]);
    await waitFor(() => fs.existsSync(path.join(gamma.folder, 'notes.txt')) && fs.existsSync(path.join(gamma.folder, 'todo.txt')), 'gamma to write its pinned files', 30_000);
    await makeConflict(mesh, 'docs', 'notes.txt', { alpha: 'first line\nalpha was here\n', beta: 'first line\nbeta was here\n' });
    await makeConflict(mesh, 'docs', 'todo.txt', { alpha: 'buy milk\nbuy eggs\n', beta: 'buy milk\nbuy bread\n' });
    const page = (pages['alpha'] as { page: Page }).page;
    await page.reload();
    await gotoView(page, 'Conflicts');
    await page.getByRole('button', { name: /docs\/notes\.txt/ }).click();
    await page.getByRole('article', { name: /Merge/ }).locator('.diff').waitFor();
    shots.push(await screenshot(page, 'pc-04-conflicts-merge'));

    await resolveInMergeView(page, 'docs/notes.txt', { take: 'beta' });
    const merged = 'buy milk\nbuy eggs\nbuy bread\n';
    await page.getByRole('button', { name: /docs\/todo\.txt/ }).click();
    await page.getByRole('button', { name: 'Edit the merged text' }).click();
    await page.getByLabel('Merged text').fill(merged);
    shots.push(await screenshot(page, 'pc-05-conflicts-editing'));
    await page.getByRole('button', { name: 'Hide the editor' }).click();
    await resolveInMergeView(page, 'docs/todo.txt', { text: merged });
    await page.getByText(/^Nothing to merge/).waitFor({ timeout: 15_000 });
    shots.push(await screenshot(page, 'pc-06-conflicts-none'));

    for (const n of NAMES) {
      const d = mesh.device(n);
      const read = (f: string) => (fs.existsSync(path.join(d.folder, f)) ? fs.readFileSync(path.join(d.folder, f), 'utf8') : '(missing)');
      await waitFor(() => read('notes.txt') === 'first line\nbeta was here\n' && read('todo.txt') === merged, `${n}’s folder to hold the merge`, 60_000)
        .catch((e: unknown) => { throw new Error(`${String(e)}: notes.txt=${JSON.stringify(read('notes.txt'))} todo.txt=${JSON.stringify(read('todo.txt'))}`); });
      await waitFor(async () => (await cliJson<ConflictInfo[]>(d.home, ['conflicts'])).length === 0, `${n} to list no conflict`, 60_000);
      // No leftover conflict copies next to the files.
      expect(fs.readdirSync(d.folder).filter((f) => !['big.bin', 'keep.bin'].includes(f)).sort(), n).toEqual(['notes.txt', 'todo.txt']);
    }
  }, 240_000);

  it('lowers the quota with the slider: the preview says what goes, eviction frees the store, the pinned file stays', async () => {
    const page = (pages['gamma'] as { page: Page }).page;
    await page.reload();
    // Pin keep.bin on gamma, and lower big.bin to normal (2 copies): gamma's copy of it is then spare.
    await gotoView(page, 'Files');
    const pin = page.getByRole('button', { name: 'Keep keep.bin on this device' });
    await pin.click();
    await expect.poll(() => pin.getAttribute('aria-pressed'), { timeout: 15_000 }).toBe('true');
    await page.getByLabel('Priority of big.bin').selectOption('normal');
    await expect.poll(() => copiesInUi(page, 'big.bin'), { timeout: 30_000, interval: 1000 }).toBe('3 / 2');
    await waitFor(() => fs.existsSync(path.join(mesh.device('gamma').folder, 'keep.bin')), 'gamma to write the pinned keep.bin', 30_000);
    shots.push(await screenshot(page, 'pc-07-files-pinned-on-demand'));
    const before = await quotaOf('gamma');
    expect(before.usage.pinnedBytes).toBeGreaterThanOrEqual(1_000_000);
    expect(before.usage.totalBytes).toBeGreaterThanOrEqual(4_000_000);

    await gotoView(page, 'Activity');
    const sentence = await moveQuotaSlider(page, 'min');
    // The same dry run asked of the daemon: big.bin's 3 MB can go (as cache or as replicas,
    // as placement has it now), the pinned rest cannot; the UI says exactly that.
    const dry = await cliJson<QuotaChange>(mesh.device('gamma').home, ['quota', '--max', '0', '--dry-run']);
    expect(dry.evict.freesBytes).toBe(3_000_000);
    expect(dry.evict.unfreeableBytes).toBe(before.usage.totalBytes - 3_000_000);
    expect(sentence).toBe(quotaChangeWords(dry));
    // How the 3 MB splits into cache and replicas depends on placement at that moment; what cannot go does not.
    expect(sentence).toMatch(/^Applying this (frees|hands) about .*; 977 KiB cannot go \(977 KiB are pinned/);
    shots.push(await screenshot(page, 'pc-08-activity-quota-preview'));
    await page.getByRole('button', { name: 'Apply' }).click();

    // The engine evicts in the background: big.bin's spare copy goes, the pinned and the
    // still-needed chunks stay.
    const after = await waitFor(async () => {
      const s = await cliJson<StatusInfo>(mesh.device('gamma').home, ['status']);
      return s.store.bytes <= before.usage.totalBytes - 3_000_000 ? s : undefined;
    }, 'gamma’s store to shrink by big.bin', 60_000);
    expect(after.store.maxBytes).toBe(0);
    const quota = await quotaOf('gamma');
    expect(quota.usage.totalBytes).toBe(after.store.bytes);
    expect(quota.usage.pinnedBytes).toBe(before.usage.pinnedBytes);
    expect(fs.statSync(path.join(mesh.device('gamma').folder, 'keep.bin')).size).toBe(1_000_000);
    // Nothing was lost: alpha and beta still hold big.bin, and it still has its 2 copies.
    expect(await copiesInUi(page, 'big.bin')).toBe('2 / 2');

    // The UI says the new usage: Activity's sentence, then the tray popover's.
    await gotoView(page, 'Activity');
    // Over a quota of 0, the store is full: the sentence says so and by how much.
    expect(quota.full).toBe(true);
    const nowWords = `Now ${formatBytes(0)}; ${formatBytes(after.store.bytes)} in use: full, ${formatBytes(after.store.bytes)} over (pinned, or still needed for its copies).`;
    await expect.poll(async () => (await page.getByTestId('quota-words').textContent()) ?? '', { timeout: 30_000 }).toBe(nowWords);
    shots.push(await screenshot(page, 'pc-09-activity-after-eviction'));
    const tray = await openUi(browser, mesh.device('gamma'), { hash: '#tray', size: { width: 340, height: 320 } });
    await tray.page.getByText(`gamma: ${formatBytes(after.store.bytes)} stored`).waitFor({ timeout: 30_000 });
    await expect.poll(async () => (await tray.page.getByTestId('quota-words').textContent()) ?? '', { timeout: 30_000 }).toBe(nowWords);
    shots.push(await screenshot(tray.page, 'pc-10-tray-after-eviction'));
    expect(tray.errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
    await tray.page.context().close();
  }, 180_000);

  it('throws no uncaught error in any page', () => {
    for (const n of NAMES) expect((pages[n] as { errors: string[] }).errors.filter((e) => !/Failed to load resource/.test(e)), n).toEqual([]);
  });
});
