import { useCanopy } from '../store-context.js';
import { AddFolderForm } from './AddFolderForm.js';
import { FolderTable } from './FolderTable.js';

/** The Folders view: the table, a scan of everything, and the add form. */
export function Folders({ pathForFile }: { pathForFile?: ((file: File) => string) | undefined }) {
  const scanAll = useCanopy((s) => s.scan);
  const scanningAll = useCanopy((s) => s.scanning['*'] === true);
  const anyAttached = useCanopy((s) => s.folders.some((f) => f.attached));
  return (
    <section aria-labelledby="folders-title">
      <div className="section-head">
        <h1 id="folders-title">Folders</h1>
        <button type="button" onClick={() => void scanAll()} disabled={!anyAttached || scanningAll}>
          {scanningAll ? 'Scanning all…' : 'Scan all'}
        </button>
      </div>
      <FolderTable />
      <AddFolderForm pathForFile={pathForFile} />
    </section>
  );
}
