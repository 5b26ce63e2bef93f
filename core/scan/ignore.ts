/**
 * Which paths of a folder Canopy leaves alone: `.canopyignore` at the folder's root, in
 * gitignore syntax (via the `ignore` package, which implements git's rules exactly), plus
 * Canopy's own temporary files, which are never versions of anything.
 */
import fs from 'node:fs';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { CanopyError } from '../errors/index.js';

export const IGNORE_FILE = '.canopyignore';
/** Prefix of the temp files Canopy writes into working copies before an atomic rename. */
export const TEMP_PREFIX = '.canopy-tmp-';

export interface IgnoreMatcher {
  /** `rel` uses '/' separators; `isDir` makes directory-only patterns (`build/`) apply. */
  ignores(rel: string, isDir: boolean): boolean;
}

export function loadIgnore(folderRoot: string): IgnoreMatcher {
  const ig: Ignore = ignore();
  let text = '';
  try {
    text = fs.readFileSync(path.join(folderRoot, IGNORE_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CanopyError('IO_ERROR', `cannot read ${path.join(folderRoot, IGNORE_FILE)}: ${(err as Error).message}`);
    }
  }
  ig.add(text);
  // Most folders have no rules: then only the temp prefix is checked (the watcher, the
  // scanner and the materializer ask for every path they see, parents included).
  const hasRules = text.split(/\r?\n/).some((line) => line.trim() !== '' && !line.startsWith('#'));
  return {
    ignores(rel: string, isDir: boolean): boolean {
      const base = rel.slice(rel.lastIndexOf('/') + 1);
      if (base.startsWith(TEMP_PREFIX)) return true;
      return hasRules && ig.ignores(isDir ? `${rel}/` : rel);
    },
  };
}
