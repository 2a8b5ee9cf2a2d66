/**
 * Pure: a results snapshot per metric, the unit of the results history. The monitor takes
 * one per experiment, metric and snapshot interval (MONITOR_SNAPSHOT_INTERVAL, hourly by
 * default); `GET …/results/history` serves them as a time series per variant.
 *
 * Per variant: exposed `users`, the metric's `mean` per exposed user, and against the
 * control the relative `lift` with its interval (a confidence sequence when the results are
 * sequential), `pValue` and `chanceToWin`; the control's comparison fields are null.
 *
 * @example
 *   snapshotBucketStart(new Date('2026-11-26T10:42:00Z'), 3_600_000) // → 2026-11-26T10:00:00.000Z
 */
import type { ExperimentResults } from '../results/results-service.js';

/** One variant of one metric at one point in time. */
export interface SnapshotVariant {
  variantId: string;
  users: number;
  mean: number | null;
  /** Null for the control. */
  lift: { relative: number | null; interval: [number | null, number | null] } | null;
  pValue: number | null;
  chanceToWin: number | null;
}

/** Every variant of one metric at one point in time. */
export interface MetricSnapshot {
  metric: string;
  variants: SnapshotVariant[];
}

/** The snapshots of every declared metric of one results computation. */
export function snapshotsFromResults(results: ExperimentResults): MetricSnapshot[] {
  return results.metrics.map(({ key }) => ({
    metric: key,
    variants: results.variants.map((variant): SnapshotVariant => {
      const metric = variant.metrics[key];
      const comparison = metric?.vsControl ?? null;
      return {
        variantId: variant.variantId,
        users: variant.users,
        mean: metric?.mean ?? null,
        lift: comparison
          ? {
              relative: comparison.relative.estimate,
              interval: [comparison.relative.ciLow, comparison.relative.ciHigh],
            }
          : null,
        pValue: comparison?.pValue ?? null,
        chanceToWin: comparison?.chanceToWin ?? null,
      };
    }),
  }));
}

/**
 * Start of the snapshot interval holding `at` (intervals are aligned to the Unix epoch), so
 * every run within one interval writes the same row: `floor(at / interval) · interval`.
 */
export function snapshotBucketStart(at: Date, intervalMs: number): Date {
  return new Date(Math.floor(at.getTime() / intervalMs) * intervalMs);
}
