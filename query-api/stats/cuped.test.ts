/**
 * CUPED (regression adjustment) against gbstats' published case and against an
 * independent implementation from raw per-user values (two-pass moments, the adjusted
 * per-user values y − θx written out), on random data.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../local/test-support/counter-workload.js';
import { compareToControl } from './compare.js';
import { compareCuped, cupedTheta, type CupedStats } from './cuped.js';

const gbstatsControl: CupedStats = {
  n: 3000,
  sum: 1396.87,
  sumSquares: 52377.9767,
  covariateSum: 16.87,
  covariateSumSquares: 527.9767,
  sumProducts: 1,
};
const gbstatsTreatment: CupedStats = {
  n: 3461,
  sum: 2422.7,
  sumSquares: 134698.29,
  covariateSum: 22.7,
  covariateSumSquares: 1348.29,
  sumProducts: 1,
};

interface User {
  y: number;
  x: number;
}

const statsOf = (users: readonly User[]): CupedStats => ({
  n: users.length,
  sum: users.reduce((s, u) => s + u.y, 0),
  sumSquares: users.reduce((s, u) => s + u.y * u.y, 0),
  covariateSum: users.reduce((s, u) => s + u.x, 0),
  covariateSumSquares: users.reduce((s, u) => s + u.x * u.x, 0),
  sumProducts: users.reduce((s, u) => s + u.x * u.y, 0),
});

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const covariance = (a: readonly number[], b: readonly number[]) => {
  const ma = mean(a);
  const mb = mean(b);
  return a.reduce((s, value, i) => s + (value - ma) * (b[i]! - mb), 0) / (a.length - 1);
};

/** The same estimator from raw values: θ by two-pass pooled moments, adjusted values y − θx per user. */
function independentCuped(control: readonly User[], treatment: readonly User[]) {
  const pooled = [...control, ...treatment];
  const theta =
    covariance(
      pooled.map((u) => u.y),
      pooled.map((u) => u.x),
    ) /
    covariance(
      pooled.map((u) => u.x),
      pooled.map((u) => u.x),
    );
  const adjusted = (users: readonly User[]) => users.map((u) => u.y - theta * u.x);
  const [c, t] = [adjusted(control), adjusted(treatment)];
  const variance = (values: number[]) => covariance(values, values);
  const absolute = mean(t) - mean(c);
  const standardError = Math.sqrt(variance(t) / t.length + variance(c) / c.length);
  // gbstats' relative variance, from raw two-pass moments.
  const yc = control.map((u) => u.y);
  const xc = control.map((u) => u.x);
  const meanYc = mean(yc);
  const meanYt = mean(treatment.map((u) => u.y));
  const relativeVariance =
    variance(t) / (t.length * meanYc ** 2) +
    ((variance(yc) * meanYt ** 2) / meanYc ** 2 -
      (2 * theta * covariance(yc, xc) * meanYt) / meanYc +
      theta ** 2 * variance(xc)) /
      (c.length * meanYc ** 2);
  return {
    theta,
    absolute,
    standardError,
    relative: absolute / Math.abs(meanYc),
    relativeSe: Math.sqrt(relativeVariance),
  };
}

function simulate(count: number, lift: number, correlation: number, random: () => number): User[] {
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Array.from({ length: count }, () => {
    const x = 10 + 3 * gaussian();
    const noise = gaussian();
    return { x, y: 10 + lift + 3 * (correlation * ((x - 10) / 3) + Math.sqrt(1 - correlation ** 2) * noise) };
  });
}

const relativeError = (actual: number | null, expected: number) =>
  Math.abs(actual! - expected) / Math.max(1e-12, Math.abs(expected));

