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
 * only addresses no internet host can hold are ever dialed (addresses.ts): a paired device
 * cannot make us connect anywhere on the internet.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import NoiseSecretStream from '@hyperswarm/secret-stream';
import type { SecretStream } from 'hyperswarm';
import type { Identity } from '../identity/index.js';
import { deviceIdFromPublicKey, toHyperKeyPair } from '../identity/index.js';
import type { PeerConnection } from './network.js';
import { ANY_HOST, ANY_IPV4_HOST, isLoopback, isPrivateAddress, lanAddresses } from './addresses.js';

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

/** An address a peer offered that this device may dial: a private address (addresses.ts) and a real port. */
export function dialable(a: DirectAddress): boolean {
  return Number.isInteger(a.port) && a.port >= 1 && a.port <= 65535 && typeof a.host === 'string' && isPrivateAddress(a.host);
}
