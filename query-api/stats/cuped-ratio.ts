/**
 * CUPED for ratio metrics (gbstats `RegressionAdjustedRatioStatistic`): the ratio
 * R = Σm/Σd adjusted by the same ratio before exposure, R* = R_post − θ·R_pre. Per arm the
 * four means β = (m̄_post, d̄_post, m̄_pre, d̄_pre) have the sample covariance matrix Λ
 * (4 × 4, n − 1), and the delta method's gradient is
 *
 *   ∇(θ) = (1/d̄_post, −m̄_post/d̄_post², −θ/d̄_pre, θ·m̄_pre/d̄_pre²),  σ*² = ∇ᵀΛ∇  (per unit)
 *
 *   θ = −(c_c + c_t)/(v_c + v_t), with ∇₁ = ∇(1) per arm, c = ∇₁[pre]ᵀ Λ[pre, post] ∇₁[post] and
 *       v = ∇₁[pre]ᵀ Λ[pre, pre] ∇₁[pre] (gbstats `compute_theta_regression_adjusted_ratio`);
 *       |θ| < 1e-8 (or v_c + v_t = 0) means no adjustment: the plain ratio comparison.
 *   absolute  Δ* = R*_t − R*_c,  SE² = σ*²_t/n_t + σ*²_c/n_c
 *   relative  Δ* ÷ |R_post,c| with gbstats' `frequentist_variance_relative_cuped_ratio`:
 *             ∇_c = (−(g + Δ*)/(d̄_post,c g²), m̄_post,c (g + Δ*)/(d̄²_post,c g²), −∇(θ)_c[2]/g, −∇(θ)_c[3]/g),
 *             ∇_t = ∇(θ)_t / g, g = |R_post,c|;  Var = ∇_cᵀΛ_c∇_c/n_c + ∇_tᵀΛ_t∇_t/n_t
 *
 * Worked example (gbstats `test_two_sided_ttest_test_runs_ratio_ra`, 100 users per arm):
 * lift −0.0007, SE 0.00391, fixed-horizon interval (−0.00841, 0.00700), p 0.85771.
 */
import { PipelineError } from '../../common/errors.js';
import { summarizeEffects } from './compare.js';
import { resolveCompareSettings } from './compare-settings.js';
import type { CupedComparison } from './cuped.js';
import { welchDegreesOfFreedom, type EffectEstimate } from './effect-moments.js';
import { compareRatio } from './ratio.js';
import type { CompareOptions, ComparisonWarning } from './types.js';

/** One per-user sum and its squares. */
interface SumAndSquares {
  sum: number;
  sumSquares: number;
}

/** Per-variant sufficient statistics of a ratio metric and the same ratio before exposure. */
export interface CupedRatioStats {
  n: number;
  numerator: SumAndSquares;
  denominator: SumAndSquares;
  numeratorCovariate: SumAndSquares;
  denominatorCovariate: SumAndSquares;
  /** Σ over users of the products of the four per-user values. */
  products: {
    numeratorNumeratorCovariate: number;
    denominatorDenominatorCovariate: number;
    numeratorCovariateDenominatorCovariate: number;
    numeratorDenominator: number;
    numeratorDenominatorCovariate: number;
    numeratorCovariateDenominator: number;
  };
}

type Vector4 = [number, number, number, number];
type Matrix4 = [Vector4, Vector4, Vector4, Vector4];

interface ArmModel {
  n: number;
  /** β = (m̄_post, d̄_post, m̄_pre, d̄_pre). */
  means: Vector4;
  lambda: Matrix4;
  ratioPost: number;
  ratioPre: number;
}

