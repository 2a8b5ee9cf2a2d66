/**
 * The engine sees only (n, Σx, Σx²). These tests rebuild the same comparison from raw
 * per-user values with textbook two-pass formulas, so a slip in the sufficient-statistics
 * algebra (or catastrophic cancellation) would show.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareToControl, type SampleStats } from './index.js';

function sufficientStatistics(values: number[]): SampleStats {
  return {
    n: values.length,
    sum: values.reduce((total, value) => total + value, 0),
    sumSquares: values.reduce((total, value) => total + value * value, 0),
  };
}

function twoPassMoments(values: number[]): { mean: number; variance: number } {
  const mean = values.reduce((total, value) => total + value, 0) / values.length;
  const variance = values.reduce((total, value) => total + (value - mean) ** 2, 0) / (values.length - 1);
  return { mean, variance };
}

function relativeError(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.max(1e-12, Math.abs(expected));
}

/** Per-user values as the counters would see them: revenue-like, with many zeros. */
const userValues = fc.array(
  fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 500, noNaN: true }), fc.integer({ min: 1, max: 20 })),
  { minLength: 2, maxLength: 300 },
);

describe('sufficient statistics versus raw per-user values', () => {
  it('gives the textbook Welch estimate, standard error and degrees of freedom', () => {
    fc.assert(
      fc.property(userValues, userValues, (controlValues, treatmentValues) => {
        const control = twoPassMoments(controlValues);
        const treatment = twoPassMoments(treatmentValues);
        fc.pre(control.variance > 1e-6 && treatment.variance > 1e-6);
        const result = compareToControl(sufficientStatistics(controlValues), sufficientStatistics(treatmentValues), {
          kind: 'mean',
          sequential: false,
        });
        const standardError = Math.sqrt(
          treatment.variance / treatmentValues.length + control.variance / controlValues.length,
        );
        const controlTerm = control.variance / controlValues.length;
        const treatmentTerm = treatment.variance / treatmentValues.length;
        const degreesOfFreedom =
          (controlTerm + treatmentTerm) ** 2 /
          (controlTerm ** 2 / (controlValues.length - 1) + treatmentTerm ** 2 / (treatmentValues.length - 1));

        expect(Math.abs(result.absolute.estimate! - (treatment.mean - control.mean))).toBeLessThan(1e-9);
        expect(relativeError(result.standardErrors.absolute!, standardError)).toBeLessThan(1e-7);
        expect(relativeError(result.degreesOfFreedom!, degreesOfFreedom)).toBeLessThan(1e-6);
      }),
    );
  });

  it('matches a hand-computed conversion test: 30/200 vs 45/200', () => {
    const controlValues = [...Array<number>(30).fill(1), ...Array<number>(170).fill(0)];
    const treatmentValues = [...Array<number>(45).fill(1), ...Array<number>(155).fill(0)];
    const result = compareToControl(sufficientStatistics(controlValues), sufficientStatistics(treatmentValues), {
      kind: 'binomial',
      sequential: false,
    });
    // p(1−p)/n per arm: 0.15·0.85/200 + 0.225·0.775/200
    const standardError = Math.sqrt((0.15 * 0.85) / 200 + (0.225 * 0.775) / 200);
    expect(result.absolute.estimate).toBeCloseTo(0.075, 12);
    expect(result.standardErrors.absolute).toBeCloseTo(standardError, 12);
    expect(result.relative.estimate).toBeCloseTo(0.5, 12);
  });
});
