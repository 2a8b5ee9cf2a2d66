/**
 * The lift between two variants and its standard error, absolute and relative, as in
 * gbstats' EffectMoments: the moments every frequentist and Bayesian summary builds on.
 */

/** Moments of one variant that has at least 2 users and positive variance. */
export interface VariantMoments {
  n: number;
  mean: number;
  variance: number;
}

/** A point estimate with the standard error of its sampling distribution. */
export interface EffectEstimate {
  estimate: number;
  standardError: number;
}

/**
 * Absolute difference of means with Welch's (unpooled) standard error:
 * Δ = μ_t − μ_c, Var(Δ) = σ²_t/n_t + σ²_c/n_c.
 *
 * @example
 *   absoluteEffect({ n: 10, mean: 10, variance: 0.25 }, { n: 10, mean: 10.5, variance: 1 })
 *   // { estimate: 0.5, standardError: √0.125 ≈ 0.35355 }
 */
export function absoluteEffect(control: VariantMoments, treatment: VariantMoments): EffectEstimate {
  return {
    estimate: treatment.mean - control.mean,
    standardError: Math.sqrt(treatment.variance / treatment.n + control.variance / control.n),
  };
}

/**
 * Relative lift with the delta-method variance of a ratio of independent means
 * (gbstats `variance_of_ratios` with zero covariance):
 * L = (μ_t − μ_c)/|μ_c|, Var(L) ≈ σ²_t/(μ_c² n_t) + μ_t² σ²_c/(μ_c⁴ n_c).
 * Dividing by |μ_c| (gbstats divides by μ_c) keeps "positive lift = treatment higher"
 * for negative baselines such as net revenue; for μ_c > 0 the two agree.
 * Returns null when the control mean is 0 (the ratio is undefined).
 *
 * @example
 *   relativeEffect({ n: 100, mean: 0.49, variance: 0.2499 }, { n: 100, mean: 0.51, variance: 0.2499 })
 *   // { estimate: 0.040816, standardError: 0.14725 }
 */
export function relativeEffect(control: VariantMoments, treatment: VariantMoments): EffectEstimate | null {
  const controlMean = control.mean;
  if (controlMean === 0) return null;
  const variance =
    treatment.variance / (controlMean ** 2 * treatment.n) +
    (control.variance * treatment.mean ** 2) / (controlMean ** 4 * control.n);
  return { estimate: (treatment.mean - controlMean) / Math.abs(controlMean), standardError: Math.sqrt(variance) };
}

/**
 * Welch–Satterthwaite degrees of freedom:
 * ν = (σ²_t/n_t + σ²_c/n_c)² / (σ⁴_t/(n_t²(n_t−1)) + σ⁴_c/(n_c²(n_c−1))).
 *
 * @example welchDegreesOfFreedom({ n: 10, mean: 0, variance: 1 }, { n: 10, mean: 0, variance: 1 }) // 18
 */
export function welchDegreesOfFreedom(control: VariantMoments, treatment: VariantMoments): number {
  const treatmentTerm = treatment.variance / treatment.n;
  const controlTerm = control.variance / control.n;
  return (
    (treatmentTerm + controlTerm) ** 2 / (treatmentTerm ** 2 / (treatment.n - 1) + controlTerm ** 2 / (control.n - 1))
  );
}
