/**
 * Looking at a device's home from outside, as tests and benchmarks check it: its config
 * file edited before its daemon starts, the chunk files its store holds on disk, and the
 * chunks its versions reference (its database opened read-only, a daemon may be running).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/** Sets `key = value` lines of config.toml, uncommenting the starter file's examples. */
export function setConfig(home: string, values: Record<string, string>): void {
  const file = path.join(home, 'config.toml');
  let text = fs.readFileSync(file, 'utf8');
  for (const [key, value] of Object.entries(values)) {
    const re = new RegExp(`^#? ?${key} = .*$`, 'm');
    if (!re.test(text)) throw new Error(`no ${key} in ${file}`);
    text = text.replace(re, `${key} = ${value}`);
  }
  fs.writeFileSync(file, text);
}

/** Every chunk the device's versions reference, with its size. */
export function referencedChunks(home: string): Map<string, number> {
  const db = new Database(path.join(home, 'canopy.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT DISTINCT chunk, size FROM version_chunks').all() as { chunk: string; size: number }[];
    return new Map(rows.map((r) => [r.chunk, r.size]));
  } finally {
    db.close();
  }
}

/** The chunk files in a device's store on disk, whatever its database says. */
export function storedOnDisk(home: string): Set<string> {
  const root = path.join(home, 'chunks');
  const out = new Set<string>();
  if (!fs.existsSync(root)) return out;
  for (const dir of fs.readdirSync(root)) {
    if (!/^[0-9a-f]{2}$/.test(dir)) continue;
    for (const f of fs.readdirSync(path.join(root, dir))) if (/^[0-9a-f]{64}$/.test(f)) out.add(f);
  }
  return out;
}

/**
 * For each chunk of `chunks`, how many of the homes hold it on disk; `wholeCopies` are
 * homes whose working copy holds every chunk (the device that shares the files).
 */
export function copiesOnDisk(chunks: Map<string, number>, homes: readonly string[], wholeCopies: readonly string[] = []): Map<string, number> {
  const counts = new Map([...chunks.keys()].map((h) => [h, wholeCopies.length]));
  for (const home of homes) {
    if (wholeCopies.includes(home)) continue;
    for (const h of storedOnDisk(home)) if (counts.has(h)) counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  return counts;
}
