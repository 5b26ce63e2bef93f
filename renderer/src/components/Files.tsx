import { useEffect, useMemo, useState } from 'react';
import type { FileEntry, Priority } from '../../../core/api/types.js';
import { formatBytes, formatCount } from '../format.js';
import { buildTree } from '../lib/file-tree.js';
import { useCanopy } from '../store-context.js';
import { useAction, useCall } from '../use-call.js';
import { ActionStatus, CallProblem } from './CallProblem.js';
import { FileHistory } from './FileHistory.js';
import { FileTree } from './FileTree.js';

/**
 * The Files view: one folder's tree (virtualized), with size, replica count against its
 * target, local or online-only, a pin toggle and a priority menu per file, and the
 * selected file's history and copies beside it.
 */
export function Files() {
  const folders = useCanopy((s) => s.folders);
  const rev = useCanopy((s) => s.rev.files);
  const [folderId, setFolderId] = useState<string>('');
  const chosen = folders.find((f) => f.id === folderId) ?? folders[0];
  const [selected, setSelected] = useState<string | null>(null);
  const listing = useCall('ls', chosen ? { target: chosen.id } : null, `${chosen?.id ?? ''}:${rev}`);
  const [overrides, setOverrides] = useState<Record<string, Partial<FileEntry>>>({});
  const pin = useAction('file.pin');
  const prio = useAction('file.priority');

  useEffect(() => {
    setSelected(null);
    setOverrides({});
  }, [chosen?.id]);
  // A fresh listing carries the real state: drop what was applied on top of the old one.
  useEffect(() => setOverrides({}), [listing.data]);

  const entries = useMemo(() => {
    const list = listing.data ?? [];
    if (Object.keys(overrides).length === 0) return list;
    return list.map((e) => (overrides[e.path] ? { ...e, ...overrides[e.path] } : e));
  }, [listing.data, overrides]);
  const tree = useMemo(() => buildTree(entries), [entries]);

  if (!chosen) {
    return (
      <section aria-labelledby="files-title">
        <h1 id="files-title">Files</h1>
        <p className="empty">No folders yet. Share one in Folders.</p>
      </section>
    );
  }

  const target = (path: string) => `${chosen.id}/${path}`;
  const togglePin = async (e: FileEntry) => {
    const r = await pin.run({ target: target(e.path), pinned: !e.pinned });
    if (r) setOverrides((o) => ({ ...o, [e.path]: { ...o[e.path], pinned: r.pinned } }));
  };
  const setPriority = async (e: FileEntry, p: Priority | null) => {
    const r = await prio.run({ target: target(e.path), priority: p });
    if (r) setOverrides((o) => ({ ...o, [e.path]: { ...o[e.path], priority: r.priority } }));
  };
  const selectedEntry = selected ? entries.find((e) => e.path === selected) ?? null : null;

  return (
    <section aria-labelledby="files-title" className="files-view">
      <div className="section-head">
        <h1 id="files-title">Files</h1>
        <label className="inline-field">
          Folder{' '}
          <select value={chosen.id} onChange={(e) => setFolderId(e.target.value)}>
            {folders.map((f) => (
              <option key={f.id} value={f.id}>{f.label}</option>
            ))}
          </select>
        </label>
        <p className="muted" data-testid="files-summary">
          {formatCount(tree.files)} {tree.files === 1 ? 'file' : 'files'}, {formatBytes(tree.bytes)}
        </p>
      </div>
      <ActionStatus pending={pin.pending} error={pin.error} what="Pinning" />
      <ActionStatus pending={prio.pending} error={prio.error} what="Changing the priority" />
      {listing.state === 'error' && (
        <CallProblem
          error={listing.error}
          what={`Listing ${chosen.label}`}
          onRetry={listing.reload}
        />
      )}
      {listing.state === 'loading' && !listing.data && <p className="muted">Loading {chosen.label}…</p>}
      {listing.data && listing.data.length === 0 && (
        <p className="empty">{chosen.attached ? 'Nothing indexed yet. Scan the folder in Folders.' : 'Nothing has arrived from the other devices yet.'}</p>
      )}
      {listing.data && listing.data.length > 0 && (
        <div className="files-layout">
          <FileTree root={tree} label={`Files of ${chosen.label}`} selected={selected} onSelect={setSelected} onTogglePin={(e) => void togglePin(e)} onPriority={(e, p) => void setPriority(e, p)} />
          {selectedEntry && <FileHistory folderId={chosen.id} entry={selectedEntry} onClose={() => setSelected(null)} onRestored={listing.reload} />}
        </div>
      )}
    </section>
  );
}
