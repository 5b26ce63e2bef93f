import { useEffect, useId, useState, type FormEvent } from 'react';
import QRCode from 'qrcode';
import type { DeviceInfo, InviteInfo } from '../../../core/api/types.js';
import { formatTimestamp, formatWhen, labelPairs } from '../format.js';
import { useCanopy } from '../store-context.js';
import { useAction, useCall } from '../use-call.js';
import { useNow } from '../use-now.js';
import { ActionStatus, CallProblem } from './CallProblem.js';

/**
 * The Devices view: the mesh's devices (remove one), an invite for a new device (code,
 * canopy:// link and QR code), and joining another device's mesh with its code.
 */
export function Devices() {
  const rev = useCanopy((s) => s.rev.devices);
  const [joined, setJoined] = useState(0);
  const devices = useCall('device.list', {}, `${rev}:${joined}`);
  return (
    <section aria-labelledby="devices-title">
      <h1 id="devices-title">Devices</h1>
      {devices.state === 'error' && <CallProblem error={devices.error} what="Listing the devices" onRetry={devices.reload} />}
      {devices.data && <DeviceTable devices={devices.data} onChanged={devices.reload} />}
      <div className="cards two">
        <InviteCard />
        <JoinCard onJoined={() => setJoined((n) => n + 1)} />
      </div>
      <p className="muted small">
        A device’s name, labels and trust are changed on every device of the mesh. Labels (like <code>site=home</code>) feed the diversity rules of placement;
        a storage-only device never holds sensitive or critical folders and may only rename or relabel itself.
      </p>
    </section>
  );
}

