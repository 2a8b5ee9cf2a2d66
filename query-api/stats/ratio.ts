/**
 * Ratio metrics (revenue per order, clicks per session): the ratio of two per-user sums,
 * R = Σ numerator / Σ denominator over a variant's users, analysed with the delta method
 * (gbstats `RatioStatistic`). The per-unit variance of R is
 *
 *   σ²_R = σ²_m/μ_d² + μ_m²·σ²_d/μ_d⁴ − 2·μ_m·σ_md/μ_d³        (gbstats `variance_of_ratios`)
 *
 * with μ_m = Σm/n, μ_d = Σd/n, σ²_m = (Σm² − (Σm)²/n)/(n − 1), σ²_d likewise and
 * σ_md = (Σmd − Σm·Σd/n)/(n − 1): Var(R̂) ≈ σ²_R/n. From there the comparison is the
 * ordinary one (Welch, delta-method lift, sequential or fixed, Bayesian) on (n, R, σ²_R).
 *
 * Worked example (gbstats' covariance test data): m = (0.3, 0.5, 0.9, 22), d = (2, 1, 5, 3):
 * R = 23.7/11 = 2.154545, σ_md = 2.141667 (numpy's np.cov), σ²_R = 15.764614 — the sample
 * variance of the linearised values (m − R·d)/μ_d, which is what the delta method estimates.
 */
import { PipelineError } from '../../common/errors.js';
import { compareMoments } from './compare.js';
import { resolveCompareSettings } from './compare-settings.js';
import { sampleMoments, type SampleMoments } from './sample-moments.js';
import type { CompareOptions, ComparisonWarning, VariantComparison } from './types.js';

/** Per-variant sufficient statistics of a ratio metric, over the variant's exposed users. */
export interface RatioStats {
  n: number;
  numerator: { sum: number; sumSquares: number };
  denominator: { sum: number; sumSquares: number };
  /** Σ over users of numerator × denominator. */
  sumProducts: number;
}

/**
 * The ratio and its per-unit delta-method variance; mean null when Σ denominator is 0,
 * variance null with fewer than 2 users.
 *
 * @example
 *   ratioMoments({ n: 4, numerator: { sum: 23.7, sumSquares: 485.15 }, denominator: { sum: 11, sumSquares: 39 }, sumProducts: 71.6 })
 *   // { n: 4, mean: 2.154545…, variance: 15.764614… }
 */
export function ratioMoments(stats: RatioStats): SampleMoments {
  const { n, numerator, denominator, sumProducts } = stats;
  if (n === 0 || denominator.sum === 0) return { n, mean: null, variance: null };
  const ratio = numerator.sum / denominator.sum;
  const m = sampleMoments({ n, ...numerator }, 'mean');
  const d = sampleMoments({ n, ...denominator }, 'mean');
  if (m.variance === null || d.variance === null || m.mean === null || d.mean === null) {
    return { n, mean: ratio, variance: null };
  }
  const covariance = (sumProducts - (numerator.sum * denominator.sum) / n) / (n - 1);
  const variance =
    m.variance / d.mean ** 2 + (m.mean ** 2 * d.variance) / d.mean ** 4 - (2 * m.mean * covariance) / d.mean ** 3;
  return { n, mean: ratio, variance };
}

/**
 * Compares a treatment with control on a ratio metric: every field as compareToControl's,
 * computed from (n, R, σ²_R) of each arm. `zero-denominator` when an arm with users has
 * Σ denominator = 0 (its ratio is undefined).
 *
 * @example
 *   compareRatio(control, treatment, { sequential: false }).relative // lift of the ratio, delta-method interval
 */
export function compareRatio(
  control: RatioStats,
  treatment: RatioStats,
  options: Omit<CompareOptions, 'kind'>,
): VariantComparison {
  const settings = resolveCompareSettings({ ...options, kind: 'mean' });
  assertValidRatioStats(control, 'control');
  assertValidRatioStats(treatment, 'treatment');
  const warnings: ComparisonWarning[] = [];
  if ([control, treatment].some((arm) => arm.n > 0 && arm.denominator.sum === 0)) warnings.push('zero-denominator');
  return compareMoments(ratioMoments(control), ratioMoments(treatment), settings, warnings);
}

/** Rejects statistics no counter can produce (negative or fractional n, NaN, negative Σx²). */
function assertValidRatioStats(stats: RatioStats, label: string): void {
  const problems: string[] = [];
  if (!Number.isSafeInteger(stats.n) || stats.n < 0) problems.push('n must be a non-negative integer');
  for (const [name, part] of [
    ['numerator', stats.numerator],
    ['denominator', stats.denominator],
  ] as const) {
    if (!Number.isFinite(part.sum)) problems.push(`${name}.sum must be a finite number`);
    if (!Number.isFinite(part.sumSquares) || part.sumSquares < 0) {
      problems.push(`${name}.sumSquares must be a finite, non-negative number`);
    }
  }
  if (!Number.isFinite(stats.sumProducts)) problems.push('sumProducts must be a finite number');
  if (problems.length > 0) {
    throw new PipelineError('VALIDATION_FAILED', `invalid ${label} ratio statistics: ${problems.join('; ')}`, {
      details: { label, problems },
    });
  }
}
