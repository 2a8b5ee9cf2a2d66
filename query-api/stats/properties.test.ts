/**
 * Property-based tests (fast-check): whatever the counters hold, results are finite or
 * null, probabilities are probabilities, and the comparisons are symmetric where the
 * mathematics says they must be.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  adjustPValues,
  compareToControl,
  sampleRatioMismatch,
  type CompareOptions,
  type SampleStats,
  type VariantComparison,
} from './index.js';

/** Sufficient statistics of n users with a given mean and standard deviation. */
const meanSample = fc
  .record({
    n: fc.integer({ min: 0, max: 1_000_000 }),
    mean: fc.double({ min: -1e4, max: 1e4, noNaN: true }),
    standardDeviation: fc.double({ min: 0, max: 1e4, noNaN: true }),
  })
  .map(({ n, mean, standardDeviation }): SampleStats => {
    if (n === 0) return { n, sum: 0, sumSquares: 0 };
    return { n, sum: n * mean, sumSquares: (n - 1) * standardDeviation ** 2 + n * mean ** 2 };
  });

/** Any statistics a (possibly corrupted) counter could hold, consistent or not. */
const arbitrarySample = fc.record({
  n: fc.integer({ min: 0, max: 10_000_000 }),
  sum: fc.double({ min: -1e12, max: 1e12, noNaN: true }),
  sumSquares: fc.double({ min: 0, max: 1e24, noNaN: true }),
});

const binomialSample = fc
  .integer({ min: 0, max: 1_000_000 })
  .chain((n) =>
    fc.integer({ min: 0, max: n }).map((conversions) => ({ n, sum: conversions, sumSquares: conversions })),
  );

const options = fc.record({
  alpha: fc.double({ min: 0.001, max: 0.2, noNaN: true }),
  sequential: fc.boolean(),
  sequentialTuning: fc.double({ min: 1, max: 1e7, noNaN: true }),
  lowerIsBetter: fc.boolean(),
  oneSided: fc.boolean(),
  prior: fc.option(
    fc.record({
      mean: fc.double({ min: -1, max: 1, noNaN: true }),
      variance: fc.double({ min: 1e-4, max: 10, noNaN: true }),
      proper: fc.boolean(),
    }),
    { nil: undefined },
  ),
});

function everyNumberIsFinite(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(everyNumberIsFinite);
  if (value !== null && typeof value === 'object') return Object.values(value).every(everyNumberIsFinite);
  return true;
}

function isProbabilityOrNull(value: number | null): boolean {
  return value === null || (value >= 0 && value <= 1);
}

function expectSane(result: VariantComparison): void {
  expect(everyNumberIsFinite(result)).toBe(true);
  expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  expect(isProbabilityOrNull(result.pValue)).toBe(true);
  expect(isProbabilityOrNull(result.absolutePValue)).toBe(true);
  expect(isProbabilityOrNull(result.chanceToWin)).toBe(true);
  for (const interval of [result.absolute, result.relative, result.bayesian.absolute, result.bayesian.relative]) {
    if (interval.ciLow !== null && interval.ciHigh !== null)
      expect(interval.ciLow).toBeLessThanOrEqual(interval.ciHigh);
  }
}

