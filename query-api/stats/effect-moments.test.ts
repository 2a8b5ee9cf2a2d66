/** The lift and its standard error (gbstats EffectMoments), checked by hand on the documented examples. */
import { describe, expect, it } from 'vitest';
import { absoluteEffect, relativeEffect, welchDegreesOfFreedom } from './effect-moments.js';

describe('effect moments', () => {
  it('absolute: Δ = 0.5 with Welch SE √(1/10 + 0.25/10)', () => {
    const effect = absoluteEffect({ n: 10, mean: 10, variance: 0.25 }, { n: 10, mean: 10.5, variance: 1 });
    expect(effect.estimate).toBe(0.5);
    expect(effect.standardError).toBeCloseTo(Math.sqrt(0.125), 15);
  });

  it('relative: 0.49 → 0.51 is a lift of 0.040816 with delta-method SE 0.14725', () => {
    const effect = relativeEffect({ n: 100, mean: 0.49, variance: 0.2499 }, { n: 100, mean: 0.51, variance: 0.2499 });
    expect(effect?.estimate).toBeCloseTo(0.040816, 6);
    expect(effect?.standardError).toBeCloseTo(0.14725, 5);
  });

  it('relative: undefined (null, not Infinity or NaN) when the control mean is 0', () => {
    expect(relativeEffect({ n: 10, mean: 0, variance: 1 }, { n: 10, mean: 1, variance: 1 })).toBeNull();
  });

  it('Welch–Satterthwaite: 18 degrees of freedom for two equal arms of 10', () => {
    expect(welchDegreesOfFreedom({ n: 10, mean: 0, variance: 1 }, { n: 10, mean: 0, variance: 1 })).toBeCloseTo(18, 12);
  });
});
