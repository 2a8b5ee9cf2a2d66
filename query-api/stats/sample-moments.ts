/**
 * From stored sufficient statistics (n, Σx, Σx²) to a variant's mean and per-user
 * variance, the two numbers every test below needs.
 */
import { PipelineError } from '../../common/errors.js';
import type { MetricKind, SampleStats } from './types.js';

/** Mean and per-user variance of one variant; `variance` is null when it cannot be estimated. */
export interface SampleMoments {
  n: number;
  mean: number | null;
  variance: number | null;
}

/**
 * Relative tolerance under which Σx² − (Σx)²/n is rounding noise, not spread: the
 * subtraction cancels catastrophically when every user has the same value (1000 equal
 * values already leave noise of ~2e-14·Σx²). It treats a coefficient of variation
 * below ~1e-5 as none, which float64 sums could not resolve anyway.
 */
const CANCELLATION_TOLERANCE = 1e-10;

/**
 * Sufficient statistics of a conversion metric: each user is 0 or 1, so Σx² = Σx.
 *
 * @example binomialStats(100, 49) // { n: 100, sum: 49, sumSquares: 49 }
 */
export function binomialStats(n: number, conversions: number): SampleStats {
  const stats = { n, sum: conversions, sumSquares: conversions };
  assertValidSampleStats(stats, 'binomial', 'binomialStats');
  return stats;
}

/**
 * Rejects statistics no counter can produce (negative or fractional n, NaN, Σx² < 0,
 * more conversions than users), because a silent NaN would surface as a wrong answer.
 *
 * @example assertValidSampleStats({ n: 10, sum: 3, sumSquares: 3 }, 'binomial', 'control') // ok
 */
export function assertValidSampleStats(stats: SampleStats, kind: MetricKind, label: string): void {
  const problems: string[] = [];
  if (!Number.isSafeInteger(stats.n) || stats.n < 0) problems.push('n must be a non-negative integer');
  if (!Number.isFinite(stats.sum)) problems.push('sum must be a finite number');
  if (!Number.isFinite(stats.sumSquares) || stats.sumSquares < 0) {
    problems.push('sumSquares must be a finite, non-negative number');
  }
  if (kind === 'binomial' && problems.length === 0 && (stats.sum < 0 || stats.sum > stats.n)) {
    problems.push('a binomial sum (conversions) must be between 0 and n');
  }
  if (problems.length > 0) {
    throw new PipelineError('VALIDATION_FAILED', `invalid ${label} statistics: ${problems.join('; ')}`, {
      details: { label, stats, problems },
    });
  }
}

/**
 * Mean and per-user variance. Binomial: p(1−p), as gbstats' ProportionStatistic (no
 * n−1 correction). Mean: the unbiased sample variance (Σx² − (Σx)²/n)/(n−1). A
 * variance that is zero up to rounding is reported as 0 so the caller can warn.
 *
 * @example sampleMoments({ n: 10, sum: 100, sumSquares: 1002.25 }, 'mean') // { n: 10, mean: 10, variance: 0.25 }
 */
export function sampleMoments(stats: SampleStats, kind: MetricKind): SampleMoments {
  const { n, sum, sumSquares } = stats;
  if (n === 0) return { n, mean: null, variance: null };
  const mean = sum / n;
  if (kind === 'binomial') return { n, mean, variance: mean * (1 - mean) };
  if (n < 2) return { n, mean, variance: null };
  const sumOfSquaredDeviations = sumSquares - (sum * sum) / n;
  const isRoundingNoise = sumOfSquaredDeviations <= sumSquares * CANCELLATION_TOLERANCE;
  return { n, mean, variance: isRoundingNoise ? 0 : sumOfSquaredDeviations / (n - 1) };
}
