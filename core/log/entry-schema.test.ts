import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ENTRY_LIMITS, versionsBodyFast, versionsEntrySchema } from './entry-schema.js';

/** A field left out of its object. */
const OMIT = Symbol('omit');
type Field = unknown;

const base32 = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz234567');
const hex = fc.constantFrom(...'0123456789abcdef');
const deviceId = fc.string({ unit: base32, minLength: 32, maxLength: 32 });
const hexOf = (n: number) => fc.string({ unit: hex, minLength: n, maxLength: n });

/** Values no field accepts, or only some: wrong types, out-of-range numbers, near-miss strings. */
const junk: fc.Arbitrary<Field> = fc.oneof(
  fc.constantFrom(null, true, 'folder', 'fifo', -1, 1.5, 2 ** 53, -(2 ** 53), 1e308, '', 'x', 'A'.repeat(64), 'a'.repeat(31), [], {}, [1], ['a'], 0o10000, ENTRY_LIMITS.chunkBytes + 1),
  fc.jsonValue({ maxDepth: 2 }),
);
/** Mostly a valid value, sometimes junk, now and then missing. */
const loose = (valid: fc.Arbitrary<Field>): fc.Arbitrary<Field> =>
  fc.oneof({ arbitrary: valid, weight: 150 }, { arbitrary: junk, weight: 2 }, { arbitrary: fc.constant(OMIT), weight: 1 });

const versionId = hexOf(32);
const chunk = fc.tuple(hexOf(64), fc.integer({ min: -1, max: ENTRY_LIMITS.chunkBytes + 1 }));
const chunkOrNot = fc.oneof({ arbitrary: chunk as fc.Arbitrary<Field>, weight: 20 }, { arbitrary: fc.tuple(hexOf(64), fc.nat(), fc.nat()), weight: 1 }, { arbitrary: junk, weight: 1 });
const parents = fc.oneof(
  { arbitrary: fc.uniqueArray(versionId, { maxLength: 3 }).map((xs) => [...xs].sort()), weight: 10 },
  { arbitrary: fc.array(fc.oneof(versionId, junk), { maxLength: 3 }), weight: 1 },
);
const vector = fc.oneof(
  { arbitrary: fc.dictionary(deviceId, fc.nat(), { maxKeys: 3 }), weight: 10 },
  { arbitrary: fc.dictionary(fc.oneof(deviceId, fc.string()), fc.oneof(fc.nat(), junk), { maxKeys: 3 }), weight: 1 },
);
const path = fc.oneof({ arbitrary: fc.string({ maxLength: 40 }), weight: 30 }, { arbitrary: fc.constantFrom('p'.repeat(ENTRY_LIMITS.pathChars), 'p'.repeat(ENTRY_LIMITS.pathChars + 1)), weight: 1 });

const versionFields = fc.record({
  folder: loose(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/)),
  path: loose(path),
  kind: loose(fc.constantFrom('file', 'dir', 'symlink', 'tombstone')),
  size: loose(fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER })),
  mtimeMs: loose(fc.double({ noNaN: true, noDefaultInfinity: true })),
  // Ranges reach one step past each bound: fast-check favours bounds, so the edges are probed.
  mode: loose(fc.integer({ min: -1, max: 0o7777 + 1 })),
  // Often absent, as in every version but a symlink's.
  target: fc.oneof({ arbitrary: fc.constant(OMIT), weight: 3 }, { arbitrary: loose(fc.string({ maxLength: 20 })), weight: 1 }),
  chunks: loose(fc.array(chunkOrNot, { maxLength: 3 })),
  parents: loose(parents),
  vector: loose(vector),
});

/** Now and then, a key no schema names (zod strips it). */
const extraKey = fc.oneof(
  { arbitrary: fc.constant(null), weight: 12 },
  { arbitrary: fc.tuple(fc.constantFrom('extra', '__proto__', 'constructor', 'chunk'), fc.jsonValue({ maxDepth: 1 })), weight: 1 },
);

/** JSON text of an object with these fields (OMIT left out) and maybe a key no schema names; `extra` says whether it got one. */
function objectText(fields: Record<string, Field>, extra: [string, unknown] | null): { text: string; extra: boolean } {
  const parts = Object.entries(fields).filter(([, v]) => v !== OMIT).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  if (extra) parts.unshift(`${JSON.stringify(extra[0])}:${JSON.stringify(extra[1]) ?? 'null'}`);
  return { text: `{${parts.join(',')}}`, extra: extra !== null };
}

const versionText = fc.tuple(versionFields, extraKey).map(([f, x]) => objectText(f, x));

/** The JSON text of a versions entry body (as JSON.parse gets it from the wire), and whether some object in it has a key the schema does not name. */
const bodyText = fc.tuple(
  fc.record({ t: loose(fc.constant('versions')), author: loose(deviceId), seq: loose(fc.integer({ min: 0 })), createdAt: loose(fc.integer({ min: -1 })) }),
  fc.oneof({ arbitrary: fc.array(versionText, { minLength: 1, maxLength: 3 }), weight: 20 }, { arbitrary: fc.constant([]), weight: 1 }),
  extraKey,
).map(([header, versions, x]) => {
  const top = objectText(header, x);
  const text = `${top.text.slice(0, -1)}${top.text.length > 2 ? ',' : ''}"versions":[${versions.map((v) => v.text).join(',')}]}`;
  return { text, extra: top.extra || versions.some((v) => v.extra) };
});

describe('the fast check of versions entries', () => {
  it('accepts exactly what the zod schema accepts, returning the same body, and leaves bodies with unknown keys to zod', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(bodyText, ({ text, extra }) => {
        const raw: unknown = JSON.parse(text);
        const fast = versionsBodyFast(raw);
        const slow = versionsEntrySchema.safeParse(raw);
        if (fast !== undefined) {
          expect(slow.success).toBe(true);
          expect(fast).toEqual(slow.data);
          accepted++;
        } else {
          // Refused by the fast check: zod refuses it too, unless zod would strip a key.
          expect(slow.success && !extra).toBe(false);
          refused++;
        }
      }),
      { numRuns: 3000 },
    );
    // Both sides were exercised (the generator is not all valid or all junk).
    expect(accepted).toBeGreaterThan(300);
    expect(refused).toBeGreaterThan(300);
  });

  it('takes a body as a device writes it: many versions, symlink targets, merges, vectors of several devices', () => {
    const dev = 'a'.repeat(32);
    const other = 'b'.repeat(32);
    const versions = Array.from({ length: 1000 }, (_, i) => ({
      chunks: i % 3 === 0 ? [] : [[i.toString(16).padStart(64, '0'), 4096]],
      folder: 'docs', kind: i % 3 === 0 ? 'symlink' : 'file', mode: 0o644, mtimeMs: 1_700_000_000_000.5 + i,
      parents: i % 5 === 0 ? ['0'.repeat(32), 'f'.repeat(32)] : [], path: `dir/file-${i}.txt`, size: i % 3 === 0 ? 0 : 4096,
      ...(i % 3 === 0 ? { target: '../elsewhere' } : {}), vector: { [dev]: i + 1, [other]: 7 },
    }));
    const raw: unknown = JSON.parse(JSON.stringify({ author: dev, createdAt: 1, seq: 3, t: 'versions', versions }));
    expect(versionsBodyFast(raw)).toEqual(versionsEntrySchema.parse(raw));
  });
});
