/**
 * The layout of the `ExperimentCounters` DynamoDB table, shared by the processors (which
 * write it) and the query API (which reads it). One Query on `experiment_id` returns an
 * experiment's whole table: totals and every segment cell.
 *
 *   experiment_id (partition key)  = experimentId
 *   variant_metric (sort key)      = `${variantId}#${metricKey}`                         total cell
 *                                  | `seg#${dimension}=${value}#${variantId}#${metricKey}` segment cell
 *
 * `metricKey` is the event's `metric` for conversions and `$exposure` for impressions.
 * Variant ids, metric keys and dimension names cannot contain `#` or `=` (contract key
 * pattern), so a cell key is parsed from the right; a segment *value* may contain anything.
 *
 * Attributes of a cell (all numbers):
 *   events       number of events counted
 *   units        distinct users with at least one event (exposed users for `$exposure`)
 *   sum          Σ over users of the user's total value for this metric
 *   sum_squares  Σ over users of the square of that total
 *   last_event_at  latest `receivedAt` (epoch ms) written to the cell
 *   wm_<shardId> per-shard watermark of the exactly-once protocol (opaque to readers)
 *
 * Reading less than the whole experiment (query-api/results/read-counters.ts): sort keys
 * order by UTF-8 bytes, so every segment cell lies in [`seg#`, `seg$`) and all cells of one
 * stored dimension share the prefix `seg#${dimension}=` (names contain no `=`); total cells
 * lie outside that range, on both sides (`control#…` < `seg#` ≤ `seg$` ≤ `treatment#…`),
 * except those of a variant named `seg` (`seg#metric`), which decodeCellKey rejects anyway.
 *
 * A user's segment value per dimension is the one of their first event in the experiment;
 * values beyond the configured cap per dimension are counted under `(other)`, so for each
 * dimension the segment cells add up exactly to the total cell.
 */
export const COUNTER_PARTITION_KEY = 'experiment_id';
export const COUNTER_SORT_KEY = 'variant_metric';
export const EXPOSURE_METRIC = '$exposure';
export const OTHER_SEGMENT_VALUE = '(other)';
export const SEGMENT_CELL_PREFIX = 'seg#';

/**
 * The sparse global secondary index "for querying by experiment and metric": every total
 * cell (never a segment cell, never the epoch item) also carries its metric key in
 * `metric_key`, so one Query on the index returns every experiment's per-variant totals of
 * one metric key, ordered by experiment, and a key condition on `experiment_id` narrows it
 * to one experiment. The statistics are projected; the watermarks are not.
 */
export const METRIC_INDEX = Object.freeze({
  name: 'metric-totals',
  partitionKey: 'metric_key',
  sortKey: COUNTER_PARTITION_KEY,
  projectedAttributes: ['events', 'units', 'sum', 'sum_squares', 'last_event_at'] as readonly string[],
});

/** The index attributes a cell's item carries: `metric_key` for total cells, nothing for segment cells. */
export function metricIndexAttributes(sortKey: string): { [METRIC_INDEX.partitionKey]: string } | undefined {
  if (sortKey.startsWith(SEGMENT_CELL_PREFIX)) return undefined;
  const metricAt = sortKey.lastIndexOf('#');
  return metricAt <= 0 ? undefined : { [METRIC_INDEX.partitionKey]: sortKey.slice(metricAt + 1) };
}

/**
 * The one item that is not a cell: the epoch of the exactly-once state the counts were
 * written with (processors/counters/state-epoch.ts). Its partition cannot be an experiment
 * id (ids start with a letter or digit), so no experiment's Query ever returns it.
 */
export const STATE_EPOCH_ITEM_KEY = Object.freeze({ partition: '$state', sort: 'epoch' });

export const COUNTER_ATTRIBUTES = {
  events: 'events',
  units: 'units',
  sum: 'sum',
  sumSquares: 'sum_squares',
  lastEventAt: 'last_event_at',
} as const;

