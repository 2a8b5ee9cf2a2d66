/**
 * Gaussian Bayesian summary of a lift (gbstats EffectBayesianABTest): the likelihood of
 * the effect is N(estimate, SE²); an optional proper Gaussian prior is combined by
 * precision weighting; chance to win and expected loss follow from the posterior.
 */
import { normalCdf, normalPdf, normalQuantile } from './distributions.js';
import type { EffectEstimate } from './effect-moments.js';
import type { GaussianPrior } from './types.js';

/** The α of the last twoSidedQuantile call and its z (NaN: none yet). */
let lastAlpha = Number.NaN;
let lastQuantile = Number.NaN;

/**
 * z₁₋α/₂, remembered for the last α: every comparison of a response is at the same level
 * (two posteriors each, 80 in a 5-variant × 10-metric response), and the normal quantile
 * is an iterative inversion, about a fifth of a comparison's time. Same value every time.
 *
 * @example twoSidedQuantile(0.05) // ≈ 1.959964
 */
function twoSidedQuantile(alpha: number): number {
  if (alpha !== lastAlpha) {
    lastQuantile = normalQuantile(1 - alpha / 2);
    lastAlpha = alpha;
  }
  return lastQuantile;
}

/** Posterior of the effect, with direction-aware decision quantities. */
export interface GaussianPosterior {
  mean: number;
  standardDeviation: number;
  credibleLow: number;
  credibleHigh: number;
  /** P(treatment better): P(effect > 0), or P(effect < 0) when lower is better. */
  chanceToWin: number;
  /** E[loss] if the treatment is shipped and it is in fact worse. */
  riskOfLoss: number;
  /** E[forgone gain] if control is kept and the treatment is in fact better. */
  riskOfKeepingControl: number;
}

/**
 * Conjugate normal update: precision τ = 1/SE² + 1/σ²₀ and mean (x̂/SE² + μ₀/σ²₀)/τ
 * for a proper prior N(μ₀, σ²₀); a flat prior leaves N(x̂, SE²). The credible interval
 * is mean ± Φ⁻¹(1 − α/2)·sd. Risk uses the partial expectations of a normal:
 * E[max(−X, 0)] = sd·φ(m/sd) − m·Φ(−m/sd), E[max(X, 0)] = sd·φ(m/sd) + m·Φ(m/sd),
 * each clamped at 0 (float cancellation makes them about −1e-18 at |m/sd| ≈ 8).
 *
 * @example
 *   gaussianPosterior({ estimate: 0.040816, standardError: 0.14725 }, undefined, 0.05, false)
 *   // mean 0.04082, credible [-0.24779, 0.32943], chanceToWin 0.60918, riskOfLoss 0.04058 (gbstats' case)
 */
export function gaussianPosterior(
  effect: EffectEstimate,
  prior: GaussianPrior | undefined,
  alpha: number,
  lowerIsBetter: boolean,
): GaussianPosterior {
  const dataPrecision = 1 / effect.standardError ** 2;
  const useProperPrior = prior !== undefined && prior.proper;
  const priorPrecision = useProperPrior ? 1 / prior.variance : 0;
  const precision = dataPrecision + priorPrecision;
  const mean = useProperPrior
    ? (effect.estimate * dataPrecision + prior.mean * priorPrecision) / precision
    : effect.estimate;
  const standardDeviation = Math.sqrt(1 / precision);
  const halfWidth = twoSidedQuantile(alpha) * standardDeviation;

  const standardized = mean / standardDeviation;
  const densityTerm = standardDeviation * normalPdf(standardized);
  // Both expectations are ≥ 0, but at |mean/sd| ≳ 8 the two terms cancel and float
  // rounding leaves about −1e-18: clamp, as an expected loss cannot be negative.
  const expectedShortfall = Math.max(0, densityTerm - mean * normalCdf(-standardized));
  const expectedGain = Math.max(0, densityTerm + mean * normalCdf(standardized));
  return {
    mean,
    standardDeviation,
    credibleLow: mean - halfWidth,
    credibleHigh: mean + halfWidth,
    chanceToWin: normalCdf(lowerIsBetter ? -standardized : standardized),
    riskOfLoss: lowerIsBetter ? expectedGain : expectedShortfall,
    riskOfKeepingControl: lowerIsBetter ? expectedShortfall : expectedGain,
  };
}

/**
 * A prior stated on the relative lift, moved to the absolute scale by the control mean
 * μ_c (gbstats' prior_type rescaling): N(μ₀·|μ_c|, σ²₀·μ_c²).
 *
 * @example absolutePrior({ mean: 0.1, variance: 0.01, proper: true }, 2) // { mean: 0.2, variance: 0.04, proper: true }
 */
export function absolutePrior(relativePrior: GaussianPrior, controlMean: number): GaussianPrior {
  const mean = relativePrior.mean * Math.abs(controlMean);
  const variance = relativePrior.variance * controlMean ** 2;
  // A control mean of 0 (or one whose square underflows) leaves no scale to carry the prior.
  const scalable = Number.isFinite(mean) && Number.isFinite(variance) && variance > 0;
  return { mean, variance, proper: relativePrior.proper && scalable };
}
