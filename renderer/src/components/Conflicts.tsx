import { useEffect, useState } from 'react';
import type { ConflictHead, ConflictInfo, FileContent } from '../../../core/api/types.js';
import { formatBytes, formatTimestamp } from '../format.js';
import { previewOf, sideBySide } from '../lib/merge.js';
import { useCanopy } from '../store-context.js';
import { useAction, useCall, type CallState } from '../use-call.js';
import { ActionStatus, CallProblem } from './CallProblem.js';

/** How much of each head the merge view loads (the API cuts the answer there). */
const PREVIEW_BYTES = 2 * 1024 * 1024;

/** The Conflicts view: paths edited on devices apart, and the merge view for the one chosen. */
export function Conflicts() {
  const rev = useCanopy((s) => s.rev.conflicts);
  const list = useCall('conflicts', {}, String(rev));
  const [chosen, setChosen] = useState<string | null>(null);
  const key = (c: ConflictInfo) => `${c.folderId}/${c.path}`;
  const current = list.data?.find((c) => key(c) === chosen) ?? null;

  return (
    <section aria-labelledby="conflicts-title">
      <h1 id="conflicts-title">Conflicts</h1>
      {list.state === 'error' && <CallProblem error={list.error} what="Listing the conflicts" onRetry={list.reload} />}
      {list.state === 'loading' && !list.data && <p className="muted">Loading…</p>}
      {list.data && list.data.length === 0 && <p className="empty">Nothing to merge: no file was edited on two devices apart.</p>}
      {list.data && list.data.length > 0 && (
        <ul className="conflict-list" aria-label="Files to merge">
          {list.data.map((c) => (
            <li key={key(c)}>
              <button type="button" aria-pressed={chosen === key(c)} onClick={() => setChosen(key(c))}>
                <code className="path">{key(c)}</code> <span className="muted">{c.heads.length} versions</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      {current && <MergeView key={key(current)} conflict={current} onDone={() => { setChosen(null); list.reload(); }} />}
    </section>
  );
}

function headName(h: ConflictHead): string {
  return `${h.authorName ?? h.author.slice(0, 8)}’s version`;
}

/** Both heads side by side (a line diff for text, a preview for images, facts otherwise); take one, keep both, or edit and save. */
function MergeView({ conflict, onDone }: { conflict: ConflictInfo; onDone: () => void }) {
  const target = `${conflict.folderId}/${conflict.path}`;
  const [a, b] = conflict.heads;
  const left = useCall('file.cat', a ? { target, version: a.versionId, maxBytes: PREVIEW_BYTES } : null, `${target}:${a?.versionId}`);
  const right = useCall('file.cat', b ? { target, version: b.versionId, maxBytes: PREVIEW_BYTES } : null, `${target}:${b?.versionId}`);
  const resolve = useAction('conflict.resolve');
  const [editing, setEditing] = useState(false);
  const [merged, setMerged] = useState('');
  const bothText = left.data?.encoding === 'utf8' && right.data?.encoding === 'utf8' && !left.data.truncated && !right.data.truncated;

  useEffect(() => {
    const preferred = conflict.heads.find((h) => h.preferred) ?? a;
    const text = preferred?.versionId === right.data?.versionId ? right.data?.data : left.data?.data;
    if (bothText && text !== undefined) setMerged(text);
  }, [bothText, left.data, right.data, conflict.heads, a]);

  const settle = async (params: { take: string } | { keepBoth: true } | { content: string }) => {
    if (await resolve.run({ target, ...params })) onDone();
  };

  if (!a || !b) return null;
  return (
    <article className="card merge" aria-labelledby="merge-title">
      <h2 id="merge-title">
        Merge <code className="path">{target}</code>
      </h2>
      {conflict.heads.length > 2 && <p className="muted">{conflict.heads.length} versions: the first two are compared here; keep both keeps every one.</p>}
      <div className="merge-heads">
        <HeadFacts head={a} />
        <HeadFacts head={b} />
      </div>
      <MergeBody left={left} right={right} />
      <div className="merge-actions" role="group" aria-label="Settle the conflict">
        <button type="button" onClick={() => void settle({ take: a.versionId })} disabled={resolve.pending}>Take {headName(a)}</button>
        <button type="button" onClick={() => void settle({ take: b.versionId })} disabled={resolve.pending}>Take {headName(b)}</button>
        <button type="button" onClick={() => void settle({ keepBoth: true })} disabled={resolve.pending}>Keep both</button>
        {bothText && (
          <button type="button" aria-expanded={editing} onClick={() => setEditing((x) => !x)}>
            {editing ? 'Hide the editor' : 'Edit the merged text'}
          </button>
        )}
      </div>
      {editing && bothText && (
        <div className="field">
          <label htmlFor="merged-text">Merged text</label>
          <textarea id="merged-text" value={merged} onChange={(e) => setMerged(e.target.value)} rows={14} spellCheck={false} />
          <button type="button" className="primary" onClick={() => void settle({ content: merged })} disabled={resolve.pending}>
            Save the merge
          </button>
        </div>
      )}
      <ActionStatus pending={resolve.pending} error={resolve.error} what="Merging" />
    </article>
  );
}

function HeadFacts({ head }: { head: ConflictHead }) {
  return (
    <dl className="facts head-facts" aria-label={headName(head)}>
      <dt>From</dt>
      <dd>{head.authorName ?? head.author.slice(0, 12)}{head.preferred ? ' (shown in the folder now)' : ''}</dd>
      <dt>Saved</dt>
      <dd>{formatTimestamp(head.createdAt)}</dd>
      <dt>Size</dt>
      <dd>{head.kind === 'tombstone' ? 'deleted' : formatBytes(head.size)}</dd>
      <dt>State</dt>
      <dd>{head.state}</dd>
    </dl>
  );
}

function MergeBody({ left, right }: { left: CallState<FileContent>; right: CallState<FileContent> }) {
  const problem = left.state === 'error' ? left.error : right.state === 'error' ? right.error : null;
  if (problem) return <CallProblem error={problem} what="Showing the two versions" />;
  if (!left.data || !right.data) return <p className="muted">Loading both versions…</p>;
  const l = previewOf(left.data);
  const r = previewOf(right.data);
  if (l.kind === 'text' && r.kind === 'text') return <TextDiff left={l.text} right={r.text} truncated={left.data.truncated || right.data.truncated} />;
  return (
    <div className="merge-heads">
      {[l, r].map((p, i) =>
        p.kind === 'image' ? (
          <img key={i} className="merge-image" src={p.url} alt={`Version ${i + 1}`} />
        ) : (
          <p key={i} className="muted">{p.kind === 'text' ? 'Text' : 'Binary content'}: compare the facts above.</p>
        ),
      )}
    </div>
  );
}

function TextDiff({ left, right, truncated }: { left: string; right: string; truncated: boolean }) {
  const rows = sideBySide(left, right);
  return (
    <div className="diff" role="table" aria-label="Line differences">
      {truncated && <p className="muted">Only the first {formatBytes(PREVIEW_BYTES)} are shown.</p>}
      {rows.map((row, i) => (
        <div role="row" className="diff-row" key={i}>
          {[row.left, row.right].map((c, j) => (
            <div role="cell" key={j} className={`diff-cell ${c.kind === 'empty' ? 'blank' : c.kind}`}>
              <span className="ln" aria-hidden="true">{c.line ?? ''}</span>
              <span className="visually-hidden">{c.kind === 'removed' ? 'only left: ' : c.kind === 'added' ? 'only right: ' : ''}</span>
              <code>{c.text}</code>
            </div>
          ))}
        </div>
      ))}
    </div>
  );
}
