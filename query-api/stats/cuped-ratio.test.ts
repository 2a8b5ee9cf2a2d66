/**
 * CUPED for ratio metrics against gbstats' published cases
 * (frequentist/test_tests.py: test_two_sided_ttest_test_runs_ratio_ra and
 * test_sequential_test_runs_ratio_ra) and against an independent implementation from raw
 * per-user values (the linearised values of R_post − θ·R_pre) on random data.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../local/test-support/counter-workload.js';
import {
  compareOptions,
  expectServable,
  sumAndSquares,
  sumOfProducts,
  users,
} from '../test-support/arbitrary-statistics.js';
import { compareCupedRatio, cupedRatioTheta, type CupedRatioStats } from './cuped-ratio.js';
import { compareRatio } from './ratio.js';

const gbstatsControl: CupedRatioStats = {
  n: 100,
  numerator: { sum: 485.112236689623, sumSquares: 2715.484666118136 },
  denominator: { sum: 679.9093275844917, sumSquares: 4939.424001640236 },
  numeratorCovariate: { sum: 192.59138069991536, sumSquares: 460.076026390857 },
  denominatorCovariate: { sum: 290.1398399750233, sumSquares: 920.9461385038898 },
  products: {
    numeratorNumeratorCovariate: 1113.6215759318352,
    denominatorDenominatorCovariate: 2130.9404074446747,
    numeratorCovariateDenominatorCovariate: 634.239482353647,
    numeratorDenominator: 3602.146836776702,
    numeratorDenominatorCovariate: 1559.2878434944676,
    numeratorCovariateDenominator: 1460.3181079276983,
  },
};
const gbstatsTreatment: CupedRatioStats = {
  n: 100,
  numerator: { sum: 514.7757826608777, sumSquares: 2994.897482705013 },
  denominator: { sum: 705.4090874383759, sumSquares: 5291.36604146392 },
  numeratorCovariate: { sum: 206.94157227402536, sumSquares: 514.2903702246757 },
  denominatorCovariate: { sum: 302.54389139107326, sumSquares: 994.4506208125663 },
  products: {
    numeratorNumeratorCovariate: 1237.0953021125997,
    denominatorDenominatorCovariate: 2292.081739775257,
    numeratorCovariateDenominatorCovariate: 698.4173425817908,
    numeratorDenominator: 3918.1561431600717,
    numeratorDenominatorCovariate: 1701.0287270040265,
    numeratorCovariateDenominator: 1604.0759503266522,
  },
};

interface User {
  m: number;
  d: number;
  mPre: number;
  dPre: number;
}

function statsOf(users: readonly User[]): CupedRatioStats {
  const sum = (f: (u: User) => number) => users.reduce((s, u) => s + f(u), 0);
  const part = (f: (u: User) => number) => ({ sum: sum(f), sumSquares: sum((u) => f(u) ** 2) });
  return {
    n: users.length,
    numerator: part((u) => u.m),
    denominator: part((u) => u.d),
    numeratorCovariate: part((u) => u.mPre),
    denominatorCovariate: part((u) => u.dPre),
    products: {
      numeratorNumeratorCovariate: sum((u) => u.m * u.mPre),
      denominatorDenominatorCovariate: sum((u) => u.d * u.dPre),
      numeratorCovariateDenominatorCovariate: sum((u) => u.mPre * u.dPre),
      numeratorDenominator: sum((u) => u.m * u.d),
      numeratorDenominatorCovariate: sum((u) => u.m * u.dPre),
      numeratorCovariateDenominator: sum((u) => u.mPre * u.d),
    },
  };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const variance = (values: number[]) => {
  const m = mean(values);
  return values.reduce((s, v) => s + (v - m) ** 2, 0) / (values.length - 1);
};

/**
 * Independent: per user the linearisation of R_post − θR_pre,
 * z = (m − R_post·d)/d̄ − θ(m_pre − R_pre·d_pre)/d̄_pre; Var(R̂*) = var(z)/n.
 */
function linearised(users: readonly User[], theta: number) {
  const rPost = mean(users.map((u) => u.m)) / mean(users.map((u) => u.d));
  const rPre = mean(users.map((u) => u.mPre)) / mean(users.map((u) => u.dPre));
  const dBar = mean(users.map((u) => u.d));
  const dPreBar = mean(users.map((u) => u.dPre));
  const z = users.map((u) => (u.m - rPost * u.d) / dBar - (theta * (u.mPre - rPre * u.dPre)) / dPreBar);
  return { adjusted: rPost - theta * rPre, varianceOfEstimate: variance(z) / users.length };
}

