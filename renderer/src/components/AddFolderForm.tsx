import { useId, useState, type DragEvent, type FormEvent } from 'react';
import { useCanopy } from '../store-context.js';
import type { UiError } from '../store.js';

export const ADD_FOLDER_ACTION = 'Add a folder';
export const isAddFolderError = (e: UiError): boolean => e.action === ADD_FOLDER_ACTION;

/**
 * Adds a folder by its path. In the desktop app a folder can also be dropped on the field
 * (the bridge turns the dropped File into its path). Its errors show next to the field.
 */
export function AddFolderForm({ pathForFile }: { pathForFile?: ((file: File) => string) | undefined }) {
  const [path, setPath] = useState('');
  const adding = useCanopy((s) => s.adding);
  const addFolder = useCanopy((s) => s.addFolder);
  const errors = useCanopy((s) => s.errors);
  const dismiss = useCanopy((s) => s.dismissError);
  const error = errors.findLast(isAddFolderError);
  const id = useId();

  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    for (const old of errors.filter(isAddFolderError)) dismiss(old.id);
    if (await addFolder(path)) setPath('');
  }

  function drop(e: DragEvent<HTMLInputElement>) {
    const file = e.dataTransfer.files[0];
    if (!pathForFile || !file) return;
    const dropped = pathForFile(file);
    if (dropped) {
      e.preventDefault();
      setPath(dropped);
    }
  }

  return (
    <form className="card add-folder" onSubmit={(e) => void submit(e)} aria-labelledby={`${id}-title`} noValidate>
      <h2 id={`${id}-title`}>Add folder</h2>
      <div className="field">
        <label htmlFor={`${id}-path`}>Folder path</label>
        <div className="field-row">
          <input
            id={`${id}-path`}
            name="path"
            type="text"
            value={path}
            onChange={(e) => setPath(e.target.value)}
            onDrop={drop}
            placeholder="/home/me/Documents"
            autoComplete="off"
            spellCheck={false}
            aria-describedby={`${id}-hint${error ? ` ${id}-error` : ''}`}
            aria-invalid={error ? true : undefined}
          />
          <button type="submit" className="primary" disabled={adding}>
            {adding ? 'Adding…' : 'Add folder'}
          </button>
        </div>
        <p id={`${id}-hint`} className="hint">
          The full path of a folder on this device{pathForFile ? ', or drop the folder here' : ''}.
        </p>
        <p id={`${id}-error`} className="field-error" role="alert">
          {error ? `${error.message} (${error.code})` : ''}
        </p>
      </div>
    </form>
  );
}