describe('compareCuped', () => {
  it("reproduces gbstats' test_sequential_test_runs_ra: 0.50338, CI (-0.50969, 1.51646), SE 0.33341, p 1", () => {
    const result = compareCuped(gbstatsControl, gbstatsTreatment, {});
    expect(result.theta).toBeCloseTo(-0.011403, 6);
    expect(result.adjusted.relative.estimate).toBeCloseTo(0.50338, 5);
    expect(result.adjusted.relative.ciLow).toBeCloseTo(-0.50969, 5);
    expect(result.adjusted.relative.ciHigh).toBeCloseTo(1.51646, 5);
    expect(result.adjusted.standardErrors.relative).toBeCloseTo(0.33341, 5);
    expect(result.adjusted.pValue).toBe(1);
    // The unadjusted comparison is gbstats' test_sequential_test_runs (tuning 5000 here).
    expect(result.unadjusted.relative.estimate).toBeCloseTo(0.50336, 5);
  });

  it('equals an independent implementation from raw values on random data, and reports the variance saved', () => {
    const random = seededRandom(1616);
    for (const [count, lift, correlation] of [
      [200, 0.3, 0.8],
      [1000, 0.1, 0.5],
      [50, 1, 0.95],
      [3000, 0, 0.2],
    ] as const) {
      const control = simulate(count, 0, correlation, random);
      const treatment = simulate(count + 17, lift, correlation, random);
      const expected = independentCuped(control, treatment);
      const result = compareCuped(statsOf(control), statsOf(treatment), { sequential: false });
      expect(relativeError(result.theta, expected.theta)).toBeLessThan(1e-9);
      expect(relativeError(result.adjusted.absolute.estimate, expected.absolute)).toBeLessThan(1e-7);
      expect(relativeError(result.adjusted.standardErrors.absolute, expected.standardError)).toBeLessThan(1e-9);
      expect(relativeError(result.adjusted.relative.estimate, expected.relative)).toBeLessThan(1e-7);
      expect(relativeError(result.adjusted.standardErrors.relative, expected.relativeSe)).toBeLessThan(1e-9);
      const unadjustedSe = result.unadjusted.standardErrors.absolute!;
      expect(result.varianceReduction).toBeCloseTo(1 - expected.standardError ** 2 / unadjustedSe ** 2, 12);
      // The reduction is about ρ²: the share of y's variance the covariate explains.
      expect(Math.abs(result.varianceReduction! - correlation ** 2)).toBeLessThan(0.12);
    }
  });

  it('falls back to the unadjusted comparison when the covariate does not vary (θ = 0)', () => {
    const constant = (stats: CupedStats): CupedStats => ({
      ...stats,
      covariateSum: 2 * stats.n,
      covariateSumSquares: 4 * stats.n,
      sumProducts: 2 * stats.sum,
    });
    const result = compareCuped(constant(gbstatsControl), constant(gbstatsTreatment), { sequential: false });
    expect(result.theta).toBe(0);
    expect(result.varianceReduction).toBe(0);
    expect(result.adjusted).toEqual(
      compareToControl(
        { n: 3000, sum: 1396.87, sumSquares: 52377.9767 },
        { n: 3461, sum: 2422.7, sumSquares: 134698.29 },
        { kind: 'mean', sequential: false },
      ),
    );
  });

  it('falls back to the unadjusted comparison when Var(x) is too small for a finite θ (found by the fast-check property)', () => {
    // Var(x) of about 3e-324 (a sum of squares of 1e-323): Cov(y, x)/Var(x) overflowed to Infinity, served as θ.
    const control = {
      n: 2,
      sum: -2.5073713603713584e-81,
      sumSquares: 3.1434555697196045e-162,
      covariateSum: 0,
      covariateSumSquares: 0,
      sumProducts: 2.6645352591003757e-15,
    };
    const treatment = {
      n: 2,
      sum: 0,
      sumSquares: 5e-324,
      covariateSum: 0,
      covariateSumSquares: 1e-323,
      sumProducts: 0,
    };
    expect(cupedTheta(control, treatment)).toBe(0);
    const result = compareCuped(control, treatment, { sequential: false });
    expect(result.theta).toBe(0);
    expect(result.varianceReduction).toBe(0);
    expect(result.adjusted).toEqual(result.unadjusted);
  });

  it('keeps the guards of the unadjusted comparison (too few users) and refuses impossible statistics', () => {
    const tiny = { n: 1, sum: 1, sumSquares: 1, covariateSum: 1, covariateSumSquares: 1, sumProducts: 1 };
    const result = compareCuped(tiny, gbstatsTreatment, {});
    expect(result.adjusted.warnings).toContain('too-few-units');
    expect(result.theta).toBeNull();
    expect(() => compareCuped({ ...tiny, covariateSumSquares: -1 }, gbstatsTreatment, {})).toThrow(
      /covariateSumSquares must be a finite, non-negative number/,
    );
  });

  it('pools θ over both arms as gbstats compute_theta does', () => {
    const pooledN = 6461;
    const sumY = 1396.87 + 2422.7;
    const sumX = 16.87 + 22.7;
    const varianceX = (527.9767 + 1348.29 - sumX ** 2 / pooledN) / (pooledN - 1);
    const cov = (2 - (sumY * sumX) / pooledN) / (pooledN - 1);
    expect(cupedTheta(gbstatsControl, gbstatsTreatment)).toBeCloseTo(cov / varianceX, 15);
  });
});
