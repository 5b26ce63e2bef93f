import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson } from './canonical.js';

describe('canonical JSON', () => {
  it('gives the same bytes whatever order keys were inserted in', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.oneof(fc.integer(), fc.string(), fc.boolean())), (obj) => {
      const reversed = Object.fromEntries(Object.entries(obj).reverse());
      expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
      expect(JSON.parse(canonicalJson(obj))).toEqual(obj);
    }));
  });

  it('drops undefined fields and refuses non-finite numbers', () => {
    expect(canonicalJson({ b: 1, a: undefined, c: [1, 'x'] })).toBe('{"b":1,"c":[1,"x"]}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow();
  });
});
