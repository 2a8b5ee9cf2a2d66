/**
 * Fixed-horizon Welch t inference (gbstats TwoSidedTTest / OneSidedTreatment*TTest):
 * valid when the data are looked at once, at a sample size fixed in advance.
 */
import { studentTCdf, studentTQuantile } from './distributions.js';
import type { EffectEstimate } from './effect-moments.js';
import type { Alternative, FrequentistInference } from './alternative-hypothesis.js';

/**
 * Interval and p-value of t = estimate / SE on ν degrees of freedom.
 * Two-sided: estimate ± t₁₋α/₂,ν·SE, p = 2·F_ν(−|t|).
 * Greater: [estimate − t₁₋α,ν·SE, ∞), p = F_ν(−t). Lesser: (−∞, estimate + t₁₋α,ν·SE], p = F_ν(t).
 *
 * @example
 *   fixedHorizonInference({ estimate: 0.70732, standardError: 0.37879 }, 5841.7, 0.05, 'two-sided')
 *   // { ciLow: -0.03526, ciHigh: 1.44989, pValue: 0.06191 }  (gbstats' published case)
 */
export function fixedHorizonInference(
  effect: EffectEstimate,
  degreesOfFreedom: number,
  alpha: number,
  alternative: Alternative,
): FrequentistInference {
  const { estimate, standardError } = effect;
  const tStatistic = estimate / standardError;
  switch (alternative) {
    case 'two-sided': {
      const halfWidth = studentTQuantile(1 - alpha / 2, degreesOfFreedom) * standardError;
      return {
        ciLow: estimate - halfWidth,
        ciHigh: estimate + halfWidth,
        pValue: 2 * studentTCdf(-Math.abs(tStatistic), degreesOfFreedom),
      };
    }
    case 'greater':
      return {
        ciLow: estimate - studentTQuantile(1 - alpha, degreesOfFreedom) * standardError,
        ciHigh: null,
        pValue: studentTCdf(-tStatistic, degreesOfFreedom),
      };
    case 'lesser':
      return {
        ciLow: null,
        ciHigh: estimate + studentTQuantile(1 - alpha, degreesOfFreedom) * standardError,
        pValue: studentTCdf(tStatistic, degreesOfFreedom),
      };
  }
}
