/**
 * fast-check arbitraries of the statistics' inputs (arbitrary, not realistic: any sums a store
 * could hand over, zeros and extremes included) and the promise every comparison keeps on them:
 * only finite numbers or null, the same after a trip through JSON.
 */
import fc from 'fast-check';
import { expect } from 'vitest';

/** A Σx. */
export const sum = fc.double({ min: -1e9, max: 1e9, noNaN: true });

/** A Σx². */
export const sumOfSquares = fc.double({ min: 0, max: 1e18, noNaN: true });

/** A Σx and Σx² pair. */
export const sumAndSquares = fc.record({ sum, sumSquares: sumOfSquares });

/** A Σxy. */
export const sumOfProducts = fc.double({ min: -1e18, max: 1e18, noNaN: true });

/** Users in an arm. */
export const users = fc.integer({ min: 0, max: 1_000_000 });

/** Frequentist or sequential, with any alternative. */
export const compareOptions = fc.record({
  sequential: fc.boolean(),
  alternative: fc.constantFrom('two-sided' as const, 'greater' as const, 'less' as const),
});

const finiteOrNullEverywhere = (value: unknown): boolean => {
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(finiteOrNullEverywhere);
  if (value !== null && typeof value === 'object') return Object.values(value).every(finiteOrNullEverywhere);
  return true;
};

/** Asserts a result holds only finite numbers or null, and survives JSON unchanged (what the API serves). */
export function expectServable(result: unknown): void {
  expect(finiteOrNullEverywhere(result), JSON.stringify(result)).toBe(true);
  expect(JSON.parse(JSON.stringify(result))).toEqual(result);
}
