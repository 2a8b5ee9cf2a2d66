/**
 * CUPED: regression adjustment with a pre-exposure covariate x (gbstats
 * `RegressionAdjustedStatistic` + `EffectMoments`). Per arm, from n, Σy, Σy², Σx, Σx², Σxy:
 *
 *   θ  = Cov(y, x) / Var(x), pooled over both arms (gbstats `compute_theta`; θ = 0 when
 *        the pooled Var(x) or Var(y) is 0, and then the result is the unadjusted one)
 *   ȳ* = ȳ − θ·x̄                                            adjusted mean
 *   σ*² = σ²_y + θ²·σ²_x − 2θ·σ_yx                            adjusted per-unit variance
 *   absolute  Δ* = ȳ*_t − ȳ*_c,   SE² = σ*²_t/n_t + σ*²_c/n_c
 *   relative  L* = Δ* ÷ |ȳ_c| (divided by the UNadjusted control mean), with gbstats'
 *             `frequentist_variance_relative_cuped`:
 *             Var = σ*²_t/(n_t ȳ_c²) + (σ²_yc·ȳ_t²/ȳ_c² − 2θ·σ_yx,c·ȳ_t/ȳ_c + θ²·σ²_xc)/(n_c ȳ_c²)
 *   ν = Welch on (σ*², n) of each arm
 *
 * σ² and σ_yx are sample (co)variances with n − 1. The variance reduction reported is
 * 1 − SE²(Δ*)/SE²(Δ), what the adjustment saved on the absolute effect (≈ ρ², ρ the
 * correlation of y and x).
 *
 * Worked example (gbstats `test_sequential_test_runs_ra`): y (3000, 1396.87, 52377.9767) vs
 * (3461, 2422.7, 134698.29), x (16.87, 527.9767) vs (22.7, 1348.29), Σxy = 1 in each arm:
 * θ = −0.011403, lift 0.50338, sequential (N* 5000) interval (−0.50969, 1.51646), p = 1.
 */
import { PipelineError } from '../../common/errors.js';
import { compareToControl, summarizeEffects } from './compare.js';
import { resolveCompareSettings } from './compare-settings.js';
import { welchDegreesOfFreedom, type EffectEstimate } from './effect-moments.js';
import type { CompareOptions, ComparisonWarning, VariantComparison } from './types.js';

/** Per-variant sufficient statistics of a metric y and its pre-exposure covariate x, over users. */
export interface CupedStats {
  n: number;
  /** Σy, Σy² of the metric (post-exposure). */
  sum: number;
  sumSquares: number;
  /** Σx, Σx² of the covariate (pre-exposure; users without one count as 0). */
  covariateSum: number;
  covariateSumSquares: number;
  /** Σ over users of y·x. */
  sumProducts: number;
}

/** The CUPED-adjusted comparison beside the unadjusted one. */
export interface CupedComparison {
  adjusted: VariantComparison;
  unadjusted: VariantComparison;
  /** The regression coefficient used; null when no adjustment was possible. */
  theta: number | null;
  /** 1 − SE²(adjusted Δ)/SE²(unadjusted Δ); null when either is undefined. */
  varianceReduction: number | null;
}

/**
 * Pooled θ = Cov(y, x)/Var(x) over both arms; 0 when either pooled variance is 0, or when Var(x)
 * is so small that the quotient is not a finite number (a covariate sum of squares near the
 * smallest double: no adjustment is possible, and the answer must stay JSON).
 *
 * @example cupedTheta(control, treatment) // −0.011403 for gbstats' test_sequential_test_runs_ra
 */
export function cupedTheta(control: CupedStats, treatment: CupedStats): number {
  const n = control.n + treatment.n;
  if (n < 2) return 0;
  const sumY = control.sum + treatment.sum;
  const sumX = control.covariateSum + treatment.covariateSum;
  const varianceY = (control.sumSquares + treatment.sumSquares - (sumY * sumY) / n) / (n - 1);
  const varianceX = (control.covariateSumSquares + treatment.covariateSumSquares - (sumX * sumX) / n) / (n - 1);
  if (!(varianceX > 0) || !(varianceY > 0)) return 0;
  const covariance = (control.sumProducts + treatment.sumProducts - (sumY * sumX) / n) / (n - 1);
  const theta = covariance / varianceX;
  return Number.isFinite(theta) ? theta : 0;
}

interface AdjustedArm {
  n: number;
  /** Unadjusted mean ȳ. */
  mean: number;
  adjustedMean: number;
  varianceY: number;
  varianceX: number;
  covariance: number;
  adjustedVariance: number;
}

