/**
 * The merge view's pure parts: a side-by-side line diff of two heads (from the `diff`
 * package's line diff, which is well tested and fast), what kind of preview a file gets,
 * and how a file's bytes come out of a FileContent.
 */
import { diffLines } from 'diff';
import type { FileContent } from '../../../core/api/types.js';

export type SideCell = { text: string; kind: 'same' | 'removed' | 'added' | 'empty'; line: number | null };
export interface SideRow {
  left: SideCell;
  right: SideCell;
}

function splitLines(value: string): string[] {
  const lines = value.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Rows of a side-by-side diff: equal lines on both sides, changes paired up line by line. */
export function sideBySide(left: string, right: string): SideRow[] {
  const rows: SideRow[] = [];
  let l = 1;
  let r = 1;
  const parts = diffLines(left, right);
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (!part) continue;
    if (!part.added && !part.removed) {
      for (const text of splitLines(part.value)) rows.push({ left: { text, kind: 'same', line: l++ }, right: { text, kind: 'same', line: r++ } });
      continue;
    }
    // A removal followed by an addition is one change: pair their lines.
    const removed = part.removed ? splitLines(part.value) : [];
    const next = parts[i + 1];
    const added = part.added ? splitLines(part.value) : next?.added ? splitLines(next.value) : [];
    if (part.removed && next?.added) i++;
    for (let k = 0; k < Math.max(removed.length, added.length); k++) {
      const a = removed[k];
      const b = added[k];
      rows.push({
        left: a === undefined ? { text: '', kind: 'empty', line: null } : { text: a, kind: 'removed', line: l++ },
        right: b === undefined ? { text: '', kind: 'empty', line: null } : { text: b, kind: 'added', line: r++ },
      });
    }
  }
  return rows;
}

const IMAGE_TYPES: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', avif: 'image/avif', bmp: 'image/bmp', ico: 'image/x-icon',
};

/** The image MIME type of a path, by its extension (SVG is left out: it can carry script). */
export function imageType(path: string): string | null {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return IMAGE_TYPES[ext] ?? null;
}

export type Preview = { kind: 'text'; text: string } | { kind: 'image'; url: string } | { kind: 'binary' };

export function previewOf(content: FileContent): Preview {
  if (content.encoding === 'utf8') return { kind: 'text', text: content.data };
  const type = imageType(content.path);
  if (type && !content.truncated) return { kind: 'image', url: `data:${type};base64,${content.data}` };
  return { kind: 'binary' };
}
