/**
 * The Files view's tree, built once from `ls`'s flat list (every path of a folder) and
 * flattened to the rows that are visible for a set of expanded directories. Building is
 * O(n log n); flattening is O(visible rows), so a folder of 100,000 entries stays smooth
 * with the windowed list drawing only the rows on screen.
 */
import type { FileEntry } from '../../../core/api/types.js';

export interface TreeNode {
  name: string;
  /** Path inside the folder ('' for the root). */
  path: string;
  entry: FileEntry | null;
  children: TreeNode[];
  /** Files below this directory (for its row's summary). */
  files: number;
  bytes: number;
}

export interface TreeRow {
  node: TreeNode;
  depth: number;
  isDir: boolean;
  expanded: boolean;
  /** For aria-setsize / aria-posinset. */
  setSize: number;
  posInSet: number;
}

function isDirEntry(e: FileEntry | null): boolean {
  return e === null || e.kind === 'dir';
}

/** Directories first, then by name (locale-aware, numbers in order). */
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
function compareNodes(a: TreeNode, b: TreeNode): number {
  const ad = a.children.length > 0 || isDirEntry(a.entry);
  const bd = b.children.length > 0 || isDirEntry(b.entry);
  if (ad !== bd) return ad ? -1 : 1;
  return collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export function buildTree(entries: readonly FileEntry[], opts: { showDeleted?: boolean } = {}): TreeNode {
  const root: TreeNode = { name: '', path: '', entry: null, children: [], files: 0, bytes: 0 };
  const dirs = new Map<string, TreeNode>([['', root]]);
  const dirFor = (path: string): TreeNode => {
    const known = dirs.get(path);
    if (known) return known;
    const cut = path.lastIndexOf('/');
    const parent = dirFor(cut < 0 ? '' : path.slice(0, cut));
    const node: TreeNode = { name: path.slice(cut + 1), path, entry: null, children: [], files: 0, bytes: 0 };
    parent.children.push(node);
    dirs.set(path, node);
    return node;
  };
  for (const e of entries) {
    if (e.kind === 'tombstone' && !opts.showDeleted) continue;
    if (e.kind === 'dir') {
      dirFor(e.path).entry = e;
      continue;
    }
    const cut = e.path.lastIndexOf('/');
    const parent = dirFor(cut < 0 ? '' : e.path.slice(0, cut));
    parent.children.push({ name: e.path.slice(cut + 1), path: e.path, entry: e, children: [], files: 0, bytes: 0 });
  }
  const finish = (node: TreeNode): void => {
    node.children.sort(compareNodes);
    for (const c of node.children) {
      if (c.entry && c.entry.kind !== 'dir') {
        node.files += 1;
        node.bytes += c.entry.size;
      } else {
        finish(c);
        node.files += c.files;
        node.bytes += c.bytes;
      }
    }
  };
  finish(root);
  return root;
}

export function isDir(node: TreeNode): boolean {
  return node.children.length > 0 || isDirEntry(node.entry);
}

/** The rows shown: the root's children, and the children of every expanded directory. */
export function visibleRows(root: TreeNode, expanded: ReadonlySet<string>): TreeRow[] {
  const rows: TreeRow[] = [];
  const walk = (node: TreeNode, depth: number) => {
    node.children.forEach((child, i) => {
      const dir = isDir(child);
      const open = dir && expanded.has(child.path);
      rows.push({ node: child, depth, isDir: dir, expanded: open, setSize: node.children.length, posInSet: i + 1 });
      if (open) walk(child, depth + 1);
    });
  };
  walk(root, 1);
  return rows;
}

/** The index of the row to move to for an arrow key, or null when the key does not move. */
export function moveFocus(rows: readonly TreeRow[], index: number, key: string, pageSize: number): number | null {
  const last = rows.length - 1;
  if (last < 0) return null;
  switch (key) {
    case 'ArrowDown':
      return Math.min(last, index + 1);
    case 'ArrowUp':
      return Math.max(0, index - 1);
    case 'Home':
      return 0;
    case 'End':
      return last;
    case 'PageDown':
      return Math.min(last, index + pageSize);
    case 'PageUp':
      return Math.max(0, index - pageSize);
    case 'ArrowLeft': {
      // To the parent row.
      const row = rows[index];
      if (!row || row.expanded) return null;
      for (let i = index - 1; i >= 0; i--) if ((rows[i]?.depth ?? 0) < row.depth) return i;
      return null;
    }
    default:
      return null;
  }
}

/** The slice of rows a window of `height` px scrolled to `scrollTop` shows, with some overscan. */
export function windowSlice(count: number, rowHeight: number, scrollTop: number, height: number, overscan = 8): { start: number; end: number } {
  const start = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const end = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  return { start, end: Math.max(start, end) };
}