function armModel(stats: CupedRatioStats): ArmModel {
  const { n } = stats;
  const parts = [stats.numerator, stats.denominator, stats.numeratorCovariate, stats.denominatorCovariate];
  const means = parts.map((part) => part.sum / n) as Vector4;
  const covariance = (i: number, j: number, sumOfProducts: number) =>
    (sumOfProducts - (parts[i]!.sum * parts[j]!.sum) / n) / (n - 1);
  const variance = (i: number) => covariance(i, i, parts[i]!.sumSquares);
  const p = stats.products;
  const mPostDPost = covariance(0, 1, p.numeratorDenominator);
  const mPostMPre = covariance(0, 2, p.numeratorNumeratorCovariate);
  const mPostDPre = covariance(0, 3, p.numeratorDenominatorCovariate);
  const dPostMPre = covariance(1, 2, p.numeratorCovariateDenominator);
  const dPostDPre = covariance(1, 3, p.denominatorDenominatorCovariate);
  const mPreDPre = covariance(2, 3, p.numeratorCovariateDenominatorCovariate);
  return {
    n,
    means,
    lambda: [
      [variance(0), mPostDPost, mPostMPre, mPostDPre],
      [mPostDPost, variance(1), dPostMPre, dPostDPre],
      [mPostMPre, dPostMPre, variance(2), mPreDPre],
      [mPostDPre, dPostDPre, mPreDPre, variance(3)],
    ],
    ratioPost: stats.numerator.sum / stats.denominator.sum,
    ratioPre: stats.numeratorCovariate.sum / stats.denominatorCovariate.sum,
  };
}

/** ∇(θ) of R_post − θ·R_pre at β. */
function gradient(arm: ArmModel, theta: number): Vector4 {
  const [mPost, dPost, mPre, dPre] = arm.means;
  return [1 / dPost, -mPost / dPost ** 2, -theta / dPre, (theta * mPre) / dPre ** 2];
}

/** uᵀ Λ[rows, cols] v over the index sets `rows` (for u) and `cols` (for v). */
function bilinear(u: Vector4, lambda: Matrix4, v: Vector4, rows: number[], cols: number[]): number {
  let total = 0;
  for (const i of rows) for (const j of cols) total += u[i]! * lambda[i]![j]! * v[j]!;
  return total;
}

const ALL = [0, 1, 2, 3];
const POST = [0, 1];
const PRE = [2, 3];

/**
 * θ of the ratio adjustment, pooled over both arms (0 when the pre-period ratio has no variance, or
 * so little that the quotient is not finite).
 *
 * @example cupedRatioTheta(control, treatment) // gbstats compute_theta_regression_adjusted_ratio
 */
export function cupedRatioTheta(control: CupedRatioStats, treatment: CupedRatioStats): number {
  const arms = [armModel(control), armModel(treatment)];
  let covariance = 0;
  let preVariance = 0;
  for (const arm of arms) {
    const unit = gradient(arm, 1);
    covariance += bilinear(unit, arm.lambda, unit, PRE, POST);
    preVariance += bilinear(unit, arm.lambda, unit, PRE, PRE);
  }
  if (!(preVariance !== 0) || !Number.isFinite(preVariance)) return 0;
  // A pre-period variance near the smallest double can leave the quotient infinite: no adjustment then.
  const theta = -covariance / preVariance;
  return Number.isFinite(theta) ? theta : 0;
}

/**
 * CUPED-adjusted comparison of a ratio metric beside the plain ratio comparison. Arms with
 * fewer than 2 users or a zero denominator (before or after exposure) get the plain one.
 *
 * @example compareCupedRatio(control, treatment, { sequential: false }).adjusted.relative
 */
