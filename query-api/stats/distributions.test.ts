/**
 * Distribution functions against R's pt/qt/pnorm/qnorm/pchisq and against 50-digit
 * reference values (test-support/student-t-reference.py, mpmath) of the Student t at
 * every sample size from 1 to 1e9 degrees of freedom.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareToControl } from './compare.js';
import { chiSquareSurvival, normalCdf, normalQuantile, studentTCdf, studentTQuantile } from './distributions.js';

interface StudentTReference {
  /** [x, ν, P(T ≤ x)] */
  cdf: [number, number, number][];
  /** [probability, ν, quantile] */
  quantile: [number, number, number][];
}
const reference = JSON.parse(
  readFileSync(new URL('./test-support/student-t-reference.json', import.meta.url), 'utf8'),
) as StudentTReference;

const relativeError = (actual: number, expected: number) => Math.abs(actual - expected) / Math.abs(expected);

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

  it('gives the exact Student t CDF to 1e-9 relative from 1 to 1e9 degrees of freedom', () => {
    expect(reference.cdf.length).toBeGreaterThan(250);
    const failures = reference.cdf
      .map(([x, degreesOfFreedom, expected]) => ({
        x,
        degreesOfFreedom,
        expected,
        actual: studentTCdf(x, degreesOfFreedom),
      }))
      .filter(({ actual, expected }) => !(relativeError(actual, expected) <= 1e-9));
    expect(failures).toEqual([]);
  });

  it('gives the upper tail as 1 − lower tail (symmetry) at every size', () => {
    for (const [x, degreesOfFreedom, lowerTail] of reference.cdf) {
      expect(Math.abs(studentTCdf(-x, degreesOfFreedom) - (1 - lowerTail))).toBeLessThan(1e-15);
    }
  });

  it('gives the exact Student t quantile to 1e-9 relative from 1 to 1e9 degrees of freedom', () => {
    expect(reference.quantile.length).toBeGreaterThan(190);
    const failures = reference.quantile
      .flatMap(([probability, degreesOfFreedom, expected]) => [
        { probability, degreesOfFreedom, expected, actual: studentTQuantile(probability, degreesOfFreedom) },
        {
          probability: 1 - probability,
          degreesOfFreedom,
          expected: -expected,
          actual: studentTQuantile(1 - probability, degreesOfFreedom),
        },
      ])
      .filter(({ actual, expected }) => !(relativeError(actual, expected) <= 1e-9));
    expect(failures).toEqual([]);
  });

  it('has no normal fallback: just above 1e6 degrees of freedom the t still differs from the normal', () => {
    // pt(−5, 1000000.1) = 2.866998935e-7 (mpmath); the normal gives 2.866515719e-7, 1.7e-4 away relative.
    expect(relativeError(studentTCdf(-5, 1000000.1), 2.866998935397046e-7)).toBeLessThan(1e-9);
    expect(relativeError(normalCdf(-5), 2.866998935397046e-7)).toBeGreaterThan(1e-5);
    for (const degreesOfFreedom of [1, 71_690, 999_999, 5e6, 1e9, 1e15]) {
      expect(studentTCdf(0, degreesOfFreedom)).toBe(0.5);
    }
  });

  it('reproduces the exact p-value of 60000/600000 vs 60700/600000 (ν ≈ 1.2e6), where the normal was 6e-6 off', () => {
    const result = compareToControl(
      { n: 600_000, sum: 60_000, sumSquares: 60_000 },
      { n: 600_000, sum: 60_700, sumSquares: 60_700 },
      { kind: 'binomial', sequential: false },
    );
    // mpmath, 40 digits, Welch ν = 1199966.16: exact t gives 0.0346656001178676 (normal: 0.0346653940766553).
    expect(relativeError(result.pValue!, 0.0346656001178676)).toBeLessThan(1e-9);
    expect(relativeError(result.absolutePValue!, 0.0336252825446622)).toBeLessThan(1e-9);
  });
});
