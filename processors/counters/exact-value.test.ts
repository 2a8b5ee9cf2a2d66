import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ExactTotal,
  addSquareIncrement,
  formatScaled,
  newSquareTotal,
  squareIncrement,
  toScaledValue,
} from './exact-value.js';

it('rounds event values to 6 decimals, half away from zero, exactly', () => {
  expect(toScaledValue(1)).toBe(1_000_000n);
  expect(toScaledValue(0.1)).toBe(100_000n);
  expect(toScaledValue(-2.5)).toBe(-2_500_000n);
  expect(toScaledValue(0.0000004)).toBe(0n);
  expect(toScaledValue(1e12)).toBe(10n ** 18n);
});

it('formats scaled integers as plain decimals without trailing zeros', () => {
  expect(formatScaled(1_500_000n, 6)).toBe('1.5');
  expect(formatScaled(-5n, 6)).toBe('-0.000005');
  expect(formatScaled(0n, 12)).toBe('0');
  expect(formatScaled(42_000_000n, 6)).toBe('42');
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
            addSquareIncrement(squares, total, value, scaled);
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
    addSquareIncrement(squares, 99_000_000_000_000n, 1e8, toScaledValue(1e8)); // product beyond 2^53: BigInt path
    expect(squares.value()).toBe(squareIncrement(99_000_000_000_000n, 100_000_000_000_000n));
  });
});