/**
 * Attributes that only some cells carry, per the experiment's definition (common/counter-plan.ts);
 * absent means 0. Scales as for `sum` (values) and `sum_squares` (products of two values).
 *
 * Metric cells of a metric with a `cap` C (mean metrics):
 *   capped_sum              Σ over users of min(T, C)
 *   capped_sum_squares      Σ over users of min(T, C)²
 * Metric cells of a metric with `cuped` (covariate c = the impression's `covariates[metric]`,
 * fixed at the user's first event, 0 when absent):
 *   covariate_sum           Σ over exposed users of c   (added by the user's first impression)
 *   covariate_sum_squares   Σ over exposed users of c²
 *   covariate_cross         Σ over users of T · c
 *   capped_covariate_cross  Σ over users of min(T, C) · c   (only with a cap as well)
 *   converter_covariate_sum Σ over users with at least one event of the metric of c (the Σxy
 *                           of a binomial metric, whose per-user value is 1 for those users)
 * Ratio cells (sort key metric part `ratioCellMetricKey(numerator, denominator)`):
 *   cross_sum               Σ over users of N · D, N and D the user's numerator and denominator totals
 *
 * ΣN, ΣN², ΣD, ΣD² of a ratio are the `sum`/`sum_squares` of the numerator's and denominator's
 * own cells, and n is the `$exposure` cell's `units`: a ratio cell holds the cross term only.
 */
export const EXTRA_COUNTER_ATTRIBUTES = {
  cappedSum: 'capped_sum',
  cappedSumSquares: 'capped_sum_squares',
  covariateSum: 'covariate_sum',
  covariateSumSquares: 'covariate_sum_squares',
  covariateCross: 'covariate_cross',
  cappedCovariateCross: 'capped_covariate_cross',
  converterCovariateSum: 'converter_covariate_sum',
  crossSum: 'cross_sum',
} as const;

/**
 * What each extra attribute sums, hence its scale: `value` like `sum` (one value per term),
 * `product` like `sum_squares` (a product of two values per term).
 */
export const EXTRA_COUNTER_ATTRIBUTE_KINDS: Readonly<
  Record<keyof typeof EXTRA_COUNTER_ATTRIBUTES, 'value' | 'product'>
> = Object.freeze({
  cappedSum: 'value',
  cappedSumSquares: 'product',
  covariateSum: 'value',
  covariateSumSquares: 'product',
  covariateCross: 'product',
  cappedCovariateCross: 'product',
  converterCovariateSum: 'value',
  crossSum: 'product',
});

/** The metric part of a ratio cell's sort key: `$ratio:` + numerator + `/` + denominator (keys hold no `/` or `#`). */
export const RATIO_CELL_PREFIX = '$ratio:';
export const ratioCellMetricKey = (numerator: string, denominator: string): string =>
  `${RATIO_CELL_PREFIX}${numerator}/${denominator}`;

/** The watermark attribute of one shard: `wm_` + shard id (shard ids are `shardId-000000000000`). */
export const watermarkAttribute = (shardId: string): string => `wm_${shardId.replace(/[^A-Za-z0-9_]/g, '_')}`;

export interface CellKey {
  variantId: string;
  metricKey: string;
  /** Present for segment cells. */
  segment?: { dimension: string; value: string };
}

/** Builds the sort key of a cell. */
export function encodeCellKey(cell: CellKey): string {
  const tail = `${cell.variantId}#${cell.metricKey}`;
  return cell.segment ? `${SEGMENT_CELL_PREFIX}${cell.segment.dimension}=${cell.segment.value}#${tail}` : tail;
}

/** The sort-key prefix shared by every cell of one stored dimension (`country`, or a pair `country+device`). */
export const segmentDimensionPrefix = (dimension: string): string => `${SEGMENT_CELL_PREFIX}${dimension}=`;

