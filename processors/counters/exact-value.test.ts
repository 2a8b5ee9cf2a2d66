import fc from 'fast-check';
import { expect, it } from 'vitest';
import { formatScaled, squareIncrement, toScaledValue } from './exact-value.js';

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
