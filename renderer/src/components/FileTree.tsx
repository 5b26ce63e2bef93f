import { useEffect, useMemo, useRef, useState, type KeyboardEvent, type UIEvent } from 'react';
import type { FileEntry, Priority } from '../../../core/api/types.js';
import { formatBytes, formatCount } from '../format.js';
import { moveFocus, visibleRows, windowSlice, type TreeNode, type TreeRow } from '../lib/file-tree.js';
import { PRIORITIES } from './AddFolderForm.js';

export const ROW_HEIGHT = 36;
const VIEWPORT_HEIGHT = 520;

export interface FileTreeProps {
  root: TreeNode;
  label: string;
  selected: string | null;
  onSelect: (path: string) => void;
  onTogglePin: (e: FileEntry) => void;
  onPriority: (e: FileEntry, p: Priority | null) => void;
}

/**
 * A windowed tree grid: only the rows in view (plus a few) are in the DOM, so 100,000
 * entries scroll as smoothly as 100. Keyboard: arrows move, Right/Left open and close
 * folders (Left on a file goes to its folder), Enter opens a file's history, Home/End and
 * Page Up/Down jump; Tab reaches the focused row's controls.
 */
export function FileTree({ root, label, selected, onSelect, onTogglePin, onPriority }: FileTreeProps) {
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set());
  const [active, setActive] = useState(0);
  const [scrollTop, setScrollTop] = useState(0);
  const viewport = useRef<HTMLDivElement>(null);
  const rows = useMemo(() => visibleRows(root, expanded), [root, expanded]);
  const { start, end } = windowSlice(rows.length, ROW_HEIGHT, scrollTop, VIEWPORT_HEIGHT);
  const focusWanted = useRef(false);

  useEffect(() => {
    if (active > rows.length - 1) setActive(Math.max(0, rows.length - 1));
  }, [rows.length, active]);

  // Keep the active row in view and, after a key press, focused.
  useEffect(() => {
    const el = viewport.current;
    if (!el || !focusWanted.current) return;
    const top = active * ROW_HEIGHT;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_HEIGHT > el.scrollTop + el.clientHeight) el.scrollTop = top + ROW_HEIGHT - el.clientHeight;
    setScrollTop(el.scrollTop);
    const row = el.querySelector<HTMLElement>(`[data-index="${active}"]`);
    row?.focus({ preventScroll: true });
    focusWanted.current = false;
  }, [active]);

  const toggle = (path: string, open?: boolean) =>
    setExpanded((prev) => {
      const next = new Set(prev);
      if (open ?? !next.has(path)) next.add(path);
      else next.delete(path);
      return next;
    });

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    // Keys inside a row's menu or button are theirs (a select uses the arrows).
    if (!(e.target as HTMLElement).matches('[role="row"]')) return;
    const row = rows[active];
    if (!row) return;
    if (e.key === 'ArrowRight' && row.isDir && !row.expanded) {
      e.preventDefault();
      toggle(row.node.path, true);
      return;
    }
    if (e.key === 'ArrowLeft' && row.isDir && row.expanded) {
      e.preventDefault();
      toggle(row.node.path, false);
      return;
    }
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      if (row.isDir) toggle(row.node.path);
      else onSelect(row.node.path);
      return;
    }
    const next = moveFocus(rows, active, e.key, Math.floor(VIEWPORT_HEIGHT / ROW_HEIGHT));
    if (next !== null) {
      e.preventDefault();
      focusWanted.current = true;
      setActive(next);
      if (next === active) focusWanted.current = false;
    }
  };

  return (
    <div className="tree">
    <div className="tree-header" aria-hidden="true">
      <span>Name</span>
      <span className="num">Size</span>
      <span className="num">Copies</span>
      <span>Where</span>
      <span>Pin</span>
      <span>Priority</span>
      <span />
    </div>
    <div
      ref={viewport}
      className="tree-viewport"
      role="treegrid"
      aria-label={label}
      aria-rowcount={rows.length}
      style={{ height: `${Math.min(VIEWPORT_HEIGHT, Math.max(rows.length, 1) * ROW_HEIGHT + 2)}px` }}
      onScroll={(e: UIEvent<HTMLDivElement>) => setScrollTop(e.currentTarget.scrollTop)}
      onKeyDown={onKeyDown}
    >
      <div className="tree-spacer" style={{ height: `${rows.length * ROW_HEIGHT}px` }}>
        {rows.slice(start, end).map((row, i) => (
          <Row
            key={row.node.path}
            row={row}
            index={start + i}
            active={start + i === active}
            selected={row.node.path === selected}
            onActivate={() => setActive(start + i)}
            onToggle={() => toggle(row.node.path)}
            onSelect={() => onSelect(row.node.path)}
            onTogglePin={onTogglePin}
            onPriority={onPriority}
          />
        ))}
      </div>
    </div>
    </div>
  );
}

