import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FileEntry } from '../../../core/api/types.js';
import { buildTree, moveFocus, visibleRows, windowSlice } from './file-tree.js';

export function entry(path: string, over: Partial<FileEntry> = {}): FileEntry {
  return {
    path, kind: 'file', size: 10, mtimeMs: 0, headVersion: `v-${path}`, heads: 1, chunks: 1, localState: 'synced', priority: 'normal', pinned: false, local: true,
    replicas: null, targetReplicas: null, ...over,
  };
}

const names = (rows: ReturnType<typeof visibleRows>) => rows.map((r) => `${'  '.repeat(r.depth - 1)}${r.node.name}`);

describe('buildTree', () => {
  it('nests paths, directories first, names in natural order, with totals', () => {
    const root = buildTree([entry('b.txt'), entry('a/x10.txt'), entry('a/x9.txt', { size: 5 }), entry('a', { kind: 'dir' }), entry('c/d/e.txt')]);
    expect(names(visibleRows(root, new Set(['a', 'c', 'c/d'])))).toEqual(['a', '  x9.txt', '  x10.txt', 'c', '  d', '    e.txt', 'b.txt']);
    expect(root.files).toBe(4);
    expect(root.bytes).toBe(35);
    expect(root.children[0]?.files).toBe(2);
  });

  it('leaves deleted files out unless asked', () => {
    const list = [entry('gone.txt', { kind: 'tombstone' }), entry('here.txt')];
    expect(names(visibleRows(buildTree(list), new Set()))).toEqual(['here.txt']);
    expect(names(visibleRows(buildTree(list, { showDeleted: true }), new Set()))).toEqual(['gone.txt', 'here.txt']);
  });

  it('shows every entry exactly once when all is expanded (any set of paths)', () => {
    const segment = fc.constantFrom('a', 'b', 'c', 'd');
    fc.assert(
      fc.property(fc.uniqueArray(fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'))), (paths) => {
        // A path that is also a prefix of another is a directory, as the index has it.
        const dirs = new Set(paths.flatMap((p) => p.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'))));
        const list = paths.map((p) => entry(p, dirs.has(p) ? { kind: 'dir' } : {}));
        const root = buildTree(list);
        const rows = visibleRows(root, new Set([...dirs, ...paths]));
        const shown = rows.map((r) => r.node.path);
        expect(new Set(shown).size).toBe(shown.length);
        expect(new Set(shown)).toEqual(new Set([...paths, ...dirs]));
        expect(root.files).toBe(paths.filter((p) => !dirs.has(p)).length);
      }),
    );
  });

  it('handles 100,000 entries and flattens only what is open', () => {
    const list: FileEntry[] = [];
    for (let d = 0; d < 100; d++) for (let f = 0; f < 1000; f++) list.push(entry(`dir${d}/file${f}.bin`));
    const root = buildTree(list);
    expect(root.files).toBe(100_000);
    expect(visibleRows(root, new Set())).toHaveLength(100);
    expect(visibleRows(root, new Set(['dir5']))).toHaveLength(1100);
  });
});

describe('keyboard and windowing', () => {
  const rows = visibleRows(buildTree([entry('a/x'), entry('a/y'), entry('b')]), new Set(['a']));

  it('moves by arrows, pages, Home/End, and Left to the parent', () => {
    expect(moveFocus(rows, 0, 'ArrowDown', 10)).toBe(1);
    expect(moveFocus(rows, 3, 'ArrowDown', 10)).toBe(3);
    expect(moveFocus(rows, 0, 'ArrowUp', 10)).toBe(0);
    expect(moveFocus(rows, 0, 'End', 10)).toBe(3);
    expect(moveFocus(rows, 3, 'Home', 10)).toBe(0);
    expect(moveFocus(rows, 0, 'PageDown', 2)).toBe(2);
    expect(moveFocus(rows, 2, 'ArrowLeft', 10)).toBe(0);
    expect(moveFocus(rows, 0, 'ArrowLeft', 10)).toBeNull();
    expect(moveFocus(rows, 0, 'x', 10)).toBeNull();
    expect(moveFocus([], 0, 'ArrowDown', 10)).toBeNull();
  });

  it('draws only the rows in view, plus overscan', () => {
    expect(windowSlice(100_000, 36, 0, 520, 8)).toEqual({ start: 0, end: 23 });
    expect(windowSlice(100_000, 36, 36 * 50_000, 520, 8)).toEqual({ start: 49_992, end: 50_023 });
    expect(windowSlice(10, 36, 0, 520, 8)).toEqual({ start: 0, end: 10 });
  });
});