function adjustedArm(stats: CupedStats, theta: number): AdjustedArm {
  const { n } = stats;
  const mean = stats.sum / n;
  const varianceY = (stats.sumSquares - (stats.sum * stats.sum) / n) / (n - 1);
  const varianceX = (stats.covariateSumSquares - (stats.covariateSum * stats.covariateSum) / n) / (n - 1);
  const covariance = (stats.sumProducts - (stats.sum * stats.covariateSum) / n) / (n - 1);
  return {
    n,
    mean,
    adjustedMean: mean - (theta * stats.covariateSum) / n,
    varianceY,
    varianceX,
    covariance,
    adjustedVariance: varianceY + theta ** 2 * varianceX - 2 * theta * covariance,
  };
}

/**
 * CUPED-adjusted comparison of a mean metric, with the unadjusted comparison and the
 * variance reduction. Where the unadjusted comparison is untestable (too few users, zero
 * variance, zero baseline) the adjusted one is the same, with θ null.
 *
 * @example compareCuped(control, treatment, { sequential: false }).adjusted.relative
 */
export function compareCuped(
  control: CupedStats,
  treatment: CupedStats,
  options: Omit<CompareOptions, 'kind'>,
): CupedComparison {
  assertValidCupedStats(control, 'control');
  assertValidCupedStats(treatment, 'treatment');
  const settings = resolveCompareSettings({ ...options, kind: 'mean' });
  const unadjusted = compareToControl(
    { n: control.n, sum: control.sum, sumSquares: control.sumSquares },
    { n: treatment.n, sum: treatment.sum, sumSquares: treatment.sumSquares },
    { ...options, kind: 'mean' },
  );
  const untouched = { adjusted: unadjusted, unadjusted, theta: null, varianceReduction: null };
  if (unadjusted.standardErrors.absolute === null || unadjusted.warnings.length > 0) return untouched;
  const theta = cupedTheta(control, treatment);
  if (theta === 0) return { ...untouched, theta: 0, varianceReduction: 0 };

  const c = adjustedArm(control, theta);
  const t = adjustedArm(treatment, theta);
  const warnings: ComparisonWarning[] = [];
  const usable = (effect: EffectEstimate) =>
    Number.isFinite(effect.estimate) && Number.isFinite(effect.standardError) && effect.standardError > 0;
  if (!(c.adjustedVariance > 0 && t.adjustedVariance > 0)) {
    // The covariate explains y entirely (or rounding says so): nothing left to test on.
    return { ...untouched, theta, adjusted: { ...unadjusted, warnings: ['zero-variance'] } };
  }
  const absolute: EffectEstimate = {
    estimate: t.adjustedMean - c.adjustedMean,
    standardError: Math.sqrt(t.adjustedVariance / t.n + c.adjustedVariance / c.n),
  };
  const relativeVariance =
    t.adjustedVariance / (t.n * c.mean ** 2) +
    ((c.varianceY * t.mean ** 2) / c.mean ** 2 -
      (2 * theta * c.covariance * t.mean) / c.mean +
      theta ** 2 * c.varianceX) /
      (c.n * c.mean ** 2);
  const relative: EffectEstimate = {
    estimate: absolute.estimate / Math.abs(c.mean),
    standardError: Math.sqrt(relativeVariance),
  };
  if (!usable(absolute)) return { ...untouched, theta };
  const relativeUsable = usable(relative);
  if (!relativeUsable) warnings.push('numerical-instability');
  const adjusted = summarizeEffects({
    absolute,
    relative: relativeUsable ? relative : null,
    relativeEstimate: Number.isFinite(relative.estimate) ? relative.estimate : null,
    controlMean: c.mean,
    degreesOfFreedom: welchDegreesOfFreedom(
      { n: c.n, mean: c.adjustedMean, variance: c.adjustedVariance },
      { n: t.n, mean: t.adjustedMean, variance: t.adjustedVariance },
    ),
    totalUsers: c.n + t.n,
    settings,
    warnings,
  });
  const unadjustedStandardError = unadjusted.standardErrors.absolute;
  const varianceReduction = 1 - absolute.standardError ** 2 / unadjustedStandardError ** 2;
  return {
    adjusted,
    unadjusted,
    theta,
    varianceReduction: Number.isFinite(varianceReduction) ? varianceReduction : null,
  };
}

/** Rejects statistics no counter can produce (negative or fractional n, NaN, negative Σx²). */
function assertValidCupedStats(stats: CupedStats, label: string): void {
  const problems: string[] = [];
  if (!Number.isSafeInteger(stats.n) || stats.n < 0) problems.push('n must be a non-negative integer');
  for (const field of ['sum', 'covariateSum', 'sumProducts'] as const) {
    if (!Number.isFinite(stats[field])) problems.push(`${field} must be a finite number`);
  }
  for (const field of ['sumSquares', 'covariateSumSquares'] as const) {
    if (!Number.isFinite(stats[field]) || stats[field] < 0)
      problems.push(`${field} must be a finite, non-negative number`);
  }
  if (problems.length > 0) {
    throw new PipelineError('VALIDATION_FAILED', `invalid ${label} CUPED statistics: ${problems.join('; ')}`, {
      details: { label, problems },
    });
  }
}
