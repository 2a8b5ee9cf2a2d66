/**
 * compareToControl against the published test cases of GrowthBook's gbstats
 * (packages/stats/tests/frequentist/test_tests.py and tests/bayesian/test_tests.py).
 * gbstats asserts 5 decimals; so do we (toBeCloseTo(x, 5) allows ±5e-6).
 */
import { describe, expect, it } from 'vitest';
import { normalCdf } from './distributions.js';
import { binomialStats, compareToControl, type SampleStats } from './index.js';

const welchControl: SampleStats = { n: 3407, sum: 1396.87, sumSquares: 52377.9767 };
const welchTreatment: SampleStats = { n: 3461, sum: 2422.7, sumSquares: 134698.29 };
/** gbstats' sequential and one-sided cases reuse the sums with a control of 3000 users. */
const smallerControl: SampleStats = { n: 3000, sum: 1396.87, sumSquares: 52377.9767 };

describe('compareToControl, fixed-horizon Welch t-test (gbstats TestTwoSidedTTest)', () => {
  // Computed inside each test, not once per describe: `npm run mutate` activates a mutant only for test bodies.
  const welch = () => compareToControl(welchControl, welchTreatment, { kind: 'mean', sequential: false });

  it('reproduces the relative case: 0.70732, CI (-0.03526, 1.44989), p 0.06191, SE 0.37879', () => {
    const result = welch();
    expect(result.relative.estimate).toBeCloseTo(0.70732, 5);
    expect(result.relative.ciLow).toBeCloseTo(-0.03526, 5);
    expect(result.relative.ciHigh).toBeCloseTo(1.44989, 5);
    expect(result.pValue).toBeCloseTo(0.06191, 5);
    expect(result.standardErrors.relative).toBeCloseTo(0.37879, 5);
    expect(result.warnings).toEqual([]);
  });

  it('reproduces the absolute case: 0.29, CI (0.04538, 0.53462), p 0.02016, SE 0.12478', () => {
    const result = welch();
    expect(result.absolute.estimate).toBeCloseTo(0.29, 5);
    expect(result.absolute.ciLow).toBeCloseTo(0.04538, 5);
    expect(result.absolute.ciHigh).toBeCloseTo(0.53462, 5);
    expect(result.absolutePValue).toBeCloseTo(0.02016, 5);
    expect(result.standardErrors.absolute).toBeCloseTo(0.12478, 5);
  });

  it('reproduces the binomial case 14/28 vs 16/30: 0.06667, CI (-0.47767, 0.61101), p 0.80707', () => {
    const binomial = compareToControl(binomialStats(28, 14), binomialStats(30, 16), {
      kind: 'binomial',
      sequential: false,
    });
    expect(binomial.relative.estimate).toBeCloseTo(0.06667, 5);
    expect(binomial.relative.ciLow).toBeCloseTo(-0.47767, 5);
    expect(binomial.relative.ciHigh).toBeCloseTo(0.61101, 5);
    expect(binomial.pValue).toBeCloseTo(0.80707, 5);
    expect(binomial.standardErrors.relative).toBeCloseTo(0.2717, 5);
  });

  it('widens the interval when alpha shrinks', () => {
    const result = welch();
    const strict = compareToControl(welchControl, welchTreatment, { kind: 'mean', sequential: false, alpha: 0.01 });
    expect(strict.relative.ciLow!).toBeLessThan(result.relative.ciLow!);
    expect(strict.relative.ciHigh!).toBeGreaterThan(result.relative.ciHigh!);
    expect(strict.pValue).toBeCloseTo(result.pValue!, 12);
  });
});

describe('compareToControl, one-sided fixed-horizon tests (gbstats TestOneSided*TTest)', () => {
  it('tests "treatment greater" when higher is better: CI (-0.04514, ∞), p 0.06558', () => {
    const result = compareToControl(smallerControl, welchTreatment, {
      kind: 'mean',
      sequential: false,
      oneSided: true,
    });
    expect(result.relative.estimate).toBeCloseTo(0.5033610858562358, 5);
    expect(result.relative.ciLow).toBeCloseTo(-0.045136675850396046, 5);
    expect(result.relative.ciHigh).toBeNull();
    expect(result.pValue).toBeCloseTo(0.06558262868467746, 5);
    expect(result.absolute.ciLow).toBeCloseTo(0.020791480063255735, 5);
    expect(result.absolutePValue).toBeCloseTo(0.03554272489873023, 5);
  });

  it('tests "treatment lesser" when lower is better: CI (-∞, 1.05186), p 0.93442', () => {
    const result = compareToControl(smallerControl, welchTreatment, {
      kind: 'mean',
      sequential: false,
      oneSided: true,
      lowerIsBetter: true,
    });
    expect(result.relative.ciLow).toBeNull();
    expect(result.relative.ciHigh).toBeCloseTo(1.0518588475628676, 5);
    expect(result.pValue).toBeCloseTo(0.9344173713153225, 5);
    expect(result.absolute.ciHigh).toBeCloseTo(0.44796185327007765, 5);
    expect(result.absolutePValue).toBeCloseTo(0.9644572751012698, 5);
  });
});

