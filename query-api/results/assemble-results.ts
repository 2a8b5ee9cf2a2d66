/**
 * Pure assembly of per-variant results from counter cells and the experiment
 * definition: users, impressions, per-metric sums and means, each treatment against the
 * control, and the sample-ratio check. Used for the totals and for every segment value.
 */
import { EXPOSURE_METRIC } from '../../common/counter-layout.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { EMPTY_CELL, type VariantCells } from './cell-table.js';
import { resolveAnalysisSettings } from './analysis-settings.js';
import {
  checkSampleRatio,
  compareMetric,
  correctPValues,
  sampleStatsOf,
  type AnalysisOptions,
  type ComparisonResult,
  type Correction,
  type IntervalResult,
} from './compute-results.js';

export interface MetricResult {
  users: number;
  events: number;
  sum: number;
  sumSquares: number;
  mean: number | null;
  /** Null for the control variant. */
  vsControl: (ComparisonResult & { adjustedPValue?: number | null; adjustedIntervals?: AdjustedIntervals }) | null;
}

/** Intervals at the multiple-comparison adjusted level (main results, goal metrics); null bounds where undefined. */
export interface AdjustedIntervals {
  /** The level the intervals were computed at; null where the method defines none (BH, not selected). */
  alpha: number | null;
  relative: IntervalResult;
  absolute: IntervalResult;
}

export interface VariantResult {
  variantId: string;
  users: number;
  impressions: number;
  metrics: Record<string, MetricResult>;
}

export interface VariantsResult {
  srm: { pValue: number | null; mismatch: boolean };
  variants: VariantResult[];
}

/** SRM needs this many exposed users in every variant before it may flag a mismatch. */
const SRM_MIN_USERS_PER_VARIANT = 8;

/**
 * Results of every variant of `definition` from one set of variant cells (totals or one
 * segment value), under the definition's statistics settings with the request's overrides.
 */
export function assembleVariants(
  definition: ExperimentDefinition,
  cells: VariantCells,
  options: AnalysisOptions,
): VariantsResult {
  const settings = resolveAnalysisSettings(definition, options);
  const exposureOf = (variantId: string) => cells.get(variantId)?.get(EXPOSURE_METRIC) ?? EMPTY_CELL;
  const controlExposed = exposureOf(definition.controlVariantId).units;
  const variants = definition.variants.map((variant): VariantResult => {
    const exposure = exposureOf(variant.id);
    const metrics: Record<string, MetricResult> = {};
    for (const metric of definition.metrics) {
      const cell = cells.get(variant.id)?.get(metric.key) ?? EMPTY_CELL;
      const sample = sampleStatsOf(metric, exposure.units, cell);
      let vsControl: ComparisonResult | null = null;
      if (variant.id !== definition.controlVariantId) {
        const controlCell = cells.get(definition.controlVariantId)?.get(metric.key) ?? EMPTY_CELL;
        vsControl = compareMetric(metric, sampleStatsOf(metric, controlExposed, controlCell), sample, settings);
      }
      metrics[metric.key] = {
        users: cell.units,
        events: cell.events,
        sum: sample.sum,
        sumSquares: sample.sumSquares,
        mean: exposure.units > 0 ? sample.sum / exposure.units : null,
        vsControl,
      };
    }
    return { variantId: variant.id, users: exposure.units, impressions: exposure.events, metrics };
  });
  const users = variants.map((variant) => variant.users);
  const srm = checkSampleRatio(
    users,
    definition.variants.map((variant) => variant.weight),
  );
  const enoughUsers = users.every((count) => count >= SRM_MIN_USERS_PER_VARIANT);
  return { srm: { pValue: srm.pValue, mismatch: enoughUsers && srm.mismatch }, variants };
}

/**
 * Applies a multiple-comparison correction across every comparison of several result
 * sets (segment values × variants × metrics) and records `adjustedPValue` in place.
 */
export function applyCorrection(resultSets: readonly VariantsResult[], method: Correction): void {
  const comparisons = resultSets.flatMap((set) =>
    set.variants.flatMap((variant) =>
      Object.values(variant.metrics).flatMap((metric) => (metric.vsControl ? [metric.vsControl] : [])),
    ),
  );
  const adjusted = correctPValues(
    comparisons.map((comparison) => comparison.pValue),
    method,
  );
  comparisons.forEach((comparison, i) => (comparison.adjustedPValue = adjusted[i] ?? null));
}
