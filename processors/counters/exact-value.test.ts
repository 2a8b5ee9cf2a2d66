import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ExactTotal,
  addSquareIncrement,
  formatScaled,
  formatScaledNumber,
  newSquareTotal,
  scaledNumber,
  squareIncrement,
  toScaledValue,
} from './exact-value.js';

it('rounds event values to 6 decimals, half away from zero, exactly', () => {
  expect(toScaledValue(1)).toBe(1_000_000n);
  expect(toScaledValue(0.1)).toBe(100_000n);
  expect(toScaledValue(-2.5)).toBe(-2_500_000n);
  expect(toScaledValue(0.0000004)).toBe(0n);
  expect(toScaledValue(1e12)).toBe(10n ** 18n);
  expect(toScaledValue(-3)).toBe(-3_000_000n);
  expect(toScaledValue(9_007_199_254)).toBe(9_007_199_254_000_000n); // the largest whose micro-units are a safe double
  expect(toScaledValue(9_007_199_255)).toBe(9_007_199_255_000_000n); // beyond: multiplied as BigInts
  // Integers never go through a decimal string (1e21.toFixed() would be '1e+21').
  expect(toScaledValue(1e21)).toBe(10n ** 27n);
});

describe('scaledNumber: exact scaled values as numbers, refused beyond ±(2^53 − 1)', () => {
  it('scales integers and fractions like toScaledValue, up to the largest safe scaled values', () => {
    for (const value of [0, 1, -1, 1.5, 0.1234567, -2.5, 1e8, -1e8, 9_007_199_254, -9_007_199_254]) {
      expect(scaledNumber(value)).toBe(Number(toScaledValue(value)));
    }
    // The doubles next to ±(2^53 − 1) scaled units print as …990 and …992 with toFixed(6): the first is kept.
    expect(scaledNumber(9_007_199_254.74099)).toBe(9_007_199_254_740_990);
    expect(scaledNumber(-9_007_199_254.74099)).toBe(-9_007_199_254_740_990);
  });

  it('throws a RangeError for a value whose scaled form is not a safe integer, either sign', () => {
    const beyond = [
      9_007_199_255, // an integer: 9,007,199,255,000,000 units
      9_007_199_254.740992, // a fraction: exactly 2^53 units
      9_007_199_254.740993, // '9007199254740993' parses to 2^53 as a double: refused, not rounded
      1e10,
      Number.MAX_VALUE,
      Infinity,
      NaN,
    ];
    for (const value of [...beyond, ...beyond.map((v) => -v)]) {
      expect(() => scaledNumber(value)).toThrow(RangeError);
    }
    expect(() => scaledNumber(-1e10)).toThrow(
      'value -10000000000 is beyond the exact range of a scaled number (±2^53 units of 10^-6)',
    );
  });
});

describe('scaledNumber of a fraction: the same number toFixed(6) gives, without its strings where the product decides', () => {
  /** The rule as written before the fast path, and as toScaledValue still computes it. */
  const byDecimalString = (value: number): number => Number(value.toFixed(6).replace('.', ''));
  /** The doubles next to `value`, towards zero and away from it. */
  const neighbours = (value: number): number[] => {
    const bits = new Float64Array([value]);
    const words = new BigInt64Array(bits.buffer);
    const word = words[0]!;
    return [-1n, 1n].map((step) => {
      words[0] = word + step; // the bit pattern of the next double down or up in magnitude
      return bits[0]!;
    });
  };

  it('agrees with toFixed on every kind of fraction within the contract, either sign', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e8, max: 1e8, noNaN: true }), (value) => {
        fc.pre(!Number.isInteger(value));
        expect(Object.is(scaledNumber(value), byDecimalString(value))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: -99_999_999_999_999, max: 99_999_999_999_999 }), (micro) => {
        // A value written with six decimals, as producers send them.
        const value = micro / 1e6;
        fc.pre(!Number.isInteger(value));
        expect(scaledNumber(value)).toBe(byDecimalString(value));
        expect(scaledNumber(value)).toBe(micro);
      }),
      { numRuns: 20_000 },
    );
  });

  it('leaves ties and products next to a half micro-unit to toFixed: half away from zero', () => {
    // Exact ties: dyadic fractions whose micro-units end in .5.
    expect(scaledNumber(0.0078125)).toBe(7813); // 1/128
    expect(scaledNumber(-0.0078125)).toBe(-7813);
    // Products rounded onto a half from below: the real product rounds down.
    expect(scaledNumber(5e-7)).toBe(0); // the double is just below 5e-7; p = 0.5
    expect(scaledNumber(1.0000015)).toBe(1_000_001); // p = 1000001.5
    expect(scaledNumber(2.0000005)).toBe(2_000_001); // p = 2000000.5, the real product above it
    const halves: number[] = [];
    for (let k = 1; k < 2000; k += 2)
      halves.push(k / 2 ** 7, k / 2 ** 20, 12_345 + k / 2 ** 7, 99_999_999 + k / 2 ** 11);
    for (let n = 0; n < 500; n++) halves.push((n * 7919 + 0.5) / 1e6, (n * 104_729 + 0.5) / 1e4);
    for (const half of halves) {
      for (const value of [half, -half, ...neighbours(half), ...neighbours(-half)]) {
        if (Number.isInteger(value)) continue;
        expect(Object.is(scaledNumber(value), byDecimalString(value)), `${value}`).toBe(true);
      }
    }
  });

  it('keeps the sign of a negative value that rounds to zero, as toFixed does', () => {
    expect(Object.is(scaledNumber(-0.0000004), -0)).toBe(true);
    expect(Object.is(scaledNumber(0.0000004), 0)).toBe(true);
  });

  it('rounds beyond the contract through the decimal string, and still refuses what is not safe', () => {
    // Above 2^52 micro-units no half-integer is a double: p = 6193319251132812 by round-half-even, toFixed says …813.
    expect(scaledNumber(6_193_319_251.1328125)).toBe(6_193_319_251_132_813);
    expect(scaledNumber(-5_749_333_954.0703125)).toBe(-5_749_333_954_070_313);
    expect(scaledNumber(123_456_789.25)).toBe(123_456_789_250_000);
    expect(scaledNumber(-123_456_789.0000015)).toBe(byDecimalString(-123_456_789.0000015));
    expect(() => scaledNumber(9_007_199_254.740993)).toThrow(RangeError);
  });
});