/** Parses a sort key back into a cell; throws on keys this layout did not write. */
export function decodeCellKey(sortKey: string): CellKey {
  const metricAt = sortKey.lastIndexOf('#');
  const variantAt = sortKey.lastIndexOf('#', metricAt - 1);
  if (metricAt <= 0) throw new Error(`not a counter cell key: ${sortKey}`);
  const metricKey = sortKey.slice(metricAt + 1);
  if (!sortKey.startsWith(SEGMENT_CELL_PREFIX)) {
    return { variantId: sortKey.slice(variantAt + 1, metricAt), metricKey };
  }
  const variantId = sortKey.slice(variantAt + 1, metricAt);
  const segmentPart = sortKey.slice(SEGMENT_CELL_PREFIX.length, variantAt);
  const equalsAt = segmentPart.indexOf('=');
  if (equalsAt <= 0 || variantAt < 0) throw new Error(`not a segment cell key: ${sortKey}`);
  return {
    variantId,
    metricKey,
    segment: { dimension: segmentPart.slice(0, equalsAt), value: segmentPart.slice(equalsAt + 1) },
  };
}

/** Sufficient statistics of one cell, as read by the query API. */
export interface CellStatistics {
  events: number;
  units: number;
  sum: number;
  sumSquares: number;
  lastEventAt?: number;
  /** The extra attributes (EXTRA_COUNTER_ATTRIBUTES) the cell carries; absent ones read 0 or are left out. */
  cappedSum?: number;
  cappedSumSquares?: number;
  covariateSum?: number;
  covariateSumSquares?: number;
  covariateCross?: number;
  cappedCovariateCross?: number;
  converterCovariateSum?: number;
  crossSum?: number;
}

/**
 * Two-dimension cells (for the query API's `?by=a,b` breakdown) are segment cells whose
 * dimension is `${a}+${b}` (names sorted) and whose value is `${valueOfA}+${valueOfB}`.
 * `+` cannot occur in a dimension name (contract key pattern); inside each value `%` and
 * `+` are percent-escaped, so values with neither (almost all) read exactly as sent and
 * any pair value splits back unambiguously. Only pairs among a user's first
 * `MAX_PAIR_DIMENSIONS` dimensions by name are written, bounding cells per event.
 */
export const PAIR_SEPARATOR = '+';
export const MAX_PAIR_DIMENSIONS = 4;

export interface SegmentValue {
  dimension: string;
  value: string;
}

const escapePairPart = (value: string): string => value.replace(/%/g, '%25').replace(/\+/g, '%2B');
const unescapePairPart = (value: string): string => value.replace(/%2B/g, '+').replace(/%25/g, '%');

/**
 * The segment of a pair cell for two single-dimension values, in name order whatever the
 * argument order.
 *
 * @example encodePairSegment({dimension:'device',value:'ios'},{dimension:'country',value:'US'})
 *          // → { dimension: 'country+device', value: 'US+ios' }
 */
export function encodePairSegment(first: SegmentValue, second: SegmentValue): SegmentValue {
  const [a, b] = first.dimension <= second.dimension ? [first, second] : [second, first];
  return {
    dimension: `${a.dimension}${PAIR_SEPARATOR}${b.dimension}`,
    value: `${escapePairPart(a.value)}${PAIR_SEPARATOR}${escapePairPart(b.value)}`,
  };
}

/** Splits a pair cell's segment back into its two values; `undefined` for single-dimension segments. */
export function parsePairSegment(segment: SegmentValue): [SegmentValue, SegmentValue] | undefined {
  const dimensions = segment.dimension.split(PAIR_SEPARATOR);
  const values = segment.value.split(PAIR_SEPARATOR);
  if (dimensions.length !== 2 || values.length !== 2) return undefined;
  const [dimA, dimB] = dimensions as [string, string];
  const [valueA, valueB] = values as [string, string];
  return [
    { dimension: dimA, value: unescapePairPart(valueA) },
    { dimension: dimB, value: unescapePairPart(valueB) },
  ];
}
