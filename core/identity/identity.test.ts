// Device identity: identity.json lifecycle and permissions, signatures, device ids, key formats.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { blake3 } from '@napi-rs/blake-hash';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isCanopyError } from '../errors/index.js';
import type { ErrorCode } from '../errors/index.js';
import { createIdentity, deviceIdFromPublicKey, identityFromSeed, isDeviceId, loadIdentity, shortDeviceId, sign, toHyperKeyPair, verify } from './index.js';

const posix = process.platform !== 'win32';

// Counts the DER key parses signing and verifying do, passing every call through to node's
// crypto: parsing a key costs far more than an ed25519 signature, so each must happen once.
const keyParses = vi.hoisted(() => ({ private: 0, public: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    createPrivateKey: (...args: Parameters<typeof real.createPrivateKey>) => {
      keyParses.private++;
      return real.createPrivateKey(...args);
    },
    createPublicKey: (...args: Parameters<typeof real.createPublicKey>) => {
      keyParses.public++;
      return real.createPublicKey(...args);
    },
  };
});

// RFC 8032 section 7.1, test 1: a fixed key pair and the signature of the empty message.
const RFC_SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const RFC_PUBLIC = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
const RFC_SIGNATURE = Buffer.from(
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  'hex',
);

function codeOf(fn: () => unknown): { code: ErrorCode; message: string } {
  try {
    fn();
  } catch (err) {
    if (isCanopyError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a CanopyError, nothing was thrown');
}

describe('identity.json', () => {
  let root: string;
  let home: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'canopy-identity-'));
    home = path.join(root, 'home');
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });
  const file = () => path.join(home, 'identity.json');

  it('is created, then loaded back identically', () => {
    const created = createIdentity(home);
    expect(created.publicKey).toHaveLength(32);
    expect(created.secretSeed).toHaveLength(32);
    expect(created.deviceId).toBe(deviceIdFromPublicKey(created.publicKey));
    const loaded = loadIdentity(home);
    expect(loaded.deviceId).toBe(created.deviceId);
    expect(loaded.publicKey.equals(created.publicKey)).toBe(true);
    expect(loaded.secretSeed.equals(created.secretSeed)).toBe(true);
    const json = JSON.parse(readFileSync(file(), 'utf8')) as Record<string, unknown>;
    expect(json).toMatchObject({ version: 1, type: 'ed25519', deviceId: created.deviceId, publicKey: created.publicKey.toString('hex') });
    expect(readdirSync(home)).toEqual(['identity.json']);
  });

  it('gives each device a different key', () => {
    const a = createIdentity(path.join(root, 'a'));
    const b = createIdentity(path.join(root, 'b'));
    expect(a.deviceId).not.toBe(b.deviceId);
  });

  it.runIf(posix)('is owner-only: file 0600, home 0700', () => {
    const old = process.umask(0o000);
    try {
      createIdentity(home);
    } finally {
      process.umask(old);
    }
    expect(statSync(file()).mode & 0o777).toBe(0o600);
    expect(statSync(home).mode & 0o777).toBe(0o700);
  });

  it('is never replaced: a second create is ALREADY_INITIALIZED', () => {
    const first = createIdentity(home);
    const before = readFileSync(file(), 'utf8');
    expect(codeOf(() => createIdentity(home)).code).toBe('ALREADY_INITIALIZED');
    expect(readFileSync(file(), 'utf8')).toBe(before);
    expect(loadIdentity(home).deviceId).toBe(first.deviceId);
  });

  it('missing: NOT_INITIALIZED, telling the user to run canopy init', () => {
    const err = codeOf(() => loadIdentity(home));
    expect(err.code).toBe('NOT_INITIALIZED');
    expect(err.message).toContain('canopy init');
  });

  it.runIf(posix).each([0o644, 0o640, 0o604, 0o660, 0o602])('mode %o is refused with a chmod hint', (mode) => {
    createIdentity(home);
    chmodSync(file(), mode);
    const err = codeOf(() => loadIdentity(home));
    expect(err.code).toBe('BAD_CONFIG');
    expect(err.message).toContain(`mode 0${mode.toString(8)}`);
    expect(err.message).toContain(`chmod 600 ${file()}`);
    chmodSync(file(), 0o600);
    expect(() => loadIdentity(home)).not.toThrow();
  });

  it.runIf(posix)('a stricter mode (0400) is fine', () => {
    createIdentity(home);
    chmodSync(file(), 0o400);
    expect(() => loadIdentity(home)).not.toThrow();
  });

  describe('malformed files are BAD_CONFIG', () => {
    const good = () => JSON.parse(readFileSync(file(), 'utf8')) as Record<string, unknown>;
    const put = (content: string) => {
      writeFileSync(file(), content, { mode: 0o600 });
      chmodSync(file(), 0o600);
    };
    beforeEach(() => {
      createIdentity(home);
    });

    it.each([
      ['not JSON', () => '{ nope', /not valid JSON/],
      ['not an object', () => '42', /not a JSON object/],
      ['wrong version', (g: Record<string, unknown>) => JSON.stringify({ ...g, version: 2 }), /unsupported version 2/],
      ['wrong type', (g: Record<string, unknown>) => JSON.stringify({ ...g, type: 'rsa' }), /unsupported key type "rsa"/],
      ['short seed', (g: Record<string, unknown>) => JSON.stringify({ ...g, secretSeed: 'abcd' }), /secretSeed: expected 64 hex characters/],
      ['missing public key', (g: Record<string, unknown>) => JSON.stringify({ ...g, publicKey: undefined }), /publicKey: expected 64 hex/],
      ['public key of another seed', (g: Record<string, unknown>) => JSON.stringify({ ...g, publicKey: RFC_PUBLIC.toString('hex') }), /does not belong to secretSeed/],
      ['wrong device id', (g: Record<string, unknown>) => JSON.stringify({ ...g, deviceId: 'a'.repeat(32) }), /does not match the key/],
    ] as const)('%s', (_name, content, message) => {
      put(content(good()));
      const err = codeOf(() => loadIdentity(home));
      expect(err.code).toBe('BAD_CONFIG');
      expect(err.message).toMatch(message);
      expect(err.message).toContain(file());
    });
  });
});

