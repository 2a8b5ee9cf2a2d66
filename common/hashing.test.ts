import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketRanges, chooseVariant, equalWeights, fnv1a32, hashToBucket, inRange } from './hashing.js';

// Vectors from GrowthBook's public SDK test suite (packages/sdk-js/test/cases.json, spec 0.5.x):
// [seed, value, version, expected bucket].
const GROWTHBOOK_HASH_CASES: [string, string, number, number | null][] = [
  ['', 'a', 1, 0.22],
  ['', 'b', 1, 0.077],
  ['b', 'a', 1, 0.946],
  ['ef', 'd', 1, 0.652],
  ['asdf', '8952klfjas09ujk', 1, 0.549],
  ['', '123', 1, 0.011],
  ['', '___)((*":&', 1, 0.563],
  ['seed', 'a', 2, 0.0505],
  ['seed', 'b', 2, 0.2696],
  ['foo', 'ab', 2, 0.2575],
  ['foo', 'def', 2, 0.2019],
  ['89123klj', '8952klfjas09ujkasdf', 2, 0.124],
  ['90850943850283058242805', '123', 2, 0.7516],
  ['()**(%$##$%#$#', '___)((*":&', 2, 0.0128],
  ['abc', 'def', 99, null],
];

// Buckets GrowthBook reports in its experiment cases (seed = experiment key).
const GROWTHBOOK_BUCKETS: [string, string, number, number][] = [
  ['feature', '123', 1, 0.863],
  ['feature', '456', 1, 0.178],
  ['feature', 'fds', 1, 0.514],
  ['experiment', '1', 2, 0.4413],
  ['holdout', '1', 2, 0.8043],
  ['feature', '123', 2, 0.5231],
  ['feature-exp', 'd123', 2, 0.6468],
  ['feature-exp', 'i123', 2, 0.9943],
];

// [variant count, coverage, weights, expected ranges] from the same suite's getBucketRange cases.
const GROWTHBOOK_RANGE_CASES: [string, number, number, number[] | null, [number, number][]][] = [
  [
    'normal 50/50',
    2,
    1,
    null,
    [
      [0, 0.5],
      [0.5, 1],
    ],
  ],
  [
    'reduced coverage',
    2,
    0.5,
    null,
    [
      [0, 0.25],
      [0.5, 0.75],
    ],
  ],
  [
    'zero coverage',
    2,
    0,
    null,
    [
      [0, 0],
      [0.5, 0.5],
    ],
  ],
  [
    '4 variations',
    4,
    1,
    null,
    [
      [0, 0.25],
      [0.25, 0.5],
      [0.5, 0.75],
      [0.75, 1],
    ],
  ],
  [
    'uneven weights',
    2,
    1,
    [0.4, 0.6],
    [
      [0, 0.4],
      [0.4, 1],
    ],
  ],
  [
    'uneven weights, 3 variations',
    3,
    1,
    [0.2, 0.3, 0.5],
    [
      [0, 0.2],
      [0.2, 0.5],
      [0.5, 1],
    ],
  ],
  [
    'uneven weights, reduced coverage',
    3,
    0.2,
    [0.2, 0.3, 0.5],
    [
      [0, 0.04],
      [0.2, 0.26],
      [0.5, 0.6],
    ],
  ],
  [
    'negative coverage',
    2,
    -0.2,
    null,
    [
      [0, 0],
      [0.5, 0.5],
    ],
  ],
  [
    'coverage above 1',
    2,
    1.5,
    null,
    [
      [0, 0.5],
      [0.5, 1],
    ],
  ],
  [
    'weights sum below 1',
    2,
    1,
    [0.4, 0.1],
    [
      [0, 0.5],
      [0.5, 1],
    ],
  ],
  [
    'weights sum above 1',
    2,
    1,
    [0.7, 0.6],
    [
      [0, 0.5],
      [0.5, 1],
    ],
  ],
  [
    'weights length mismatch',
    4,
    1,
    [0.4, 0.4, 0.2],
    [
      [0, 0.25],
      [0.25, 0.5],
      [0.5, 0.75],
      [0.75, 1],
    ],
  ],
  [
    'weights sum almost 1',
    2,
    1,
    [0.4, 0.5999],
    [
      [0, 0.4],
      [0.4, 0.9999],
    ],
  ],
];

// [bucket, ranges, expected index] from the suite's chooseVariation cases.
const EVEN = [
  [0, 0.5],
  [0.5, 1],
] as [number, number][];
const REDUCED = [
  [0, 0.25],
  [0.5, 0.75],
] as [number, number][];
const GROWTHBOOK_CHOOSE_CASES: [number, [number, number][], number][] = [
  [0.2, EVEN, 0],
  [0.4, EVEN, 0],
  [0.6, EVEN, 1],
  [0.8, EVEN, 1],
  [0, EVEN, 0],
  [0.5, EVEN, 1],
  [0.2, REDUCED, 0],
  [0.4, REDUCED, -1],
  [0.6, REDUCED, 1],
  [0.8, REDUCED, -1],
  [0.25, REDUCED, -1],
  [0.5, REDUCED, 1],
  [
    0.5,
    [
      [0, 0.5],
      [0.5, 0.5],
      [0.5, 1],
    ],
    2,
  ],
];

