import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson, RawJson, type Json } from './canonical.js';

/** The definition, written the plain way: keys sorted at every level, undefined fields dropped. */
function reference(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** JSON data with keys that sort unlike their enumeration order ("10" before "9", integer-like keys enumerate first). */
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.string(), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('10', '9', '0', 'a', 'B', '__proto__', 'é')), tie('value'), { maxKeys: 5 }),
})).value as fc.Arbitrary<Json>;

describe('canonical JSON', () => {
  it('gives the same bytes whatever order keys were inserted in', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string(), fc.boolean())), (obj) => {
      const reversed = Object.fromEntries(Object.entries(obj).reverse());
      expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
      expect(JSON.parse(canonicalJson(obj))).toEqual(obj);
    }));
  });

  it('is the sorted-keys form for any JSON value, built in any order, parsed back from its canonical bytes or not', () => {
    fc.assert(fc.property(json, (value) => {
      const expected = reference(value);
      expect(canonicalJson(value)).toBe(expected);
      // Parsed from canonical bytes (keys in order: the native path) and from insertion-order bytes.
      expect(canonicalJson(JSON.parse(expected) as Json)).toBe(expected);
      expect(canonicalJson(JSON.parse(JSON.stringify(value)) as Json)).toBe(expected);
    }), { numRuns: 2000 });
  });

  it('embeds RawJson as is, drops undefined fields and refuses non-finite numbers', () => {
    expect(canonicalJson({ b: 1, a: undefined, c: [1, 'x'] })).toBe('{"b":1,"c":[1,"x"]}');
    expect(canonicalJson({ a: 1, b: new RawJson('{"z":1,"y":2}') })).toBe('{"a":1,"b":{"z":1,"y":2}}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow();
    expect(() => canonicalJson([1, Number.POSITIVE_INFINITY])).toThrow();
  });
});
