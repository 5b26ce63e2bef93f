import { useEffect, useState, type DragEvent } from 'react';
import iconUrl from '../../assets/icon.svg';
import type { Transport } from './client.js';
import { isAddFolderError, type FolderProposal } from './components/AddFolderForm.js';
import { Activity } from './components/Activity.js';
import { Conflicts } from './components/Conflicts.js';
import { Devices } from './components/Devices.js';
import { ErrorList } from './components/ErrorList.js';
import { Files } from './components/Files.js';
import { Folders } from './components/Folders.js';
import { Nav, VIEWS, type View } from './components/Nav.js';
import { Overview } from './components/Overview.js';
import { pathFromDrop } from './lib/drop.js';
import { useCanopy, useCanopyStore } from './store-context.js';
import { useCall } from './use-call.js';

export interface AppProps {
  transport: Transport;
  pathForFile?: ((file: File) => string) | undefined;
}

/** The view named by the address's hash (#files), so a reload or a link keeps the place. */
export function viewFromHash(hash: string): View {
  const name = hash.replace(/^#\/?/, '');
  return VIEWS.find((v) => v.id === name)?.id ?? 'overview';
}

export function App({ transport, pathForFile }: AppProps) {
  const store = useCanopyStore();
  const [view, setViewState] = useState<View>(() => viewFromHash(typeof location === 'undefined' ? '' : location.hash));
  const [proposal, setProposal] = useState<FolderProposal | null>(null);
  const [dragging, setDragging] = useState(false);
  useEffect(() => store.getState().start(), [store]);

  const setView = (v: View) => {
    setViewState(v);
    if (typeof history !== 'undefined') history.replaceState(history.state, '', `#${v}`);
  };
  const propose = (p: Omit<FolderProposal, 'seq'>) => {
    setProposal((old) => ({ ...p, seq: (old?.seq ?? 0) + 1 }));
    setView('folders');
  };

  // A folder dropped anywhere on the window is proposed for sharing in Folders.
  const onDragOver = (e: DragEvent) => {
    if (!e.dataTransfer.types.includes('Files') && !e.dataTransfer.types.includes('text/uri-list') && !e.dataTransfer.types.includes('text/plain')) return;
    if ((e.target as HTMLElement).closest('input, textarea')) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'link';
    setDragging(true);
  };
  const onDrop = (e: DragEvent) => {
    setDragging(false);
    if ((e.target as HTMLElement).closest('textarea')) return;
    e.preventDefault();
    const r = pathFromDrop(e.dataTransfer, pathForFile);
    propose(r.ok ? { path: r.path } : { problem: r.message });
  };

  return (
    <div className={`app${dragging ? ' dragging' : ''}`} onDragOver={onDragOver} onDragLeave={(e) => e.currentTarget === e.target && setDragging(false)} onDrop={onDrop}>
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header className="topbar">
        <div className="brand">
          <img src={iconUrl} alt="" width={24} height={24} />
          <span>Canopy</span>
        </div>
        <NavWithBadges view={view} onChange={setView} />
        <ConnectionBadge transport={transport} />
      </header>
      <ErrorList exclude={isAddFolderError} />
      <main id="main" tabIndex={-1}>
        {view === 'overview' && <Overview onShowFolders={() => setView('folders')} />}
        {view === 'folders' && <Folders proposal={proposal} canDrop={pathForFile !== undefined} onPropose={propose} />}
        {view === 'files' && <Files />}
        {view === 'devices' && <Devices />}
        {view === 'conflicts' && <Conflicts />}
        {view === 'activity' && <Activity />}
      </main>
      {dragging && (
        <div className="drop-hint" aria-hidden="true">
          Drop a folder to share it
        </div>
      )}
      <Announcer />
    </div>
  );
}

function NavWithBadges({ view, onChange }: { view: View; onChange: (v: View) => void }) {
  const rev = useCanopy((s) => s.rev.conflicts);
  const conflicts = useCall('conflicts', {}, String(rev));
  return <Nav view={view} onChange={onChange} badges={{ conflicts: conflicts.data?.length ?? 0 }} />;
}

function ConnectionBadge({ transport }: { transport: Transport }) {
  const connection = useCanopy((s) => s.connection);
  const name = useCanopy((s) => s.status?.device.name);
  const where = transport === 'electron' ? 'desktop app' : 'daemon';
  const text = connection === 'ready' ? `${name ?? 'Device'} · ${where}` : connection === 'connecting' ? 'Connecting…' : 'Not connected';
  return (
    <p className={`connection connection-${connection}`}>
      <span className="dot" aria-hidden="true" />
      {text}
    </p>
  );
}

/** Polite announcements (scan finished, folder added) for screen readers. */
function Announcer() {
  const announcement = useCanopy((s) => s.announcement);
  return (
    <p className="visually-hidden" role="status" aria-live="polite">
      {announcement}
    </p>
  );
}