function replicaText(e: FileEntry): { text: string; low: boolean } {
  if (e.replicas == null) return { text: '—', low: false };
  const target = e.targetReplicas;
  return { text: target == null ? `${e.replicas}` : `${e.replicas} / ${target}`, low: target != null && e.replicas < target };
}

interface RowProps {
  row: TreeRow;
  index: number;
  active: boolean;
  selected: boolean;
  onActivate: () => void;
  onToggle: () => void;
  onSelect: () => void;
  onTogglePin: (e: FileEntry) => void;
  onPriority: (e: FileEntry, p: Priority | null) => void;
}

function Row({ row, index, active, selected, onActivate, onToggle, onSelect, onTogglePin, onPriority }: RowProps) {
  const { node, isDir } = row;
  const e = node.entry;
  const tab = active ? 0 : -1;
  const replicas = e && !isDir ? replicaText(e) : null;
  return (
    <div
      role="row"
      data-index={index}
      data-path={node.path}
      className={`tree-row${selected ? ' selected' : ''}${active ? ' active' : ''}`}
      style={{ transform: `translateY(${index * ROW_HEIGHT}px)` }}
      aria-level={row.depth}
      aria-setsize={row.setSize}
      aria-posinset={row.posInSet}
      aria-rowindex={index + 1}
      aria-expanded={isDir ? row.expanded : undefined}
      aria-selected={selected}
      tabIndex={tab}
      onFocus={onActivate}
      onClick={onActivate}
    >
      <span role="gridcell" className="name-cell" style={{ paddingInlineStart: `${(row.depth - 1) * 18 + 6}px` }}>
        {isDir ? (
          <button type="button" className="twisty" tabIndex={-1} aria-hidden="true" onClick={onToggle}>
            {row.expanded ? '▾' : '▸'}
          </button>
        ) : (
          <span className="twisty" aria-hidden="true" />
        )}
        <span className={isDir ? 'dir-name' : 'file-name'} title={node.path} onDoubleClick={isDir ? onToggle : onSelect}>
          {node.name}
        </span>
        {e && e.heads > 1 && <span className="badge danger" title="edited on devices apart: merge it in Conflicts">{e.heads} heads</span>}
      </span>
      <span role="gridcell" className="num size-cell">{isDir ? `${formatCount(node.files)} ${node.files === 1 ? 'file' : 'files'}, ${formatBytes(node.bytes)}` : formatBytes(e?.size ?? 0)}</span>
      <span role="gridcell" className={`num replicas-cell${replicas?.low ? ' warn' : ''}`} aria-label={replicas ? `copies: ${replicas.text === '—' ? 'not known' : replicas.text}` : undefined}>
        {replicas?.text ?? ''}
      </span>
      <span role="gridcell" className="where-cell">
        {e && !isDir ? e.local === false ? <span className="badge">online-only</span> : e.localState === 'problem' ? <span className="badge warn">problem</span> : <span className="badge ok">local</span> : null}
      </span>
      <span role="gridcell" className="pin-cell">
        {e && !isDir && (
          <button type="button" className="ghost small" tabIndex={tab} aria-pressed={e.pinned === true} aria-label={`Keep ${node.name} on this device`} onClick={() => onTogglePin(e)}>
            {e.pinned ? 'Pinned' : 'Pin'}
          </button>
        )}
      </span>
      <span role="gridcell" className="priority-cell">
        {e && (
          <select
            tabIndex={tab}
            aria-label={`Priority of ${node.name}`}
            value={e.priority ?? 'normal'}
            onChange={(ev) => onPriority(e, ev.target.value as Priority)}
          >
            {PRIORITIES.map((p) => (
              <option key={p} value={p}>{p}</option>
            ))}
          </select>
        )}
      </span>
      <span role="gridcell" className="history-cell">
        {e && !isDir && (
          <button type="button" className="ghost small" tabIndex={tab} aria-label={`History of ${node.name}`} onClick={onSelect}>
            History
          </button>
        )}
      </span>
    </div>
  );
}
