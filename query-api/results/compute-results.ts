/**
 * The one place the query API calls the statistics engine (query-api/stats). Everything
 * else works with counter cells and the response shapes; swapping or upgrading the
 * engine touches only this file.
 */
import { isPipelineError } from '../../common/errors.js';
import type { CellStatistics } from '../../common/counter-layout.js';
import type { MetricDefinitionSchema } from '../../common/experiment-definition.js';
import { adjustPValues, binomialStats, compareToControl, sampleRatioMismatch } from '../stats/index.js';
import type { SampleStats } from '../stats/types.js';
import type { Static } from 'typebox';
import type { AnalysisSettings, Correction } from './analysis-settings.js';

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
 * Per-user sufficient statistics of a metric in a variant. `n` is the variant's exposed
 * users; users without events count as 0. A binomial metric's per-user value is 0/1, so
 * its sum is the number of converting users whatever values the events carried.
 */
export function sampleStatsOf(metric: MetricDefinition, exposed: number, cell: CellStatistics): SampleStats {
  return metric.type === 'binomial'
    ? { n: exposed, sum: cell.units, sumSquares: cell.units }
    : { n: exposed, sum: cell.sum, sumSquares: cell.sumSquares };
}

/**
 * Shown instead of numbers when the counters cannot come from one population, e.g. more
 * converting users than exposed users (conversions from users whose impression was lost).
 */
export const INCONSISTENT_COUNTERS_WARNING = 'inconsistent-counters';

const EMPTY_INTERVAL: IntervalResult = { estimate: null, ciLow: null, ciHigh: null };

/**
 * Compares a treatment with the control for one metric under the experiment's resolved
 * settings; `alpha` replaces the settings' level (a multiple-comparison adjusted level).
 */
export function compareMetric(
  metric: MetricDefinition,
  control: SampleStats,
  treatment: SampleStats,
  settings: AnalysisSettings,
  alpha: number = settings.alpha,
): ComparisonResult {
  let comparison: ReturnType<typeof compareToControl>;
  try {
    if (metric.type === 'binomial') [control, treatment].forEach((s) => binomialStats(s.n, s.sum));
    comparison = compareToControl(control, treatment, {
      kind: metric.type,
      alpha,
      sequential: settings.sequential,
      sequentialTuning: settings.sequentialTuning,
      alternative: settings.alternative,
      lowerIsBetter: metric.lowerIsBetter,
      ...(settings.prior.proper ? { prior: settings.prior } : {}),
    });
  } catch (error) {
    // The engine refuses impossible statistics; one bad cell must not take the whole response down.
    if (!isPipelineError(error)) throw error;
    return {
      absolute: EMPTY_INTERVAL,
      relative: EMPTY_INTERVAL,
      pValue: null,
      chanceToWin: null,
      riskOfLoss: null,
      warnings: [INCONSISTENT_COUNTERS_WARNING],
    };
  }
  return {
    absolute: comparison.absolute,
    relative: comparison.relative,
    pValue: comparison.pValue,
    chanceToWin: comparison.chanceToWin,
    riskOfLoss: comparison.riskOfLoss,
    warnings: [...comparison.warnings],
  };
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