it('formats scaled integers as plain decimals without trailing zeros', () => {
  expect(formatScaled(1_500_000n, 6)).toBe('1.5');
  expect(formatScaled(-5n, 6)).toBe('-0.000005');
  expect(formatScaled(0n, 12)).toBe('0');
  expect(formatScaled(42_000_000n, 6)).toBe('42');
});

it('formats a safe integer held as a number exactly as its BigInt, up to ±(2^53 − 1)', () => {
  const edges = [0, 1, -1, 5, -5, 1_500_000, 42_000_000, -42_000_000, 999_999, 1_000_000, 1_000_001];
  const safe = Number.MAX_SAFE_INTEGER;
  edges.push(safe, -safe, safe - 1, safe - 999_999, -(safe - 1_000_000), 9_007_199_254_000_000);
  for (const decimals of [0, 3, 6, 12]) {
    for (const n of edges) expect(formatScaledNumber(n, decimals)).toBe(formatScaled(BigInt(n), decimals));
  }
  fc.assert(
    fc.property(
      fc.oneof(fc.maxSafeInteger(), fc.integer({ min: -1e7, max: 1e7 })),
      fc.constantFrom(0, 3, 6, 12),
      (n, decimals) => formatScaledNumber(n, decimals) === formatScaled(BigInt(n), decimals),
    ),
    { numRuns: 5_000 },
  );
});

it('square increments telescope to the square of the final total, whatever the values', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { maxLength: 30 }), (values) => {
      let total = 0n;
      let sumOfIncrements = 0n;
      for (const value of values) {
        const scaled = toScaledValue(value);
        sumOfIncrements += squareIncrement(total, scaled);
        total += scaled;
      }
      expect(sumOfIncrements).toBe(total * total);
    }),
  );
});

describe('ExactTotal and addSquareIncrement (doubles below 2^53, BigInt beyond)', () => {
  it('agrees with BigInt arithmetic on random values, totals and orders, across the 2^53 spill', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer({ min: -100_000_000, max: 100_000_000 }),
            fc.double({ min: -1e8, max: 1e8, noNaN: true }),
            fc.constantFrom(1, 0, -1, 99_999_999, 12.34, 1e8),
          ),
          { minLength: 1, maxLength: 60 },
        ),
        (values) => {
          const sum = new ExactTotal();
          const squares = newSquareTotal();
          let total: bigint | undefined;
          let expectedSum = 0n;
          let expectedSquares = 0n;
          for (const value of values) {
            const scaled = toScaledValue(value);
            sum.add(Number(scaled));
            addSquareIncrement(squares, total === undefined ? undefined : Number(total), value, Number(scaled));
            expectedSum += scaled;
            expectedSquares += squareIncrement(total ?? 0n, scaled);
            total = (total ?? 0n) + scaled;
          }
          expect(sum.value()).toBe(expectedSum);
          expect(squares.value()).toBe(expectedSquares);
          expect(sum.format(6)).toBe(formatScaled(expectedSum, 6));
          expect(squares.format(12)).toBe(formatScaled(expectedSquares, 12));
        },
      ),
      { numRuns: 400, seed: 26112026 },
    );
  });

  it('spills into BigInt past 2^53 and stays exact', () => {
    const total = new ExactTotal();
    for (let i = 0; i < 100; i++) total.add(1e14); // 1e16 > 2^53
    expect(total.value()).toBe(10n ** 16n);
    expect(total.format(6)).toBe('10000000000');
    const squares = newSquareTotal();
    addSquareIncrement(squares, 99_000_000_000_000, 1e8, scaledNumber(1e8)); // product beyond 2^53: BigInt path
    expect(squares.value()).toBe(squareIncrement(99_000_000_000_000n, 100_000_000_000_000n));
  });
});

