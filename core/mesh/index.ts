/**
 * The mesh: the set of this person's paired devices. Owns the secret mesh key (from which
 * the Hyperswarm topic is derived), invites (one use, expiring), the pairing handshake's
 * checks on both sides, and membership changes as signed 'device' log entries so every
 * device learns of joins and removals, even through relays.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/index.js';
import type { ChangeLog } from '../log/index.js';
import { deviceIdFromPublicKey, type Identity } from '../identity/index.js';
import { CanopyError } from '../errors/index.js';
import type { DeviceRecord, JoinRequest, Welcome } from '../net/messages.js';
import { decodeInvite, encodeInvite, LINK_PREFIX } from './invite-code.js';
import { deviceEntry } from '../log/ingest.js';

export interface DeviceInfo {
  id: string;
  publicKey: Buffer;
  name: string;
  labels: Record<string, string>;
  trust: 'owner' | 'storage-only';
  isLocal: boolean;
  lastSeen: number | null;
  addedAt: number;
  revokedAt: number | null;
}

/** What `update` changes; an absent field keeps its value. */
export interface DeviceChange {
  name?: string | undefined;
  labels?: Record<string, string> | undefined;
  trust?: 'owner' | 'storage-only' | undefined;
}

export interface CreatedInvite {
  id: string;
  code: string;
  link: string;
  expiresAt: number;
}

export interface ActiveInvite {
  id: string;
  secret: Buffer;
  topic: Buffer;
  expiresAt: number;
  usedBy: string | null;
}

interface DeviceRow {
  id: string;
  public_key: Buffer;
  name: string;
  labels: string;
  trust: 'owner' | 'storage-only';
  is_local: number;
  last_seen: number | null;
  added_at: number;
  revoked_at: number | null;
}

export const meshTopic = (meshKey: Uint8Array) => createHash('sha256').update('canopy-mesh-topic').update(meshKey).digest();
export const inviteTopic = (secret: Uint8Array) => createHash('sha256').update('canopy-invite-topic').update(secret).digest();
const inviteId = (secret: Uint8Array) => createHash('sha256').update('canopy-invite-id').update(secret).digest('hex').slice(0, 16);

/** Binds the proof to both ends of this very connection, so it cannot be replayed elsewhere. */
export function pairingProof(secret: Uint8Array, role: 'join' | 'welcome', from: Uint8Array, to: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`canopy-${role}`).update(from).update(to).digest();
}

export class Mesh {
  constructor(private readonly db: Db, private readonly identity: Identity, private readonly log: ChangeLog) {}

  key(): Buffer | undefined {
    const row = this.db.prepare('SELECT mesh_key FROM mesh WHERE id = 1').get() as { mesh_key: Buffer } | undefined;
    return row?.mesh_key;
  }

  topic(): Buffer | undefined {
    const k = this.key();
    return k ? meshTopic(k) : undefined;
  }

