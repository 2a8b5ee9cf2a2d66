/**
 * The one place the query API calls the statistics engine (query-api/stats). Everything
 * else works with counter cells and the response shapes; swapping or upgrading the
 * engine touches only this file.
 */
import { isPipelineError } from '../../common/errors.js';
import type { MetricDefinitionSchema } from '../../common/experiment-definition.js';
import {
  adjustPValues,
  binomialStats,
  compareCuped,
  compareRatio,
  compareToControl,
  sampleRatioMismatch,
  type CompareOptions,
  type MetricKind,
  type VariantComparison,
} from '../stats/index.js';
import type { Static } from 'typebox';
import type { AnalysisSettings, Correction } from './analysis-settings.js';
import type { MetricSample } from './metric-samples.js';

export type { AnalysisOptions, AnalysisSettings, Correction } from './analysis-settings.js';
export type MetricDefinition = Static<typeof MetricDefinitionSchema>;

export interface IntervalResult {
  estimate: number | null;
  ciLow: number | null;
  ciHigh: number | null;
}

/** A treatment variant against the control for one metric, as served. */
export interface ComparisonResult {
  absolute: IntervalResult;
  relative: IntervalResult;
  pValue: number | null;
  chanceToWin: number | null;
  riskOfLoss: number | null;
  warnings: string[];
}

/**
 * Shown instead of numbers when the counters cannot come from one population, e.g. more
 * converting users than exposed users (conversions from users whose impression was lost).
 */
export const INCONSISTENT_COUNTERS_WARNING = 'inconsistent-counters';

const EMPTY_INTERVAL: IntervalResult = { estimate: null, ciLow: null, ciHigh: null };

/** A comparison without numbers, for `warning`: a new object each time (callers add fields in place). */
const withoutNumbers = (warning: string): ComparisonResult => ({
  absolute: EMPTY_INTERVAL,
  relative: EMPTY_INTERVAL,
  pValue: null,
  chanceToWin: null,
  riskOfLoss: null,
  warnings: [warning],
});

/**
 * The engine's options under the experiment's resolved settings for one metric. `kind` is
 * set here rather than spread on afterwards (`{ ...options, kind }` takes V8's slow path on
 * Node 20, about 0.5 µs a comparison); the ratio and CUPED estimators choose their own.
 */
function compareOptionsOf(
  metric: MetricDefinition,
  settings: AnalysisSettings,
  alpha: number,
  kind: MetricKind = 'mean',
): CompareOptions {
  return {
    kind,
    alpha,
    sequential: settings.sequential,
    sequentialTuning: settings.sequentialTuning,
    alternative: settings.alternative,
    lowerIsBetter: metric.lowerIsBetter,
    ...(settings.prior.proper ? { prior: settings.prior } : {}),
  };
}

/** The served fields of an engine comparison. */
function servedComparison(comparison: VariantComparison): ComparisonResult {
  return {
    absolute: comparison.absolute,
    relative: comparison.relative,
    pValue: comparison.pValue,
    chanceToWin: comparison.chanceToWin,
    riskOfLoss: comparison.riskOfLoss,
    warnings: [...comparison.warnings],
  };
}

/** Runs an engine call; the engine refuses impossible statistics, and one bad cell must not take the response down. */
function guarded<T>(compute: () => T, fallback: () => T): T {
  try {
    return compute();
  } catch (error) {
    if (!isPipelineError(error)) throw error;
    return fallback();
  }
}

/**
 * Compares a treatment with the control for one metric under the experiment's resolved
 * settings; `alpha` replaces the settings' level (a multiple-comparison adjusted level).
 * The main estimate: Welch/delta method on the (capped) per-user values of a binomial or
 * mean metric, the delta method for the ratio of means of a ratio metric.
 */
export function compareMetric(
  metric: MetricDefinition,
  control: MetricSample,
  treatment: MetricSample,
  settings: AnalysisSettings,
  alpha: number = settings.alpha,
): ComparisonResult {
  const options = compareOptionsOf(metric, settings, alpha, metric.type === 'binomial' ? 'binomial' : 'mean');
  return guarded(
    () => {
      if (control.kind === 'ratio' || treatment.kind === 'ratio') {
        if (control.kind !== 'ratio' || treatment.kind !== 'ratio') throw new Error('ratio compared with a non-ratio');
        return servedComparison(compareRatio(control.stats, treatment.stats, options));
      }
      if (metric.type === 'binomial') [control, treatment].forEach((s) => binomialStats(s.stats.n, s.stats.sum));
      return servedComparison(compareToControl(control.stats, treatment.stats, options));
    },
    () => withoutNumbers(INCONSISTENT_COUNTERS_WARNING),
  );
}

/** The CUPED-adjusted comparison served beside the unadjusted one (`vsControl.cuped`). */
export interface CupedResult extends ComparisonResult {
  /** θ = Cov(y, x)/Var(x) pooled over both arms; null when no adjustment was possible (see warnings). */
  theta: number | null;
  /** 1 − SE²(adjusted Δ)/SE²(unadjusted Δ): the share of the variance CUPED removed; null when undefined. */
  varianceReduction: number | null;
}

/**
 * The CUPED comparison of a metric with `cuped` (gbstats' regression-adjusted estimator,
 * query-api/stats/cuped.ts); undefined for metrics without it.
 */
export function compareCupedMetric(
  metric: MetricDefinition,
  control: MetricSample,
  treatment: MetricSample,
  settings: AnalysisSettings,
): CupedResult | undefined {
  if (control.kind === 'ratio' || treatment.kind === 'ratio' || metric.cuped !== true) return undefined;
  if (!control.cuped || !treatment.cuped) {
    return { ...withoutNumbers(INCONSISTENT_COUNTERS_WARNING), theta: null, varianceReduction: null };
  }
  const controlStats = control.cuped;
  const treatmentStats = treatment.cuped;
  return guarded(
    (): CupedResult => {
      const result = compareCuped(controlStats, treatmentStats, compareOptionsOf(metric, settings, settings.alpha));
      return {
        ...servedComparison(result.adjusted),
        theta: result.theta,
        varianceReduction: result.varianceReduction,
      };
    },
    () => ({ ...withoutNumbers(INCONSISTENT_COUNTERS_WARNING), theta: null, varianceReduction: null }),
  );
}

/** Chi-square sample-ratio check of exposed users against the configured weights. */
export function checkSampleRatio(users: number[], weights: number[]): { pValue: number | null; mismatch: boolean } {
  const { pValue, mismatch } = sampleRatioMismatch(users, weights);
  return { pValue: Number.isFinite(pValue) ? pValue : null, mismatch };
}

/** Multiple-comparison correction over a flat list of p-values (nulls stay null). */
export function correctPValues(pValues: (number | null)[], method: Correction): (number | null)[] {
  return adjustPValues(pValues, method);
}