describe('fnv1a32', () => {
  it('matches the reference FNV-1a 32-bit values', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes UTF-16 code units, without normalisation', () => {
    // 'é' precomposed vs. e + combining accent are different ids by rule.
    expect(fnv1a32('\u00e9')).toBe(0x6c0b6c44);
    expect(fnv1a32('e\u0301')).toBe(0x94195533);
  });

  it('hashes a character outside the BMP as its two surrogate code units, not as one code point', () => {
    // Expected values from an independent FNV-1a (Python) over explicit code-unit lists:
    // U+1F600 is [0xd83d, 0xde00] in UTF-16; hashed as the single code point 0x1f600 it would be 0x0650a71f.
    expect(fnv1a32('😀')).toBe(0xcb31c4b8);
    expect(fnv1a32('😀')).not.toBe(0x0650a71f);
    // U+1F601 shares the high surrogate and differs in the low one.
    expect(fnv1a32('😁')).toBe(0xcc31c64b);
    // Between ASCII: [0x61, 0xd83d, 0xde00, 0x62] (as code points it would be 0x4e6351d2).
    expect(fnv1a32('a😀b')).toBe(0x8fca8501);
  });
});

describe('hashToBucket (GrowthBook compatible)', () => {
  it.each(GROWTHBOOK_HASH_CASES)('hash(%j, %j, v%d) = %j', (seed, value, version, expected) => {
    const bucket = hashToBucket(seed, value, version);
    if (expected === null) expect(bucket).toBeNull();
    else expect(bucket).toBeCloseTo(expected, 6);
  });

  it.each(GROWTHBOOK_BUCKETS)('bucket of seed %j and id %j with v%d is %d', (seed, value, version, expected) => {
    expect(hashToBucket(seed, value, version)).toBeCloseTo(expected, 6);
  });

  it('buckets non-ASCII seeds and ids over UTF-16 code units (v2)', () => {
    // No published GrowthBook vector has a non-ASCII seed or id; these come from an independent
    // FNV-1a (Python) over UTF-16 code units. Over code points they would be 0.7092, 0.9649, 0.6401, 0.9454.
    expect(hashToBucket('seed', '😀', 2)).toBe(0.4346);
    expect(hashToBucket('checkout', '用户-😀', 2)).toBe(0.9528);
    expect(hashToBucket('exp', 'a😀b', 2)).toBe(0.0673);
    expect(hashToBucket('🧪-test', 'user-1', 2)).toBe(0.1938);
  });

  it('always lands in [0, 1) with at most 4 decimals for v2', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (seed, value) => {
        const bucket = hashToBucket(seed, value, 2);
        // k / 10000 for an integer k: rounding to 4 decimals gives the very same number back.
        return bucket !== null && bucket >= 0 && bucket < 1 && Math.round(bucket * 1e4) / 1e4 === bucket;
      }),
    );
  });
});

describe('bucketRanges', () => {
  it('keeps weights summing to exactly 0.99 or 1.01, as GrowthBook does (it falls back only below 0.99 or above 1.01)', () => {
    // 0.33 + 0.33 + 0.33 is exactly 0.99 in doubles: a rounded three-way split GrowthBook keeps (before: equal thirds).
    const rounded = bucketRanges(3, 1, [0.33, 0.33, 0.33]);
    expect(rounded.map(([start]) => start)).toEqual([0, 0.33, 0.66]);
    expect(rounded[2]![1]).toBeCloseTo(0.99, 12);
    expect(chooseVariant(0.3332, rounded)).toBe(1);
    expect(chooseVariant(0.995, rounded)).toBe(-1);
    // 0.5 + 0.51 is exactly 1.01: kept too; just beyond either bound falls back to equal weights.
    expect(bucketRanges(2, 1, [0.5, 0.51])).toEqual([
      [0, 0.5],
      [0.5, 1.01],
    ]);
    expect(bucketRanges(2, 1, [0.5, 0.511])).toEqual([
      [0, 0.5],
      [0.5, 1],
    ]);
    expect(bucketRanges(2, 1, [0.5, 0.489])).toEqual([
      [0, 0.5],
      [0.5, 1],
    ]);
  });

  it.each(GROWTHBOOK_RANGE_CASES)('%s', (_name, count, coverage, weights, expected) => {
    const ranges = bucketRanges(count, coverage, weights ?? undefined);
    expect(ranges).toHaveLength(expected.length);
    ranges.forEach((range, i) => {
      expect(range[0]).toBeCloseTo(expected[i]![0], 9);
      expect(range[1]).toBeCloseTo(expected[i]![1], 9);
    });
  });

  it('gives equal weights that sum to one', () => {
    expect(equalWeights(0)).toEqual([]);
    expect(equalWeights(-1)).toEqual([]);
    expect(equalWeights(4)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it('never moves an included user when coverage goes up (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 6 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        (rawWeights, a, b, bucket) => {
          const total = rawWeights.reduce((s, w) => s + w, 0);
          const weights = rawWeights.map((w) => w / total);
          const before = chooseVariant(bucket, bucketRanges(weights.length, Math.min(a, b), weights));
          const after = chooseVariant(bucket, bucketRanges(weights.length, Math.max(a, b), weights));
          return before === -1 || before === after;
        },
      ),
    );
  });
});

describe('chooseVariant and inRange', () => {
  it.each(GROWTHBOOK_CHOOSE_CASES)('bucket %d in %j → %d', (bucket, ranges, expected) => {
    expect(chooseVariant(bucket, ranges)).toBe(expected);
  });

  it('treats ranges as half-open', () => {
    expect(inRange(0.5, [0, 0.5])).toBe(false);
    expect(inRange(0, [0, 0.5])).toBe(true);
    expect(inRange(0.5, [0.5, 0.5])).toBe(false);
  });
});
