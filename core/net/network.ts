/**
 * The device's Hyperswarm node: finds the mesh's devices on the topic derived from the
 * mesh key, and pairing partners on an invite's topic. The firewall admits only paired
 * device keys, except while an invite is open (a stranger then gets the pairing channel
 * and nothing else, and is cut off if it does not pair quickly). Noise (secret-stream)
 * authenticates and encrypts every connection; a peer's device id is derived from the
 * public key it proved.
 */
import { EventEmitter } from 'node:events';
import Hyperswarm, { type PeerDiscovery, type SecretStream } from 'hyperswarm';
import DHT from 'hyperdht';
import type { Identity } from '../identity/index.js';
import { deviceIdFromPublicKey, toHyperKeyPair } from '../identity/index.js';
import { isLoopback, isPrivateAddress } from './addresses.js';

export interface NetworkOptions {
  identity: Identity;
  /** "host:port" DHT bootstrap nodes; empty: the public DHT. */
  bootstrap: readonly string[];
  isMember: (publicKey: Buffer) => boolean;
  /** True while this device has an open invite or is joining: strangers may connect to pair. */
  pairingOpen: () => boolean;
  maxPeers: number;
  log?: (line: string) => void;
}

export interface PeerConnection {
  stream: SecretStream;
  publicKey: Buffer;
  deviceId: string;
  member: boolean;
  /** A direct TCP link (direct.ts) rather than a Hyperswarm connection. */
  direct?: boolean;
}

export class Network extends EventEmitter<{ connection: [PeerConnection] }> {
  private swarm: Hyperswarm | undefined;
  private readonly topics = new Map<string, { server: boolean; client: boolean }>();
  private readonly discoveries = new Map<string, PeerDiscovery>();

  constructor(private readonly opts: NetworkOptions) {
    super();
  }

  get started(): boolean {
    return this.swarm !== undefined;
  }

  start(): void {
    if (this.swarm) return;
    const bootstrap = this.opts.bootstrap.map(parseHostPort);
    const keyPair = toHyperKeyPair(this.opts.identity);
    const dht = bootstrap.length > 0 ? new DHT({ bootstrap, keyPair, ...localDhtOptions(bootstrap) }) : undefined;
    this.swarm = new Hyperswarm({
      keyPair,
      ...(dht ? { dht } : {}),
      // One above the cap: at the cap the swarm may still dial (or accept) one more device,
      // and the sync service keeps the nearest and drops (bans) the farthest, so the set
      // converges on the nearest even when they never dial us.
      maxPeers: this.opts.maxPeers + 1,
      // true = reject. Rejected keys stay banned for the life of the swarm: see allow().
      firewall: (remotePublicKey) => {
        const reject = !this.opts.isMember(remotePublicKey) && !this.opts.pairingOpen();
        if (reject) this.opts.log?.(`firewall: refused unpaired device ${deviceIdFromPublicKey(remotePublicKey).slice(0, 8)}`);
        return reject;
      },
    });
    this.swarm.on('connection', (stream, info) => {
      if (process.env.CANOPY_DEBUG_NET) this.opts.log?.(`swarm connection ${deviceIdFromPublicKey(info.publicKey).slice(0, 8)}`);
      // An unhandled 'error' on a stream would crash the process; a dropped peer is normal.
      stream.on('error', (err: Error) => this.opts.log?.(`connection to ${deviceIdFromPublicKey(info.publicKey).slice(0, 8)}: ${err.message}`));
      const publicKey = Buffer.from(stream.remotePublicKey);
      this.emit('connection', { stream, publicKey, deviceId: deviceIdFromPublicKey(publicKey), member: this.opts.isMember(publicKey) });
    });
    for (const [hex, mode] of this.topics) this.discoveries.set(hex, this.swarm.join(Buffer.from(hex, 'hex'), mode));
  }

  join(topic: Buffer, mode: { server: boolean; client: boolean } = { server: true, client: true }): void {
    const hex = topic.toString('hex');
    this.topics.set(hex, mode);
    if (this.swarm) this.discoveries.set(hex, this.swarm.join(topic, mode));
  }

  /** Resolves once this device is announced on (or has looked up) the topic in the DHT. */
  async flushed(topic: Buffer, timeoutMs = 10_000): Promise<void> {
    const d = this.discoveries.get(topic.toString('hex'));
    if (!d) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([d.flushed(), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Looks the topic up again now (a partner may have announced after our first lookup). */
  refresh(topic: Buffer): void {
    void this.discoveries.get(topic.toString('hex'))?.refresh().catch(() => undefined);
  }

  async leave(topic: Buffer): Promise<void> {
    const hex = topic.toString('hex');
    this.topics.delete(hex);
    this.discoveries.delete(hex);
    await this.swarm?.leave(topic);
  }

  joined(topic: Buffer): boolean {
    return this.topics.has(topic.toString('hex'));
  }

  /** Lifts the ban Hyperswarm put on a key its firewall rejected, once that device is paired. */
  allow(publicKey: Buffer): void {
    this.swarm?.peers.get(publicKey.toString('hex'))?.ban(false);
  }

  /**
   * Keeps the swarm from connecting to this device, either way, until allow(): its
   * PeerInfo is banned (Hyperswarm neither dials nor accepts a banned key, nor retries it),
   * and its connections are closed.
   */
  refuse(publicKey: Buffer): void {
    this.swarm?.peers.get(publicKey.toString('hex'))?.ban(true);
    this.disconnect(publicKey);
  }

  /** Looks every joined topic up again (the swarm dials the devices it finds and may connect to). */
  refreshAll(): void {
    for (const d of this.discoveries.values()) void d.refresh().catch(() => undefined);
  }

  /** Drops every connection to a device (it was removed from the mesh). */
  disconnect(publicKey: Buffer): void {
    for (const conn of this.swarm?.connections ?? []) {
      if (Buffer.from(conn.remotePublicKey).equals(publicKey)) conn.destroy();
    }
  }

  connectionCount(): number {
    return this.swarm?.connections.size ?? 0;
  }

  /** For a laptop going to sleep: stop connecting, keep state. */
  async suspend(): Promise<void> {
    await this.swarm?.suspend();
  }

  async resume(): Promise<void> {
    await this.swarm?.resume();
  }

  async stop(): Promise<void> {
    const swarm = this.swarm;
    this.swarm = undefined;
    if (!swarm) return;
    for (const conn of swarm.connections) conn.destroy();
    await swarm.destroy();
  }
}

/**
 * DHT options for a private network (`canopy testnet` on loopback, or a bootstrap node at
 * a private address: a LAN's, or a VPN mesh's such as Tailscale's): every device there is
 * directly reachable, so the node says so (firewalled: false). Left to find that out
 * itself, a new node believes it is behind a NAT, and the first connections to it stall
 * until they time out and are retried (~15 s). On loopback the node must also bind to
 * loopback, or the address it announces is unreachable.
 */
export function localDhtOptions(bootstrap: readonly { host: string }[]): { host?: string; firewalled?: boolean } {
  // No bootstrap nodes: the public DHT, where none of this holds.
  if (bootstrap.length === 0) return {};
  const loopback = bootstrap.every((b) => b.host === 'localhost' || isLoopback(b.host));
  if (loopback) return { host: '127.0.0.1', firewalled: false };
  const privateLan = bootstrap.every((b) => isPrivateAddress(b.host));
  return privateLan ? { firewalled: false } : {};
}

export function parseHostPort(value: string): { host: string; port: number } {
  const at = value.lastIndexOf('@');
  const hp = at >= 0 ? value.slice(at + 1) : value;
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
}
