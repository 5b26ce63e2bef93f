import type { DeviceInfo } from '../../../core/api/types.js';
import { formatBytes, formatCount, formatWhen, labelPairs, storeUsage } from '../format.js';
import { deviceBars, type DeviceBar, formatEta, formatRate, healthWords } from '../lib/words.js';
import { useCanopy } from '../store-context.js';
import { useCall } from '../use-call.js';
import { useNow } from '../use-now.js';
import { CallProblem } from './CallProblem.js';
import { StorageBar } from './StorageBar.js';
import { UsageMeter } from './UsageMeter.js';

/** The mesh at a glance: every device with its storage bar, replication health, sync, folders. */
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

  const files = folders.reduce((n, f) => n + f.files, 0);
  const bytes = folders.reduce((n, f) => n + f.bytes, 0);
  const problems = folders.reduce((n, f) => n + f.problems, 0);
  const health = healthWords(status.health);

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <div className="cards">
        <article className="card" aria-labelledby="health-title">
          <h2 id="health-title">Mesh health</h2>
          <p className={`health health-${health.level}`} data-testid="health">{health.text}</p>
          <SyncLine />
        </article>
        <article className="card" aria-labelledby="store-title">
          <h2 id="store-title">This device’s store</h2>
          <UsageMeter id="store-usage" usage={storeUsage(status.store)} />
          <dl className="facts">
            <dt>Chunks</dt>
            <dd>{formatCount(status.store.chunks)}</dd>
            <dt>Quarantined</dt>
            <dd className={status.store.quarantined > 0 ? 'warn' : undefined}>{formatCount(status.store.quarantined)}</dd>
            <dt>Free on disk</dt>
            <dd>{formatBytes(status.store.diskFreeBytes)}</dd>
          </dl>
        </article>
        <article className="card" aria-labelledby="folders-card-title">
          <h2 id="folders-card-title">Folders</h2>
          <p className="big-number">{formatCount(folders.length)}</p>
          <p className="muted">
            {formatCount(files)} {files === 1 ? 'file' : 'files'}, {formatBytes(bytes)}
            {problems > 0 && <span className="warn">, {formatCount(problems)} {problems === 1 ? 'problem' : 'problems'}</span>}
          </p>
          <button type="button" onClick={onShowFolders}>Show folders</button>
        </article>
      </div>
      <DeviceCards />
    </section>
  );
}

function SyncLine() {
  const sync = useCanopy((s) => s.status?.sync ?? null);
  if (!sync) return <p className="muted">Not syncing: no daemon runs for this device.</p>;
  if (sync.paused) return <p className="warn">Syncing is paused.</p>;
  const peers = sync.peers.length;
  const needed = sync.folders.reduce((n, f) => n + f.neededFiles, 0);
  const neededBytes = sync.folders.reduce((n, f) => n + f.neededBytes, 0);
  const line = peers === 0 ? (sync.meshed ? 'No other device is reachable right now.' : 'Not paired with another device yet.') : `Connected to ${formatCount(peers)} ${peers === 1 ? 'device' : 'devices'}.`;
  return (
    <p className="muted" data-testid="sync-line">
      {line}{' '}
      {needed > 0 ? `Receiving ${formatCount(needed)} files (${formatBytes(neededBytes)}) at ${formatRate(sync.rateIn)}${sync.etaSeconds !== null ? `, ${formatEta(sync.etaSeconds)}` : ''}.` : peers > 0 ? 'Everything is up to date.' : ''}
    </p>
  );
}

function DeviceCards() {
  const rev = useCanopy((s) => s.rev.devices);
  const quotaRev = useCanopy((s) => s.rev.quota);
  const status = useCanopy((s) => s.status);
  const devices = useCall('device.list', {}, `d${rev}`);
  const quota = useCall('quota.get', {}, `q${quotaRev}`);
  const now = useNow();

  return (
    <section aria-labelledby="devices-overview-title" className="device-overview">
      <h2 id="devices-overview-title">Devices</h2>
      {devices.state === 'error' && <CallProblem error={devices.error} what="Listing the devices" onRetry={devices.reload} />}
      {devices.state === 'loading' && !devices.data && <p className="muted">Loading the devices…</p>}
      {quota.state === 'error' && (
        <p className="muted small">Storage breakdown: {quota.error.code === 'NOT_IMPLEMENTED' ? 'not available yet on this device (quota.get); showing the store total.' : quota.error.message}</p>
      )}
      {devices.data && (
        <ul className="device-cards">
          {devices.data.filter((d) => d.revokedAt === null).map((d) => (
            <DeviceCard key={d.id} device={d} bar={deviceBars([d], status?.health ?? null, quota.data, status?.store ?? null).get(d.id)} now={now}
              link={status?.sync?.peers.find((p) => p.deviceId === d.id)?.link} />
          ))}
        </ul>
      )}
    </section>
  );
}

/** How a connected device is reached, in words: a direct link on this network, or Hyperswarm (anywhere). */
const LINK_WORDS = { direct: 'direct link', hyperswarm: 'over Hyperswarm' } as const;

function DeviceCard({ device: d, bar, now, link }: { device: DeviceInfo; bar: DeviceBar | undefined; now: number; link: keyof typeof LINK_WORDS | undefined }) {
  const labels = labelPairs(d.labels);
  const state = d.isLocal ? 'this device' : d.online ? 'online' : `offline, last seen ${formatWhen(d.lastSeen, now)}`;
  return (
    <li className="card device-card" aria-label={`${d.name}, ${state}`}>
      <div className="device-head">
        <span className={`dot ${d.isLocal || d.online ? 'on' : 'off'}`} aria-hidden="true" />
        <strong>{d.name}</strong>
        <span className="muted">{state}</span>
        {link && !d.isLocal && <span className="badge" title={link === 'direct' ? 'Reached over a direct TCP link on this network' : 'Reached through Hyperswarm'}>{LINK_WORDS[link]}</span>}
        {bar?.full && <span className="badge danger">full</span>}
      </div>
      {labels.length > 0 && (
        <ul className="chips" aria-label={`Labels of ${d.name}`}>
          {labels.map((l) => (
            <li key={l} className="chip">{l}</li>
          ))}
        </ul>
      )}
      <StorageBar segments={bar?.segments ?? []} known={bar?.known ?? 'none'} label={`Storage of ${d.name}`} />
    </li>
  );
}
