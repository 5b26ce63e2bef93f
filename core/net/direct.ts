/**
 * Direct links: a plain TCP connection between two paired devices on the same network,
 * carrying the same Noise-encrypted stream (secret-stream, the handshake Hyperswarm uses)
 * and the same sync channel as a Hyperswarm connection.
 *
 * Why: Hyperswarm's UDP transport (UDX) costs about one CPU core per side for ~120 MiB/s
 * on this class of machine, while TCP on a LAN (or loopback) is limited by the wire and the
 * disk. Like Syncthing's LAN connections, devices that can reach each other directly move
 * bulk data over TCP; Hyperswarm stays for discovery, for devices across NATs, and as the
 * fallback the moment a direct link drops.
 *
 * Trust is the same as on Hyperswarm: the Noise handshake proves each side's device key,
 * and a key that is not a paired device (or, when dialing, not the device we meant to
 * reach) is cut off before a single sync message is read. Addresses come from peers, so
 * only addresses no internet host can hold are ever dialed (see DIALABLE): a paired device
 * cannot make us connect anywhere on the internet.
 */
import net from 'node:net';
import os from 'node:os';
import { EventEmitter } from 'node:events';
import NoiseSecretStream from '@hyperswarm/secret-stream';
import type { SecretStream } from 'hyperswarm';
import type { Identity } from '../identity/index.js';
import { deviceIdFromPublicKey, toHyperKeyPair } from '../identity/index.js';
import type { PeerConnection } from './network.js';

export interface DirectAddress {
  host: string;
  port: number;
}

export interface DirectOptions {
  identity: Identity;
  isMember: (publicKey: Buffer) => boolean;
  /** Address to listen on: a loopback address on a loopback testnet (nothing else is reachable or advertised), ANY_HOST on a LAN. */
  bindHost: string;
  /** 0: any free port. */
  port: number;
  log?: (line: string) => void;
  /** Keep-alive period and the silence after which a link is dropped (defaults: KEEP_ALIVE_MS, SILENT_LIMIT_MS; shorter in tests). */
  keepAliveMs?: number;
  silentLimitMs?: number;
}

/** A peer may offer at most this many addresses; more is a protocol error. */
export const MAX_DIRECT_ADDRESSES = 8;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const DIAL_TIMEOUT_MS = 3_000;
/** Unfinished handshakes at once; more are refused (a stranger flooding the port costs little). */
const MAX_PENDING_HANDSHAKES = 32;
/** An idle link sends a keep-alive this often (secret-stream's empty message)... */
const KEEP_ALIVE_MS = 5_000;
/**
 * ...so a link that has received nothing for this long is dead (a laptop that left the
 * network, a machine that lost power): dropped, and the session falls back to Hyperswarm.
 * TCP alone would take many minutes to notice.
 */
const SILENT_LIMIT_MS = 20_000;

export class DirectLinks extends EventEmitter<{ connection: [PeerConnection] }> {
  private server: net.Server | undefined;
  private readonly streams = new Set<SecretStream>();
  private pending = 0;

  constructor(private readonly opts: DirectOptions) {
    super();
  }

  private get keepAliveMs(): number {
    return this.opts.keepAliveMs ?? KEEP_ALIVE_MS;
  }

