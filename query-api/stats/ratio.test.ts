/**
 * Ratio metrics (delta method) against gbstats' RatioStatistic test data and against an
 * independent implementation from raw per-user values (the linearised values
 * (m − R·d)/d̄, two-pass) on random data; ratio and CUPED results finite-or-null for any input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../local/test-support/counter-workload.js';
import { compareToControl } from './compare.js';
import {
  compareOptions,
  expectServable,
  sum,
  sumAndSquares,
  sumOfProducts,
  sumOfSquares,
  users,
} from '../test-support/arbitrary-statistics.js';
import { welchReference } from '../test-support/independent-statistics.js';
import { compareCuped } from './cuped.js';
import { compareRatio, ratioMoments, type RatioStats } from './ratio.js';

interface User {
  m: number;
  d: number;
}

const statsOf = (users: readonly User[]): RatioStats => ({
  n: users.length,
  numerator: { sum: users.reduce((s, u) => s + u.m, 0), sumSquares: users.reduce((s, u) => s + u.m * u.m, 0) },
  denominator: { sum: users.reduce((s, u) => s + u.d, 0), sumSquares: users.reduce((s, u) => s + u.d * u.d, 0) },
  sumProducts: users.reduce((s, u) => s + u.m * u.d, 0),
});

/** The ratio and Var(R̂) from raw values: R = Σm/Σd, Var = sample variance of (m − R·d)/d̄, over n. */
function independentRatio(users: readonly User[]) {
  const n = users.length;
  const ratio = users.reduce((s, u) => s + u.m, 0) / users.reduce((s, u) => s + u.d, 0);
  const meanD = users.reduce((s, u) => s + u.d, 0) / n;
  const linear = users.map((u) => (u.m - ratio * u.d) / meanD);
  const meanLinear = linear.reduce((a, b) => a + b, 0) / n;
  const variance = linear.reduce((s, z) => s + (z - meanLinear) ** 2, 0) / (n - 1);
  return { ratio, varianceOfEstimate: variance / n };
}

/** Orders (d ≥ 0, many 1s) and revenue per user (m, correlated with d). */
function simulate(count: number, lift: number, random: () => number): User[] {
  return Array.from({ length: count }, () => {
    const d = random() < 0.2 ? 0 : 1 + Math.floor(random() * 4);
    const m = d * (20 + lift + 30 * random()) + (random() < 0.1 ? 50 * random() : 0);
    return { m: Math.round(m * 100) / 100, d };
  });
}

const relativeError = (actual: number | null, expected: number) =>
  Math.abs(actual! - expected) / Math.max(1e-12, Math.abs(expected));

describe('ratioMoments', () => {
  it("gives gbstats' RatioStatistic test data (m = 0.3, 0.5, 0.9, 22; d = 2, 1, 5, 3) its delta-method variance", () => {
    const users = [0.3, 0.5, 0.9, 22].map((m, i) => ({ m, d: [2, 1, 5, 3][i]! }));
    const moments = ratioMoments(statsOf(users));
    expect(moments.mean).toBeCloseTo(23.7 / 11, 14);
    // numpy: np.var((m − R·d)/d̄, ddof=1) = 15.764613528219838 (np.cov(m, d)[0, 1] = 2.141667 inside).
    expect(moments.variance).toBeCloseTo(15.764613528219838, 10);
  });

  it('has no ratio when the denominator sums to 0 (gbstats test_ratio_denom_zero), nor a variance below 2 users', () => {
    expect(
      ratioMoments({
        n: 4,
        numerator: { sum: 3, sumSquares: 5 },
        denominator: { sum: 0, sumSquares: 39 },
        sumProducts: 1,
      }),
    ).toEqual({ n: 4, mean: null, variance: null });
    expect(ratioMoments(statsOf([{ m: 3, d: 2 }]))).toEqual({ n: 1, mean: 1.5, variance: null });
  });
});

