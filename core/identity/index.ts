/**
 * A device's identity: its ed25519 key pair, the device id derived from it, and signing.
 *
 * Owns `<home>/identity.json` (created once by `canopy init`, private to the user) and the
 * key formats other layers need: raw 32-byte keys for our own protocol, and libsodium's
 * 64-byte secret key (seed || public key) for Hyperswarm/HyperDHT.
 */

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { blake3 } from '@napi-rs/blake-hash';
import { asBuffer } from '../chunking/hash.js';
import { CanopyError, errnoCode, fromFsError, isCanopyError } from '../errors/index.js';
import { writeFileAtomic } from '../config/atomic.js';

export const IDENTITY_FILE = 'identity.json';

export interface Identity {
  /** 32 lowercase base32 characters; see deviceIdFromPublicKey. */
  deviceId: string;
  /** Raw 32-byte ed25519 public key. */
  publicKey: Buffer;
  /** Raw 32-byte ed25519 secret seed. Never log or send it. */
  secretSeed: Buffer;
}

/** On-disk format. `deviceId` is redundant but lets a person see which device a file is. */
interface IdentityFile {
  version: 1;
  type: 'ed25519';
  deviceId: string;
  publicKey: string;
  secretSeed: string;
  createdAt: string;
}

// DER wrappers that turn raw ed25519 keys into what Node's crypto accepts (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function identityPath(home: string): string {
  return join(home, IDENTITY_FILE);
}

// ---------------------------------------------------------------------------------------
// Device ids

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32, lowercase, no padding. */
function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

/**
 * The device id: base32 of the first 20 bytes of BLAKE3(publicKey). 160 bits is plenty to
 * avoid collisions among one person's devices, and 32 case-insensitive characters survive
 * being read aloud, typed, or used as a file name on any OS.
 */
export function deviceIdFromPublicKey(pk: Uint8Array): string {
  if (!(pk instanceof Uint8Array) || pk.length !== 32) throw new RangeError(`an ed25519 public key is 32 bytes, got ${pk instanceof Uint8Array ? pk.length : typeof pk}`);
  return base32(blake3(asBuffer(pk)).subarray(0, 20));
}

const DEVICE_ID_RE = /^[a-z2-7]{32}$/;

/** Whether `s` has the shape of a device id (for checking user input such as `canopy pair <id>`). */
export function isDeviceId(s: unknown): s is string {
  return typeof s === 'string' && DEVICE_ID_RE.test(s);
}

/** First 8 characters, for display; 40 bits keeps accidental clashes among a few devices negligible. */
export function shortDeviceId(id: string): string {
  return id.slice(0, 8);
}

// ---------------------------------------------------------------------------------------
// Creating and loading

/** Builds an identity from a 32-byte secret seed (deterministic; used for tests and imports). */
export function identityFromSeed(seed: Uint8Array): Identity {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new RangeError('an ed25519 secret seed is 32 bytes');
  const secretSeed = Buffer.from(seed);
  const key = privateKeyFromSeed(secretSeed);
  const publicKey = rawPublicKey(key);
  const id: Identity = { deviceId: deviceIdFromPublicKey(publicKey), publicKey, secretSeed };
  signingKeys.set(id, { seed: Buffer.from(secretSeed), key });
  return id;
}

/**
 * Creates a new key pair in `home` (created with mode 0700 if needed). Throws
 * ALREADY_INITIALIZED rather than ever replacing an existing identity: losing it would
 * orphan this device from the others.
 */
export function createIdentity(home: string): Identity {
  const file = identityPath(home);
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    if (process.platform !== 'win32') chmodSync(home, 0o700);
  } catch (err) {
    throw fromFsError(err, 'creating', home);
  }
  if (existsQuiet(file)) throw alreadyInitialized(home, file);

  const { privateKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const identity = identityFromSeed(seed);
  const content: IdentityFile = {
    version: 1,
    type: 'ed25519',
    deviceId: identity.deviceId,
    publicKey: identity.publicKey.toString('hex'),
    secretSeed: identity.secretSeed.toString('hex'),
    createdAt: new Date().toISOString(),
  };
  // exclusive: if another `init` raced us, keep its identity and report it.
  if (!writeFileAtomic(file, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600, exclusive: true })) throw alreadyInitialized(home, file);
  return identity;
}

