/** The version of this build, read once from package.json (kept in one place). */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
function findVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(rel) as { name?: string; version?: string };
      if (pkg.name === 'canopy' && pkg.version) return pkg.version;
    } catch {
      // not at this depth (source vs dist)
    }
  }
  return '0.0.0';
}
export const APP_VERSION = findVersion();
