/**
 * Helpers for the UI's end-to-end tests: Debian's Chromium driven by playwright-core
 * (never a downloaded browser), pages opened on real daemons' web UI, the views reached
 * the way a person reaches them, drops simulated with a real DragEvent, and screenshots
 * written under test-output/screenshots/.
 *
 * Extending the suite: start devices with TestMesh (core/testing/mesh.ts), open each one's
 * UI with `openUi`, move with `gotoView`, and call `screenshot` once per state worth seeing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ConflictInfo, VersionInfo } from '../core/api/types.js';
import { REPO, cliJson, runCli, waitFor } from '../core/testing/index.js';
import type { TestDevice, TestMesh } from '../core/testing/mesh.js';
import { uiUrl } from '../core/daemon/index.js';

export const CHROMIUM = process.env['CANOPY_CHROMIUM'] ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(REPO, 'test-output', 'screenshots');
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** Why the e2e suite cannot run here, or null when it can. */
export function e2eUnavailable(): string | null {
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CANOPY_CHROMIUM)`;
  if (!fs.existsSync(path.join(REPO, 'dist', 'renderer', 'index.html'))) return 'the UI is not built (npm run build)';
  return null;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

/** A page on `device`'s daemon UI, with the console's errors collected (a test can assert there are none). */
export async function openUi(browser: Browser, device: TestDevice, opts: { colorScheme?: 'light' | 'dark'; hash?: string; size?: { width: number; height: number } } = {}): Promise<{ page: Page; errors: string[] }> {
  if (!device.daemon) throw new Error(`${device.name} has no daemon running`);
  const context = await browser.newContext({ viewport: opts.size ?? { width: 1280, height: 900 }, colorScheme: opts.colorScheme ?? 'light' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  await page.goto(`${uiUrl(device.daemon.info)}${opts.hash ?? ''}`);
  if (!opts.hash) await page.getByText(`${device.name} · daemon`).waitFor();
  return { page, errors };
}

export async function gotoView(page: Page, label: 'Overview' | 'Folders' | 'Files' | 'Devices' | 'Conflicts' | 'Activity'): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: new RegExp(`^${label}`) }).click();
  await page.getByRole('heading', { level: 1, name: label === 'Activity' ? 'Activity and settings' : label }).waitFor();
}

/**
 * Drops a folder onto the page the way a file manager does: a DragEvent whose
 * DataTransfer carries the folder as a file:// URI (text/uri-list). A browser never says
 * where a dropped File lives, so the UI reads the URI; in Electron the preload's
 * getPathForFile gives the File's path instead (renderer/src/lib/drop.ts).
 */
export async function dropFolder(page: Page, folder: string, on = 'main'): Promise<void> {
  const uri = new URL(`file://${folder}`).href;
  await page.locator(on).evaluate((el, u) => {
    const dt = new DataTransfer();
    dt.setData('text/uri-list', u);
    el.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt }));
    el.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }));
  }, uri);
}

/** Says where a test file's screenshots went (the run prints it, as the issue asks). */
export function reportScreenshots(shots: readonly string[]): void {
  if (shots.length > 0) console.log(`e2e: ${shots.length} screenshots in ${SCREENSHOTS}:\n  ${shots.map((s) => path.basename(s)).join('\n  ')}`);
}

/** Writes test-output/screenshots/NAME.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  // Let the last reloads land so the picture shows a settled view.
  await page.waitForLoadState('networkidle').catch(() => undefined);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Makes `file` a conflict: syncing is paused on every device, each writes its own content
 * (`contents[name]`) and records it, then syncing resumes and the branches meet. Resolves
 * once every device lists the conflict.
 */
export async function makeConflict(mesh: TestMesh, folderId: string, file: string, contents: Record<string, string>): Promise<void> {
  const names = Object.keys(contents);
  const cli = async (n: string, args: string[]) => {
    const r = await runCli(args, { home: mesh.device(n).home });
    if (r.code !== 0) throw new Error(`canopy ${args.join(' ')} on ${n} failed: ${r.stderr}`);
  };
  for (const n of names) await cli(n, ['pause']);
  for (const n of names) {
    const d = mesh.device(n);
    const before = (await cliJson<VersionInfo[]>(d.home, ['log', `${folderId}/${file}`])).length;
    fs.writeFileSync(path.join(d.folder, file), contents[n] ?? '');
    await cliJson(d.home, ['scan', folderId]);
    await waitFor(async () => (await cliJson<VersionInfo[]>(d.home, ['log', `${folderId}/${file}`])).length > before, `${n} to record its edit of ${file}`);
  }
  for (const n of names) await cli(n, ['resume']);
  await waitFor(async () => {
    const lists = await Promise.all(names.map((n) => cliJson<ConflictInfo[]>(mesh.device(n).home, ['conflicts', folderId])));
    return lists.every((l) => l.some((c) => c.path === file && c.heads.length >= names.length));
  }, `every device to see the conflict on ${file}`, 60_000);
}

/**
 * Moves the quota slider (Activity, or the tray popover at `#tray`) by `steps` key presses
 * (negative = lower; 'min' = Home, all the way down: a step is 1/100 of the disk, far more
 * than a test's data) and returns the sentence saying what applying it would do, once the
 * dry run has answered. `apply` then presses Apply.
 */
export async function moveQuotaSlider(page: Page, steps: number | 'min', opts: { apply?: boolean } = {}): Promise<string> {
  const slider = page.getByRole('slider', { name: /Storage quota/ });
  await slider.focus();
  if (steps === 'min') await page.keyboard.press('Home');
  else for (let i = 0; i < Math.abs(steps); i++) await page.keyboard.press(steps < 0 ? 'ArrowLeft' : 'ArrowRight');
  const words = page.getByTestId('quota-words');
  await words.filter({ hasNotText: /Working out/ }).waitFor();
  const sentence = (await words.textContent()) ?? '';
  if (opts.apply) await page.getByRole('button', { name: 'Apply' }).click();
  return sentence;
}

/** Opens `folderId/file` in the merge view and settles it: take one author's version, keep both, or save edited text. */
export async function resolveInMergeView(page: Page, target: string, how: { take: string } | { keepBoth: true } | { text: string }): Promise<void> {
  await gotoView(page, 'Conflicts');
  await page.getByRole('button', { name: new RegExp(target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')) }).click();
  const merge = page.getByRole('article', { name: /Merge/ });
  if ('take' in how) await merge.getByRole('button', { name: `Take ${how.take}’s version` }).click();
  else if ('keepBoth' in how) await merge.getByRole('button', { name: 'Keep both' }).click();
  else {
    await merge.getByRole('button', { name: 'Edit the merged text' }).click();
    await merge.getByLabel('Merged text').fill(how.text);
    await merge.getByRole('button', { name: 'Save the merge' }).click();
  }
  await merge.waitFor({ state: 'detached' });
}

/** Controls on the page that a screen reader would announce without a name (from the accessibility tree). */
export async function unnamedControls(page: Page): Promise<string[]> {
  const tree = await page.locator('body').ariaSnapshot();
  // A named control reads `- button "Scan now"`; an unnamed one has no quoted name after its role.
  return tree.split('\n').filter((line) => /^\s*- (button|textbox|combobox|slider|checkbox|radio|link|treegrid|spinbutton)(\s*$|\s*\[|:)/.test(line));
}