describe("compareToControl, the alternative stated directly (a definition's analysis.alternative)", () => {
  it("'greater' is gbstats' OneSidedTreatmentGreaterTTest whatever lowerIsBetter says: CI (-0.04514, ∞), p 0.06558", () => {
    for (const lowerIsBetter of [false, true]) {
      const result = compareToControl(smallerControl, welchTreatment, {
        kind: 'mean',
        sequential: false,
        alternative: 'greater',
        lowerIsBetter,
      });
      expect(result.relative.ciLow).toBeCloseTo(-0.045136675850396046, 5);
      expect(result.relative.ciHigh).toBeNull();
      expect(result.pValue).toBeCloseTo(0.06558262868467746, 5);
      expect(result.method).toMatchObject({ alternative: 'greater', oneSided: true, lowerIsBetter });
    }
  });

  it("'less' is gbstats' OneSidedTreatmentLesserTTest for a higher-is-better metric: CI (-∞, 1.05186), p 0.93442", () => {
    const result = compareToControl(smallerControl, welchTreatment, {
      kind: 'mean',
      sequential: false,
      alternative: 'less',
    });
    expect(result.relative.ciLow).toBeNull();
    expect(result.relative.ciHigh).toBeCloseTo(1.0518588475628676, 5);
    expect(result.pValue).toBeCloseTo(0.9344173713153225, 5);
    expect(result.absolutePValue).toBeCloseTo(0.9644572751012698, 5);
    expect(result.method).toMatchObject({ alternative: 'less', oneSided: true, lowerIsBetter: false });
  });

  it("'two-sided' overrides oneSided, and the method echoes the prior applied", () => {
    const prior = { proper: true, mean: 0.1, variance: 0.01 };
    const result = compareToControl(welchControl, welchTreatment, {
      kind: 'mean',
      sequential: false,
      oneSided: true,
      alternative: 'two-sided',
      prior,
    });
    expect(result.pValue).toBeCloseTo(0.06191, 5);
    expect(result.relative.ciHigh).toBeCloseTo(1.44989, 5);
    expect(result.method).toMatchObject({ alternative: 'two-sided', oneSided: false, prior });
    const flat = compareToControl(welchControl, welchTreatment, { kind: 'mean', prior: { ...prior, proper: false } });
    expect(flat.method.prior).toEqual({ proper: false });
    // A prior mean of −0 is echoed as 0, as JSON would write it.
    const negativeZero = compareToControl(welchControl, welchTreatment, {
      kind: 'mean',
      prior: { ...prior, mean: -0 },
    });
    expect(Object.is(negativeZero.method.prior.proper && negativeZero.method.prior.mean, 0)).toBe(true);
  });

  it('refuses an unknown alternative with VALIDATION_FAILED', () => {
    expect(() =>
      compareToControl(welchControl, welchTreatment, { kind: 'mean', alternative: 'bigger' as 'greater' }),
    ).toThrow(/alternative must be 'two-sided', 'greater' or 'less'/);
    // Before: the names of Object.prototype's members passed (the lookup found the inherited function).
    for (const inherited of ['constructor', 'toString', '__proto__']) {
      expect(() =>
        compareToControl(welchControl, welchTreatment, { kind: 'mean', alternative: inherited as 'greater' }),
      ).toThrow(/alternative must be 'two-sided', 'greater' or 'less'/);
    }
  });
});

