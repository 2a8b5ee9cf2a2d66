/**
 * Always-valid (sequential) inference against gbstats' published cases
 * (TestSequentialTTest, TestSequentialOneSided*TTest) and the properties that make a
 * confidence sequence what it is.
 */
import { describe, expect, it } from 'vitest';
import { binomialStats, compareToControl, type SampleStats } from './index.js';
import { sequentialInference, sequentialRho } from './sequential.js';

const control: SampleStats = { n: 3000, sum: 1396.87, sumSquares: 52377.9767 };
const treatment: SampleStats = { n: 3461, sum: 2422.7, sumSquares: 134698.29 };

describe('two-sided confidence sequences', () => {
  it('is the default, with tuning 5000', () => {
    const result = compareToControl(control, treatment, { kind: 'mean' });
    expect(result.method).toMatchObject({ sequential: true, sequentialTuning: 5000 });
  });

  it('reproduces tuning 1000: 0.50336, CI (-0.55844, 1.56516), p 1', () => {
    const result = compareToControl(control, treatment, { kind: 'mean', sequentialTuning: 1000 });
    expect(result.relative.estimate).toBeCloseTo(0.50336, 5);
    expect(result.relative.ciLow).toBeCloseTo(-0.55844, 5);
    expect(result.relative.ciHigh).toBeCloseTo(1.56516, 5);
    expect(result.standardErrors.relative).toBeCloseTo(0.33341, 5);
    expect(result.pValue).toBe(1);
  });

  it('reproduces the proportions case 1396/3000 vs 2422/3461: 0.50386, CI (0.40098, 0.60675), p 0', () => {
    const result = compareToControl(binomialStats(3000, 1396), binomialStats(3461, 2422), { kind: 'binomial' });
    expect(result.relative.estimate).toBeCloseTo(0.50386, 5);
    expect(result.relative.ciLow).toBeCloseTo(0.40098, 5);
    expect(result.relative.ciHigh).toBeCloseTo(0.60675, 5);
    expect(result.standardErrors.relative).toBeCloseTo(0.03386, 5);
    expect(result.pValue).toBeCloseTo(0, 5);
  });

  it('is tightest when the tuning parameter is near the sample size (gbstats tuning_as_expected)', () => {
    const width = (sequentialTuning: number): number => {
      const { relative } = compareToControl(control, treatment, { kind: 'mean', sequentialTuning });
      return relative.ciHigh! - relative.ciLow!;
    };
    expect(width(10)).toBeGreaterThan(width(10000));
    expect(width(10000)).toBeGreaterThan(width(6461));
  });

  it('is always wider than the fixed-horizon interval, and its p-value never smaller', () => {
    const sequential = compareToControl(control, treatment, { kind: 'mean' });
    const fixed = compareToControl(control, treatment, { kind: 'mean', sequential: false });
    expect(sequential.relative.ciLow!).toBeLessThan(fixed.relative.ciLow!);
    expect(sequential.relative.ciHigh!).toBeGreaterThan(fixed.relative.ciHigh!);
    expect(sequential.pValue!).toBeGreaterThanOrEqual(fixed.pValue!);
  });

  it('has p-value and interval that are dual: at alpha = p the bound touches zero', () => {
    const effect = { estimate: 0.1, standardError: 0.04 };
    const { pValue } = sequentialInference(effect, 5000, 0.05, 5000, 'two-sided');
    // The p-value inverts the e-value with ρ fixed at the configured α (eq. 155).
    const v = 5000 * sequentialRho(0.05, 5000, true) ** 2;
    const halfWidth = effect.standardError * Math.sqrt((2 * (v + 1) * Math.log(Math.sqrt(v + 1) / pValue)) / v);
    expect(pValue).toBeGreaterThan(0);
    expect(pValue).toBeLessThan(1);
    expect(effect.estimate - halfWidth).toBeCloseTo(0, 10);
  });

  it('computes rho from eq. 161 (two-sided uses alpha, one-sided 2·alpha)', () => {
    expect(sequentialRho(0.05, 5000, true)).toBeCloseTo(
      Math.sqrt((-2 * Math.log(0.05) + Math.log(-2 * Math.log(0.05) + 1)) / 5000),
      15,
    );
    expect(sequentialRho(0.05, 5000, false)).toBeCloseTo(sequentialRho(0.1, 5000, true), 15);
  });
});

describe('one-sided confidence sequences (gbstats TestSequentialOneSided*TTest)', () => {
  it('"treatment greater": relative CI (-0.42356, ∞), absolute (-0.12657, ∞)', () => {
    const result = compareToControl(control, treatment, { kind: 'mean', oneSided: true });
    expect(result.relative.ciLow).toBeCloseTo(-0.42356454602790883, 5);
    expect(result.relative.ciHigh).toBeNull();
    expect(result.absolute.ciLow).toBeCloseTo(-0.12656844172804982, 5);
    expect(result.absolute.ciHigh).toBeNull();
  });

  it('"treatment lesser" (lower is better): relative CI (-∞, 1.43029), absolute (-∞, 0.59532)', () => {
    const result = compareToControl(control, treatment, { kind: 'mean', oneSided: true, lowerIsBetter: true });
    expect(result.relative.ciLow).toBeNull();
    expect(result.relative.ciHigh).toBeCloseTo(1.4302867177403806, 5);
    expect(result.absolute.ciHigh).toBeCloseTo(0.5953217750613832, 5);
    // The estimate points away from "lesser": never significant.
    expect(result.pValue).toBe(1);
    expect(result.absolutePValue).toBe(1);
  });

  it('solves the p-value exactly where gbstats bisects: 0.46305 vs its 0.46316 (bisection tolerance)', () => {
    const result = compareToControl(control, treatment, { kind: 'mean', oneSided: true });
    expect(result.absolutePValue!).toBeCloseTo(0.4630474, 6);
    expect(Math.abs(result.absolutePValue! - 0.46316491943359384)).toBeLessThan(2e-4);
    // gbstats caps at the top of its bracket (0.4999); the exact root lies above it.
    expect(result.pValue!).toBeGreaterThan(0.4999);
  });

  it('is never significant when the estimate points away from the tested direction, and can be when it points that way', () => {
    const up = { estimate: 0.5, standardError: 0.1 };
    const down = { estimate: -0.5, standardError: 0.1 };
    expect(sequentialInference(down, 5000, 0.05, 5000, 'greater').pValue).toBe(1);
    expect(sequentialInference(up, 5000, 0.05, 5000, 'lesser').pValue).toBe(1);
    // z = 5 in the tested direction: far below α either way, and the same by symmetry.
    const greater = sequentialInference(up, 5000, 0.05, 5000, 'greater').pValue;
    expect(greater).toBeLessThan(1e-3);
    expect(sequentialInference(down, 5000, 0.05, 5000, 'lesser').pValue).toBeCloseTo(greater, 15);
  });

  it('puts the one-sided bound exactly on zero at alpha = p (duality)', () => {
    const effect = { estimate: 0.23437666666666668, standardError: 0.12983081254184736 };
    const { pValue } = sequentialInference(effect, 6461, 0.05, 5000, 'greater');
    // Rebuild the bound at α = p with ρ fixed at the configured α, as the p-value does.
    const v = 6461 * sequentialRho(0.05, 5000, false) ** 2;
    const halfWidth =
      effect.standardError * Math.sqrt(((2 * (v + 1)) / v) * Math.log(1 + Math.sqrt(v + 1) / (2 * pValue)));
    expect(effect.estimate - halfWidth).toBeCloseTo(0, 10);
  });
});