function simulate(count: number, lift: number, random: () => number): User[] {
  return Array.from({ length: count }, () => {
    const activity = random();
    const dPre = 1 + Math.floor(activity * 5);
    const d = Math.max(1, dPre + Math.floor(random() * 3) - 1);
    const value = 10 + 20 * activity;
    return { dPre, d, mPre: dPre * value * (0.8 + 0.4 * random()), m: d * (value + lift) * (0.8 + 0.4 * random()) };
  });
}

/** The CUPED comparison kept the plain one, untouched: no θ, no variance reduction. */
function expectPlainKept(result: ReturnType<typeof compareCupedRatio>): void {
  expect(result).toEqual({
    adjusted: result.unadjusted,
    unadjusted: result.unadjusted,
    theta: null,
    varianceReduction: null,
  });
}

const relativeError = (actual: number | null, expected: number) =>
  Math.abs(actual! - expected) / Math.max(1e-12, Math.abs(expected));

describe('compareCupedRatio', () => {
  it("reproduces gbstats' fixed-horizon case: −0.0007, CI (−0.00841, 0.00700), SE 0.00391, p 0.85771", () => {
    const result = compareCupedRatio(gbstatsControl, gbstatsTreatment, { sequential: false });
    expect(result.adjusted.relative.estimate).toBeCloseTo(-0.0007, 5);
    expect(result.adjusted.relative.ciLow).toBeCloseTo(-0.00841, 5);
    expect(result.adjusted.relative.ciHigh).toBeCloseTo(0.007, 5);
    expect(result.adjusted.standardErrors.relative).toBeCloseTo(0.00391, 5);
    expect(result.adjusted.pValue).toBeCloseTo(0.85771, 5);
    expect(result.adjusted.warnings).toEqual([]);
  });

  it("reproduces gbstats' sequential case (N* 5000): CI (−0.02063, 0.01923), p 1", () => {
    const result = compareCupedRatio(gbstatsControl, gbstatsTreatment, {});
    expect(result.adjusted.relative.ciLow).toBeCloseTo(-0.02063, 5);
    expect(result.adjusted.relative.ciHigh).toBeCloseTo(0.01923, 5);
    expect(result.adjusted.pValue).toBe(1);
    // Beside it, the plain ratio comparison of the same users, and what the adjustment saved.
    expect(result.unadjusted).toEqual(
      compareRatio({ n: 100, ...pick(gbstatsControl) }, { n: 100, ...pick(gbstatsTreatment) }, {}),
    );
    expect(result.varianceReduction!).toBeGreaterThan(0.5);
  });

  it('equals an independent linearisation from raw values on random data', () => {
    const random = seededRandom(316);
    for (const [count, lift] of [
      [300, 0],
      [2000, 1.5],
    ] as const) {
      const control = simulate(count, 0, random);
      const treatment = simulate(count + 11, lift, random);
      const result = compareCupedRatio(statsOf(control), statsOf(treatment), { sequential: false });
      const theta = cupedRatioTheta(statsOf(control), statsOf(treatment));
      expect(result.theta).toBe(theta);
      // θ minimises the pooled variance of the linearised estimate: the derivative there is 0.
      const pooledVariance = (th: number) =>
        linearised(control, th).varianceOfEstimate * control.length +
        linearised(treatment, th).varianceOfEstimate * treatment.length;
      const step = 1e-4;
      expect(pooledVariance(theta)).toBeLessThan(pooledVariance(theta + step));
      expect(pooledVariance(theta)).toBeLessThan(pooledVariance(theta - step));
      const c = linearised(control, theta);
      const t = linearised(treatment, theta);
      expect(relativeError(result.adjusted.absolute.estimate, t.adjusted - c.adjusted)).toBeLessThan(1e-9);
      expect(
        relativeError(result.adjusted.standardErrors.absolute, Math.sqrt(t.varianceOfEstimate + c.varianceOfEstimate)),
      ).toBeLessThan(1e-9);
    }
  });

  it('refuses impossible statistics naming the field', () => {
    const bad = { ...gbstatsControl, products: { ...gbstatsControl.products, numeratorDenominator: Number.NaN } };
    expect(() => compareCupedRatio(bad, gbstatsTreatment, {})).toThrow(
      /products.numeratorDenominator must be a finite number/,
    );
  });
});

