/**
 * Type declarations for the parts of the Holepunch modules Canopy uses (they ship no
 * types). Kept to what we call, so the compiler checks our side of each edge.
 */
declare module 'hyperdht' {
  import type { EventEmitter } from 'node:events';
  export interface KeyPair { publicKey: Buffer; secretKey: Buffer }
  export interface DHTOptions {
    bootstrap?: { host: string; port: number }[] | string[];
    host?: string;
    port?: number;
    ephemeral?: boolean;
    firewalled?: boolean;
    keyPair?: KeyPair;
  }
  export default class DHT extends EventEmitter {
    constructor(opts?: DHTOptions);
    static keyPair(seed?: Buffer): KeyPair;
    readonly destroyed: boolean;
    ready(): Promise<void>;
    fullyBootstrapped(): Promise<void>;
    address(): { host: string; port: number };
    destroy(): Promise<void>;
  }
}

declare module 'hyperdht/testnet.js' {
  import type DHT from 'hyperdht';
  interface Testnet {
    nodes: DHT[];
    bootstrap: { host: string; port: number }[];
    createNode(opts?: object): DHT;
    destroy(): Promise<void>;
  }
  export default function createTestnet(size?: number, opts?: { host?: string; port?: number; bootstrap?: { host: string; port: number }[] }): Promise<Testnet>;
}

declare module 'hyperswarm' {
  import type { EventEmitter } from 'node:events';
  import type { Duplex } from 'node:stream';
  import type DHT from 'hyperdht';
  import type { KeyPair } from 'hyperdht';

  export interface SecretStream extends Duplex {
    readonly remotePublicKey: Buffer;
    readonly publicKey: Buffer;
    readonly handshakeHash: Buffer;
    readonly rawStream: { remoteHost?: string; remotePort?: number };
    /** Resolves once everything written so far was acknowledged by the remote (false if the stream closed first). */
    flush(): Promise<boolean>;
    /** Resolves true once the Noise handshake completed, false if the stream closed first. */
    readonly opened: Promise<boolean>;
  }
  export interface PeerInfo {
    publicKey: Buffer;
    client: boolean;
    topics: Buffer[];
    ban(banned?: boolean): void;
  }
  export interface PeerDiscovery {
    flushed(): Promise<void>;
    refresh(opts?: { client?: boolean; server?: boolean }): Promise<void>;
    destroy(): Promise<void>;
  }
  export interface SwarmOptions {
    keyPair?: KeyPair;
    dht?: DHT;
    bootstrap?: { host: string; port: number }[];
    maxPeers?: number;
    firewall?: (remotePublicKey: Buffer, payload?: unknown) => boolean;
  }
  export default class Hyperswarm extends EventEmitter {
    constructor(opts?: SwarmOptions);
    readonly dht: DHT;
    readonly keyPair: KeyPair;
    readonly connections: Set<SecretStream>;
    readonly peers: Map<string, PeerInfo>;
    readonly destroyed: boolean;
    readonly suspended: boolean;
    join(topic: Buffer, opts?: { server?: boolean; client?: boolean }): PeerDiscovery;
    leave(topic: Buffer): Promise<void>;
    joinPeer(publicKey: Buffer): void;
    leavePeer(publicKey: Buffer): void;
    flush(): Promise<void>;
    listen(): Promise<void>;
    suspend(): Promise<void>;
    resume(): Promise<void>;
    destroy(): Promise<void>;
    on(event: 'connection', listener: (conn: SecretStream, info: PeerInfo) => void): this;
    on(event: 'update', listener: () => void): this;
  }
}

declare module 'protomux' {
  import type { Duplex } from 'node:stream';
  export interface Encoding<T> {
    preencode(state: { start: number; end: number; buffer: Uint8Array | null }, value: T): void;
    encode(state: { start: number; end: number; buffer: Uint8Array | null }, value: T): void;
    decode(state: { start: number; end: number; buffer: Uint8Array | null }): T;
  }
  export interface Message<T> {
    send(value: T): boolean;
  }
  export interface Channel {
    readonly opened: boolean;
    readonly closed: boolean;
    readonly drained: boolean;
    open(handshake?: unknown): void;
    close(): void;
    cork(): void;
    uncork(): void;
    addMessage<T>(opts: { encoding: Encoding<T>; onmessage: (value: T) => void | Promise<void> }): Message<T>;
  }
  export default class Protomux {
    constructor(stream: Duplex);
    static from(stream: Duplex): Protomux;
    createChannel(opts: {
      protocol: string;
      id?: Buffer | null;
      unique?: boolean;
      handshake?: Encoding<unknown>;
      onopen?: (handshake: unknown) => void | Promise<void>;
      onclose?: (isRemote: boolean) => void | Promise<void>;
      ondrain?: () => void;
    }): Channel | null;
    /** Called when the remote opens a channel of this protocol that we have not opened. */
    pair(opts: { protocol: string; id?: Buffer | null }, notify: (id: Buffer | null) => void | Promise<void>): void;
    unpair(opts: { protocol: string; id?: Buffer | null }): void;
    opened(opts: { protocol: string; id?: Buffer | null }): boolean;
    destroy(err?: Error): void;
  }
}

declare module '@hyperswarm/secret-stream' {
  import type { Duplex } from 'node:stream';
  import type { KeyPair } from 'hyperdht';
  /** The Noise stream Hyperswarm's connections are; used directly over TCP for direct links. */
  export default class NoiseSecretStream extends Duplex {
    constructor(isInitiator: boolean, rawStream: Duplex, opts?: { keyPair?: KeyPair; remotePublicKey?: Buffer; keepAlive?: number });
    readonly remotePublicKey: Buffer;
    readonly opened: Promise<boolean>;
  }
}
