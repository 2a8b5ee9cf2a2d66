/**
 * Distribution functions behind the tests, in one place so their numerical limits are
 * handled once. jStat's own Student t CDF evaluates I_x(ν/2, ν/2) near x = ½, whose
 * continued fraction stalls for large ν (it returns 0.4826 for F(0) at ν = 1e6), so
 * the CDF here uses the tail form I_{ν/(ν+t²)}(ν/2, ½), which converges fast. Beyond
 * 1e6 degrees of freedom the normal is used: t and normal differ by < 2e-7 there.
 */
import jStat from 'jstat';

/** Beyond this many degrees of freedom the t and normal quantiles agree to ~1e-6. */
const NORMAL_APPROXIMATION_DOF = 1e6;

/**
 * Standard normal CDF Φ(x).
 *
 * @example normalCdf(1.959964) // ≈ 0.975
 */
export function normalCdf(x: number): number {
  return jStat.normal.cdf(x, 0, 1);
}

/**
 * Standard normal density φ(x), used by the expected-loss (risk) formula.
 *
 * @example normalPdf(0) // ≈ 0.398942
 */
export function normalPdf(x: number): number {
  return jStat.normal.pdf(x, 0, 1);
}

/**
 * Standard normal quantile Φ⁻¹(p).
 *
 * @example normalQuantile(0.975) // ≈ 1.959964
 */
export function normalQuantile(probability: number): number {
  return jStat.normal.inv(probability, 0, 1);
}

/**
 * Student t CDF via the regularized incomplete beta function (Abramowitz & Stegun
 * 26.7.1): P(T ≤ −|t|) = ½·I_{ν/(ν+t²)}(ν/2, ½); falls back to the normal for very
 * large degrees of freedom.
 *
 * @example studentTCdf(-2.0, 30) // ≈ 0.0273125
 */
export function studentTCdf(x: number, degreesOfFreedom: number): number {
  if (degreesOfFreedom > NORMAL_APPROXIMATION_DOF) return normalCdf(x);
  const lowerTail = 0.5 * jStat.ibeta(degreesOfFreedom / (degreesOfFreedom + x * x), degreesOfFreedom / 2, 0.5);
  return x < 0 ? lowerTail : 1 - lowerTail;
}

/**
 * Student t quantile; falls back to the normal for very large degrees of freedom.
 *
 * @example studentTQuantile(0.975, 30) // ≈ 2.042272
 */
export function studentTQuantile(probability: number, degreesOfFreedom: number): number {
  return degreesOfFreedom > NORMAL_APPROXIMATION_DOF
    ? normalQuantile(probability)
    : jStat.studentt.inv(probability, degreesOfFreedom);
}

/**
 * Upper tail P(X ≥ x) of a chi-square distribution (the SRM p-value).
 *
 * @example chiSquareSurvival(3.841459, 1) // ≈ 0.05
 */
export function chiSquareSurvival(x: number, degreesOfFreedom: number): number {
  return Math.min(1, Math.max(0, 1 - jStat.chisquare.cdf(x, degreesOfFreedom)));
}
