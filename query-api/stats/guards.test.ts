/**
 * The guards: when a comparison cannot be made, compareToControl says why and returns
 * nulls, never NaN or Infinity (results are JSON). Mirrors gbstats' default outputs
 * (test_two_sided_ttest_missing_variance, test_missing_data, ZERO_NEGATIVE_VARIANCE,
 * ZERO_NEGATIVE_BASELINE_VARIATION), with null where gbstats returns 0 / 0.5.
 */
import { describe, expect, it } from 'vitest';
import { PipelineError } from '../../common/errors.js';
import { binomialStats, compareToControl, type SampleStats } from './index.js';

const healthy: SampleStats = { n: 3461, sum: 2422.7, sumSquares: 134698.29 };

function expectNoInference(result: ReturnType<typeof compareToControl>): void {
  expect(result.pValue).toBeNull();
  expect(result.absolutePValue).toBeNull();
  expect(result.chanceToWin).toBeNull();
  expect(result.riskOfLoss).toBeNull();
  expect(result.absolute.ciLow).toBeNull();
  expect(result.absolute.ciHigh).toBeNull();
  expect(result.relative.ciLow).toBeNull();
  expect(result.relative.ciHigh).toBeNull();
  expect(result.standardErrors).toEqual({ absolute: null, relative: null });
  expect(result.bayesian.relative).toEqual({ estimate: null, ciLow: null, ciHigh: null });
}

describe('compareToControl guards', () => {
  it('refuses a negative variance (gbstats missing_variance: Σx² < (Σx)²/n with n = 2)', () => {
    const broken: SampleStats = { n: 2, sum: 1396.87, sumSquares: 52377.9767 };
    const result = compareToControl(broken, healthy, { kind: 'mean', sequential: false });
    expect(result.warnings).toEqual(['zero-variance']);
    expectNoInference(result);
    // The means are still facts worth showing.
    expect(result.absolute.estimate).toBeCloseTo(2422.7 / 3461 - 1396.87 / 2, 12);
  });

  it('refuses zero conversions in control: zero variance and zero baseline', () => {
    const result = compareToControl(binomialStats(1000, 0), binomialStats(1000, 12), { kind: 'binomial' });
    expect(result.warnings).toEqual(['zero-variance', 'zero-baseline']);
    expectNoInference(result);
    expect(result.absolute.estimate).toBeCloseTo(0.012, 12);
    expect(result.relative.estimate).toBeNull();
  });

  it('refuses a treatment in which every user converted (p(1−p) = 0)', () => {
    const result = compareToControl(binomialStats(50, 10), binomialStats(40, 40), { kind: 'binomial' });
    expect(result.warnings).toEqual(['zero-variance']);
    expectNoInference(result);
    expect(result.relative.estimate).toBeCloseTo(4, 12);
  });

  it('detects zero variance hidden by rounding (1000 users all worth 98765.4321)', () => {
    let sum = 0;
    let sumSquares = 0;
    for (let user = 0; user < 1000; user += 1) {
      sum += 98765.4321;
      sumSquares += 98765.4321 ** 2;
    }
    // Floating-point noise leaves Σx² − (Σx)²/n slightly positive, not zero.
    expect(sumSquares - (sum * sum) / 1000).toBeGreaterThan(0);
    const result = compareToControl({ n: 1000, sum, sumSquares }, healthy, { kind: 'mean' });
    expect(result.warnings).toEqual(['zero-variance']);
    expectNoInference(result);
  });

  it('refuses fewer than 2 users in a variant (gbstats missing_data: n = 0)', () => {
    const empty = compareToControl({ n: 0, sum: 0, sumSquares: 0 }, { n: 0, sum: 0, sumSquares: 0 }, { kind: 'mean' });
    expect(empty.warnings).toEqual(['too-few-units']);
    expectNoInference(empty);
    expect(empty.absolute.estimate).toBeNull();
    expect(empty.relative.estimate).toBeNull();

    const single = compareToControl({ n: 1, sum: 5, sumSquares: 25 }, healthy, { kind: 'mean' });
    expect(single.warnings).toEqual(['too-few-units']);
    expect(single.absolute.estimate).toBeCloseTo(2422.7 / 3461 - 5, 12);
  });

  it('keeps the absolute comparison when only the baseline is zero (a mean metric with refunds)', () => {
    const netZero: SampleStats = { n: 4, sum: 0, sumSquares: 8 }; // values −2, 0, 0, 2
    const result = compareToControl(netZero, { n: 4, sum: 4, sumSquares: 10 }, { kind: 'mean', sequential: false });
    expect(result.warnings).toEqual(['zero-baseline']);
    expect(result.absolute.estimate).toBe(1);
    expect(result.absolutePValue).not.toBeNull();
    expect(result.absolute.ciLow).not.toBeNull();
    expect(result.relative).toEqual({ estimate: null, ciLow: null, ciHigh: null });
    expect(result.pValue).toBeNull();
    expect(result.chanceToWin).toBeNull();
    expect(result.bayesian.absolute.estimate).toBe(1);
  });

  it('keeps "positive lift = treatment higher" for a negative baseline', () => {
    const result = compareToControl(
      { n: 100, sum: -200, sumSquares: 900 },
      { n: 100, sum: -100, sumSquares: 600 },
      { kind: 'mean' },
    );
    expect(result.relative.estimate).toBeCloseTo(0.5, 12);
    expect(result.chanceToWin!).toBeGreaterThan(0.5);
  });

  it('rejects statistics no counter can produce, with a typed error', () => {
    const cases: SampleStats[] = [
      { n: -1, sum: 0, sumSquares: 0 },
      { n: 2.5, sum: 0, sumSquares: 0 },
      { n: 10, sum: Number.NaN, sumSquares: 0 },
      { n: 10, sum: 1, sumSquares: -1 },
      { n: 10, sum: 1, sumSquares: Number.POSITIVE_INFINITY },
    ];
    for (const stats of cases) {
      expect(() => compareToControl(stats, healthy, { kind: 'mean' })).toThrow(PipelineError);
    }
    expect(() => binomialStats(10, 11)).toThrow(/between 0 and n/);
    expect(() => compareToControl(healthy, { n: 10, sum: 11, sumSquares: 11 }, { kind: 'binomial' })).toThrow(
      expect.objectContaining({ code: 'VALIDATION_FAILED' }),
    );
  });

  it('rejects options the formulas cannot honour', () => {
    const control = binomialStats(100, 10);
    const bad = [
      { kind: 'binomial' as const, alpha: 0 },
      { kind: 'binomial' as const, alpha: 1 },
      { kind: 'binomial' as const, alpha: Number.NaN },
      { kind: 'binomial' as const, alpha: 0.6, oneSided: true },
      { kind: 'binomial' as const, sequentialTuning: 0 },
      { kind: 'binomial' as const, prior: { mean: 0, variance: 0, proper: true } },
    ];
    for (const options of bad) {
      expect(() => compareToControl(control, control, options)).toThrow(PipelineError);
    }
    // A fixed-horizon one-sided test is fine with a large alpha.
    expect(() =>
      compareToControl(control, control, { kind: 'binomial', alpha: 0.6, oneSided: true, sequential: false }),
    ).not.toThrow();
  });

  it('reports numerical instability instead of NaN for absurdly small baselines', () => {
    const tiny: SampleStats = { n: 10, sum: 1e-300, sumSquares: 1e-300 };
    const result = compareToControl(tiny, { n: 10, sum: 2e-300, sumSquares: 3e-300 }, { kind: 'mean' });
    expect(result.warnings).toContain('numerical-instability');
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });
});

