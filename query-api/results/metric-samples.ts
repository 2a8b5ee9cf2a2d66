/**
 * Pure mapping from counter cells to the sufficient statistics each estimator takes, per
 * metric type and definition (common/counter-plan.ts says which cells carry what):
 *
 *   binomial                 n = exposed, Σy = Σy² = converting users (the cell's `units`)
 *   mean                     n = exposed, Σy, Σy² = `sum`, `sum_squares`
 *   mean with `cap` C        Σy, Σy² = `capped_sum`, `capped_sum_squares` (Σ min(T, C), Σ min(T, C)²)
 *   `cuped` (binomial/mean)  the above + Σx, Σx² = `covariate_sum`, `covariate_sum_squares`,
 *                            Σxy = `covariate_cross` (`capped_covariate_cross` with a cap;
 *                            binomial, y = 1 per converting user: `converter_covariate_sum`)
 *   ratio N/D                n = exposed, ΣN, ΣN² from N's cell, ΣD, ΣD² from D's cell,
 *                            ΣND = `cross_sum` of the ratio cell (`${variant}#$ratio:N/D`)
 *
 * Attributes a cell lacks read 0 (the processors skip zero contributions), a missing cell
 * is all zeros: users without events count as 0 everywhere.
 *
 * @example
 *   metricSampleOf({ key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders', lowerIsBetter: false },
 *     variantCells, 1000)
 *   // { kind: 'ratio', stats: { n: 1000, numerator: {…}, denominator: {…}, sumProducts } }
 */
import { EXPOSURE_METRIC, ratioCellMetricKey, type CellStatistics } from '../../common/counter-layout.js';
import type { CupedStats, RatioStats, SampleStats } from '../stats/index.js';
import { EMPTY_CELL, type MetricCells } from './cell-table.js';
import type { MetricDefinition } from './compute-results.js';

/** What one variant's cells say about one metric, ready for its estimator. */
export type MetricSample =
  | {
      kind: 'binomial' | 'mean';
      /** The statistics of the main estimate (capped when the metric has a cap). */
      stats: SampleStats;
      /** Present for a capped metric: the uncapped Σy, Σy² (the metric's plain cell). */
      uncapped?: SampleStats;
      /** Present for a CUPED metric: the statistics of the regression adjustment. */
      cuped?: CupedStats;
    }
  | {
      kind: 'ratio';
      stats: RatioStats;
      /** The numerator's users and events (shown as the ratio's `users` and `events`). */
      numeratorCell: { units: number; events: number };
    };

/**
 * The counter metric keys (the metric part of cell sort keys) a metric's results read: its
 * own key, or for a ratio the numerator's, the denominator's and the ratio cell's.
 *
 * @example counterKeysOf({ key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders', … })
 *          // ['revenue', 'orders', '$ratio:revenue/orders']
 */
export function counterKeysOf(metric: MetricDefinition): string[] {
  if (metric.type !== 'ratio') return [metric.key];
  const { numerator, denominator } = ratioPartsOf(metric);
  return [numerator, denominator, ratioCellMetricKey(numerator, denominator)];
}

/** The numerator and denominator keys of a ratio metric (the definition rules require both). */
export function ratioPartsOf(metric: MetricDefinition): { numerator: string; denominator: string } {
  return { numerator: metric.numerator ?? '', denominator: metric.denominator ?? '' };
}

/** The cell of one counter metric key of a variant; all zeros when absent. */
const cellOf = (cells: MetricCells | undefined, metricKey: string): CellStatistics =>
  cells?.get(metricKey) ?? EMPTY_CELL;

/** The variant's exposed users (`$exposure` units): n of every estimator. */
export const exposedOf = (cells: MetricCells | undefined): number => cellOf(cells, EXPOSURE_METRIC).units;

/** The sample of `metric` in one variant's cells (see the table above). */
export function metricSampleOf(metric: MetricDefinition, cells: MetricCells | undefined): MetricSample {
  const n = exposedOf(cells);
  if (metric.type === 'ratio') {
    const { numerator, denominator } = ratioPartsOf(metric);
    const numeratorCell = cellOf(cells, numerator);
    const denominatorCell = cellOf(cells, denominator);
    return {
      kind: 'ratio',
      stats: {
        n,
        numerator: { sum: numeratorCell.sum, sumSquares: numeratorCell.sumSquares },
        denominator: { sum: denominatorCell.sum, sumSquares: denominatorCell.sumSquares },
        sumProducts: cellOf(cells, ratioCellMetricKey(numerator, denominator)).crossSum ?? 0,
      },
      numeratorCell: { units: numeratorCell.units, events: numeratorCell.events },
    };
  }
  const cell = cellOf(cells, metric.key);
  const capped = metric.type === 'mean' && metric.cap !== undefined;
  const plain: SampleStats =
    metric.type === 'binomial'
      ? { n, sum: cell.units, sumSquares: cell.units }
      : { n, sum: cell.sum, sumSquares: cell.sumSquares };
  const stats: SampleStats = capped ? { n, sum: cell.cappedSum ?? 0, sumSquares: cell.cappedSumSquares ?? 0 } : plain;
  const sumProducts =
    metric.type === 'binomial' ? cell.converterCovariateSum : capped ? cell.cappedCovariateCross : cell.covariateCross;
  const cuped: CupedStats | undefined =
    metric.cuped === true
      ? {
          ...stats,
          covariateSum: cell.covariateSum ?? 0,
          covariateSumSquares: cell.covariateSumSquares ?? 0,
          sumProducts: sumProducts ?? 0,
        }
      : undefined;
  return {
    kind: metric.type,
    stats,
    ...(capped ? { uncapped: plain } : {}),
    ...(cuped ? { cuped } : {}),
  };
}
