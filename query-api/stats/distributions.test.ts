/** Distribution functions against R's pt/qt/pnorm/qnorm/pchisq, including where jStat's own t CDF fails. */
import { describe, expect, it } from 'vitest';
import { chiSquareSurvival, normalCdf, normalQuantile, studentTCdf, studentTQuantile } from './distributions.js';

describe('distribution functions', () => {
  it('match R to the printed digits', () => {
    expect(studentTCdf(-2, 30)).toBeCloseTo(0.02731252, 8); // pt(-2, 30)
    expect(studentTCdf(2.5, 3)).toBeCloseTo(0.9561467, 7); // pt(2.5, 3)
    expect(studentTCdf(-0.3, 12)).toBeCloseTo(0.3846552, 7); // pt(-0.3, 12)
    expect(studentTQuantile(0.975, 30)).toBeCloseTo(2.042272, 6); // qt(0.975, 30)
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.7062, 4); // qt(0.975, 1)
    expect(normalCdf(-1.959964)).toBeCloseTo(0.025, 7); // pnorm(-1.959964)
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6); // qnorm(0.975)
    expect(chiSquareSurvival(3.841459, 1)).toBeCloseTo(0.05, 7); // pchisq(3.841459, 1, lower.tail = FALSE)
    expect(chiSquareSurvival(6, 2)).toBeCloseTo(Math.exp(-3), 10); // χ²₂ survival is e^(−x/2)
  });

  it('keeps the t CDF exact at 0 and close to the normal for large degrees of freedom', () => {
    for (const degreesOfFreedom of [1, 71_690, 999_999, 5e6, 1e9]) {
      expect(studentTCdf(0, degreesOfFreedom)).toBeCloseTo(0.5, 12);
    }
    // pt(-1.96, 1e5) ≈ Φ(−1.96) + φ(1.96)(1.96³ + 1.96)/(4·1e5) (Cornish–Fisher, first order)
    expect(studentTCdf(-1.96, 1e5)).toBeCloseTo(0.0249992815, 8);
    expect(studentTQuantile(0.975, 1e9)).toBeCloseTo(1.959964, 6);
  });

  it('switches to the normal only beyond 1e6 degrees of freedom, where the tail form loses precision', () => {
    // At exactly 1e6 the t still applies: pt(−1.96, ν) ≈ Φ(−1.96) + φ(1.96)(1.96³ + 1.96)/(4ν) = 0.0249980338
    // and qt(0.975, ν) ≈ z + (z³ + z)/(4ν) = 1.9599663568; the normal is 1.4e-7 and 2.3e-6 away.
    expect(studentTCdf(-1.96, 1e6)).toBeCloseTo(0.0249980338, 8);
    expect(studentTQuantile(0.975, 1e6)).toBeCloseTo(1.9599663568, 6);
    // At 1e15, I_{ν/(ν+t²)} with ν/(ν+t²) = 1 − 4e-15 would give 0.0737; the normal gives Φ(−1.96).
    expect(studentTCdf(-1.96, 1e15)).toBeCloseTo(normalCdf(-1.96), 12);
    expect(normalCdf(-1.96)).toBeCloseTo(0.0249978951, 9); // pnorm(-1.96)
  });

  it('is symmetric: F(−t) = 1 − F(t)', () => {
    for (const [t, degreesOfFreedom] of [
      [0.7, 3],
      [2.2, 40],
      [3.5, 5000],
    ] as const) {
      expect(studentTCdf(-t, degreesOfFreedom) + studentTCdf(t, degreesOfFreedom)).toBeCloseTo(1, 12);
    }
  });
});
