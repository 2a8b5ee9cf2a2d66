/**
 * The relative prior carried to the absolute scale (gbstats' prior rescaling), and when
 * it cannot be; expected losses never negative.
 */
import { describe, expect, it } from 'vitest';
import { absolutePrior, gaussianPosterior } from './bayesian.js';
import { compareToControl } from './compare.js';
import { normalQuantile } from './distributions.js';

describe('risk (expected loss)', () => {
  it('is never negative, also where its two terms cancel (|mean/sd| ≈ 8 gave −1.5e-18)', () => {
    // sd·φ(8.02) − 0.0802·Φ(−8.02) with sd = 0.01 rounded to −1.475938709203891e-18 before the clamp.
    for (const lowerIsBetter of [false, true]) {
      for (const estimate of [0.0802, -0.0802]) {
        const posterior = gaussianPosterior({ estimate, standardError: 0.01 }, undefined, 0.05, lowerIsBetter);
        expect(Object.is(Math.min(posterior.riskOfLoss, posterior.riskOfKeepingControl), 0)).toBe(true);
        expect(Math.max(posterior.riskOfLoss, posterior.riskOfKeepingControl)).toBeCloseTo(0.0802, 12);
      }
    }
    for (let ratio = 0; ratio <= 40; ratio += 0.01) {
      const posterior = gaussianPosterior({ estimate: ratio * 0.01, standardError: 0.01 }, undefined, 0.05, false);
      expect(posterior.riskOfLoss).toBeGreaterThanOrEqual(0);
      expect(posterior.riskOfKeepingControl).toBeGreaterThanOrEqual(0);
    }
  });

  it('is exactly 0, not −2e-17, in a served comparison of a clear win (200/2000 vs 520/2000, z ≈ 8)', () => {
    const result = compareToControl(
      { n: 2000, sum: 200, sumSquares: 200 },
      { n: 2000, sum: 520, sumSquares: 520 },
      { kind: 'binomial', sequential: false },
    );
    // Unclamped: sd·φ(7.996) − lift·Φ(−7.996) = −2.2014279855162924e-17.
    expect(result.riskOfLoss).toBe(0);
    expect(result.bayesian.riskOfLoss).toBe(0);
    expect(result.bayesian.riskOfKeepingControl).toBeCloseTo(result.relative.estimate!, 12);
  });
});

describe('absolutePrior', () => {
  it('rescales N(μ₀, σ²₀) on the lift by the control mean: N(μ₀·|μ_c|, σ²₀·μ_c²)', () => {
    const prior = absolutePrior({ mean: 0.1, variance: 0.01, proper: true }, -2);
    expect(prior.mean).toBeCloseTo(0.2, 15);
    expect(prior.variance).toBeCloseTo(0.04, 15);
    expect(prior.proper).toBe(true);
  });

  it('keeps an improper prior improper', () => {
    expect(absolutePrior({ mean: 0.1, variance: 0.01, proper: false }, 2).proper).toBe(false);
  });

  it('drops the prior (improper) when a control mean of 0 leaves no scale: variance 0', () => {
    expect(absolutePrior({ mean: 0.1, variance: 0.01, proper: true }, 0)).toEqual({
      mean: 0,
      variance: 0,
      proper: false,
    });
  });

  it('drops the prior when either rescaled moment overflows, not only both', () => {
    // μ₀·|μ_c| = 1e310 overflows while σ²₀·μ_c² = 1e-280 stays finite and positive.
    const meanOverflows = absolutePrior({ mean: 1e300, variance: 1e-300, proper: true }, 1e10);
    expect(meanOverflows.mean).toBe(Number.POSITIVE_INFINITY);
    expect(meanOverflows.proper).toBe(false);
    // σ²₀·μ_c² = 1e320 overflows while the mean stays finite.
    const varianceOverflows = absolutePrior({ mean: 1, variance: 1e300, proper: true }, 1e10);
    expect(varianceOverflows.variance).toBe(Number.POSITIVE_INFINITY);
    expect(varianceOverflows.proper).toBe(false);
  });
});

describe('credible interval level', () => {
  it("is z₁₋α/₂ of each call's own α, also when levels alternate (the quantile is remembered for the last α only)", () => {
    const effect = { estimate: 0.03, standardError: 0.01 };
    for (const alpha of [0.05, 0.1, 0.05, 0.01, 0.01, 0.2, 0.05]) {
      const posterior = gaussianPosterior(effect, undefined, alpha, false);
      const halfWidth = normalQuantile(1 - alpha / 2) * 0.01;
      expect(posterior.credibleLow).toBe(0.03 - halfWidth);
      expect(posterior.credibleHigh).toBe(0.03 + halfWidth);
    }
  });
});