  get listening(): boolean {
    return this.server?.listening === true;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    server.on('error', (err) => this.opts.log?.(`direct links: ${err.message}`));
    const listen = (host: string) =>
      new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        server.once('listening', () => resolve(undefined));
        // A port in use is not fatal: the device syncs over Hyperswarm alone.
        server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
        server.listen(this.opts.port, host);
      });
    const err = await listen(this.opts.bindHost);
    // A machine with IPv6 turned off cannot listen on '::'; its IPv4 addresses still can.
    if (err && this.opts.bindHost === ANY_HOST && err.code === 'EAFNOSUPPORT') await listen(ANY_IPV4_HOST);
    if (!server.listening) {
      this.opts.log?.(`direct links: could not listen on ${this.opts.bindHost}:${this.opts.port}; syncing over Hyperswarm only`);
      this.server = undefined;
    }
  }

  /** Where peers can reach this device directly (none when not listening). */
  addresses(): DirectAddress[] {
    const addr = this.server?.address();
    if (!addr || typeof addr === 'string') return [];
    const hosts = isLoopback(this.opts.bindHost) ? [this.opts.bindHost] : lanAddresses();
    return hosts.slice(0, MAX_DIRECT_ADDRESSES).map((host) => ({ host, port: addr.port }));
  }

  /**
   * Connects to a paired device at the addresses it offered, first that answers. Resolves
   * true once the link is up (a 'connection' event was emitted), false if none worked.
   */
  async dial(publicKey: Buffer, addresses: readonly DirectAddress[]): Promise<boolean> {
    for (const a of addresses.filter(dialable)) {
      const link = await this.connectOne(publicKey, a).catch((err: unknown) => {
        this.opts.log?.(`direct link to ${deviceIdFromPublicKey(publicKey).slice(0, 8)} at ${a.host}:${a.port} failed: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      });
      if (link) {
        this.admit(link);
        return true;
      }
    }
    return false;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.streams) s.destroy();
    this.streams.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Drops every direct link (a laptop going to sleep); the listener stays. */
  disconnectAll(): void {
    for (const s of this.streams) s.destroy();
  }

  /** Drops the direct links to one device (removed from the mesh, or over the peer cap). */
  disconnect(publicKey: Buffer): void {
    for (const s of this.streams) if (Buffer.from(s.remotePublicKey).equals(publicKey)) s.destroy();
  }

  private accept(socket: net.Socket): void {
    if (this.pending >= MAX_PENDING_HANDSHAKES) return void socket.destroy();
    this.pending++;
    const stream = secure(false, socket, this.opts.identity, this.keepAliveMs);
    void handshake(stream).then(
      () => {
        this.pending--;
        const key = Buffer.from(stream.remotePublicKey);
        if (!this.opts.isMember(key)) {
          this.opts.log?.(`direct links: refused unpaired device ${deviceIdFromPublicKey(key).slice(0, 8)} from ${socket.remoteAddress ?? '?'}`);
          return void stream.destroy();
        }
        this.admit({ stream, socket });
      },
      () => {
        this.pending--;
        stream.destroy();
      },
    );
  }

  private async connectOne(publicKey: Buffer, a: DirectAddress): Promise<{ stream: SecretStream; socket: net.Socket }> {
    const socket = net.connect({ host: a.host, port: a.port });
    socket.on('error', () => undefined); // surfaced through the handshake below
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer')), DIAL_TIMEOUT_MS);
      socket.once('connect', () => (clearTimeout(timer), resolve()));
      socket.once('error', (err) => (clearTimeout(timer), reject(err)));
    }).catch((err: unknown) => {
      socket.destroy();
      throw err;
    });
    const stream = secure(true, socket, this.opts.identity, this.keepAliveMs);
    try {
      await handshake(stream);
    } catch (err) {
      stream.destroy();
      throw err;
    }
    // Whoever answers at that address must be the device that offered it.
    if (!Buffer.from(stream.remotePublicKey).equals(publicKey)) {
      stream.destroy();
      throw new Error(`another device (${deviceIdFromPublicKey(Buffer.from(stream.remotePublicKey)).slice(0, 8)}) answered`);
    }
    return { stream, socket };
  }

  private admit({ stream, socket }: { stream: SecretStream; socket: net.Socket }): void {
    const publicKey = Buffer.from(stream.remotePublicKey);
    const deviceId = deviceIdFromPublicKey(publicKey);
    this.streams.add(stream);
    stream.on('error', (err: Error) => this.opts.log?.(`direct link to ${deviceId.slice(0, 8)}: ${err.message}`));
    const limit = this.opts.silentLimitMs ?? SILENT_LIMIT_MS;
    let heard = Date.now();
    socket.on('data', () => void (heard = Date.now()));
    const watchdog = setInterval(() => {
      if (Date.now() - heard < limit) return;
      this.opts.log?.(`direct link to ${deviceId.slice(0, 8)}: nothing heard for ${limit / 1000} s; dropping it`);
      stream.destroy();
    }, this.keepAliveMs);
    watchdog.unref();
    stream.on('close', () => {
      clearInterval(watchdog);
      this.streams.delete(stream);
    });
    this.emit('connection', { stream, publicKey, deviceId, member: true, direct: true });
  }
}

function secure(initiator: boolean, socket: net.Socket, identity: Identity, keepAliveMs: number): SecretStream {
  // Large chunk frames: no Nagle delay on the small request frames in between.
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 15_000);
  return new NoiseSecretStream(initiator, socket, { keyPair: toHyperKeyPair(identity), keepAlive: keepAliveMs }) as unknown as SecretStream;
}

/** Resolves once the Noise handshake completed; rejects on a failed or slow one. */
function handshake(stream: SecretStream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('handshake timed out')), HANDSHAKE_TIMEOUT_MS);
    timer.unref();
    stream.on('error', () => undefined);
    void stream.opened.then((ok) => {
      clearTimeout(timer);
      if (ok) resolve();
      else reject(new Error('handshake failed'));
    });
  });
}

/** Listens on every address, IPv6 and IPv4 (Linux, macOS and Windows accept both on '::'). */
export const ANY_HOST = '::';
const ANY_IPV4_HOST = '0.0.0.0';

/**
 * The addresses a peer may make this device dial: ones no host on the internet can hold.
 * - IPv4 private networks (RFC 1918), link-local (169.254/16) and loopback;
 * - the shared address space 100.64/10 (RFC 6598): carrier NAT, and the addresses VPN
 *   meshes such as Tailscale give each device, so devices on one tailnet link directly;
 * - IPv6 unique local addresses (fc00::/7, which VPN meshes use too) and loopback.
 * IPv6 link-local addresses (fe80::/10) are left out: dialing one needs the name of the
 * local interface it is on, which the peer cannot know. A BlockList also matches an
 * IPv4-mapped IPv6 address (::ffff:10.0.0.1) against the IPv4 ranges.
 */
const DIALABLE = new net.BlockList();
for (const [network, prefix] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16], ['100.64.0.0', 10], ['127.0.0.0', 8]] as const) {
  DIALABLE.addSubnet(network, prefix, 'ipv4');
}
DIALABLE.addSubnet('fc00::', 7, 'ipv6');
DIALABLE.addAddress('::1', 'ipv6');

/** Whether `host` is an IP address (not a name) that DIALABLE admits. */
function isDialableHost(host: string): boolean {
  const family = net.isIP(host);
  return family !== 0 && DIALABLE.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** This machine's addresses that peers on its networks may dial (IPv4 first: every LAN has it). */
export function lanAddresses(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string[] {
  const out: { host: string; v6: boolean }[] = [];
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) if (!i.internal && isDialableHost(i.address)) out.push({ host: i.address, v6: i.family === 'IPv6' });
  }
  return out.sort((x, y) => Number(x.v6) - Number(y.v6)).map((x) => x.host);
}

/** An address a peer offered that this device may dial: an IP address in DIALABLE and a real port. */
export function dialable(a: DirectAddress): boolean {
  return Number.isInteger(a.port) && a.port >= 1 && a.port <= 65535 && typeof a.host === 'string' && isDialableHost(a.host);
}

function isLoopback(host: string): boolean {
  return net.isIPv4(host) ? host.startsWith('127.') : host === '::1';
}
