/** SRM: gbstats' published check_srm case plus the guards around it. */
import { describe, expect, it } from 'vitest';
import { PipelineError } from '../../common/errors.js';
import { sampleRatioMismatch } from './index.js';

describe('sampleRatioMismatch', () => {
  it('reproduces gbstats test_srm: [1000, 1200] at 50/50 → p 0.000020079', () => {
    const result = sampleRatioMismatch([1000, 1200], [0.5, 0.5]);
    expect(result.pValue).toBeCloseTo(0.000020079, 9);
    expect(result.mismatch).toBe(true);
  });

  it('matches the textbook chi-square: [50, 50, 100] against 1:1:2 fits perfectly', () => {
    expect(sampleRatioMismatch([50, 50, 100], [1, 1, 2])).toEqual({ pValue: 1, mismatch: false });
  });

  it('uses k − 1 degrees of freedom: χ² = 6 on 2 dof has p = e⁻³', () => {
    // Expected 100 each; (90−100)²/100 + (100−100)²/100 + ... chosen so χ² = 6.
    // 3 arms [100 − a, 100, 100 + a] with weights 1:1:1 give χ² = 2a²/100, so a = √300.
    const a = Math.sqrt(300);
    const { pValue } = sampleRatioMismatch([100 - a, 100, 100 + a].map(Math.round), [1, 1, 1]);
    const chiSquare = ((Math.round(100 - a) - 100) ** 2 + (Math.round(100 + a) - 100) ** 2) / 100;
    expect(pValue).toBeCloseTo(Math.exp(-chiSquare / 2), 9);
  });

  it('normalizes weights: percentages and fractions give the same p', () => {
    expect(sampleRatioMismatch([480, 520], [50, 50]).pValue).toBeCloseTo(
      sampleRatioMismatch([480, 520], [0.5, 0.5]).pValue,
      15,
    );
  });

  it('does not alarm below 8 users in a variant, however lopsided: [3, 100] has p far below 0.001', () => {
    // χ² = 2·(3 − 51.5)²/51.5 = 91.4 on 1 dof: the p-value alone would call a mismatch.
    const result = sampleRatioMismatch([3, 100], [0.5, 0.5]);
    expect(result.pValue).toBeLessThan(1e-15);
    expect(result.mismatch).toBe(false);
    // Whichever variant is the small one, and with more than two variants.
    expect(sampleRatioMismatch([100, 3], [0.5, 0.5]).mismatch).toBe(false);
    expect(sampleRatioMismatch([100, 100, 7], [1, 1, 1]).mismatch).toBe(false);
  });

  it('alarms from exactly 8 users in every variant: [8, 100] is a mismatch', () => {
    // χ² = 2·(8 − 54)²/54 = 78.4 on 1 dof.
    const result = sampleRatioMismatch([8, 100], [0.5, 0.5]);
    expect(result.pValue).toBeLessThan(1e-15);
    expect(result.mismatch).toBe(true);
    expect(sampleRatioMismatch([100, 100, 8], [1, 1, 1]).mismatch).toBe(true);
  });

  it('does not alarm at p just above 0.001', () => {
    // [1000 − 73, 1000 + 73] at 1:1: χ² = 2·73²/1000 = 10.658 on 1 dof, p ≈ 0.0011.
    const result = sampleRatioMismatch([927, 1073], [1, 1]);
    expect(result.pValue).toBeGreaterThan(0.001);
    expect(result.pValue).toBeLessThan(0.0012);
    expect(result.mismatch).toBe(false);
  });

  it('is certain of a mismatch when a variant with weight 0 received users', () => {
    expect(sampleRatioMismatch([500, 500, 9], [0.5, 0.5, 0])).toEqual({ pValue: 0, mismatch: true });
    expect(sampleRatioMismatch([500, 500, 0], [0.5, 0.5, 0]).pValue).toBeCloseTo(1, 12);
  });

  it('returns p = 1 with no users at all', () => {
    expect(sampleRatioMismatch([0, 0], [0.5, 0.5])).toEqual({ pValue: 1, mismatch: false });
  });

  it('rejects inputs that cannot describe a split', () => {
    expect(() => sampleRatioMismatch([1, 2], [1])).toThrow(PipelineError);
    expect(() => sampleRatioMismatch([1, -2], [1, 1])).toThrow(PipelineError);
    expect(() => sampleRatioMismatch([1, 2], [0, 0])).toThrow(PipelineError);
    expect(() => sampleRatioMismatch([1, 2], [1, Number.NaN])).toThrow(PipelineError);
  });

  it('has nothing to compare with a single weighted variant: p = 1, however many users it has', () => {
    // k = 1 variant with positive weight: 0 degrees of freedom, every user is where the split puts them.
    expect(sampleRatioMismatch([1200, 0], [1, 0])).toEqual({ pValue: 1, mismatch: false });
    expect(sampleRatioMismatch([1200], [1])).toEqual({ pValue: 1, mismatch: false });
  });

  it('rejects a negative weight even when another weight is positive', () => {
    expect(() => sampleRatioMismatch([10, 10], [1, -1])).toThrow(
      'invalid SRM input: weights must be finite and non-negative',
    );
  });

  it('names every problem of the input in its message and details (VALIDATION_FAILED, 400)', () => {
    const error = thrownBy(() => sampleRatioMismatch([1, -2, 3], [-1, 0]));
    const problems = [
      'one weight per variant is required',
      'users must be non-negative integers',
      'weights must be finite and non-negative',
      'at least one weight must be positive',
    ];
    expect(error).toBeInstanceOf(PipelineError);
    expect(error).toMatchObject({
      code: 'VALIDATION_FAILED',
      statusCode: 400,
      message: `invalid SRM input: ${problems.join('; ')}`,
    });
    expect((error as PipelineError).details).toEqual({
      observedUsers: [1, -2, 3],
      expectedWeights: [-1, 0],
      problems,
    });
    // One problem alone reads as that problem.
    expect(thrownBy(() => sampleRatioMismatch([1, 2], [0, 0]))).toMatchObject({
      message: 'invalid SRM input: at least one weight must be positive',
      details: { problems: ['at least one weight must be positive'] },
    });
  });
});

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}