describe('compareToControl guards, at their edges', () => {
  it('gives no difference when either arm has no users, in whichever arm it is', () => {
    const empty: SampleStats = { n: 0, sum: 0, sumSquares: 0 };
    const fromEmptyControl = compareToControl(empty, { n: 5, sum: 10, sumSquares: 30 }, { kind: 'mean' });
    expect(fromEmptyControl.absolute.estimate).toBeNull();
    expect(fromEmptyControl.relative.estimate).toBeNull();
    const toEmptyTreatment = compareToControl({ n: 5, sum: 10, sumSquares: 30 }, empty, { kind: 'mean' });
    expect(toEmptyTreatment.absolute.estimate).toBeNull();
    expect(toEmptyTreatment.relative.estimate).toBeNull();
    expect(toEmptyTreatment.warnings).toEqual(['too-few-units']);
  });

  it('needs 2 users in the treatment too, and 2 are enough', () => {
    const control: SampleStats = { n: 10, sum: 100, sumSquares: 1002.25 };
    const single = compareToControl(control, { n: 1, sum: 12, sumSquares: 144 }, { kind: 'mean' });
    expect(single.warnings).toEqual(['too-few-units']);
    expect(single.absolute.estimate).toBe(2);
    expectNoInference(single);

    const pair = compareToControl(control, { n: 2, sum: 22, sumSquares: 244 }, { kind: 'mean' }); // values 10 and 12
    expect(pair.warnings).toEqual([]);
    expect(pair.absolutePValue).not.toBeNull();
    expect(pair.standardErrors.absolute).toBeCloseTo(Math.sqrt(2 / 2 + 0.25 / 10), 12);
  });

  it('gives a healthy comparison no warnings', () => {
    const result = compareToControl(binomialStats(100, 49), binomialStats(100, 51), { kind: 'binomial' });
    expect(result.warnings).toEqual([]);
  });

  it('reports numerical instability when the standard error underflows to 0 (variances of 5e-324)', () => {
    // Four users with Σx² = 1.5e-323 (3 subnormal units) and Σx = 0: variance 5e-324 > 0, but σ²/n rounds to 0.
    const subnormal: SampleStats = { n: 4, sum: 0, sumSquares: 1.5e-323 };
    const result = compareToControl(subnormal, subnormal, { kind: 'mean' });
    expect(result.warnings).toEqual(['zero-baseline', 'numerical-instability']);
    expectNoInference(result);
    expect(result.absolute.estimate).toBe(0);
  });
});

