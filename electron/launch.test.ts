/**
 * Starts the real desktop app (built dist/, a fresh home) and checks that the window shows
 * the device and that the page got the bridge and nothing of Node. It needs an Electron
 * binary, a display and a build, and SKIPS (saying why) when one is missing. It never
 * downloads anything: it looks for the binary with fs only and never loads the `electron`
 * package, whose index.js would start a download when the binary is missing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const mainJs = path.join(root, 'dist', 'electron', 'main.js');
const rendererIndex = path.join(root, 'dist', 'renderer', 'index.html');

/** The Electron executable, or why there is none. Reads files only. */
function findElectronBinary(env: NodeJS.ProcessEnv = process.env): { binary: string } | { reason: string } {
  const pkg = path.join(root, 'node_modules', 'electron');
  const pathTxt = path.join(pkg, 'path.txt');
  const rel = fs.existsSync(pathTxt) ? fs.readFileSync(pathTxt, 'utf8').trim() : undefined;
  const override = env['ELECTRON_OVERRIDE_DIST_PATH'];
  if (override) {
    const binary = path.join(override, rel ?? 'electron');
    return fs.existsSync(binary) ? { binary } : { reason: `ELECTRON_OVERRIDE_DIST_PATH is set but ${binary} does not exist` };
  }
  if (!rel) return { reason: 'no Electron binary: node_modules/electron/path.txt is missing (the binary was never downloaded)' };
  const binary = path.join(pkg, 'dist', rel);
  return fs.existsSync(binary) ? { binary } : { reason: `no Electron binary at ${path.relative(root, binary)}` };
}

function skipReason(): string | undefined {
  const found = findElectronBinary();
  if ('reason' in found) return found.reason;
  if (!fs.existsSync(mainJs) || !fs.existsSync(rendererIndex)) return 'the app is not built (run `npm run build` first)';
  if (process.platform === 'linux' && !process.env['DISPLAY'] && !process.env['WAYLAND_DISPLAY']) return 'no display (run under xvfb-run)';
  return undefined;
}

const reason = skipReason();
if (reason) console.info(`electron/launch.test.ts skipped: ${reason}`);

describe.skipIf(reason !== undefined)(`desktop app launch${reason ? ` (skipped: ${reason})` : ''}`, () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('opens one sandboxed window that shows this device', async () => {
    const found = findElectronBinary();
    if (!('binary' in found)) throw new Error(found.reason);
    const { _electron } = await import('playwright-core');
    const { Engine } = await import('../core/engine/index.js');

    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'canopy-launch-'));
    dirs.push(tmp);
    const home = path.join(tmp, 'home');
    const engine = Engine.init(home, { name: 'launch-test-device' });
    await engine.close();

    const app = await _electron.launch({
      executablePath: found.binary,
      args: [mainJs, `--user-data-dir=${path.join(tmp, 'user-data')}`],
      cwd: root,
      env: { ...process.env, CANOPY_HOME: home },
      timeout: 30_000,
    });
    try {
      const page = await app.firstWindow();
      await page.getByText('launch-test-device').first().waitFor({ timeout: 15_000 });
      const surface = await page.evaluate(() => ({
        bridge: Object.keys((window as unknown as { canopy: object }).canopy).sort(),
        require: typeof (globalThis as { require?: unknown }).require,
        process: typeof (globalThis as { process?: unknown }).process,
      }));
      expect(surface).toEqual({ bridge: ['call', 'getPathForFile', 'subscribe'], require: 'undefined', process: 'undefined' });
      expect(app.windows()).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});
