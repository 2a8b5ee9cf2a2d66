/**
 * Public API of the query API's statistics engine: pure functions from the counters'
 * sufficient statistics (n, Σx, Σx²) to results a statistician would sign. No I/O.
 *
 * @example
 *   import { compareToControl, binomialStats } from './stats/index.js';
 *   compareToControl(binomialStats(100, 49), binomialStats(100, 51), { kind: 'binomial' }).chanceToWin // 0.60918
 */
export type {
  BayesianSummary,
  CompareOptions,
  ComparisonWarning,
  GaussianPrior,
  Interval,
  MetricKind,
  SampleStats,
  TestAlternative,
  VariantComparison,
} from './types.js';
export { compareToControl } from './compare.js';
export { compareRatio, ratioMoments, type RatioStats } from './ratio.js';
export { compareCuped, cupedTheta, type CupedComparison, type CupedStats } from './cuped.js';
export { compareCupedRatio, cupedRatioTheta, type CupedRatioStats } from './cuped-ratio.js';
export { DEFAULT_ALPHA, DEFAULT_SEQUENTIAL_TUNING } from './compare-settings.js';
export { binomialStats } from './sample-moments.js';
export {
  sampleRatioMismatch,
  SRM_MIN_USERS_PER_VARIANT,
  SRM_P_VALUE_THRESHOLD,
  type SampleRatioMismatch,
} from './sample-ratio-mismatch.js';
export { adjustPValues, type PValueAdjustment } from './multiple-comparisons.js';