describe('compareRatio', () => {
  it('equals an independent delta-method implementation from raw values on random data', () => {
    const random = seededRandom(2016);
    for (const [count, lift] of [
      [100, 0],
      [800, 2],
      [5000, 0.5],
    ] as const) {
      const control = simulate(count, 0, random);
      const treatment = simulate(count + 31, lift, random);
      const c = independentRatio(control);
      const t = independentRatio(treatment);
      const result = compareRatio(statsOf(control), statsOf(treatment), { sequential: false });
      expect(relativeError(result.absolute.estimate, t.ratio - c.ratio)).toBeLessThan(1e-9);
      const standardError = Math.sqrt(t.varianceOfEstimate + c.varianceOfEstimate);
      expect(relativeError(result.standardErrors.absolute, standardError)).toBeLessThan(1e-9);
      // Relative lift of the ratio: variance_of_ratios over the two independent estimates.
      const relativeSe = Math.sqrt(
        t.varianceOfEstimate / c.ratio ** 2 + (t.ratio ** 2 * c.varianceOfEstimate) / c.ratio ** 4,
      );
      expect(relativeError(result.relative.estimate, t.ratio / c.ratio - 1)).toBeLessThan(1e-9);
      expect(relativeError(result.standardErrors.relative, relativeSe)).toBeLessThan(1e-9);
    }
  });

  it('reduces to the mean metric when every denominator is 1 (revenue per user)', () => {
    const random = seededRandom(7);
    const control = simulate(400, 0, random).map((u) => ({ m: u.m, d: 1 }));
    const treatment = simulate(420, 3, random).map((u) => ({ m: u.m, d: 1 }));
    const asRatio = compareRatio(statsOf(control), statsOf(treatment), { sequential: false });
    const sample = (users: User[]) => ({
      n: users.length,
      sum: users.reduce((s, u) => s + u.m, 0),
      sumSquares: users.reduce((s, u) => s + u.m * u.m, 0),
    });
    const asMean = compareToControl(sample(control), sample(treatment), { kind: 'mean', sequential: false });
    expect(asRatio.relative.ciLow).toBeCloseTo(asMean.relative.ciLow!, 10);
    expect(asRatio.pValue).toBeCloseTo(asMean.pValue!, 10);
    const reference = welchReference(sample(control), sample(treatment), false);
    expect(asRatio.absolute.ciHigh).toBeCloseTo(reference.absolute.ciHigh, 6);
  });

  it('warns zero-denominator and tests nothing when an arm has no denominator', () => {
    const control = statsOf([
      { m: 0, d: 0 },
      { m: 0, d: 0 },
    ]);
    const treatment = statsOf(simulate(50, 0, seededRandom(3)));
    const result = compareRatio(control, treatment, {});
    expect(result.warnings).toContain('zero-denominator');
    expect(result.pValue).toBeNull();
    expect(result.absolute.estimate).toBeNull();
  });

  it('refuses impossible statistics with VALIDATION_FAILED naming the field', () => {
    const bad = { ...statsOf(simulate(5, 0, seededRandom(4))), sumProducts: Number.NaN };
    expect(() => compareRatio(bad, bad, {})).toThrow(/sumProducts must be a finite number/);
  });
});

describe('ratio and CUPED comparisons on arbitrary statistics (fast-check)', () => {
  const ratioArm = fc.record({
    n: users,
    numerator: sumAndSquares,
    denominator: sumAndSquares,
    sumProducts: sumOfProducts,
  });
  const cupedArm = fc.record({
    n: users,
    sum,
    sumSquares: sumOfSquares,
    covariateSum: sum,
    covariateSumSquares: sumOfSquares,
    sumProducts: sumOfProducts,
  });

  it('serve only finite numbers or null, stable through JSON', () => {
    fc.assert(
      fc.property(ratioArm, ratioArm, cupedArm, cupedArm, compareOptions, (rc, rt, cc, ct, opts) => {
        expectServable(compareRatio(rc, rt, opts));
        expectServable(compareCuped(cc, ct, opts));
      }),
      { numRuns: 500 },
    );
  });
});
