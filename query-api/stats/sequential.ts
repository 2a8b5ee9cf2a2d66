/**
 * Always-valid confidence sequences and p-values (Waudby-Smith et al. 2023,
 * "Time-uniform central limit theory and asymptotic confidence sequences",
 * arXiv:2103.06476v7; as used by gbstats' Sequential*TTest). The error rate holds no
 * matter how often results are looked at, at the price of wider intervals, tightest
 * when the total sample size is near the tuning parameter N.
 */
import type { EffectEstimate } from './effect-moments.js';
import type { Alternative, FrequentistInference } from './alternative-hypothesis.js';

/**
 * Mixing parameter ρ for tuning N (eq. 161): ρ = √((−2 ln a + ln(−2 ln a + 1)) / N),
 * with a = α for two-sided and a = 2α for one-sided sequences.
 *
 * @example sequentialRho(0.05, 5000, true) // ≈ 0.039840
 */
export function sequentialRho(alpha: number, tuning: number, twoSided: boolean): number {
  const a = twoSided ? alpha : 2 * alpha;
  const minusTwoLogA = -2 * Math.log(a);
  return Math.sqrt((minusTwoLogA + Math.log(minusTwoLogA + 1)) / tuning);
}

/**
 * Interval and p-value for an effect estimated from n = n_c + n_t users. With
 * v = nρ² the per-observation variance is s² = SE²·n, and (eq. 9)
 * two-sided half-width = SE·√(2(v+1)/v · ln(√(v+1)/α)); p = min(1, √(v+1)·exp(−v z²/(2(v+1))))
 * (the reciprocal of the e-value of eq. 155, z = estimate/SE).
 * One-sided half-width = SE·√(2(v+1)/v · ln(1 + √(v+1)/(2α))), with ρ from 2α; its
 * p-value is the α at which the bound touches 0, solved in closed form:
 * p = √(v+1) / (2(e^{v z²/(2(v+1))} − 1)) when the estimate points the tested way, else 1.
 *
 * @example
 *   sequentialInference({ estimate: 0.50336, standardError: 0.33341 }, 6461, 0.05, 1000, 'two-sided')
 *   // { ciLow: -0.55844, ciHigh: 1.56516, pValue: 1 }  (gbstats' published case)
 */
export function sequentialInference(
  effect: EffectEstimate,
  totalUsers: number,
  alpha: number,
  tuning: number,
  alternative: Alternative,
): FrequentistInference {
  const { estimate, standardError } = effect;
  const zSquared = (estimate / standardError) ** 2;
  if (alternative === 'two-sided') {
    const v = totalUsers * sequentialRho(alpha, tuning, true) ** 2;
    const halfWidth = standardError * Math.sqrt((2 * (v + 1) * Math.log(Math.sqrt(v + 1) / alpha)) / v);
    const pValue = Math.min(1, Math.sqrt(v + 1) * Math.exp((-v * zSquared) / (2 * (v + 1))));
    return { ciLow: estimate - halfWidth, ciHigh: estimate + halfWidth, pValue };
  }
  const v = totalUsers * sequentialRho(alpha, tuning, false) ** 2;
  const halfWidth = standardError * Math.sqrt(((2 * (v + 1)) / v) * Math.log(1 + Math.sqrt(v + 1) / (2 * alpha)));
  const pointsTestedWay = alternative === 'greater' ? estimate > 0 : estimate < 0;
  const pValue = pointsTestedWay ? Math.min(1, Math.sqrt(v + 1) / (2 * Math.expm1((v * zSquared) / (2 * (v + 1))))) : 1;
  return alternative === 'greater'
    ? { ciLow: estimate - halfWidth, ciHigh: null, pValue }
    : { ciLow: null, ciHigh: estimate + halfWidth, pValue };
}
