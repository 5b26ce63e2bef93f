import { Fragment } from 'react';
import type { FolderInfo } from '../../../core/api/types.js';
import { formatBytes, formatCount, formatTimestamp, formatWhen } from '../format.js';
import { useCanopy } from '../store-context.js';
import type { ScanState } from '../store.js';
import { useNow } from '../use-now.js';
import { ScanProgress } from './ScanProgress.js';
import { useAction } from '../use-call.js';
import { syncWords } from '../lib/words.js';

const COLUMNS = ['Label', 'ID', 'Path', 'Mode', 'Priority', 'Class', 'Files', 'Size', 'Last scan', 'Problems'] as const;

/** One row per folder, with its scan button and, while it scans, a progress row below it. */
export function FolderTable({ onAttach }: { onAttach: (folderId: string) => void }) {
  const folders = useCanopy((s) => s.folders);
  const connection = useCanopy((s) => s.connection);

  if (folders.length === 0) {
    return <p className="empty">{connection === 'connecting' ? 'Loading folders…' : 'No folders yet. Add one below.'}</p>;
  }
  return (
    // A scrollable region must be focusable so keyboard users can scroll it.
    <div className="table-scroll" role="region" aria-labelledby="folders-caption" tabIndex={0}>
      <table className="folders">
        <caption id="folders-caption" className="visually-hidden">Shared folders on this device</caption>
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <th key={c} scope="col" className={`col-${c.toLowerCase().replace(' ', '-')}`}>{c}</th>
            ))}
            <th scope="col"><span className="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {folders.map((f) => (
            <FolderRow key={f.id} folder={f} onAttach={onAttach} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

const MODES = ['full', 'on-demand'] as const;
const PRIORITIES = ['critical', 'high', 'normal', 'low', 'expendable'] as const;
const CLASSES = ['critical', 'sensitive', 'standard', 'public'] as const;
const FIELD_WORDS = { mode: 'Mode on this device', priority: 'Priority (every device)', dataClass: 'Data class (every device)' } as const;

/**
 * A folder's mode, priority or class as a menu that saves on change (`folder.update`):
 * mode is this device's, priority and class the whole mesh's. The new value arrives with
 * the `folder.updated` event; until then (or on an error) the menu shows the old one.
 */
function FolderChoice<F extends 'mode' | 'priority' | 'dataClass'>({ folder, field, choices }: { folder: FolderInfo; field: F; choices: readonly string[] }) {
  const update = useAction('folder.update');
  const value = folder[field] ?? '';
  return (
    <>
      <select
        value={value}
        disabled={update.pending}
        aria-label={`${FIELD_WORDS[field]} of ${folder.label}`}
        onChange={(e) => void update.run({ id: folder.id, [field]: e.target.value })}
      >
        {choices.map((c) => <option key={c} value={c}>{c}</option>)}
      </select>
      {update.error && <span role="alert" className="warn small" title={update.error.message}> not saved: {update.error.message}</span>}
    </>
  );
}

/** What a requested scan shows until its first progress event arrives. */
function startingScan(folderId: string): ScanState {
  return { folderId, phase: 'walk', filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 };
}

function FolderRow({ folder: f, onAttach }: { folder: FolderInfo; onAttach: (folderId: string) => void }) {
  const scan = useCanopy((s) => s.scans[f.id]);
  const pending = useCanopy((s) => s.scanning[f.id] === true || s.scanning['*'] === true);
  const startScan = useCanopy((s) => s.scan);
  const now = useNow();
  const busy = pending || scan !== undefined;
  const syncing = useCanopy((s) => syncWords(s.status?.sync ?? null, f.id));

  return (
    <Fragment>
      <tr aria-busy={busy}>
        <th scope="row" className="col-label">{f.label}</th>
        <td><code className="id">{f.id}</code></td>
        <td className="col-path">
          {f.path ? <code className="path" title={f.path}>{f.path}</code> : <span className="muted">not on this device</span>}
        </td>
        <td>{f.mode ? <FolderChoice folder={f} field="mode" choices={MODES} /> : '—'}</td>
        <td><FolderChoice folder={f} field="priority" choices={PRIORITIES} /></td>
        <td><FolderChoice folder={f} field="dataClass" choices={CLASSES} /></td>
        <td className="num">{formatCount(f.files)}</td>
        <td className="num">{formatBytes(f.bytes)}</td>
        <td><time dateTime={f.lastScanAt ? new Date(f.lastScanAt).toISOString() : undefined} title={formatTimestamp(f.lastScanAt)}>{formatWhen(f.lastScanAt, now)}</time></td>
        <td className={`num${f.problems > 0 ? ' warn' : ''}`}>{formatCount(f.problems)}</td>
        <td className="col-actions">
          {!f.attached && (
            <button type="button" onClick={() => onAttach(f.id)} aria-label={`Receive ${f.label} on this device`}>
              Attach here
            </button>
          )}
          <button
            type="button"
            onClick={() => void startScan(f.id)}
            disabled={!f.attached || busy}
            aria-label={`Scan ${f.label} now`}
            title={f.attached ? undefined : 'This folder is not attached on this device'}
          >
            {busy ? 'Scanning…' : 'Scan now'}
          </button>
        </td>
      </tr>
      {syncing && (
        <tr className="progress-row">
          <td colSpan={COLUMNS.length + 1}>
            <div className="scan-progress">
              <progress aria-label={`Sync of ${f.label}`} aria-valuetext={syncing} />
              <span className="scan-label">{syncing}</span>
            </div>
          </td>
        </tr>
      )}
      {busy && (
        <tr className="progress-row">
          <td colSpan={COLUMNS.length + 1}>
            <ScanProgress scan={scan ?? startingScan(f.id)} folderLabel={f.label} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}
