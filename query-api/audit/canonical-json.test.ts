import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts object keys at every depth, keeps array order, and writes no whitespace', () => {
    expect(canonicalJson({ b: [3, { z: 1, a: 2 }], a: 'x', c: null, d: true })).toBe(
      '{"a":"x","b":[3,{"a":2,"z":1}],"c":null,"d":true}',
    );
  });

  it('writes numbers in their shortest round-trip form and escapes strings as JSON does', () => {
    expect(canonicalJson([1.0, -0, 2.5e-7, 1e21, 0.1])).toBe('[1,0,2.5e-7,1e+21,0.1]');
    expect(canonicalJson('a"b\\c\n\u0001é🙂')).toBe('"a\\"b\\\\c\\n\\u0001é🙂"');
  });

  it('leaves out members that are undefined, writes undefined array items as null', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined])).toBe('[null]');
  });

  it.each([
    ['Infinity', Infinity],
    ['NaN', NaN],
    ['a bigint', 1n],
    ['a function', () => 1],
  ])('refuses %s', (_what, value) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
  });

  it('gives the same text whatever the key order, and survives a JSON round trip (what JSONB storage does)', () => {
    const shuffle = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(shuffle);
      if (value && typeof value === 'object') {
        return Object.fromEntries(
          Object.entries(value)
            .reverse()
            .map(([key, item]) => [key, shuffle(item)]),
        );
      }
      return value;
    };
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(shuffle(value))).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(canonicalJson(JSON.parse(JSON.stringify(value)))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});
