/**
 * Invite codes: what one device shows and another types or pastes. 23 bytes (version,
 * a 128-bit one-use secret, the expiry, a 16-bit check) written as 37 base32 letters in
 * groups of five. The check catches typos and truncation locally, before any network;
 * the expiry lets the joiner refuse a stale code without asking anyone.
 */
import { blake3Hex } from '../chunking/hash.js';
import { CanopyError } from '../errors/index.js';

const VERSION = 1;
const SECRET_BYTES = 16;
const LENGTH = 1 + SECRET_BYTES + 4 + 2;
/** Letters of a code: 5 bits each, the last one padded with zero bits. */
const LETTERS = Math.ceil((LENGTH * 8) / 5);
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
export const LINK_PREFIX = 'canopy://join/';

export interface InviteCode {
  secret: Buffer;
  expiresAt: number;
}

export function encodeInvite(invite: InviteCode): string {
  const bytes = Buffer.alloc(LENGTH);
  bytes[0] = VERSION;
  invite.secret.copy(bytes, 1);
  bytes.writeUInt32BE(Math.floor(invite.expiresAt / 1000), 1 + SECRET_BYTES);
  checksum(bytes.subarray(0, LENGTH - 2)).copy(bytes, LENGTH - 2);
  return (base32(bytes).match(/.{1,5}/g) as string[]).join('-');
}

export function decodeInvite(text: string, now = Date.now()): InviteCode {
  const raw = text.trim().toLowerCase().replace(LINK_PREFIX, '').replace(/[\s-]/g, '');
  if (!/^[a-z2-7]*$/.test(raw)) throw new CanopyError('BAD_ARGUMENT', 'that is not an invite code: it has characters an invite never contains');
  const bytes = unbase32(raw);
  if (bytes.length > 0 && bytes[0] !== VERSION) throw new CanopyError('BAD_ARGUMENT', 'that is not a Canopy invite code (or it is from a newer version)');
  if (raw.length < LETTERS) throw new CanopyError('BAD_ARGUMENT', 'the invite code is incomplete (was it cut off when copied?)');
  // Extra letters would otherwise be dropped unseen: two codes pasted together, or a stray key.
  if (raw.length > LETTERS) throw new CanopyError('BAD_ARGUMENT', `the invite code has ${raw.length - LETTERS} letter${raw.length - LETTERS === 1 ? '' : 's'} too many (${LETTERS} expected)`);
  // A last letter whose padding bits are set decodes to the same bytes as the right one; the
  // check cannot see that, so each code has exactly one spelling.
  if (base32(bytes) !== raw) throw new CanopyError('BAD_ARGUMENT', 'the invite code is mistyped or damaged (its last letter is not one an invite ends with)');
  if (!checksum(bytes.subarray(0, LENGTH - 2)).equals(bytes.subarray(LENGTH - 2))) {
    throw new CanopyError('BAD_ARGUMENT', 'the invite code is mistyped or damaged (its check letters do not match)');
  }
  const expiresAt = bytes.readUInt32BE(1 + SECRET_BYTES) * 1000;
  if (expiresAt <= now) throw new CanopyError('BAD_ARGUMENT', `the invite expired at ${new Date(expiresAt).toISOString()}; ask for a new one with \`canopy invite\``);
  return { secret: Buffer.from(bytes.subarray(1, 1 + SECRET_BYTES)), expiresAt };
}

function checksum(data: Uint8Array): Buffer {
  return Buffer.from(blake3Hex(data).slice(0, 4), 'hex');
}

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    value = (value << 5) | ALPHABET.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}