describe('compareToControl, Bayesian (gbstats TestBinom / TestNorm)', () => {
  it('reproduces 49/100 vs 51/100: lift 0.04082, credible (-0.24779, 0.32943), chance to win 0.60918', () => {
    const result = compareToControl(binomialStats(100, 49), binomialStats(100, 51), { kind: 'binomial' });
    expect(result.relative.estimate).toBeCloseTo(0.04082, 5);
    expect(result.chanceToWin).toBeCloseTo(0.60918, 5);
    expect(result.bayesian.relative.estimate).toBeCloseTo(0.04082, 5);
    expect(result.bayesian.relative.ciLow).toBeCloseTo(-0.24779, 5);
    expect(result.bayesian.relative.ciHigh).toBeCloseTo(0.32943, 5);
    expect(result.standardErrors.relative).toBeCloseTo(0.14725, 5);
    expect(result.bayesian.riskOfKeepingControl).toBeCloseTo(0.0814, 5);
    expect(result.riskOfLoss).toBeCloseTo(0.04058, 5);
  });

  const gaussianControl: SampleStats = { n: 10, sum: 100, sumSquares: 1002.25 };
  const gaussianTreatment: SampleStats = { n: 10, sum: 105, sumSquares: 1111.5 };

  it('reproduces the Gaussian case with a flat prior: 0.05, credible (-0.02, 0.12), chance to win 0.91923', () => {
    const result = compareToControl(gaussianControl, gaussianTreatment, { kind: 'mean' });
    expect(result.bayesian.relative.estimate).toBeCloseTo(0.05, 5);
    expect(result.bayesian.relative.ciLow).toBeCloseTo(-0.02, 5);
    expect(result.bayesian.relative.ciHigh).toBeCloseTo(0.12, 5);
    expect(result.standardErrors.relative).toBeCloseTo(0.03572, 5);
    expect(result.chanceToWin).toBeCloseTo(0.91923, 5);
    expect(result.bayesian.riskOfKeepingControl).toBeCloseTo(0.05131, 5);
    expect(result.riskOfLoss).toBeCloseTo(0.00131, 5);
  });

  it('reproduces the proper-prior case N(0.1, 0.1): 0.05063, credible (-0.01893, 0.12019), 0.92315', () => {
    const result = compareToControl(gaussianControl, gaussianTreatment, {
      kind: 'mean',
      prior: { mean: 0.1, variance: 0.1, proper: true },
    });
    expect(result.bayesian.relative.estimate).toBeCloseTo(0.05063, 5);
    expect(result.bayesian.relative.ciLow).toBeCloseTo(-0.01893, 5);
    expect(result.bayesian.relative.ciHigh).toBeCloseTo(0.12019, 5);
    expect(result.chanceToWin).toBeCloseTo(0.92315, 5);
    expect(result.bayesian.riskOfKeepingControl).toBeCloseTo(0.05186, 5);
    expect(result.riskOfLoss).toBeCloseTo(0.00123, 5);
    // The prior moves only the posterior; the frequentist estimate stays the data's.
    expect(result.relative.estimate).toBeCloseTo(0.05, 12);
  });

  it('ignores an improper prior, as gbstats does', () => {
    const flat = compareToControl(gaussianControl, gaussianTreatment, { kind: 'mean' });
    const improper = compareToControl(gaussianControl, gaussianTreatment, {
      kind: 'mean',
      prior: { mean: 5, variance: 0.001, proper: false },
    });
    expect(improper.bayesian).toEqual(flat.bayesian);
  });

  it('counts a win as a decrease when lower is better, and swaps the two risks', () => {
    const higher = compareToControl(gaussianControl, gaussianTreatment, { kind: 'mean' });
    const lower = compareToControl(gaussianControl, gaussianTreatment, { kind: 'mean', lowerIsBetter: true });
    expect(lower.chanceToWin).toBeCloseTo(1 - higher.chanceToWin!, 12);
    expect(lower.riskOfLoss).toBeCloseTo(higher.bayesian.riskOfKeepingControl!, 12);
    expect(lower.bayesian.riskOfKeepingControl).toBeCloseTo(higher.riskOfLoss!, 12);
  });

  it('rescales a relative prior by the control mean for the absolute posterior', () => {
    const result = compareToControl(gaussianControl, gaussianTreatment, {
      kind: 'mean',
      prior: { mean: 0.1, variance: 0.1, proper: true },
    });
    // Absolute: data N(0.5, 0.125), prior N(0.1·10, 0.1·10²) = N(1, 10).
    const precision = 1 / 0.125 + 1 / 10;
    expect(result.bayesian.absolute.estimate).toBeCloseTo((0.5 / 0.125 + 1 / 10) / precision, 12);
  });
});

describe('compareToControl, relative prior rescaled for the absolute posterior', () => {
  it('keeps absolute and relative chance to win within 0.005 (gbstats TestGaussianEffectRelativeAbsolutePriors)', () => {
    const result = compareToControl(
      { n: 100, sum: 1000, sumSquares: 200000 },
      { n: 100, sum: 1100, sumSquares: 200005 },
      { kind: 'mean', prior: { mean: 1, variance: 1, proper: true } },
    );
    const { estimate, ciLow, ciHigh } = result.bayesian.absolute;
    const posteriorSd = (ciHigh! - ciLow!) / (2 * 1.959963984540054);
    const absoluteChanceToWin = normalCdf(estimate! / posteriorSd);
    expect(Math.abs(absoluteChanceToWin - result.chanceToWin!)).toBeLessThan(0.005);
  });
});
