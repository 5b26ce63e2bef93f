import { formatBytes, formatCount, labelPairs, storeUsage } from '../format.js';
import { useCanopy } from '../store-context.js';
import { UsageMeter } from './UsageMeter.js';

/** This device at a glance: who it is, how full its chunk store is, how many folders. */
export function Overview({ onShowFolders }: { onShowFolders: () => void }) {
  const status = useCanopy((s) => s.status);
  const folders = useCanopy((s) => s.folders);
  const connection = useCanopy((s) => s.connection);

  if (!status) {
    return (
      <section aria-labelledby="overview-title" aria-busy={connection === 'connecting'}>
        <h1 id="overview-title">Overview</h1>
        <p className="muted">{connection === 'connecting' ? 'Loading the device status…' : 'The device status could not be loaded.'}</p>
      </section>
    );
  }

  const labels = labelPairs(status.device.labels);
  const usage = storeUsage(status.store);
  const files = folders.reduce((n, f) => n + f.files, 0);
  const bytes = folders.reduce((n, f) => n + f.bytes, 0);
  const problems = folders.reduce((n, f) => n + f.problems, 0);

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <div className="cards">
        <article className="card" aria-labelledby="device-title">
          <h2 id="device-title">This device</h2>
          <dl className="facts">
            <dt>Name</dt>
            <dd>{status.device.name}</dd>
            <dt>Device ID</dt>
            <dd>
              <code className="id">{status.device.id}</code>
            </dd>
            <dt>Labels</dt>
            <dd>
              {labels.length === 0 ? (
                <span className="muted">none</span>
              ) : (
                <ul className="chips" aria-label="Device labels">
                  {labels.map((l) => (
                    <li key={l} className="chip">{l}</li>
                  ))}
                </ul>
              )}
            </dd>
            <dt>Home</dt>
            <dd>
              <code className="path">{status.home}</code>
            </dd>
            <dt>Version</dt>
            <dd>{status.version}</dd>
          </dl>
        </article>

        <article className="card" aria-labelledby="store-title">
          <h2 id="store-title">Chunk store</h2>
          <UsageMeter id="store-usage" usage={usage} />
          <dl className="facts">
            <dt>Chunks</dt>
            <dd>{formatCount(status.store.chunks)}</dd>
            <dt>Quarantined</dt>
            <dd className={status.store.quarantined > 0 ? 'warn' : undefined}>{formatCount(status.store.quarantined)}</dd>
            <dt>Free on disk</dt>
            <dd>{formatBytes(status.store.diskFreeBytes)}</dd>
            <dt>Versions</dt>
            <dd>{formatCount(status.versions)}</dd>
          </dl>
        </article>

        <article className="card" aria-labelledby="folders-card-title">
          <h2 id="folders-card-title">Folders</h2>
          <p className="big-number">{formatCount(folders.length)}</p>
          <p className="muted">
            {formatCount(files)} files, {formatBytes(bytes)}
            {problems > 0 && <span className="warn">, {formatCount(problems)} {problems === 1 ? 'problem' : 'problems'}</span>}
          </p>
          <button type="button" onClick={onShowFolders}>Show folders</button>
        </article>
      </div>
    </section>
  );
}
