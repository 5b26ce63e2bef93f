/**
 * The UI's entry: picks the transport (client.ts), makes the store, renders the app; or,
 * when there is no way to reach Canopy, says so and how to fix it.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { TrayPopover } from './components/TrayPopover.js';
import { connect, type Connection } from './client.js';
import { describeError, createCanopyStore } from './store.js';
import { StoreProvider } from './store-context.js';
import './styles.css';

function NoConnection({ error }: { error: unknown }) {
  const { code, message } = describeError(error);
  return (
    <main id="main" className="no-connection">
      <h1>Canopy is not connected</h1>
      <p role="alert">{message}</p>
      <p className="muted">
        <code>{code}</code>
      </p>
    </main>
  );
}

const rootElement = document.getElementById('root');
if (!rootElement) throw new Error('index.html has no #root element');

let connection: Connection | undefined;
let failure: unknown;
try {
  connection = connect();
} catch (err) {
  failure = err;
}

createRoot(rootElement).render(
  <StrictMode>
    {connection ? (
      <StoreProvider store={createCanopyStore(connection.client)}>
        {location.hash === '#tray' ? <TrayPopover /> : <App transport={connection.transport} pathForFile={connection.pathForFile} />}
      </StoreProvider>
    ) : (
      <NoConnection error={failure} />
    )}
  </StrictMode>,
);
