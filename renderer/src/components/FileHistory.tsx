import { useEffect, useState } from 'react';
import type { FileEntry } from '../../../core/api/types.js';
import { formatBytes, formatTimestamp, formatWhen } from '../format.js';
import { shortOfCopiesWords } from '../lib/words.js';
import { useAction, useCall } from '../use-call.js';
import { useNow } from '../use-now.js';
import { ActionStatus, CallProblem } from './CallProblem.js';

/** One file's versions, newest first, each older one restorable; and where its copies are. */
export function FileHistory({ folderId, entry, onClose, onRestored }: { folderId: string; entry: FileEntry; onClose: () => void; onRestored: () => void }) {
  const target = `${folderId}/${entry.path}`;
  const history = useCall('log', { target }, `${target}:${entry.headVersion}`);
  const replicas = useCall('file.replicas', { target }, `${target}:${entry.headVersion}`);
  const restore = useAction('file.restore');
  const open = useAction('file.open');
  const free = useAction('file.free');
  // What the last open/free answered, until a fresh listing says it too.
  const [local, setLocal] = useState(entry.local !== false);
  useEffect(() => setLocal(entry.local !== false), [entry.local]);
  const changeWhere = async () => {
    const r = local ? await free.run({ target }) : await open.run({ target });
    if (r) {
      setLocal(r.local !== false);
      onRestored();
    }
  };
  const now = useNow();

  const doRestore = async (version: string) => {
    if (await restore.run({ target, version })) {
      history.reload();
      onRestored();
    }
  };

  return (
    <aside className="card side-panel" aria-labelledby="history-title">
      <div className="section-head">
        <h2 id="history-title">
          History of <code className="path">{entry.path}</code>
        </h2>
        <button type="button" className="ghost" onClick={onClose} aria-label="Close the history">
          Close
        </button>
      </div>
      <h3>On this device</h3>
      <p>
        {local ? 'Its content is here.' : 'Online-only: its content stays on other devices until it is opened.'}{' '}
        <button type="button" className="small" onClick={() => void changeWhere()} disabled={open.pending || free.pending}>
          {local ? 'Make online-only' : 'Download'}
        </button>
      </p>
      <ActionStatus pending={open.pending || free.pending} error={open.error ?? free.error} what={local ? 'Freeing the space' : 'Downloading'} />
      <h3>Copies</h3>
      {replicas.state === 'error' && <CallProblem error={replicas.error} what="Counting the copies" />}
      {replicas.data && (
        <p data-testid="replica-summary">
          {replicas.data.summary.minHolders} of {replicas.data.factor} wanted copies on every chunk ({replicas.data.priority} priority);{' '}
          {replicas.data.summary.underReplicated > 0 ? <span className="warn">{shortOfCopiesWords(replicas.data.summary.underReplicated)}</span> : 'every chunk has its copies.'}
        </p>
      )}
      <h3>Versions</h3>
      <ActionStatus pending={restore.pending} error={restore.error} what="Restoring" />
      {history.state === 'error' && <CallProblem error={history.error} what="Loading the history" onRetry={history.reload} />}
      {history.data && (
        <ol className="versions">
          {history.data.map((v) => (
            <li key={v.id} className={v.isHead ? 'head' : undefined}>
              <div>
                <strong>{v.kind === 'tombstone' ? 'Deleted' : formatBytes(v.size)}</strong>{' '}
                <span className="muted">
                  by {v.authorName ?? v.author.slice(0, 8)}, <time dateTime={new Date(v.createdAt).toISOString()} title={formatTimestamp(v.createdAt)}>{formatWhen(v.createdAt, now)}</time>
                  {v.state === 'provisional' ? ', provisional' : ''}
                </span>
                {v.isHead && <> <span className="badge ok">current</span></>}
              </div>
              {!v.isHead && v.kind !== 'tombstone' && (
                <button type="button" className="small" onClick={() => void doRestore(v.id)} disabled={restore.pending} aria-label={`Restore the version of ${formatWhen(v.createdAt, now)}`}>
                  Restore
                </button>
              )}
            </li>
          ))}
        </ol>
      )}
    </aside>
  );
}
