import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeInvite, encodeInvite, LINK_PREFIX } from './invite-code.js';
import { isCanopyError } from '../errors/index.js';

const NOW = Date.UTC(2026, 10, 22);
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
/** One fixed code, so the exhaustive checks below are the same on every run. */
const SECRET = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const FIXED = { secret: SECRET, expiresAt: NOW + 15 * 60_000 };

/** The refusal's message, or undefined when the text was accepted as an invite. */
function refusal(text: string): string | undefined {
  try {
    decodeInvite(text, NOW);
    return undefined;
  } catch (err) {
    if (!isCanopyError(err) || err.code !== 'BAD_ARGUMENT') throw err;
    return err.message;
  }
}

const invites = fc.record({
  secret: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b)),
  // Whole seconds: the code keeps the expiry to the second.
  expiresAt: fc.integer({ min: 1, max: 365 * 24 * 3600 }).map((s) => NOW + s * 1000),
});

describe('invite codes', () => {
  it('decode to the secret and expiry they were made from, typed or pasted as a link', () => {
    fc.assert(
      fc.property(invites, (inv) => {
        const code = encodeInvite(inv);
        expect(code).toMatch(/^[a-z2-7]{5}(-[a-z2-7]{1,5}){7}$/);
        for (const text of [code, code.toUpperCase(), ` ${code.replace(/-/g, ' ')}\n`, `${LINK_PREFIX}${code}`]) {
          expect(decodeInvite(text, NOW)).toEqual(inv);
        }
      }),
    );
  });

  it('refuses a code cut short, saying it is incomplete', () => {
    fc.assert(
      fc.property(invites, fc.integer({ min: 2, max: 36 }), (inv, keep) => {
        const letters = encodeInvite(inv).replace(/-/g, '');
        expect(refusal(letters.slice(0, keep))).toMatch(/incomplete/);
      }),
    );
  });

  it('refuses a code with letters added at the end, saying how many are too many', () => {
    fc.assert(
      fc.property(invites, fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 1, maxLength: 40 }), (inv, extra) => {
        expect(refusal(encodeInvite(inv) + extra)).toBe(`the invite code has ${extra.length} letter${extra.length === 1 ? '' : 's'} too many (37 expected)`);
      }),
    );
  });

  it('refuses every one-letter typo of a code', () => {
    const letters = encodeInvite(FIXED).replace(/-/g, '');
    expect(letters).toHaveLength(37);
    let typos = 0;
    for (let i = 0; i < letters.length; i++) {
      for (const ch of ALPHABET) {
        if (ch === letters[i]) continue;
        const typo = letters.slice(0, i) + ch + letters.slice(i + 1);
        expect(refusal(typo), `typo ${ch} at ${i}`).toMatch(/mistyped or damaged|not a Canopy invite/);
        typos++;
      }
    }
    expect(typos).toBe(37 * 31);
  });

  it('has one spelling per code: a last letter differing only in its padding bit is refused', () => {
    const letters = encodeInvite(FIXED).replace(/-/g, '');
    const last = ALPHABET.indexOf(letters.at(-1) as string);
    // 23 bytes are 184 bits; the 37th letter carries 4 of them and one zero padding bit.
    expect(last & 1).toBe(0);
    const padded = letters.slice(0, -1) + ALPHABET[last | 1];
    expect(refusal(padded)).toMatch(/mistyped or damaged \(its last letter/);
  });

  it('refuses an expired code, and text that is no invite at all', () => {
    expect(refusal(encodeInvite({ secret: SECRET, expiresAt: NOW - 1000 }))).toMatch(/^the invite expired at 2026-11-21T23:59:59\.000Z/);
    expect(refusal('not-an-invite!')).toMatch(/characters an invite never contains/);
    expect(refusal('')).toMatch(/incomplete/);
    // The first two letters hold the version byte: "aq" is 4, a version this Canopy does not know.
    expect(refusal('aqaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).toMatch(/newer version/);
  });
});