/** Reads `<home>/identity.json`, refusing files other users could read. */
export function loadIdentity(home: string): Identity {
  const file = identityPath(home);
  let mode: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw bad(file, 'is not a regular file');
    mode = st.mode & 0o777;
  } catch (err) {
    if (isCanopyError(err)) throw err;
    if (errnoCode(err) === 'ENOENT') {
      throw new CanopyError('NOT_INITIALIZED', `${home} is not a Canopy home (no ${IDENTITY_FILE}); run \`canopy init\` to set this device up`, { home, path: file });
    }
    throw fromFsError(err, 'reading', file);
  }
  // Windows has no POSIX modes (Node reports 0666); its ACLs are out of scope here.
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw bad(
      file,
      `can be accessed by other users (mode ${mode.toString(8).padStart(4, '0')}) but holds this device's secret key; fix with: chmod 600 ${shellQuote(file)}`,
      { mode },
    );
  }

  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw fromFsError(err, 'reading', file);
  }
  return parseIdentityFile(text, file);
}

function parseIdentityFile(text: string, file: string): Identity {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw bad(file, `is not valid JSON (${err instanceof Error ? err.message : String(err)}); restore it from a backup`);
  }
  if (typeof data !== 'object' || data === null) throw bad(file, 'is not a JSON object; restore it from a backup');
  const rec = data as Partial<Record<keyof IdentityFile, unknown>>;
  if (rec.version !== 1) throw bad(file, `has unsupported version ${JSON.stringify(rec.version)} (expected 1)`);
  if (rec.type !== 'ed25519') throw bad(file, `has unsupported key type ${JSON.stringify(rec.type)} (expected "ed25519")`);
  const hex32 = (name: 'publicKey' | 'secretSeed'): Buffer => {
    const v = rec[name];
    if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) throw bad(file, `${name}: expected 64 hex characters`);
    return Buffer.from(v, 'hex');
  };
  const publicKey = hex32('publicKey');
  const identity = identityFromSeed(hex32('secretSeed'));
  // A mismatch means the file was edited or corrupted; signing with it would confuse every peer.
  if (!identity.publicKey.equals(publicKey)) throw bad(file, 'publicKey does not belong to secretSeed; the file is corrupt, restore it from a backup');
  if (rec.deviceId !== undefined && rec.deviceId !== identity.deviceId) throw bad(file, `deviceId ${JSON.stringify(rec.deviceId)} does not match the key (expected ${identity.deviceId})`);
  return identity;
}

function bad(file: string, what: string, details: Record<string, unknown> = {}): CanopyError {
  return new CanopyError('BAD_CONFIG', `${file} ${what}`, { path: file, ...details });
}

function alreadyInitialized(home: string, file: string): CanopyError {
  return new CanopyError('ALREADY_INITIALIZED', `${home} already has a device identity (${file}); refusing to replace it`, { home, path: file });
}

function existsQuiet(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw fromFsError(err, 'checking', file);
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------
// Keys, signing, verifying

function privateKeyFromSeed(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function rawPublicKey(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

/**
 * Parsing a DER key costs far more than an ed25519 signature, so the KeyObject is built once
 * per Identity. Keyed weakly by the object so identities can be dropped; the seed copy
 * catches a caller that swaps `secretSeed` on the same object.
 */
const signingKeys = new WeakMap<Identity, { seed: Buffer; key: KeyObject }>();

function signingKey(identity: Identity): KeyObject {
  const cached = signingKeys.get(identity);
  if (cached && cached.seed.equals(identity.secretSeed)) return cached.key;
  const key = privateKeyFromSeed(identity.secretSeed);
  signingKeys.set(identity, { seed: Buffer.from(identity.secretSeed), key });
  return key;
}

/** 64-byte ed25519 signature of `data`. */
export function sign(identity: Identity, data: Uint8Array): Buffer {
  return cryptoSign(null, data, signingKey(identity));
}

/** Peers' public keys, parsed once; bounded because keys come from the network. */
const verifyKeys = new Map<string, KeyObject>();
const VERIFY_CACHE_SIZE = 1024;

function verifyingKey(publicKey: Uint8Array): KeyObject {
  const hex = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('hex');
  let key = verifyKeys.get(hex);
  if (key) {
    // Refresh its place so the least recently used key is the one evicted.
    verifyKeys.delete(hex);
  } else {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (verifyKeys.size >= VERIFY_CACHE_SIZE) {
      const oldest = verifyKeys.keys().next().value;
      if (oldest !== undefined) verifyKeys.delete(oldest);
    }
  }
  verifyKeys.set(hex, key);
  return key;
}

/** Whether `signature` is a valid signature of `data` by `publicKey`. Never throws. */
export function verify(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
    if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
    if (!(data instanceof Uint8Array)) return false;
    return cryptoVerify(null, data, verifyingKey(publicKey), signature);
  } catch {
    return false;
  }
}

/** The key pair in the format Hyperswarm/HyperDHT (libsodium) expect: secretKey = seed || publicKey. */
export function toHyperKeyPair(identity: Identity): { publicKey: Buffer; secretKey: Buffer } {
  return {
    publicKey: Buffer.from(identity.publicKey),
    secretKey: Buffer.concat([identity.secretSeed, identity.publicKey]),
  };
}