  /** Creates the mesh on its first device (when it first invites someone). */
  ensure(): Buffer {
    const existing = this.key();
    if (existing) return existing;
    const key = randomBytes(32);
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO mesh (id, mesh_key, created_at, created_by) VALUES (1, ?, ?, ?)').run(key, Date.now(), this.identity.deviceId);
      const self = this.device(this.identity.deviceId);
      if (self) this.logDevice('add', self);
    })();
    return key;
  }

  createInvite(ttlMs: number): CreatedInvite {
    if (!(ttlMs > 0) || ttlMs > 30 * 86_400_000) throw new CanopyError('BAD_ARGUMENT', 'an invite must expire within 30 days');
    this.ensure();
    const secret = randomBytes(16);
    const expiresAt = Date.now() + ttlMs;
    const id = inviteId(secret);
    this.db.prepare('INSERT INTO invites (id, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?)').run(id, secret.toString('hex'), Date.now(), expiresAt);
    const code = encodeInvite({ secret, expiresAt });
    return { id, code, link: `${LINK_PREFIX}${code}`, expiresAt };
  }

  /** Invites the daemon listens for: unexpired ones, used or not (a reuse gets a clear refusal). */
  activeInvites(now = Date.now()): ActiveInvite[] {
    const rows = this.db.prepare('SELECT id, secret_hash, expires_at, used_by FROM invites WHERE expires_at > ?').all(now) as { id: string; secret_hash: string; expires_at: number; used_by: string | null }[];
    return rows.map((r) => {
      const secret = Buffer.from(r.secret_hash, 'hex');
      return { id: r.id, secret, topic: inviteTopic(secret), expiresAt: r.expires_at, usedBy: r.used_by };
    });
  }

  /**
   * The inviter's side of pairing: checks the joiner's proof and the invite, admits the
   * device (a signed 'device add' entry) and returns what it needs to join the mesh.
   */
  admit(req: JoinRequest, joinerKey: Buffer, now = Date.now()): Welcome {
    const invite = this.db.prepare('SELECT id, secret_hash, expires_at, used_at, used_by FROM invites WHERE id = ?').get(req.inviteId) as
      { id: string; secret_hash: string; expires_at: number; used_at: number | null; used_by: string | null } | undefined;
    if (!invite) throw new CanopyError('UNAUTHORIZED', 'unknown invite');
    const secret = Buffer.from(invite.secret_hash, 'hex');
    const expected = pairingProof(secret, 'join', joinerKey, this.identity.publicKey);
    if (req.proof.length !== 32 || !timingSafeEqual(Buffer.from(req.proof), expected)) throw new CanopyError('UNAUTHORIZED', 'the invite proof does not match (forged or wrong invite)');
    const joinerId = deviceIdFromPublicKey(joinerKey);
    if (invite.used_at !== null && invite.used_by !== joinerId) throw new CanopyError('UNAUTHORIZED', `this invite was already used (by device ${invite.used_by?.slice(0, 8)})`);
    if (invite.expires_at <= now) throw new CanopyError('UNAUTHORIZED', 'this invite has expired');
    const revoked = this.device(joinerId)?.revokedAt;
    if (revoked) throw new CanopyError('UNAUTHORIZED', 'this device was removed from the mesh and cannot rejoin with an invite');
    const trust = req.trust === 'storage-only' ? 'storage-only' : 'owner';
    this.db.transaction(() => {
      this.db.prepare('UPDATE invites SET used_at = ?, used_by = ? WHERE id = ?').run(now, joinerId, invite.id);
      const device: DeviceInfo = { id: joinerId, publicKey: joinerKey, name: req.name.slice(0, 255) || joinerId.slice(0, 8), labels: req.labels, trust, isLocal: false, lastSeen: now, addedAt: now, revokedAt: null };
      this.upsertDevice(device);
      this.logDevice('add', device);
    })();
    return {
      proof: pairingProof(secret, 'welcome', this.identity.publicKey, joinerKey),
      meshKey: this.ensure(),
      devices: this.devices().filter((d) => !d.revokedAt).map((d) => ({ id: d.id, publicKey: d.publicKey, name: d.name, labels: d.labels, trust: d.trust })),
    };
  }

  /** The joiner's side: checks the inviter knew the secret too, then stores the mesh. */
  accept(welcome: Welcome, secret: Buffer, inviterKey: Buffer): void {
    const expected = pairingProof(secret, 'welcome', inviterKey, this.identity.publicKey);
    if (welcome.proof.length !== 32 || !timingSafeEqual(Buffer.from(welcome.proof), expected)) {
      throw new CanopyError('UNAUTHORIZED', 'the device that answered does not hold this invite; not joining');
    }
    if (this.key() && !this.key()?.equals(Buffer.from(welcome.meshKey))) throw new CanopyError('CONFLICT', 'this device already belongs to another mesh');
    this.db.transaction(() => {
      this.db.prepare('INSERT OR IGNORE INTO mesh (id, mesh_key, created_at, created_by) VALUES (1, ?, ?, ?)').run(Buffer.from(welcome.meshKey), Date.now(), deviceIdFromPublicKey(inviterKey));
      for (const d of welcome.devices.slice(0, 1000)) this.learnDevice(d);
    })();
  }

  static decodeCode(code: string): { secret: Buffer; expiresAt: number; id: string; topic: Buffer } {
    const { secret, expiresAt } = decodeInvite(code);
    return { secret, expiresAt, id: inviteId(secret), topic: inviteTopic(secret) };
  }

  devices(): DeviceInfo[] {
    return (this.db.prepare('SELECT * FROM devices ORDER BY is_local DESC, name').all() as DeviceRow[]).map(toDevice);
  }

  device(id: string): DeviceInfo | undefined {
    const row = this.db.prepare('SELECT * FROM devices WHERE id = ?').get(id) as DeviceRow | undefined;
    return row ? toDevice(row) : undefined;
  }

  /** A device that may connect: paired and not revoked. */
  isMember(publicKey: Uint8Array): boolean {
    const row = this.db.prepare('SELECT revoked_at FROM devices WHERE public_key = ?').get(Buffer.from(publicKey)) as { revoked_at: number | null } | undefined;
    return row !== undefined && row.revoked_at === null;
  }

  /** Revokes a device everywhere: a signed entry every device applies. */
  remove(id: string): DeviceInfo {
    const d = this.find(id);
    if (d.isLocal) throw new CanopyError('BAD_ARGUMENT', 'this is the device you are on; remove it from another device');
    if (d.revokedAt) return d;
    const now = Date.now();
    this.db.transaction(() => {
      this.db.prepare('UPDATE devices SET revoked_at = ? WHERE id = ?').run(now, d.id);
      this.logDevice('remove', d);
    })();
    return { ...d, revokedAt: now };
  }

  /**
   * Renames, relabels or re-trusts a device everywhere: a signed 'update' entry every device
   * applies, last writer wins. The same rule as ingest (core/log/ingest.ts applyDevice): an
   * owner device may change any device; a storage-only one may only rename or relabel itself.
   * `labels` replaces the whole set. Unchanged fields keep their values.
   */
  update(id: string, change: DeviceChange, now = Date.now()): DeviceInfo {
    const d = this.find(id);
    if (d.revokedAt) throw new CanopyError('CONFLICT', `device "${d.name}" was removed from the mesh; it cannot be changed`);
    const next = { ...d, name: change.name ?? d.name, labels: change.labels ?? d.labels, trust: change.trust ?? d.trust };
    const me = this.device(this.identity.deviceId);
    const selfUpdate = d.isLocal && next.trust === d.trust;
    if (me?.trust !== 'owner' && !selfUpdate) {
      throw new CanopyError('UNAUTHORIZED', 'this is a storage-only device: it may only rename or relabel itself; change other devices from an owner device');
    }
    this.db.transaction(() => {
      // The entry is built (and checked against the peers' schema) before the row changes.
      this.log.append('device', (seq) => deviceEntry({ op: 'update', publicKey: d.publicKey, name: next.name, labels: next.labels, trust: next.trust }, this.identity.deviceId, seq, now));
      this.db.prepare('UPDATE devices SET name = ?, labels = ?, trust = ?, updated_at = ?, updated_by = ? WHERE id = ?')
        .run(next.name, JSON.stringify(next.labels), next.trust, now, this.identity.deviceId, d.id);
    })();
    return next;
  }

  /** A device by id or by an unambiguous prefix of at least 4 characters. */
  find(id: string): DeviceInfo {
    const exact = this.device(id);
    if (exact) return exact;
    const matches = id.length >= 4 ? this.devices().filter((x) => x.id.startsWith(id)) : [];
    if (matches.length > 1) throw new CanopyError('BAD_ARGUMENT', `"${id}" matches ${matches.length} devices; give more of the id`);
    if (!matches[0]) throw new CanopyError('NOT_FOUND', `no device with id "${id}" (see \`canopy devices\`)`);
    return matches[0];
  }

  touch(id: string, now = Date.now()): void {
    this.db.prepare('UPDATE devices SET last_seen = ? WHERE id = ?').run(now, id);
  }

  private learnDevice(d: DeviceRecord): void {
    const pk = Buffer.from(d.publicKey);
    if (deviceIdFromPublicKey(pk) !== d.id) return; // a record that does not add up is ignored
    this.db.prepare(`INSERT INTO devices (id, public_key, name, labels, trust, is_local, added_at) VALUES (?, ?, ?, ?, ?, 0, ?)
      ON CONFLICT (id) DO NOTHING`).run(d.id, pk, d.name.slice(0, 255), JSON.stringify(d.labels), d.trust === 'storage-only' ? 'storage-only' : 'owner', Date.now());
  }

  private upsertDevice(d: DeviceInfo): void {
    this.db.prepare(`INSERT INTO devices (id, public_key, name, labels, trust, is_local, last_seen, added_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, labels = excluded.labels, trust = excluded.trust, revoked_at = NULL`)
      .run(d.id, d.publicKey, d.name, JSON.stringify(d.labels), d.trust, d.lastSeen, d.addedAt);
  }

  private logDevice(op: 'add' | 'remove', d: DeviceInfo): void {
    this.log.append('device', (seq) => deviceEntry({ op, publicKey: d.publicKey, name: d.name, labels: d.labels, trust: d.trust }, this.identity.deviceId, seq));
  }
}

function toDevice(r: DeviceRow): DeviceInfo {
  return {
    id: r.id, publicKey: r.public_key, name: r.name, labels: JSON.parse(r.labels) as Record<string, string>, trust: r.trust,
    isLocal: r.is_local === 1, lastSeen: r.last_seen, addedAt: r.added_at, revokedAt: r.revoked_at,
  };
}