describe('validation errors name the field and the rule', () => {
  const control = binomialStats(100, 10);
  const rejection = (message: string, problems: string[]) =>
    expect.objectContaining({ code: 'VALIDATION_FAILED', message, details: expect.objectContaining({ problems }) });

  it('for comparison options, every broken rule at once', () => {
    expect(() =>
      compareToControl(control, control, { kind: 'ratio' as 'mean', alpha: 0, sequentialTuning: -1 }),
    ).toThrow(
      rejection(
        "invalid comparison options: kind must be 'binomial' or 'mean'; alpha must be between 0 and 1 (exclusive); sequentialTuning must be a positive number",
        [
          "kind must be 'binomial' or 'mean'",
          'alpha must be between 0 and 1 (exclusive)',
          'sequentialTuning must be a positive number',
        ],
      ),
    );
  });

  it('for a one-sided sequential test, alpha 0.5 is already too large (its boundary needs 2α < 1)', () => {
    const problem = 'alpha must be below 0.5 for a one-sided sequential test';
    expect(() => compareToControl(control, control, { kind: 'binomial', alpha: 0.5, oneSided: true })).toThrow(
      rejection(`invalid comparison options: ${problem}`, [problem]),
    );
    expect(() => compareToControl(control, control, { kind: 'binomial', alpha: 0.49, oneSided: true })).not.toThrow();
  });

  it('for a proper prior, a non-finite mean as well as a bad variance', () => {
    const problem = 'a proper prior needs a finite mean and a positive, finite variance';
    for (const prior of [
      { mean: Number.NaN, variance: 1, proper: true },
      { mean: 0, variance: Number.POSITIVE_INFINITY, proper: true },
    ]) {
      expect(() => compareToControl(control, control, { kind: 'binomial', prior })).toThrow(
        rejection(`invalid comparison options: ${problem}`, [problem]),
      );
    }
  });

  it('for statistics, naming the arm and every broken rule', () => {
    expect(() => compareToControl(healthy, { n: -1, sum: Number.NaN, sumSquares: -1 }, { kind: 'mean' })).toThrow(
      rejection(
        'invalid treatment statistics: n must be a non-negative integer; sum must be a finite number; sumSquares must be a finite, non-negative number',
        [
          'n must be a non-negative integer',
          'sum must be a finite number',
          'sumSquares must be a finite, non-negative number',
        ],
      ),
    );
    expect(() => compareToControl({ n: 2.5, sum: 0, sumSquares: 0 }, healthy, { kind: 'mean' })).toThrow(
      rejection('invalid control statistics: n must be a non-negative integer', ['n must be a non-negative integer']),
    );
  });

  it('for conversions, outside 0..n on either side, and only once the numbers themselves are valid', () => {
    const outOfRange = 'a binomial sum (conversions) must be between 0 and n';
    expect(() => compareToControl(control, { n: 10, sum: -1, sumSquares: 1 }, { kind: 'binomial' })).toThrow(
      rejection(`invalid treatment statistics: ${outOfRange}`, [outOfRange]),
    );
    expect(() => binomialStats(10, 11)).toThrow(
      rejection(`invalid binomialStats statistics: ${outOfRange}`, [outOfRange]),
    );
    // A fractional n is the problem; comparing conversions with it would be noise.
    expect(() => binomialStats(2.5, 3)).toThrow(
      rejection('invalid binomialStats statistics: n must be a non-negative integer', [
        'n must be a non-negative integer',
      ]),
    );
    // A mean metric's sum is not bounded by n.
    expect(() => compareToControl(healthy, { n: 10, sum: 20, sumSquares: 50 }, { kind: 'mean' })).not.toThrow();
  });
});

describe('binomialStats', () => {
  it('builds 0/1 sufficient statistics: Σx² = Σx', () => {
    expect(binomialStats(100, 49)).toEqual({ n: 100, sum: 49, sumSquares: 49 });
    expect(binomialStats(0, 0)).toEqual({ n: 0, sum: 0, sumSquares: 0 });
  });
});
