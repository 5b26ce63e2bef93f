/**
 * The pairing conversation on one connection, either side: the joiner proves it holds the
 * invite and gets the mesh key and device list; the inviter proves it holds the invite too
 * (so a stranger on the invite's topic cannot hand out a fake mesh). A refusal carries its
 * reason to the other side; a silent or slow partner is dropped.
 */
import Protomux from 'protomux';
import { CanopyError } from '../errors/index.js';
import type { PeerConnection } from '../net/network.js';
import { pairCodecs, PAIR_PROTOCOL, type JoinRequest, type Refusal, type Welcome } from '../net/messages.js';

const PAIRING_TIMEOUT_MS = 20_000;

export interface InviterSide {
  admit(req: JoinRequest, joinerKey: Buffer): Welcome;
  onAdmitted(conn: PeerConnection): void;
  onRefused(conn: PeerConnection, reason: string): void;
}

/** Answers one stranger's join request. */
export function answerPairing(conn: PeerConnection, inviter: InviterSide): void {
  const channel = Protomux.from(conn.stream).createChannel({ protocol: PAIR_PROTOCOL, unique: true });
  if (!channel) return;
  const timer = setTimeout(() => conn.stream.destroy(), PAIRING_TIMEOUT_MS);
  let done = false;
  // Messages are numbered in the order they are added: join, welcome, refusal on both sides.
  const messages = {
    join: channel.addMessage<JoinRequest>({ encoding: pairCodecs.join, onmessage: (req) => onJoin(req) }),
    welcome: channel.addMessage<Welcome>({ encoding: pairCodecs.welcome, onmessage: () => void conn.stream.destroy() }),
    refusal: channel.addMessage<Refusal>({ encoding: pairCodecs.refusal, onmessage: () => void conn.stream.destroy() }),
  };
  const onJoin = (req: JoinRequest) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    let answer: Welcome;
    try {
      answer = inviter.admit(req, conn.publicKey);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      messages.refusal.send({ reason });
      inviter.onRefused(conn, reason);
      setTimeout(() => conn.stream.destroy(), 500).unref();
      return;
    }
    messages.welcome.send(answer);
    channel.close();
    inviter.onAdmitted(conn);
  };
  channel.open();
}

/** The joiner's side on one connection: resolves with the welcome or rejects with the refusal. */
export function requestPairing(conn: PeerConnection, req: JoinRequest): Promise<Welcome> {
  return new Promise<Welcome>((resolve, reject) => {
    const channel = Protomux.from(conn.stream).createChannel({
      protocol: PAIR_PROTOCOL,
      unique: true,
      onclose: () => reject(new CanopyError('IO_ERROR', 'the inviting device closed the connection before answering')),
    });
    if (!channel) return reject(new CanopyError('CONFLICT', 'pairing already in progress on this connection'));
    const timer = setTimeout(() => {
      conn.stream.destroy();
      reject(new CanopyError('IO_ERROR', 'the inviting device did not answer in time'));
    }, PAIRING_TIMEOUT_MS);
    const join = channel.addMessage({ encoding: pairCodecs.join, onmessage: () => undefined });
    channel.addMessage<Welcome>({
      encoding: pairCodecs.welcome,
      onmessage: (w) => {
        clearTimeout(timer);
        resolve(w);
      },
    });
    channel.addMessage<Refusal>({
      encoding: pairCodecs.refusal,
      onmessage: (r) => {
        clearTimeout(timer);
        reject(new CanopyError('UNAUTHORIZED', `the inviting device refused: ${r.reason.slice(0, 300)}`));
        conn.stream.destroy();
      },
    });
    channel.open();
    join.send(req);
  });
}
