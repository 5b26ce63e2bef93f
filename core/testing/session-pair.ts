/**
 * A real PeerSession on one end of an in-memory Noise stream pair, and a scripted peer on
 * the other (the hostile peer's message set, so a test can send anything): the session's
 * protocol without a network. `rawA` is the session's side of the raw pipe, for tests that
 * watch what it writes.
 */
import { duplexPair, type Duplex } from 'node:stream';
import NoiseSecretStream from '@hyperswarm/secret-stream';
import type { SecretStream } from 'hyperswarm';
import Protomux from 'protomux';
import { PROTOCOL_VERSION, SYNC_PROTOCOL, type ErrorMessage } from '../net/messages.js';
import { RateLimiter } from '../sync/rate-limit.js';
import { PeerSession, type SessionHandlers } from '../sync/session.js';
import { hostileMessages, type HostileReceive, type HostileSend } from './hostile-peer.js';
import { waitFor } from './index.js';

export interface ScriptedPair {
  session: PeerSession;
  /** What the scripted peer sends with. */
  send: HostileSend;
  /** Error messages the session sent the peer. */
  peerErrors: ErrorMessage[];
  /** The session's log lines. */
  logs: string[];
  rawA: Duplex;
  close(): void;
}

/** `receive` says what the scripted peer does with each message; it may send through `peer.send()`. */
export async function sessionWithScriptedPeer(
  receive: (peer: { send(): HostileSend }) => HostileReceive, handlers: Partial<SessionHandlers> = {},
): Promise<ScriptedPair> {
  const [rawA, rawB] = duplexPair();
  const a = new NoiseSecretStream(true, rawA);
  const b = new NoiseSecretStream(false, rawB);
  for (const s of [a, b]) s.on('error', () => undefined);
  const logs: string[] = [];
  const session = new PeerSession({ stream: a as unknown as SecretStream, publicKey: Buffer.alloc(32), deviceId: 'peer', member: true }, {
    hello: () => ({ protocol: PROTOCOL_VERSION, deviceId: 'asker', name: 'asker', labels: {}, vector: [], storeMaxBytes: 0, storeUsedBytes: 0 }),
    onHello: () => undefined, onEntries: () => undefined, onVector: () => undefined, onClose: () => undefined,
    serveChunk: async () => undefined, log: (line) => logs.push(line),
    ...handlers,
  }, new RateLimiter(0));
  const channel = Protomux.from(b as unknown as SecretStream).createChannel({ protocol: SYNC_PROTOCOL, unique: true });
  if (!channel) throw new Error('no channel');
  const peerErrors: ErrorMessage[] = [];
  let send: HostileSend | undefined;
  const on = receive({ send: () => send as HostileSend });
  send = hostileMessages(channel, {
    ...on,
    error: (e) => {
      peerErrors.push(e);
      on.error?.(e);
    },
  });
  channel.open();
  send.hello.send({ protocol: PROTOCOL_VERSION, deviceId: 'peer', name: 'peer', labels: {}, vector: [], storeMaxBytes: 0, storeUsedBytes: 0 });
  await waitFor(() => session.hello !== undefined, 'the session to hear the peer\'s hello');
  return { session, send, peerErrors, logs, rawA, close: () => {
    session.close();
    a.destroy();
    b.destroy();
  } };
}