describe('ExactTotal at the 2^53 boundary, where doubles stop being exact', () => {
  const LIMIT = 2 ** 53;

  it('spills a total that reaches exactly 2^53, so the next unit is not lost', () => {
    const up = new ExactTotal();
    up.add(LIMIT - 1);
    up.add(1);
    up.add(1);
    expect(up.value()).toBe(2n ** 53n + 1n);
    const down = new ExactTotal();
    down.add(-(LIMIT - 1));
    down.add(-1);
    down.add(-1);
    expect(down.value()).toBe(-(2n ** 53n) - 1n);
  });

  it('does the same for whole units, scaled by the unit', () => {
    const up = new ExactTotal(10n);
    up.addUnits(LIMIT - 1);
    up.addUnits(1);
    up.addUnits(1);
    expect(up.value()).toBe((2n ** 53n + 1n) * 10n);
    const down = new ExactTotal(10n);
    down.addUnits(-(LIMIT - 1));
    down.addUnits(-1);
    down.addUnits(-1);
    expect(down.value()).toBe(-(2n ** 53n + 1n) * 10n);
  });

  it('adds another total, small, units and spilled parts alike', () => {
    const other = new ExactTotal(1_000n);
    other.add(7);
    other.addUnits(3);
    other.addBig(2n ** 60n);
    const total = new ExactTotal(1_000n);
    total.add(1);
    total.addTotal(other);
    expect(total.value()).toBe(2n ** 60n + 8n + 3_000n);
    expect(total.format(3)).toBe(formatScaled(2n ** 60n + 3_008n, 3));
  });

  it('formats whole units alone as an integer, and anything else with its decimals', () => {
    const units = newSquareTotal();
    units.addUnits(42);
    expect(units.format(12)).toBe('42');
    const mixed = newSquareTotal();
    mixed.addUnits(1);
    mixed.add(500_000_000_000);
    expect(mixed.format(12)).toBe('1.5');
  });
});

describe('addSquareIncrement: whole-unit fast path and exact fallback agree', () => {
  const viaBigInt = (before: number | undefined, value: number): bigint =>
    squareIncrement(BigInt(before ?? 0), toScaledValue(value));
  const viaWriter = (before: number | undefined, value: number): bigint => {
    const squares = newSquareTotal();
    addSquareIncrement(squares, before, value, scaledNumber(value));
    return squares.value();
  };

  it.each([
    ['a first value', undefined, 7],
    ['a whole value on a whole total', 3_000_000, 4],
    ['a whole value on a fractional total', 2_500_000, 3],
    ['a fractional value', 3_000_000, 0.25],
    ['a negative value', 5_000_000, -2],
    ['an increment just below 2^53', 0, 94_906_265],
    ['an increment beyond 2^53', 99_000_000_000_000, 1e8],
    ['a total at the largest user-total limit (2^52 micro-units)', 2 ** 52, 1],
    ['a whole-unit total at the largest limit, a whole value', 4_503_599_000_000, 7],
    // 321 × (2 × 14,029,905,381,056 + 321) = 2^53 + 1, which rounds to 2^53 as a double: not exact, so BigInt.
    ['an increment of 2^53 + 1, which rounds to 2^53 as a double', 14_029_905_381_056_000_000, 321],
  ] as [string, number | undefined, number][])('%s', (_name, before, value) => {
    expect(viaWriter(before, value)).toBe(viaBigInt(before, value));
  });

  it('keeps whole values in whole units², so their Σx² formats as an integer', () => {
    const squares = newSquareTotal();
    addSquareIncrement(squares, undefined, 3, scaledNumber(3));
    addSquareIncrement(squares, 3_000_000, 2, scaledNumber(2));
    expect(squares.format(12)).toBe('25');
    expect(squares.big).toBe(0n);
  });
});

describe('ExactTotal keeps doubles while exact and never keeps a double beyond 2^53', () => {
  const LIMIT = 2 ** 53;

  it('adds totals below 2^53 as doubles, without a BigInt', () => {
    const total = new ExactTotal();
    total.add(LIMIT - 2);
    total.add(1);
    total.add(-5);
    expect([total.small, total.big]).toEqual([LIMIT - 6, 0n]);
    const negative = new ExactTotal();
    negative.add(-(LIMIT - 2));
    negative.add(-1);
    expect([negative.small, negative.big]).toEqual([-(LIMIT - 1), 0n]);
  });

  it('stays exact when halves of 2^53 add up to it and odd units follow, either sign', () => {
    for (const sign of [1, -1]) {
      const total = new ExactTotal();
      total.add(sign * 2 ** 52);
      total.add(sign * 2 ** 52);
      total.add(sign);
      total.add(sign);
      expect(total.value()).toBe(BigInt(sign) * (2n ** 53n + 2n));
    }
  });
});
