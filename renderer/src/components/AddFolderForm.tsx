import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { DataClass, FolderMode, Priority } from '../../../core/api/types.js';
import { useCanopy } from '../store-context.js';
import type { UiError } from '../store.js';

export const ADD_FOLDER_ACTION = 'Add a folder';
export const isAddFolderError = (e: UiError): boolean => e.action === ADD_FOLDER_ACTION;

/** What a drop on the window (or "Attach here" on a folder of another device) puts in the form. */
export interface FolderProposal {
  /** Changes with every proposal so the same path dropped twice still lands. */
  seq: number;
  path?: string;
  id?: string;
  /** Why the drop gave no path, shown by the field. */
  problem?: string;
}

export const PRIORITIES: readonly Priority[] = ['critical', 'high', 'normal', 'low', 'expendable'];
const CLASSES: readonly DataClass[] = ['standard', 'critical', 'sensitive', 'public'];
const MODES: readonly FolderMode[] = ['full', 'on-demand'];

/**
 * Shares a folder: its path (typed, or dropped anywhere on the window), and optionally
 * its mode, priority, data class and the id of a folder another device already shares.
 * Its errors show next to the field.
 */
export function AddFolderForm({ proposal, canDrop }: { proposal: FolderProposal | null; canDrop: boolean }) {
  const [path, setPath] = useState('');
  const [id, setFolderId] = useState('');
  const [mode, setMode] = useState<FolderMode>('full');
  const [priority, setPriority] = useState<Priority>('normal');
  const [dataClass, setDataClass] = useState<DataClass>('standard');
  const [dropProblem, setDropProblem] = useState('');
  const adding = useCanopy((s) => s.adding);
  const addFolder = useCanopy((s) => s.addFolder);
  const errors = useCanopy((s) => s.errors);
  const dismiss = useCanopy((s) => s.dismissError);
  const error = errors.findLast(isAddFolderError);
  const uid = useId();
  const pathInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (!proposal) return;
    if (proposal.path !== undefined) setPath(proposal.path);
    if (proposal.id !== undefined) setFolderId(proposal.id);
    setDropProblem(proposal.problem ?? '');
    pathInput.current?.focus();
  }, [proposal]);

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    for (const old of errors.filter(isAddFolderError)) dismiss(old.id);
    setDropProblem('');
    const options = { mode, priority, dataClass, ...(id.trim() !== '' ? { id: id.trim() } : {}) };
    if (await addFolder(path, options)) {
      setPath('');
      setFolderId('');
    }
  }

  const problem = error ? `${error.message} (${error.code})` : dropProblem;
  return (
    <form className="card add-folder" onSubmit={(e) => void submit(e)} aria-labelledby={`${uid}-title`} noValidate>
      <h2 id={`${uid}-title`}>Share a folder</h2>
      <div className="field">
        <label htmlFor={`${uid}-path`}>Folder path</label>
        <div className="field-row">
          <input
            ref={pathInput}
            id={`${uid}-path`}
            name="path"
            type="text"
            value={path}
            onChange={(e) => setPath(e.target.value)}
            placeholder="/home/me/Documents"
            autoComplete="off"
            spellCheck={false}
            aria-describedby={`${uid}-hint ${uid}-error`}
            aria-invalid={problem ? true : undefined}
          />
          <button type="submit" className="primary" disabled={adding}>
            {adding ? 'Sharing…' : 'Share folder'}
          </button>
        </div>
        <p id={`${uid}-hint`} className="hint">
          {canDrop ? 'Drop a folder anywhere on the window, or type its full path.' : 'Type the full path of a folder on the device Canopy runs on (a path or file:// link dropped on the page fills it in).'}
        </p>
        <p id={`${uid}-error`} className="field-error" role="alert">
          {problem}
        </p>
      </div>
      <div className="field-grid">
        <Select label="Mode" value={mode} options={MODES} onChange={setMode} hint="full keeps every file here; on-demand fetches files when opened" />
        <Select label="Priority" value={priority} options={PRIORITIES} onChange={setPriority} hint="more copies for higher priorities" />
        <Select label="Data class" value={dataClass} options={CLASSES} onChange={setDataClass} hint="which devices may hold it" />
        <div className="field">
          <label htmlFor={`${uid}-id`}>Folder ID (optional)</label>
          <input id={`${uid}-id`} name="folder-id" type="text" value={id} onChange={(e) => setFolderId(e.target.value)} autoComplete="off" spellCheck={false} aria-describedby={`${uid}-id-hint`} />
          <p id={`${uid}-id-hint`} className="hint">the ID of a folder another device shares, to receive it here</p>
        </div>
      </div>
    </form>
  );
}

function Select<T extends string>({ label, value, options, onChange, hint }: { label: string; value: T; options: readonly T[]; onChange: (v: T) => void; hint: string }) {
  const uid = useId();
  return (
    <div className="field">
      <label htmlFor={uid}>{label}</label>
      <select id={uid} value={value} onChange={(e) => onChange(e.target.value as T)} aria-describedby={`${uid}-hint`}>
        {options.map((o) => (
          <option key={o} value={o}>{o}</option>
        ))}
      </select>
      <p id={`${uid}-hint`} className="hint">{hint}</p>
    </div>
  );
}
