/** The relative prior carried to the absolute scale (gbstats' prior rescaling), and when it cannot be. */
import { describe, expect, it } from 'vitest';
import { absolutePrior } from './bayesian.js';

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