describe('sign / verify', () => {
  const id = identityFromSeed(RFC_SEED);
  const other = identityFromSeed(Buffer.alloc(32, 7));
  const data = Buffer.from('canopy log entry #1');

  it('matches the RFC 8032 test vector', () => {
    expect(id.publicKey.equals(RFC_PUBLIC)).toBe(true);
    expect(sign(id, new Uint8Array(0)).equals(RFC_SIGNATURE)).toBe(true);
    expect(verify(RFC_PUBLIC, new Uint8Array(0), RFC_SIGNATURE)).toBe(true);
  });

  it('round-trips for any data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const sig = sign(id, bytes);
        expect(sig).toHaveLength(64);
        expect(verify(id.publicKey, bytes, sig)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('works on a loaded identity and on views into larger buffers', () => {
    const backing = Buffer.concat([Buffer.alloc(5, 1), id.publicKey, Buffer.alloc(3, 2)]);
    const pkView = new Uint8Array(backing.buffer, backing.byteOffset + 5, 32);
    expect(verify(pkView, data, sign(id, data))).toBe(true);
  });

  it('is false for tampered data or signature, or the wrong key', () => {
    const sig = sign(id, data);
    fc.assert(
      fc.property(fc.nat({ max: data.length * 8 - 1 }), (bit) => {
        const tampered = Buffer.from(data);
        tampered[bit >> 3]! ^= 1 << (bit & 7);
        expect(verify(id.publicKey, tampered, sig)).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.nat({ max: 64 * 8 - 1 }), (bit) => {
        const bad = Buffer.from(sig);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(verify(id.publicKey, data, bad)).toBe(false);
      }),
    );
    expect(verify(other.publicKey, data, sig)).toBe(false);
    expect(verify(id.publicKey, Buffer.concat([data, Buffer.from([0])]), sig)).toBe(false);
  });

  it('never throws on garbage, only returns false', () => {
    const sig = sign(id, data);
    const garbage: unknown[] = [undefined, null, 'string', 42, {}, [], new Uint8Array(0), new Uint8Array(31), new Uint8Array(33), new Uint8Array(63), new Uint8Array(65), Buffer.alloc(32, 0xff)];
    const call = verify as (a: unknown, b: unknown, c: unknown) => boolean;
    for (const g of garbage) {
      expect(call(g, data, sig)).toBe(false);
      expect(call(id.publicKey, data, g)).toBe(false);
      expect(call(g, g, g)).toBe(false);
    }
    expect(call(id.publicKey, 'not bytes', sig)).toBe(false);
    // Random keys and signatures of the right lengths (including invalid curve points).
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 64, maxLength: 64 }), (pk, s) => {
        expect(verify(pk, data, s)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('notices a swapped secretSeed rather than signing with a stale cached key', () => {
    const mutable = identityFromSeed(RFC_SEED);
    sign(mutable, data);
    mutable.secretSeed = Buffer.alloc(32, 7);
    mutable.publicKey = other.publicKey;
    expect(verify(other.publicKey, data, sign(mutable, data))).toBe(true);
  });

  it('parses a signing key once per identity, and a peer\'s public key once, however many signatures', () => {
    const before = { ...keyParses };
    const signer = identityFromSeed(Buffer.alloc(32, 3));
    const msg = Buffer.alloc(256, 1);
    const sigs = Array.from({ length: 200 }, (_, i) => sign(signer, Buffer.concat([msg, Buffer.from([i])])));
    // The one parse is the identity's own, when it is made from its seed.
    expect(keyParses.private - before.private).toBe(1);
    before.public = keyParses.public;
    sigs.forEach((sig, i) => expect(verify(signer.publicKey, Buffer.concat([msg, Buffer.from([i])]), sig)).toBe(true));
    expect(keyParses.public - before.public).toBe(1);
  });
});

describe('device ids', () => {
  it('uses a correct BLAKE3 (known answer for "abc")', () => {
    expect(blake3('abc').toString('hex')).toBe('6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85');
  });

  it('is stable for a fixed key (golden value)', () => {
    // base32 of the first 20 bytes of BLAKE3(RFC_PUBLIC) = 6c31041268f471609c79f5f2dbcc38e4a4ab2f4d.
    expect(deviceIdFromPublicKey(RFC_PUBLIC)).toBe('nqyqieti6rywbhdz6xznxtby4sskwl2n');
    expect(identityFromSeed(RFC_SEED).deviceId).toBe('nqyqieti6rywbhdz6xznxtby4sskwl2n');
    expect(shortDeviceId('nqyqieti6rywbhdz6xznxtby4sskwl2n')).toBe('nqyqieti');
  });

  it('is 32 lowercase base32 characters derived from BLAKE3', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (pk) => {
        const id = deviceIdFromPublicKey(pk);
        expect(id).toMatch(/^[a-z2-7]{32}$/);
        expect(isDeviceId(id)).toBe(true);
        expect(shortDeviceId(id)).toBe(id.slice(0, 8));
        // Independent base32 decode must give back the hash prefix.
        expect(base32Decode(id).equals(blake3(Buffer.from(pk)).subarray(0, 20))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects keys that are not 32 bytes', () => {
    expect(() => deviceIdFromPublicKey(new Uint8Array(31))).toThrow(RangeError);
    expect(isDeviceId('NQYQIETI6RYWBHDZ6XZNXTBY4SSKWL2N')).toBe(false);
    expect(isDeviceId('nqyqieti')).toBe(false);
  });
});

describe('toHyperKeyPair', () => {
  it('is libsodium layout: secretKey = seed || publicKey', () => {
    const id = identityFromSeed(RFC_SEED);
    const kp = toHyperKeyPair(id);
    expect(kp.publicKey.equals(RFC_PUBLIC)).toBe(true);
    expect(kp.secretKey).toHaveLength(64);
    expect(kp.secretKey.subarray(0, 32).equals(RFC_SEED)).toBe(true);
    expect(kp.secretKey.subarray(32).equals(RFC_PUBLIC)).toBe(true);
    // Copies, so the swarm cannot alter the identity.
    kp.publicKey.fill(0);
    expect(id.publicKey.equals(RFC_PUBLIC)).toBe(true);
  });

  it('equals what HyperDHT derives from the same seed', async () => {
    // hyperdht ships no types; a non-literal specifier keeps tsc from looking for them.
    const name: string = 'hyperdht';
    const DHT = ((await import(name)) as { default: { keyPair(seed: Buffer): { publicKey: Uint8Array; secretKey: Uint8Array } } }).default;
    const seed = Buffer.alloc(32, 42);
    const ours = toHyperKeyPair(identityFromSeed(seed));
    const theirs = DHT.keyPair(seed);
    expect(Buffer.from(theirs.publicKey).equals(ours.publicKey)).toBe(true);
    expect(Buffer.from(theirs.secretKey).equals(ours.secretKey)).toBe(true);
  });
});

function base32Decode(s: string): Buffer {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = '';
  for (const c of s) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}
