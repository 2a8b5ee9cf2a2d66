/**
 * The main results' multiple-comparison correction (a definition's `analysis.correction`):
 * one family of m = (goal metrics × treatment variants) relative-lift p-values, guardrail
 * metrics left out and reported uncorrected, as GrowthBook does.
 *
 *   adjusted p-values   Holm (1979) step-down or Benjamini-Hochberg (1995) step-up
 *                       (query-api/stats/multiple-comparisons.ts, R's p.adjust)
 *   adjusted intervals  holm: Bonferroni simultaneous intervals at α/m for every comparison
 *                       (Holm itself defines no intervals beyond these);
 *                       bh:   Benjamini-Yekutieli (2005) false-coverage-rate intervals at
 *                       R·α/m for the R comparisons BH selects (adjusted p ≤ α); none for
 *                       the others (alpha null), and none at all when R = 0.
 * Intervals come from the same procedure as the unadjusted ones (sequential or fixed,
 * one- or two-sided; Welch, or the delta method for ratio metrics), only at the adjusted
 * level. Ratio metrics are goal metrics like any other; a CUPED metric enters the family
 * with its unadjusted p-value (its `cuped` comparison is reported uncorrected).
 *
 * Worked example: 2 goal metrics × 2 treatments, p = (0.01, 0.04, 0.03, 0.005), α = 0.05.
 * Holm: (0.03, 0.06, 0.06, 0.02), intervals at α/4 = 0.0125. BH: (0.02, 0.04, 0.04, 0.02):
 * all 4 selected, intervals at 4·0.05/4 = 0.05 (no wider than the unadjusted ones).
 */
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { AdjustedIntervals, VariantResult } from './assemble-results.js';
import type { AnalysisSettings, Correction } from './analysis-settings.js';
import type { VariantCells } from './cell-table.js';
import { compareMetric, correctPValues, type IntervalResult } from './compute-results.js';
import { metricSampleOf } from './metric-samples.js';

/** What the main results' correction covered; served as `multipleComparisons`. */
export interface MultipleComparisonsSummary {
  method: Correction;
  /** Comparisons in the family: goal metrics × treatment variants with a p-value. */
  comparisons: number;
  /** `bonferroni` (holm), `false-coverage-rate` (bh), or null when no correction. */
  intervals: 'bonferroni' | 'false-coverage-rate' | null;
  goalMetrics: string[];
  /** Not corrected: each guardrail is judged on its own p-value, so it can alert early. */
  guardrailMetrics: string[];
}

const NO_INTERVAL = (estimate: number | null): IntervalResult => ({ estimate, ciLow: null, ciHigh: null });

/**
 * Applies `settings.correction` to the goal metrics of `variants` (in place: each goal
 * comparison gains `adjustedPValue` and `adjustedIntervals`) and returns the summary.
 */
export function correctGoalMetrics(
  definition: ExperimentDefinition,
  cells: VariantCells,
  variants: VariantResult[],
  settings: AnalysisSettings,
): MultipleComparisonsSummary {
  const goalMetrics = definition.metrics.filter((metric) => metric.guardrail !== true);
  const summary: MultipleComparisonsSummary = {
    method: settings.correction,
    comparisons: 0,
    intervals: null,
    goalMetrics: goalMetrics.map((metric) => metric.key),
    guardrailMetrics: definition.metrics.filter((metric) => metric.guardrail === true).map((metric) => metric.key),
  };
  const method = settings.correction;
  if (method === 'none') return summary;

  const family = variants
    .filter((variant) => variant.variantId !== definition.controlVariantId)
    .flatMap((variant) =>
      goalMetrics.flatMap((metric) => {
        const comparison = variant.metrics[metric.key]?.vsControl;
        return comparison ? [{ variant, metric, comparison }] : [];
      }),
    );
  const adjusted = correctPValues(
    family.map(({ comparison }) => comparison.pValue),
    method,
  );
  const m = adjusted.filter((pValue) => pValue !== null).length;
  const selected = adjusted.filter((pValue) => pValue !== null && pValue <= settings.alpha).length;
  summary.comparisons = m;
  summary.intervals = method === 'holm' ? 'bonferroni' : 'false-coverage-rate';

  family.forEach(({ variant, metric, comparison }, index) => {
    const adjustedPValue = adjusted[index] ?? null;
    comparison.adjustedPValue = adjustedPValue;
    const intervalAlpha = adjustedLevel(method, settings.alpha, m, selected, adjustedPValue);
    if (intervalAlpha === null) {
      comparison.adjustedIntervals = {
        alpha: null,
        relative: NO_INTERVAL(comparison.relative.estimate),
        absolute: NO_INTERVAL(comparison.absolute.estimate),
      };
      return;
    }
    const control = metricSampleOf(metric, cells.get(definition.controlVariantId));
    const treatment = metricSampleOf(metric, cells.get(variant.variantId));
    const atLevel = compareMetric(metric, control, treatment, settings, intervalAlpha);
    comparison.adjustedIntervals = { alpha: intervalAlpha, relative: atLevel.relative, absolute: atLevel.absolute };
  });
  return summary;
}

/**
 * The level of one comparison's adjusted intervals: α/m for Holm (Bonferroni), R·α/m for
 * a BH-selected comparison (Benjamini-Yekutieli), null otherwise (no p-value, not selected).
 *
 * @example adjustedLevel('holm', 0.05, 4, 0, 0.3) // 0.0125
 */
export function adjustedLevel(
  method: Exclude<Correction, 'none'>,
  alpha: number,
  comparisons: number,
  selected: number,
  adjustedPValue: number | null,
): AdjustedIntervals['alpha'] {
  if (adjustedPValue === null || comparisons === 0) return null;
  if (method === 'holm') return alpha / comparisons;
  return adjustedPValue <= alpha ? (selected * alpha) / comparisons : null;
}