export function compareCupedRatio(
  control: CupedRatioStats,
  treatment: CupedRatioStats,
  options: Omit<CompareOptions, 'kind'>,
): CupedComparison {
  assertValidCupedRatioStats(control, 'control');
  assertValidCupedRatioStats(treatment, 'treatment');
  const settings = resolveCompareSettings({ ...options, kind: 'mean' });
  const post = (stats: CupedRatioStats) => ({
    n: stats.n,
    numerator: stats.numerator,
    denominator: stats.denominator,
    sumProducts: stats.products.numeratorDenominator,
  });
  const unadjusted = compareRatio(post(control), post(treatment), options);
  const untouched = { adjusted: unadjusted, unadjusted, theta: null, varianceReduction: null };
  if (unadjusted.standardErrors.absolute === null || unadjusted.warnings.length > 0) return untouched;
  if (control.denominatorCovariate.sum === 0 || treatment.denominatorCovariate.sum === 0) return untouched;
  const theta = cupedRatioTheta(control, treatment);
  if (Math.abs(theta) < 1e-8) return { ...untouched, theta: 0, varianceReduction: 0 };

  const c = armModel(control);
  const t = armModel(treatment);
  const gradientC = gradient(c, theta);
  const gradientT = gradient(t, theta);
  const varianceC = bilinear(gradientC, c.lambda, gradientC, ALL, ALL);
  const varianceT = bilinear(gradientT, t.lambda, gradientT, ALL, ALL);
  if (!(varianceC > 0 && varianceT > 0)) {
    return { ...untouched, theta, adjusted: { ...unadjusted, warnings: ['zero-variance'] } };
  }
  const adjustedC = c.ratioPost - theta * c.ratioPre;
  const adjustedT = t.ratioPost - theta * t.ratioPre;
  const absolute: EffectEstimate = {
    estimate: adjustedT - adjustedC,
    standardError: Math.sqrt(varianceT / t.n + varianceC / c.n),
  };
  const baseline = Math.abs(c.ratioPost);
  const [mPostC, dPostC] = c.means;
  const relativeGradientC: Vector4 = [
    -(baseline + absolute.estimate) / dPostC / baseline ** 2,
    (mPostC * (baseline + absolute.estimate)) / dPostC ** 2 / baseline ** 2,
    -gradientC[2] / baseline,
    -gradientC[3] / baseline,
  ];
  const relativeGradientT = gradientT.map((value) => value / baseline) as Vector4;
  const relative: EffectEstimate = {
    estimate: absolute.estimate / baseline,
    standardError: Math.sqrt(
      bilinear(relativeGradientC, c.lambda, relativeGradientC, ALL, ALL) / c.n +
        bilinear(relativeGradientT, t.lambda, relativeGradientT, ALL, ALL) / t.n,
    ),
  };
  const usable = (effect: EffectEstimate) =>
    Number.isFinite(effect.estimate) && Number.isFinite(effect.standardError) && effect.standardError > 0;
  if (!usable(absolute)) return { ...untouched, theta };
  const warnings: ComparisonWarning[] = [];
  const relativeUsable = usable(relative);
  if (!relativeUsable) warnings.push('numerical-instability');
  const adjusted = summarizeEffects({
    absolute,
    relative: relativeUsable ? relative : null,
    relativeEstimate: Number.isFinite(relative.estimate) ? relative.estimate : null,
    controlMean: c.ratioPost,
    degreesOfFreedom: welchDegreesOfFreedom(
      { n: c.n, mean: adjustedC, variance: varianceC },
      { n: t.n, mean: adjustedT, variance: varianceT },
    ),
    totalUsers: c.n + t.n,
    settings,
    warnings,
  });
  const varianceReduction = 1 - absolute.standardError ** 2 / unadjusted.standardErrors.absolute ** 2;
  return {
    adjusted,
    unadjusted,
    theta,
    varianceReduction: Number.isFinite(varianceReduction) ? varianceReduction : null,
  };
}

/** Rejects statistics no counter can produce (negative or fractional n, NaN, negative Σx²). */
function assertValidCupedRatioStats(stats: CupedRatioStats, label: string): void {
  const problems: string[] = [];
  if (!Number.isSafeInteger(stats.n) || stats.n < 0) problems.push('n must be a non-negative integer');
  for (const name of ['numerator', 'denominator', 'numeratorCovariate', 'denominatorCovariate'] as const) {
    const part = stats[name];
    if (!Number.isFinite(part.sum)) problems.push(`${name}.sum must be a finite number`);
    if (!Number.isFinite(part.sumSquares) || part.sumSquares < 0) {
      problems.push(`${name}.sumSquares must be a finite, non-negative number`);
    }
  }
  for (const [name, value] of Object.entries(stats.products)) {
    if (!Number.isFinite(value)) problems.push(`products.${name} must be a finite number`);
  }
  if (problems.length > 0) {
    throw new PipelineError('VALIDATION_FAILED', `invalid ${label} CUPED ratio statistics: ${problems.join('; ')}`, {
      details: { label, problems },
    });
  }
}
