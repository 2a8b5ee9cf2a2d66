/**
 * Pure assembly of per-variant results from counter cells and the experiment
 * definition: users, impressions, per-metric sums and means, each treatment against the
 * control, and the sample-ratio check. Used for the totals and for every segment value.
 *
 * Per metric type (metric-samples.ts maps the cells):
 *   binomial, mean   sum/sumSquares/mean of the per-user values; with a `cap` they are the
 *                    capped ones (Σ min(T, cap)) and `capped` holds the cap and the raw ones
 *   `cuped`          `covariate` (Σx, Σx², Σxy per variant) and `vsControl.cuped`, the
 *                    regression-adjusted comparison beside the unadjusted `vsControl`
 *   ratio            sum/sumSquares of the numerator, mean = ΣN/ΣD, `ratio` with both sides
 *                    and ΣND; `vsControl` is the delta-method comparison of the ratios
 */
import { EXPOSURE_METRIC } from '../../common/counter-layout.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { EMPTY_CELL, type VariantCells } from './cell-table.js';
import { resolveAnalysisSettings } from './analysis-settings.js';
import {
  checkSampleRatio,
  compareCupedMetric,
  compareMetric,
  correctPValues,
  type AnalysisOptions,
  type ComparisonResult,
  type Correction,
  type CupedResult,
  type IntervalResult,
  type MetricDefinition,
} from './compute-results.js';
import { metricSampleOf, ratioPartsOf, type MetricSample } from './metric-samples.js';

export interface MetricResult {
  /** Users with at least one event of this metric (a ratio: of its numerator). */
  users: number;
  /** Events of this metric (a ratio: of its numerator). */
  events: number;
  /** Σ of per-user values (capped with a cap; a ratio: Σ numerator). */
  sum: number;
  sumSquares: number;
  /** sum / exposed users; a ratio: Σ numerator / Σ denominator (null when that is 0). */
  mean: number | null;
  /** A mean metric with a cap: the cap and the uncapped sums (sum/sumSquares/mean above are capped). */
  capped?: { cap: number; uncappedSum: number; uncappedSumSquares: number; uncappedMean: number | null };
  /** A CUPED metric: the covariate's sums over exposed users and Σ value × covariate. */
  covariate?: { sum: number; sumSquares: number; sumProducts: number; mean: number | null };
  /** A ratio metric: both sides' per-user sums and Σ numerator × denominator over users. */
  ratio?: {
    numerator: string;
    denominator: string;
    numeratorSum: number;
    numeratorSumSquares: number;
    denominatorSum: number;
    denominatorSumSquares: number;
    sumProducts: number;
  };
  /** Null for the control variant. */
  vsControl:
    | (ComparisonResult & {
        adjustedPValue?: number | null;
        adjustedIntervals?: AdjustedIntervals;
        /** CUPED metrics: the regression-adjusted comparison (not part of the corrections). */
        cuped?: CupedResult;
      })
    | null;
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
  const variants = definition.variants.map((variant): VariantResult => {
    const exposure = exposureOf(variant.id);
    const metrics: Record<string, MetricResult> = {};
    for (const metric of definition.metrics) {
      const sample = metricSampleOf(metric, cells.get(variant.id));
      let vsControl: MetricResult['vsControl'] = null;
      if (variant.id !== definition.controlVariantId) {
        const control = metricSampleOf(metric, cells.get(definition.controlVariantId));
        vsControl = compareMetric(metric, control, sample, settings);
        const cuped = compareCupedMetric(metric, control, sample, settings);
        if (cuped) vsControl.cuped = cuped;
      }
      metrics[metric.key] = describeSample(
        metric,
        sample,
        cells.get(variant.id)?.get(metric.key) ?? EMPTY_CELL,
        vsControl,
      );
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

const meanOf = (sum: number, n: number): number | null => (n > 0 ? sum / n : null);

/**
 * The per-variant figures of one metric, with `vsControl` as given. The comparison is an
 * argument, not spread onto the result afterwards: `{ ...figures, vsControl }` takes V8's
 * slow path on Node 20 (about 0.5 µs an object, 50 per results request, per segment value
 * in a breakdown).
 */
function describeSample(
  metric: MetricDefinition,
  sample: MetricSample,
  cell: { units: number; events: number },
  vsControl: MetricResult['vsControl'],
): MetricResult {
  if (sample.kind === 'ratio') {
    const { n, numerator, denominator, sumProducts } = sample.stats;
    const parts = ratioPartsOf(metric);
    return {
      users: sample.numeratorCell.units,
      events: sample.numeratorCell.events,
      sum: numerator.sum,
      sumSquares: numerator.sumSquares,
      mean: n > 0 && denominator.sum !== 0 ? numerator.sum / denominator.sum : null,
      ratio: {
        numerator: parts.numerator,
        denominator: parts.denominator,
        numeratorSum: numerator.sum,
        numeratorSumSquares: numerator.sumSquares,
        denominatorSum: denominator.sum,
        denominatorSumSquares: denominator.sumSquares,
        sumProducts,
      },
      vsControl,
    };
  }
  const { n, sum, sumSquares } = sample.stats;
  return {
    users: cell.units,
    events: cell.events,
    sum,
    sumSquares,
    mean: meanOf(sum, n),
    ...(sample.uncapped && metric.cap !== undefined
      ? {
          capped: {
            cap: metric.cap,
            uncappedSum: sample.uncapped.sum,
            uncappedSumSquares: sample.uncapped.sumSquares,
            uncappedMean: meanOf(sample.uncapped.sum, n),
          },
        }
      : {}),
    ...(sample.cuped
      ? {
          covariate: {
            sum: sample.cuped.covariateSum,
            sumSquares: sample.cuped.covariateSumSquares,
            sumProducts: sample.cuped.sumProducts,
            mean: meanOf(sample.cuped.covariateSum, n),
          },
        }
      : {}),
    vsControl,
  };
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