describe('compareToControl properties', () => {
  it('returns only finite numbers or null for mean metrics, under any options', () => {
    fc.assert(
      fc.property(meanSample, meanSample, options, (control, treatment, settings) => {
        expectSane(compareToControl(control, treatment, { kind: 'mean', ...settings }));
      }),
    );
  });

  it('returns only finite numbers or null for binomial metrics, under any options', () => {
    fc.assert(
      fc.property(binomialSample, binomialSample, options, (control, treatment, settings) => {
        expectSane(compareToControl(control, treatment, { kind: 'binomial', ...settings }));
      }),
    );
  });

  it('never emits NaN or Infinity even for inconsistent or extreme counters', () => {
    fc.assert(
      fc.property(arbitrarySample, arbitrarySample, options, (control, treatment, settings) => {
        expectSane(compareToControl(control, treatment, { kind: 'mean', ...settings }));
      }),
    );
  });

  it('is antisymmetric in the absolute difference: swapping arms negates estimate and interval', () => {
    fc.assert(
      fc.property(meanSample, meanSample, fc.boolean(), (control, treatment, sequential) => {
        const settings: CompareOptions = { kind: 'mean', sequential };
        const forward = compareToControl(control, treatment, settings);
        const backward = compareToControl(treatment, control, settings);
        if (forward.absolute.estimate === null || backward.absolute.estimate === null) return;
        expect(backward.absolute.estimate).toBeCloseTo(-forward.absolute.estimate, 6);
        if (forward.absolute.ciLow === null || forward.absolute.ciHigh === null) return;
        const scale = Math.max(1, Math.abs(forward.absolute.ciLow), Math.abs(forward.absolute.ciHigh));
        expect(Math.abs(backward.absolute.ciLow! + forward.absolute.ciHigh) / scale).toBeLessThan(1e-9);
        expect(Math.abs(backward.absolute.ciHigh! + forward.absolute.ciLow) / scale).toBeLessThan(1e-9);
        expect(backward.absolutePValue!).toBeCloseTo(forward.absolutePValue!, 9);
      }),
    );
  });

  it('turns chance to win into its complement when lower is better, leaving two-sided tests alone', () => {
    fc.assert(
      fc.property(binomialSample, binomialSample, fc.boolean(), (control, treatment, sequential) => {
        const higher = compareToControl(control, treatment, { kind: 'binomial', sequential });
        const lower = compareToControl(control, treatment, { kind: 'binomial', sequential, lowerIsBetter: true });
        expect(lower.pValue).toEqual(higher.pValue);
        expect(lower.relative).toEqual(higher.relative);
        if (higher.chanceToWin === null) expect(lower.chanceToWin).toBeNull();
        else expect(lower.chanceToWin! + higher.chanceToWin).toBeCloseTo(1, 9);
      }),
    );
  });

  it('splits the fixed-horizon two-sided p-value between the two one-sided tests', () => {
    fc.assert(
      fc.property(meanSample, meanSample, (control, treatment) => {
        const base: CompareOptions = { kind: 'mean', sequential: false };
        const twoSided = compareToControl(control, treatment, base).absolutePValue;
        const greater = compareToControl(control, treatment, { ...base, oneSided: true }).absolutePValue;
        const lesser = compareToControl(control, treatment, {
          ...base,
          oneSided: true,
          lowerIsBetter: true,
        }).absolutePValue;
        if (twoSided === null) return;
        expect(greater! + lesser!).toBeCloseTo(1, 6);
        expect(Math.min(greater!, lesser!)).toBeCloseTo(twoSided / 2, 6);
      }),
    );
  });

  it('makes always-valid intervals contain the fixed-horizon ones once each arm has 30 users', () => {
    const sample = meanSample.filter(({ n }) => n >= 30);
    fc.assert(
      fc.property(sample, sample, fc.double({ min: 10, max: 1e6, noNaN: true }), (control, treatment, tuning) => {
        const fixed = compareToControl(control, treatment, { kind: 'mean', sequential: false });
        const sequential = compareToControl(control, treatment, { kind: 'mean', sequentialTuning: tuning });
        if (fixed.absolute.ciLow === null || sequential.absolute.ciLow === null) return;
        expect(sequential.absolute.ciLow).toBeLessThanOrEqual(fixed.absolute.ciLow);
        expect(sequential.absolute.ciHigh!).toBeGreaterThanOrEqual(fixed.absolute.ciHigh!);
      }),
    );
  });
});

const pValueList = fc.array(fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }), { maxLength: 40 });

describe('adjustPValues properties', () => {
  it('never lowers a p-value, keeps nulls, stays within [0, 1], and Holm is at least as strict as BH', () => {
    fc.assert(
      fc.property(pValueList, (pValues) => {
        const holm = adjustPValues(pValues, 'holm');
        const bh = adjustPValues(pValues, 'bh');
        pValues.forEach((raw, index) => {
          if (raw === null) {
            expect(holm[index]).toBeNull();
            expect(bh[index]).toBeNull();
            return;
          }
          expect(bh[index]!).toBeGreaterThanOrEqual(raw);
          expect(holm[index]!).toBeGreaterThanOrEqual(bh[index]! - 1e-15);
          expect(holm[index]!).toBeLessThanOrEqual(1);
        });
      }),
    );
  });

  it('preserves the order of p-values and does not depend on input order', () => {
    fc.assert(
      fc.property(pValueList, fc.constantFrom('holm' as const, 'bh' as const), (pValues, method) => {
        const adjusted = adjustPValues(pValues, method);
        const reversed = adjustPValues([...pValues].reverse(), method).reverse();
        expect(reversed).toEqual(adjusted);
        pValues.forEach((left, i) =>
          pValues.forEach((right, j) => {
            if (left !== null && right !== null && left <= right) {
              expect(adjusted[i]!).toBeLessThanOrEqual(adjusted[j]!);
            }
          }),
        );
      }),
    );
  });
});

describe('sampleRatioMismatch properties', () => {
  const split = fc
    .array(fc.record({ users: fc.integer({ min: 0, max: 1_000_000 }), weight: fc.double({ min: 0.01, max: 1 }) }), {
      minLength: 2,
      maxLength: 8,
    })
    .filter((arms) => !arms.some(({ weight }) => Number.isNaN(weight)));

  it('gives a probability, invariant to scaling the weights and to the order of the variants', () => {
    fc.assert(
      fc.property(split, fc.double({ min: 0.1, max: 1000, noNaN: true }), (arms, scale) => {
        const users = arms.map(({ users }) => users);
        const weights = arms.map(({ weight }) => weight);
        const { pValue } = sampleRatioMismatch(users, weights);
        expect(pValue).toBeGreaterThanOrEqual(0);
        expect(pValue).toBeLessThanOrEqual(1);
        expect(
          sampleRatioMismatch(
            users,
            weights.map((weight) => weight * scale),
          ).pValue,
        ).toBeCloseTo(pValue, 9);
        expect(sampleRatioMismatch([...users].reverse(), [...weights].reverse()).pValue).toBeCloseTo(pValue, 9);
      }),
    );
  });

  it('never flags a split that matches the weights exactly', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 2, maxLength: 6 }),
        fc.integer({ min: 1, max: 1000 }),
        (weights, scale) => {
          const result = sampleRatioMismatch(
            weights.map((weight) => weight * scale),
            weights,
          );
          expect(result.pValue).toBeCloseTo(1, 9);
          expect(result.mismatch).toBe(false);
        },
      ),
    );
  });
});
