/**
 * The packaging configuration's shape (electron-builder is never run here: it downloads
 * Electron): every platform's targets, the native add-ons unpacked from asar and rebuilt,
 * the files the app loads at run time included; and the home-server unit runs the daemon.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = load(fs.readFileSync(path.join(root, 'build', 'electron-builder.yml'), 'utf8')) as Record<string, unknown>;
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { main: string; dependencies: Record<string, string> };

function targets(platform: string): string[] {
  const section = config[platform] as { target: (string | { target: string })[] };
  return section.target.map((t) => (typeof t === 'string' ? t : t.target));
}

describe('electron-builder.yml', () => {
  it('builds AppImage and deb, dmg, and nsis', () => {
    expect(targets('linux')).toEqual(['AppImage', 'deb']);
    expect(targets('mac')).toEqual(['dmg']);
    expect(targets('win')).toEqual(['nsis']);
  });

  it('unpacks every native add-on from asar and rebuilds them for Electron', () => {
    const unpack = config['asarUnpack'] as string[];
    expect(config['asar']).toBe(true);
    expect(config['npmRebuild']).toBe(true);
    for (const mod of ['better-sqlite3', 'sodium-native', 'udx-native', '@napi-rs/blake-hash']) {
      expect(unpack).toContain(`**/node_modules/${mod}/**`);
    }
    expect(unpack).toContain('**/*.node');
  });

  it('ships what the app loads: the build, the tray icon and the icons it names', () => {
    const files = config['files'] as string[];
    expect(files).toEqual(expect.arrayContaining(['dist/**', 'package.json', 'assets/icon.png']));
    expect(pkg.main).toBe('dist/electron/main.js');
    for (const platform of ['linux', 'mac', 'win']) {
      const icon = (config[platform] as { icon: string }).icon;
      expect(fs.existsSync(path.join(root, icon)), `${platform} icon ${icon}`).toBe(true);
    }
    // The add-ons it unpacks are real dependencies of the app.
    expect(Object.keys(pkg.dependencies)).toEqual(expect.arrayContaining(['better-sqlite3', '@napi-rs/blake-hash', 'hyperswarm']));
  });
});

describe('canopy.service', () => {
  const unit = fs.readFileSync(path.join(root, 'build', 'canopy.service'), 'utf8');
  const value = (key: string) => unit.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);

  it('runs the daemon unprivileged, stops it with SIGTERM and restarts it after a crash', () => {
    expect(value('ExecStart')).toMatch(/dist\/core\/cli\/bin\.js daemon --init --port \d+$/);
    expect(value('User')).toBe('canopy');
    expect(value('KillSignal')).toBe('SIGTERM');
    expect(value('Restart')).toBe('on-failure');
    expect(value('Environment')).toBe('CANOPY_HOME=/var/lib/canopy');
    expect(unit).toContain('[Install]\nWantedBy=multi-user.target');
  });

  it('is explained by the home-server guide', () => {
    const guide = fs.readFileSync(path.join(root, 'build', 'HOME-SERVER.md'), 'utf8');
    expect(guide).toContain('cp build/canopy.service /etc/systemd/system/');
    expect(guide).toContain('ssh -N -L 7878:127.0.0.1:7878');
  });
});
