/**
 * Where a device's home directory is: `--home`, else $CANOPY_HOME, else the platform's
 * per-user application-data folder.
 *
 * The home holds config.toml, identity.json, the database and chunk store; several homes on
 * one machine are several devices (which is how tests and local multi-device setups work).
 */

import { homedir as osHomedir } from 'node:os';
import path from 'node:path';

export interface ResolveHomeOptions {
  /** Defaults to process.env; injectable so tests need not touch the real environment. */
  env?: Record<string, string | undefined>;
  /** Defaults to process.platform. */
  platform?: NodeJS.Platform;
  /** Defaults to os.homedir(). */
  homedir?: string;
}

/** Absolute path of the Canopy home to use. */
export function resolveHome(explicit?: string, options: ResolveHomeOptions = {}): string {
  const env = options.env ?? process.env;
  const platform = options.platform ?? process.platform;
  const home = options.homedir ?? osHomedir();
  // Build Windows paths with win32 rules even when tests run elsewhere.
  const p = platform === 'win32' ? path.win32 : path.posix;

  // "~" is expanded by shells, but not in `--home=~/x` or in a quoted env value.
  const expand = (value: string): string => {
    if (value === '~') return home;
    if (value.startsWith('~/') || (platform === 'win32' && value.startsWith('~\\'))) return p.join(home, value.slice(2));
    return value;
  };

  if (explicit !== undefined && explicit.trim() !== '') return p.resolve(expand(explicit.trim()));
  const fromEnv = env['CANOPY_HOME'];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return p.resolve(expand(fromEnv.trim()));

  switch (platform) {
    case 'darwin':
      return p.join(home, 'Library', 'Application Support', 'Canopy');
    case 'win32': {
      const appData = env['APPDATA'];
      return p.join(appData && p.isAbsolute(appData) ? appData : p.join(home, 'AppData', 'Roaming'), 'Canopy');
    }
    default: {
      // The XDG spec says relative values must be ignored.
      const xdg = env['XDG_DATA_HOME'];
      return p.join(xdg && p.isAbsolute(xdg) ? xdg : p.join(home, '.local', 'share'), 'canopy');
    }
  }
}
