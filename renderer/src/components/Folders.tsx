import { useCanopy } from '../store-context.js';
import { AddFolderForm, type FolderProposal } from './AddFolderForm.js';
import { FolderTable } from './FolderTable.js';

/** The Folders view: the table (scan and sync progress), a scan of everything, and the share form. */
export function Folders({ proposal, canDrop, onPropose }: { proposal: FolderProposal | null; canDrop: boolean; onPropose: (p: Omit<FolderProposal, 'seq'>) => void }) {
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
      <FolderTable onAttach={(id) => onPropose({ id, path: '' })} />
      <AddFolderForm proposal={proposal} canDrop={canDrop} />
    </section>
  );
}
