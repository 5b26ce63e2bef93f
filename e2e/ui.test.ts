/**
 * The UI end to end, against real daemons (separate processes) on a local testnet, driven
 * through Debian's Chromium: pair two devices through the UI, share a folder by a drop,
 * receive it on the other device, browse its files and history, and visit every view,
 * writing a screenshot of each under test-output/screenshots/.
 *
 * A command a device does not answer must be said in place; the assertions here accept
 * either that or the real answer. The engine's real placement, quota and merge under the
 * UI are driven in e2e/placement-conflict.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpDir, writeSeededFile } from '../core/testing/index.js';
import { TestMesh } from '../core/testing/mesh.js';
import { dropFolder, e2eUnavailable, gotoView, launchBrowser, makeConflict, openUi, reportScreenshots, screenshot, unnamedControls } from './helpers.js';

const unavailable = e2eUnavailable();
if (unavailable) console.log(`e2e: skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)('the UI against two real devices', () => {
  let base: string;
  let mesh: TestMesh;
  let browser: Browser;
  let alpha: { page: Page; errors: string[] };
  let beta: { page: Page; errors: string[] };
  const shots: string[] = [];

  beforeAll(async () => {
    base = tmpDir('canopy-e2e-');
    mesh = await TestMesh.create(base, ['alpha', 'beta']);
    const folder = mesh.device('alpha').folder;
    fs.writeFileSync(path.join(folder, 'notes.txt'), 'first line\nsecond line\n');
    fs.mkdirSync(path.join(folder, 'photos', '2026'), { recursive: true });
    writeSeededFile(path.join(folder, 'photos', '2026', 'beach.jpg'), 300_000, 'beach');
    writeSeededFile(path.join(folder, 'report.pdf'), 1_200_000, 'report');
    await mesh.start('alpha');
    await mesh.start('beta');
    browser = await launchBrowser();
    alpha = await openUi(browser, mesh.device('alpha'));
    beta = await openUi(browser, mesh.device('beta'));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await mesh?.close();
    if (base) fs.rmSync(base, { recursive: true, force: true });
    reportScreenshots(shots);
  }, 60_000);

  it('pairs two devices: an invite made in one UI, its code typed into the other', async () => {
    shots.push(await screenshot(alpha.page, '01-overview-alone'));
    await gotoView(alpha.page, 'Devices');
    await alpha.page.getByRole('button', { name: 'Create invite' }).click();
    const code = (await alpha.page.getByTestId('invite-code').textContent())?.trim() ?? '';
    expect(code.length).toBeGreaterThan(10);
    await expect.poll(() => alpha.page.getByRole('img', { name: /QR code of the invite link canopy:\/\// }).count()).toBe(1);
    shots.push(await screenshot(alpha.page, '02-devices-invite'));

    await gotoView(beta.page, 'Devices');
    await beta.page.getByLabel('Invite code from another device').fill(code);
    await beta.page.getByRole('button', { name: 'Join', exact: true }).click();
    await beta.page.getByText(/^Joined: /).waitFor({ timeout: 30_000 });
    await expect.poll(() => beta.page.getByTestId('device-row').count(), { timeout: 30_000 }).toBe(2);
    await alpha.page.reload();
    await gotoView(alpha.page, 'Devices');
    await expect.poll(() => alpha.page.getByTestId('device-row').count(), { timeout: 30_000 }).toBe(2);
    shots.push(await screenshot(beta.page, '03-devices-paired'));
  });

  it('renames a device in one UI, and the other device\'s UI shows the new name', async () => {
    await gotoView(beta.page, 'Devices');
    await beta.page.getByRole('button', { name: 'Edit alpha' }).click();
    const form = beta.page.getByRole('form', { name: 'Edit alpha' });
    await form.getByLabel('Name').fill('alpha studio');
    await form.getByLabel('Labels').fill('site=studio');
    await form.getByRole('button', { name: 'Save' }).click();
    await beta.page.getByRole('rowheader', { name: /^alpha studio/ }).waitFor({ timeout: 15_000 });
    await gotoView(alpha.page, 'Devices');
    await expect.poll(async () => {
      await alpha.page.reload();
      await gotoView(alpha.page, 'Devices');
      return alpha.page.getByRole('rowheader', { name: /^alpha studio \(this device\)/ }).count();
    }, { timeout: 30_000 }).toBe(1);
    await expect.poll(() => alpha.page.getByText('site=studio').count()).toBeGreaterThan(0);
    shots.push(await screenshot(alpha.page, '13-devices-renamed'));
    // Back to its name from alpha's own UI (the later steps look for "alpha · daemon").
    await alpha.page.getByRole('button', { name: 'Edit alpha studio' }).click();
    await alpha.page.getByRole('form', { name: 'Edit alpha studio' }).getByLabel('Name').fill('alpha');
    await alpha.page.getByRole('form', { name: 'Edit alpha studio' }).getByRole('button', { name: 'Save' }).click();
    await alpha.page.getByRole('rowheader', { name: /^alpha \(this device\)/ }).waitFor({ timeout: 15_000 });
  });

  it('shares a folder dropped on the window, and the other device receives it', async () => {
    await dropFolder(alpha.page, mesh.device('alpha').folder);
    await gotoView(alpha.page, 'Folders');
    await expect.poll(() => alpha.page.getByLabel('Folder path').inputValue()).toBe(mesh.device('alpha').folder);
    await alpha.page.getByLabel('Folder ID (optional)').fill('docs');
    await alpha.page.getByLabel('Priority').selectOption('high');
    await alpha.page.getByRole('button', { name: 'Share folder' }).click();
    await alpha.page.getByRole('rowheader', { name: 'alpha-files' }).waitFor({ timeout: 30_000 });
    await expect.poll(async () => (await alpha.page.getByRole('row', { name: /alpha-files/ }).textContent()) ?? '', { timeout: 30_000 }).toMatch(/high.*3/);
    shots.push(await screenshot(alpha.page, '04-folders-shared'));

    await gotoView(beta.page, 'Folders');
    await dropFolder(beta.page, mesh.device('beta').folder);
    await beta.page.getByLabel('Folder ID (optional)').fill('docs');
    await beta.page.getByRole('button', { name: 'Share folder' }).click();
    const tree = await mesh.converged(['alpha', 'beta'], 90_000);
    expect(Object.keys(tree).sort()).toEqual(['notes.txt', 'photos', 'photos/2026', 'photos/2026/beach.jpg', 'report.pdf']);
    await beta.page.reload();
    await gotoView(beta.page, 'Folders');
    shots.push(await screenshot(beta.page, '05-folders-received'));
  });

  it('shows the files as a tree with sizes, copies and history', async () => {
    const page = beta.page;
    await gotoView(page, 'Files');
    const grid = page.getByRole('treegrid', { name: /Files of/ });
    await grid.getByRole('row', { name: /notes\.txt/ }).waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('files-summary').textContent()).toMatch(/^3 files/);
    // Open photos, then 2026, with the keyboard.
    const photos = grid.getByRole('row', { name: /^photos/ });
    await photos.focus();
    await page.keyboard.press('ArrowRight');
    await grid.getByRole('row', { name: /^2026/ }).waitFor();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowRight');
    await grid.getByRole('row', { name: /beach\.jpg/ }).waitFor();
    // Copies: not known until placement is merged in ("—"), never a broken cell.
    expect(await grid.getByRole('row', { name: /beach\.jpg/ }).getByRole('gridcell').nth(2).textContent()).toMatch(/^(—|\d+( \/ \d+)?)$/);
    shots.push(await screenshot(page, '06-files-tree'));

    await grid.getByRole('button', { name: 'History of notes.txt' }).click();
    const panel = page.getByRole('complementary', { name: /History of/ });
    await panel.getByText('current').waitFor();
    await panel.getByText(/Counting the copies|wanted copies/).waitFor();
    shots.push(await screenshot(page, '07-files-history'));
  });

  it('lists a conflict made on two devices apart and opens its merge view', async () => {
    await makeConflict(mesh, 'docs', 'notes.txt', { alpha: 'first line\nalpha was here\n', beta: 'first line\nbeta was here\n' });
    const page = alpha.page;
    await gotoView(page, 'Conflicts');
    await page.getByRole('button', { name: /docs\/notes\.txt/ }).click();
    const merge = page.getByRole('article', { name: /Merge/ });
    await merge.getByText('(shown in the folder now)').waitFor();
    // The line diff once file.cat is built; until then the view says why there is none.
    await merge.locator('.diff, .call-problem').first().waitFor();
    expect(await merge.getByRole('button', { name: /^Take / }).count()).toBe(2);
    await merge.getByRole('button', { name: 'Keep both' }).waitFor();
    shots.push(await screenshot(page, '09-conflicts-merge'));
    await gotoView(page, 'Files');
    await page.getByRole('row', { name: /notes\.txt/ }).getByText('2 heads').waitFor();
  });

  it('says in place what is not available yet, in every other view', async () => {
    const page = alpha.page;
    await gotoView(page, 'Overview');
    await page.getByRole('listitem', { name: /^beta, / }).waitFor({ timeout: 30_000 });
    await page.getByTestId('health').waitFor();
    shots.push(await screenshot(page, '08-overview-mesh'));

    await gotoView(page, 'Activity');
    await page.getByRole('heading', { name: 'Job reports' }).waitFor();
    await page.getByText(/Loading the job reports|No job has run yet|finished|ok|needs attention/).first().waitFor();
    shots.push(await screenshot(page, '10-activity'));
    await page.getByLabel('Copies for normal').waitFor();
    shots.push(await screenshot(page, '14-settings'));

    const dark = await openUi(browser, mesh.device('alpha'), { colorScheme: 'dark' });
    await dark.page.getByRole('listitem', { name: /^beta, / }).waitFor({ timeout: 30_000 });
    shots.push(await screenshot(dark.page, '11-overview-dark'));
    await gotoView(dark.page, 'Conflicts');
    await dark.page.getByRole('button', { name: /docs\/notes\.txt/ }).click();
    await dark.page.getByRole('article', { name: /Merge/ }).locator('.diff, .call-problem').first().waitFor();
    shots.push(await screenshot(dark.page, '11-conflicts-dark'));
    await gotoView(dark.page, 'Files');
    await dark.page.getByRole('treegrid').getByRole('row', { name: /notes\.txt/ }).waitFor();
    shots.push(await screenshot(dark.page, '11-files-dark'));
    expect(dark.errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
    await dark.page.context().close();

    const tray = await openUi(browser, mesh.device('alpha'), { hash: '#tray', size: { width: 340, height: 300 } });
    await tray.page.getByText(/alpha: /).waitFor();
    shots.push(await screenshot(tray.page, '12-tray-popover'));
    expect(tray.errors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
    await tray.page.context().close();
  });

  it('names every control for screen readers and reaches the views by keyboard', async () => {
    const page = alpha.page;
    for (const view of ['Overview', 'Folders', 'Files', 'Devices', 'Conflicts', 'Activity'] as const) {
      await gotoView(page, view);
      expect(await unnamedControls(page), `unnamed controls in ${view}`).toEqual([]);
    }
    // From the top of the page: Skip link, then the views, by Tab and Enter alone.
    await page.reload();
    await page.getByText('alpha · daemon').waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Folders' }).waitFor();
  });

  it('throws no uncaught error in either page', () => {
    const uncaught = (errors: string[]) => errors.filter((e) => !/Failed to load resource/.test(e));
    expect(uncaught(alpha.errors)).toEqual([]);
    expect(uncaught(beta.errors)).toEqual([]);
  });
});