describe('compareCupedRatio: where it keeps the plain ratio comparison, and what it refuses', () => {
  it('reports the variance the adjustment saved as 1 − SE²(adjusted) / SE²(plain)', () => {
    const result = compareCupedRatio(gbstatsControl, gbstatsTreatment, { sequential: false });
    const adjusted = result.adjusted.standardErrors.absolute!;
    const plain = result.unadjusted.standardErrors.absolute!;
    expect(result.varianceReduction).toBeCloseTo(1 - adjusted ** 2 / plain ** 2, 12);
  });

  it('keeps the plain comparison, θ null, when it has a warning (too few users) or an arm has no pre-period denominator', () => {
    const few = { ...gbstatsControl, n: 1 };
    const tooFew = compareCupedRatio(few, few, { sequential: false });
    expect(tooFew.unadjusted.warnings.length).toBeGreaterThan(0);
    expectPlainKept(tooFew);
    const noPre = { ...gbstatsTreatment, denominatorCovariate: { sum: 0, sumSquares: 0 } };
    for (const [control, treatment] of [
      [gbstatsControl, noPre],
      [noPre, gbstatsControl],
    ] as const) {
      const result = compareCupedRatio(control, treatment, { sequential: false });
      expect(result.unadjusted.warnings).toEqual([]);
      expectPlainKept(result);
    }
  });

  it('keeps the plain comparison with θ 0 when the pre-period ratio explains nothing', () => {
    // Pre-period products that make every pre/post covariance 0: θ is 0.
    const uncorrelated = (stats: CupedRatioStats): CupedRatioStats => {
      const { numerator, denominator, numeratorCovariate, denominatorCovariate, n } = stats;
      return {
        ...stats,
        products: {
          ...stats.products,
          numeratorNumeratorCovariate: (numerator.sum * numeratorCovariate.sum) / n,
          numeratorDenominatorCovariate: (numerator.sum * denominatorCovariate.sum) / n,
          numeratorCovariateDenominator: (numeratorCovariate.sum * denominator.sum) / n,
          denominatorDenominatorCovariate: (denominator.sum * denominatorCovariate.sum) / n,
        },
      };
    };
    const result = compareCupedRatio(uncorrelated(gbstatsControl), uncorrelated(gbstatsTreatment), {
      sequential: false,
    });
    expect(result.theta).toBe(0);
    expect(result.varianceReduction).toBe(0);
    expect(result.adjusted).toEqual(result.unadjusted);
  });

  it.each([
    [{ n: 1.5 }, 'n must be a non-negative integer'],
    [{ n: -2 }, 'n must be a non-negative integer'],
    [{ numerator: { sum: Number.NaN, sumSquares: 1 } }, 'numerator.sum must be a finite number'],
    [
      { denominatorCovariate: { sum: 1, sumSquares: -1 } },
      'denominatorCovariate.sumSquares must be a finite, non-negative number',
    ],
    [
      { numeratorCovariate: { sum: 1, sumSquares: Number.POSITIVE_INFINITY } },
      'numeratorCovariate.sumSquares must be a finite, non-negative number',
    ],
  ])('refuses %j with VALIDATION_FAILED naming the field and the rule', (change, problem) => {
    const bad = { ...gbstatsControl, ...change };
    let thrown: unknown;
    try {
      compareCupedRatio(gbstatsControl, bad, {});
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({
      code: 'VALIDATION_FAILED',
      message: `invalid treatment CUPED ratio statistics: ${problem}`,
      details: { label: 'treatment', problems: [problem] },
    });
  });

  it('names the arm, and every rule an arm breaks, joined with "; "', () => {
    const bad = { ...gbstatsControl, n: -1, numerator: { sum: Number.NaN, sumSquares: 1 } };
    expect(() => compareCupedRatio(bad, gbstatsTreatment, {})).toThrow(
      'invalid control CUPED ratio statistics: n must be a non-negative integer; numerator.sum must be a finite number',
    );
  });
});

describe('compareCupedRatio: the plain comparison decides first, the adjusted one can still fail', () => {
  it('keeps the plain comparison (θ null) when it warns though its standard error exists: a zero baseline', () => {
    // Control's post-period numerators cancel out (+2d, −2d in pairs): its ratio is 0, with spread.
    const zeroRatio = (offset: number): User[] =>
      Array.from({ length: 20 }, (_, i) => {
        const d = 1 + (Math.floor(i / 2) % 3);
        return { d, dPre: d, m: (i % 2 ? -2 : 2) * d, mPre: d * (2 + ((i + offset) % 5)) };
      });
    const treatment = zeroRatio(3).map((user) => ({ ...user, m: user.m + user.d }));
    const result = compareCupedRatio(statsOf(zeroRatio(0)), statsOf(treatment), { sequential: false });
    expect(result.unadjusted.warnings).toEqual(['zero-baseline']);
    expect(result.unadjusted.standardErrors.absolute).toBeGreaterThan(0);
    expectPlainKept(result);
  });

  it('warns zero-variance, and serves the plain comparison, when the pre-period explains the post-period entirely', () => {
    // Every user's post-period numerator is twice its pre-period one, denominators equal: θ = 2 leaves nothing.
    const explained = (offset: number): User[] =>
      Array.from({ length: 30 }, (_, i) => {
        const d = 1 + (i % 4);
        const mPre = d * (3 + ((i * 7 + offset) % 5));
        return { d, dPre: d, mPre, m: 2 * mPre };
      });
    const result = compareCupedRatio(statsOf(explained(0)), statsOf(explained(2)), { sequential: false });
    expect(result.unadjusted.warnings).toEqual([]);
    expect(result).toEqual({
      adjusted: { ...result.unadjusted, warnings: ['zero-variance'] },
      unadjusted: result.unadjusted,
      theta: 2,
      varianceReduction: null,
    });
  });

  it('warns zero-variance when the adjustment leaves one arm without spread, either arm', () => {
    // Explained: post numerator twice the pre one. Constant: a pre-period ratio of 3 for every user, so
    // that arm adds nothing to θ (θ = 2, the explained arm's own) and keeps its spread after adjustment.
    const explained: User[] = Array.from({ length: 30 }, (_, i) => {
      const d = 1 + (i % 4);
      const mPre = d * (3 + ((i * 7) % 5));
      return { d, dPre: d, mPre, m: 2 * mPre };
    });
    const constantPre: User[] = Array.from({ length: 30 }, (_, i) => {
      const d = 1 + (i % 3);
      return { d, dPre: d, mPre: 3 * d, m: d * (4 + ((i * 5) % 7)) };
    });
    for (const [control, treatment] of [
      [explained, constantPre],
      [constantPre, explained],
    ] as const) {
      const result = compareCupedRatio(statsOf(control), statsOf(treatment), { sequential: false });
      expect(result.unadjusted.warnings).toEqual([]);
      expect(result.theta).toBeCloseTo(2, 9);
      expect(result.adjusted).toEqual({ ...result.unadjusted, warnings: ['zero-variance'] });
      expect(result.varianceReduction).toBeNull();
    }
  });

  it('serves the adjusted absolute effect without a relative interval, and warns, when only the relative one overflows', () => {
    // Valid but extreme statistics (found by a fast-check search): a control ratio near 1e146 after adjustment.
    const [control, treatment] = EXTREME_ARMS;
    const result = compareCupedRatio(control, treatment, { sequential: false });
    expect(result.unadjusted.warnings).toEqual([]);
    expect(result.adjusted.warnings).toEqual(['numerical-instability']);
    expect(result.adjusted.absolute.estimate).toBeGreaterThan(1e145);
    expect(result.adjusted.standardErrors.absolute).toBeGreaterThan(1e145);
    expect(result.adjusted.relative.estimate).toBeCloseTo(1, 9); // the point estimate is still shown
    expect(result.adjusted.standardErrors.relative).toBeNull();
    expect([result.adjusted.relative.ciLow, result.adjusted.relative.ciHigh, result.adjusted.pValue]).toEqual([
      null,
      null,
      null,
    ]);
    expectServable(result);
  });
});

/** Two arms of valid, extreme statistics where the adjusted relative lift is not finite but the absolute one is. */
const EXTREME_ARMS: readonly [CupedRatioStats, CupedRatioStats] = [
  {
    n: 8,
    numerator: {
      sum: -2.132907797971693e92,
      sumSquares: 4.549295674648457e184,
    },
    denominator: {
      sum: 3.683242664949052e-54,
      sumSquares: 1.3566276528900995e-107,
    },
    numeratorCovariate: {
      sum: 14162281056643.264,
      sumSquares: 2.0057020472735662e26,
    },
    denominatorCovariate: {
      sum: 1.288572853419401e93,
      sumSquares: 1.6604199985694172e186,
    },
    products: {
      numeratorNumeratorCovariate: 6.398723393915079e92,
      denominatorDenominatorCovariate: -5.08303445613083e-97,
      numeratorCovariateDenominatorCovariate: 70811405283219.31,
      numeratorDenominator: -0.00010886860500168014,
      numeratorDenominatorCovariate: 2.132907797971693e92,
      numeratorCovariateDenominator: 4.2756300621015744e-96,
    },
  },
  {
    n: 8,
    numerator: {
      sum: -3.414899920099827e61,
      sumSquares: 1.1661541464297804e123,
    },
    denominator: {
      sum: 4.98677655342898e68,
      sumSquares: 2.4867940393829017e137,
    },
    numeratorCovariate: {
      sum: 2,
      sumSquares: 34,
    },
    denominatorCovariate: {
      sum: -2.3733647630608463e97,
      sumSquares: 5.632860298538867e194,
    },
    products: {
      numeratorNumeratorCovariate: 1.024469976029948e62,
      denominatorDenominatorCovariate: 1.994710621371592e69,
      numeratorCovariateDenominatorCovariate: -6,
      numeratorDenominator: 1.994710450626596e69,
      numeratorDenominatorCovariate: -6.829799840199654e61,
      numeratorCovariateDenominator: -30,
    },
  },
];

function pick(stats: CupedRatioStats) {
  return {
    numerator: stats.numerator,
    denominator: stats.denominator,
    sumProducts: stats.products.numeratorDenominator,
  };
}

describe('compareCupedRatio when the pre-period variance is too small for a finite θ', () => {
  it('falls back to the plain ratio comparison (θ 0) instead of serving an infinite θ', () => {
    // The pre-period numerator's sum of squares is 1e-323 (its variance about 5e-324): Cov/Var overflowed.
    const arm = (postNumeratorSum: number): CupedRatioStats => ({
      n: 2,
      numerator: { sum: postNumeratorSum, sumSquares: (postNumeratorSum * postNumeratorSum) / 2 + 1 },
      denominator: { sum: 2, sumSquares: 2 },
      numeratorCovariate: { sum: 0, sumSquares: 1e-323 },
      denominatorCovariate: { sum: 2, sumSquares: 2 },
      products: {
        numeratorNumeratorCovariate: 1e-12,
        denominatorDenominatorCovariate: 2,
        numeratorCovariateDenominatorCovariate: 0,
        numeratorDenominator: postNumeratorSum,
        numeratorDenominatorCovariate: postNumeratorSum,
        numeratorCovariateDenominator: 0,
      },
    });
    expect(cupedRatioTheta(arm(4), arm(6))).toBe(0);
    const result = compareCupedRatio(arm(4), arm(6), { sequential: false });
    expect(result.theta).toBe(0);
    expect(result.adjusted).toEqual(result.unadjusted);
    expectServable(result);
  });
});

describe('compareCupedRatio on arbitrary statistics (fast-check)', () => {
  const arm = fc.record({
    n: users,
    numerator: sumAndSquares,
    denominator: sumAndSquares,
    numeratorCovariate: sumAndSquares,
    denominatorCovariate: sumAndSquares,
    products: fc.record({
      numeratorNumeratorCovariate: sumOfProducts,
      denominatorDenominatorCovariate: sumOfProducts,
      numeratorCovariateDenominatorCovariate: sumOfProducts,
      numeratorDenominator: sumOfProducts,
      numeratorDenominatorCovariate: sumOfProducts,
      numeratorCovariateDenominator: sumOfProducts,
    }),
  });

  it('serves only finite numbers or null (θ included), stable through JSON', () => {
    fc.assert(
      fc.property(arm, arm, compareOptions, (control, treatment, opts) =>
        expectServable(compareCupedRatio(control, treatment, opts)),
      ),
      { numRuns: 1000 },
    );
  });
});