function DeviceTable({ devices, onChanged }: { devices: DeviceInfo[]; onChanged: () => void }) {
  const now = useNow();
  const remove = useAction('device.remove');
  const [confirming, setConfirming] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const doRemove = async (d: DeviceInfo) => {
    setConfirming(null);
    if (await remove.run({ id: d.id })) onChanged();
  };
  return (
    <div className="table-scroll" role="region" aria-labelledby="device-caption" tabIndex={0}>
      <table className="folders devices">
        <caption id="device-caption" className="visually-hidden">Devices in this mesh</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Labels</th>
            <th scope="col">Trust</th>
            <th scope="col">ID</th>
            <th scope="col"><span className="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>
          {devices.map((d) => editing === d.id ? (
            <DeviceEditRow key={d.id} device={d} onDone={(changed) => { setEditing(null); if (changed) onChanged(); }} />
          ) : (
            <tr key={d.id} data-testid="device-row">
              <th scope="row">
                {d.name}
                {d.isLocal && <span className="muted"> (this device)</span>}
              </th>
              <td>
                {d.revokedAt !== null ? (
                  <span className="badge danger">removed</span>
                ) : d.isLocal || d.online ? (
                  <span className="badge ok">online</span>
                ) : (
                  <span title={formatTimestamp(d.lastSeen)}>offline, seen {formatWhen(d.lastSeen, now)}</span>
                )}
              </td>
              <td>{labelPairs(d.labels).join(', ') || <span className="muted">none</span>}</td>
              <td>{d.trust}</td>
              <td><code className="id">{d.id.slice(0, 12)}</code></td>
              <td className="col-actions">
                {d.revokedAt === null && <button type="button" onClick={() => setEditing(d.id)} aria-label={`Edit ${d.name}`}>Edit…</button>}
                {!d.isLocal && d.revokedAt === null && (confirming === d.id ? (
                  <span className="confirm">
                    <button type="button" className="danger" onClick={() => void doRemove(d)}>Remove {d.name} everywhere</button>
                    <button type="button" className="ghost" onClick={() => setConfirming(null)}>Cancel</button>
                  </span>
                ) : (
                  <button type="button" onClick={() => setConfirming(d.id)} aria-label={`Remove ${d.name}`}>Remove…</button>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <ActionStatus pending={remove.pending} error={remove.error} what="Removing the device" />
    </div>
  );
}

/** `site=home, power=ups` as labels; undefined when a pair is not key=value. */
export function parseLabels(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) return undefined;
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** One device's name, labels and trust as a form in its table row (`device.update`). */
function DeviceEditRow({ device, onDone }: { device: DeviceInfo; onDone: (changed: boolean) => void }) {
  const update = useAction('device.update');
  const [name, setName] = useState(device.name);
  const [labels, setLabels] = useState(labelPairs(device.labels).join(', '));
  const [trust, setTrust] = useState(device.trust);
  const parsed = parseLabels(labels);
  const formId = useId();
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!parsed || name.trim() === '') return;
    if (await update.run({ id: device.id, name: name.trim(), labels: parsed, trust })) onDone(true);
  };
  return (
    <tr data-testid="device-edit-row">
      <td colSpan={6}>
        <form id={formId} className="inline-form" onSubmit={(e) => void save(e)} aria-label={`Edit ${device.name}`}>
          <label>Name <input value={name} onChange={(e) => setName(e.target.value)} maxLength={255} required /></label>
          <label>Labels <input value={labels} onChange={(e) => setLabels(e.target.value)} placeholder="site=home, power=ups" aria-invalid={parsed === undefined} /></label>
          <label>Trust{' '}
            <select value={trust} onChange={(e) => setTrust(e.target.value as DeviceInfo['trust'])}>
              <option value="owner">owner</option>
              <option value="storage-only">storage-only</option>
            </select>
          </label>
          <button type="submit" className="primary" disabled={update.pending || parsed === undefined}>Save</button>
          <button type="button" className="ghost" onClick={() => onDone(false)}>Cancel</button>
          {parsed === undefined && <span role="alert" className="muted">Labels are key=value pairs separated by commas.</span>}
        </form>
        <ActionStatus pending={update.pending} error={update.error} what="Saving the device" />
      </td>
    </tr>
  );
}

/** The invite's link as a QR code: an SVG data URL (allowed by the page's CSP, no canvas needed). */
export async function qrDataUrl(text: string): Promise<string> {
  const svg = await QRCode.toString(text, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

function InviteCard() {
  const invite = useAction('invite.create');
  const [qr, setQr] = useState<string | null>(null);
  const now = useNow(5_000);
  const info: InviteInfo | null = invite.result;
  useEffect(() => {
    setQr(null);
    if (!info) return;
    let live = true;
    qrDataUrl(info.link).then((u) => live && setQr(u), () => live && setQr(null));
    return () => {
      live = false;
    };
  }, [info]);
  const expired = info !== null && info.expiresAt <= now;
  return (
    <article className="card" aria-labelledby="invite-title">
      <h2 id="invite-title">Add a device</h2>
      <p className="muted">Create a one-use code here, then type it (or open the link, or scan the code) on the new device.</p>
      <button type="button" className="primary" onClick={() => void invite.run({ expiresInMs: 15 * 60_000 })} disabled={invite.pending}>
        {info ? 'New invite' : 'Create invite'}
      </button>
      <ActionStatus pending={invite.pending} error={invite.error} what="Creating an invite" />
      {info && (
        <div className="invite">
          <dl className="facts">
            <dt>Code</dt>
            <dd><code className="invite-code" data-testid="invite-code">{info.code}</code></dd>
            <dt>Link</dt>
            <dd><code className="path">{info.link}</code></dd>
            <dt>Expires</dt>
            <dd className={expired ? 'warn' : undefined}>{expired ? 'expired: create a new one' : new Date(info.expiresAt).toLocaleTimeString()}</dd>
          </dl>
          {!info.listening && <p className="warn">No daemon runs for this device, so nobody can answer this code until one starts.</p>}
          {qr && <img className="qr" src={qr} width={180} height={180} alt={`QR code of the invite link ${info.link}`} />}
        </div>
      )}
    </article>
  );
}

function JoinCard({ onJoined }: { onJoined: () => void }) {
  const [code, setCode] = useState('');
  const join = useAction('mesh.join');
  const uid = useId();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const trimmed = code.trim();
    if (trimmed === '') return;
    if (await join.run({ code: trimmed })) {
      setCode('');
      onJoined();
    }
  };
  return (
    <form className="card" aria-labelledby={`${uid}-title`} onSubmit={(e) => void submit(e)} noValidate>
      <h2 id={`${uid}-title`}>Join a mesh</h2>
      <div className="field">
        <label htmlFor={`${uid}-code`}>Invite code from another device</label>
        <div className="field-row">
          <input id={`${uid}-code`} name="invite-code" value={code} onChange={(e) => setCode(e.target.value)} autoComplete="off" spellCheck={false} />
          <button type="submit" className="primary" disabled={join.pending || code.trim() === ''}>
            {join.pending ? 'Joining…' : 'Join'}
          </button>
        </div>
      </div>
      <ActionStatus pending={false} error={join.error} what="Joining" />
      {join.result && <p role="status">Joined: {join.result.devices.map((d) => d.name).join(', ')}.</p>}
    </form>
  );
}
