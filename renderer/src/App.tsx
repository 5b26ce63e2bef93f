import { useEffect, useState } from 'react';
import iconUrl from '../../assets/icon.svg';
import type { Transport } from './client.js';
import { isAddFolderError } from './components/AddFolderForm.js';
import { ErrorList } from './components/ErrorList.js';
import { Folders } from './components/Folders.js';
import { Nav, type View } from './components/Nav.js';
import { Overview } from './components/Overview.js';
import { useCanopy, useCanopyStore } from './store-context.js';

export interface AppProps {
  transport: Transport;
  pathForFile?: ((file: File) => string) | undefined;
}

export function App({ transport, pathForFile }: AppProps) {
  const store = useCanopyStore();
  const [view, setView] = useState<View>('overview');
  useEffect(() => store.getState().start(), [store]);

  return (
    <div className="app">
      <a className="skip-link" href="#main">Skip to content</a>
      <header className="topbar">
        <div className="brand">
          <img src={iconUrl} alt="" width={24} height={24} />
          <span>Canopy</span>
        </div>
        <Nav view={view} onChange={setView} />
        <ConnectionBadge transport={transport} />
      </header>
      <ErrorList exclude={isAddFolderError} />
      <main id="main" tabIndex={-1}>
        {view === 'overview' ? <Overview onShowFolders={() => setView('folders')} /> : <Folders pathForFile={pathForFile} />}
      </main>
      <Announcer />
    </div>
  );
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
