/**
 * The reference answer: what the counters table must hold for a list of events, computed
 * the simplest way there is, with none of the sink's machinery (no batches, no
 * watermarks, no increments): de-duplicate by eventId, fix each user's segments (and
 * covariates) at their first event, cap values per dimension first-come, sum each user's
 * values, and square the final totals. With a counter plan, the extra sums come from the
 * same final per-user totals: min(T, C), min(T, C)², the first event's covariates c, T·c,
 * and N·D of each ratio. The fault-injection proof, the query API tests and the bench
 * compare the real table with it.
 */
import {
  EXPOSURE_METRIC,
  MAX_PAIR_DIMENSIONS,
  OTHER_SEGMENT_VALUE,
  encodeCellKey,
  encodePairSegment,
  type EXTRA_COUNTER_ATTRIBUTES,
} from '../../common/counter-layout.js';
import { EMPTY_COUNTER_PLAN, type CounterPlan } from '../../common/counter-plan.js';
import type { StreamEvent } from '../../common/event-contract.js';
import {
  EXTRA_DECIMALS,
  SQUARE_DECIMALS,
  VALUE_DECIMALS,
  formatScaled,
  toScaledValue,
} from '../counters/exact-value.js';

type ExtraField = keyof typeof EXTRA_COUNTER_ATTRIBUTES;

/** One cell's counters, as numbers; an extra sum (capped, CUPED, ratio) only when it is not 0. */
export interface CounterCellValues extends Partial<Record<ExtraField, number>> {
  events: number;
  units: number;
  sum: number;
  sumSquares: number;
}

/** `${experimentId}|${variant_metric sort key}` → counters. */
export type CounterTable = Map<string, CounterCellValues>;

export interface GroundTruthOptions {
  segmentValueCap: number;
  /**
   * Values per `${experimentId}|${dimension}` that got their own cell, when the
   * first-come order is not the list order (several shards raced for the cap). Without
   * it, the first values in list order are admitted.
   */
  admittedValues?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Each experiment's counter plan (the extra sums); EMPTY_COUNTER_PLAN for all when absent. */
  planOf?: (experimentId: string) => CounterPlan;
}

interface UserMetricTotal {
  experimentId: string;
  userId: string;
  variantId: string;
  metricKey: string;
  segments: [string, string][];
  events: number;
  total: bigint;
}

interface ExactCell {
  events: number;
  units: number;
  sum: bigint;
  sumSquares: bigint;
  extra: Partial<Record<ExtraField, bigint>>;
}

/** Table keys of every cell a user feeds for one metric key: total, one per dimension, pairs of the first four. */
function cellKeysOf(experimentId: string, variantId: string, metricKey: string, segments: [string, string][]) {
  const segmentsOfCells: ({ dimension: string; value: string } | undefined)[] = [undefined];
  for (const [dimension, value] of segments) segmentsOfCells.push({ dimension, value });
  const firstFour = segments.slice(0, MAX_PAIR_DIMENSIONS);
  firstFour.forEach(([dimA, valueA], i) => {
    for (const [dimB, valueB] of firstFour.slice(i + 1)) {
      segmentsOfCells.push(encodePairSegment({ dimension: dimA, value: valueA }, { dimension: dimB, value: valueB }));
    }
  });
  return segmentsOfCells.map(
    (segment) => `${experimentId}|${encodeCellKey({ variantId, metricKey, ...(segment ? { segment } : {}) })}`,
  );
}

/**
 * Computes the expected counters. `events` in stream order (per user, the order their
 * events were processed).
 *
 * @example const expected = computeExpectedCounters(events, { segmentValueCap: 50 });
 */
export function computeExpectedCounters(events: readonly StreamEvent[], options: GroundTruthOptions): CounterTable {
  const seenEventIds = new Set<string>();
  const userSegments = new Map<string, [string, string][]>();
  /** Per (experiment, user): the covariates of their first event (impressions carry them), scaled. */
  const userCovariates = new Map<string, Map<string, bigint>>();
  const admitted = new Map<string, Set<string>>();
  const perUserMetric = new Map<string, UserMetricTotal>();
  const planOf = options.planOf ?? (() => EMPTY_COUNTER_PLAN);

  const capped = (experimentId: string, dimension: string, value: string): string => {
    const given = options.admittedValues?.get(`${experimentId}|${dimension}`);
    if (given) return given.has(value) ? value : OTHER_SEGMENT_VALUE;
    const key = `${experimentId}|${dimension}`;
    const values = admitted.get(key) ?? new Set<string>();
    admitted.set(key, values);
    if (!values.has(value) && values.size < options.segmentValueCap) values.add(value);
    return values.has(value) ? value : OTHER_SEGMENT_VALUE;
  };

  for (const event of events) {
    if (seenEventIds.has(event.eventId)) continue;
    seenEventIds.add(event.eventId);
    const userKey = JSON.stringify([event.experimentId, event.userId]);
    let segments = userSegments.get(userKey);
    if (!segments) {
      const dimensions = Object.keys(event.segments ?? {}).sort();
      segments = dimensions.map((dimension) => [
        dimension,
        capped(event.experimentId, dimension, (event.segments ?? {})[dimension] as string),
      ]);
      userSegments.set(userKey, segments);
      const covariates = new Map<string, bigint>();
      if (event.type === 'impression') {
        for (const [metricKey, value] of Object.entries(event.covariates ?? {})) {
          covariates.set(metricKey, toScaledValue(value));
        }
      }
      userCovariates.set(userKey, covariates);
    }
    const metricKey = event.type === 'impression' ? EXPOSURE_METRIC : (event.metric ?? '');
    const key = JSON.stringify([event.experimentId, event.userId, event.variantId, metricKey]);
    const entry = perUserMetric.get(key) ?? {
      experimentId: event.experimentId,
      userId: event.userId,
      variantId: event.variantId,
      metricKey,
      segments,
      events: 0,
      total: 0n,
    };
    entry.events += 1;
    entry.total += toScaledValue(event.value);
    perUserMetric.set(key, entry);
  }

  const exact = new Map<string, ExactCell>();
  const cellsOf = (user: UserMetricTotal, metricKey: string): ExactCell[] =>
    cellKeysOf(user.experimentId, user.variantId, metricKey, user.segments).map((key) => {
      let cell = exact.get(key);
      if (!cell) exact.set(key, (cell = { events: 0, units: 0, sum: 0n, sumSquares: 0n, extra: {} }));
      return cell;
    });
  const addExtra = (cells: ExactCell[], field: ExtraField, value: bigint) => {
    for (const cell of cells) cell.extra[field] = (cell.extra[field] ?? 0n) + value;
  };
  const ratiosDone = new Set<string>();
  const totalOf = (user: UserMetricTotal, metricKey: string): bigint =>
    perUserMetric.get(JSON.stringify([user.experimentId, user.userId, user.variantId, metricKey]))?.total ?? 0n;

  for (const user of perUserMetric.values()) {
    const cells = cellsOf(user, user.metricKey);
    for (const cell of cells) {
      cell.events += user.events;
      cell.units += 1;
      cell.sum += user.total;
      cell.sumSquares += user.total * user.total;
    }
    const plan = planOf(user.experimentId);
    if (plan.metrics.size === 0) continue;
    const covariates =
      userCovariates.get(JSON.stringify([user.experimentId, user.userId])) ?? new Map<string, bigint>();
    const metricPlan = plan.metrics.get(user.metricKey);
    let cappedTotal: bigint | undefined;
    if (metricPlan?.cap !== undefined) {
      const cap = toScaledValue(metricPlan.cap);
      cappedTotal = user.total < cap ? user.total : cap;
      addExtra(cells, 'cappedSum', cappedTotal);
      addExtra(cells, 'cappedSumSquares', cappedTotal * cappedTotal);
    }
    if (metricPlan?.cuped === true) {
      const covariate = covariates.get(user.metricKey) ?? 0n;
      addExtra(cells, 'covariateCross', user.total * covariate);
      addExtra(cells, 'converterCovariateSum', covariate);
      if (cappedTotal !== undefined) addExtra(cells, 'cappedCovariateCross', cappedTotal * covariate);
    }
    if (user.metricKey === EXPOSURE_METRIC) {
      // Exposed users: every CUPED metric's cells get their covariate, converted or not.
      for (const metricKey of plan.covariateMetrics) {
        const covariate = covariates.get(metricKey) ?? 0n;
        const exposed = cellsOf(user, metricKey);
        addExtra(exposed, 'covariateSum', covariate);
        addExtra(exposed, 'covariateSumSquares', covariate * covariate);
      }
    }
    // Σ N·D of each ratio, once per user and variant (from whichever side's entry comes first).
    for (const ratio of metricPlan?.ratios ?? []) {
      const done = JSON.stringify([user.experimentId, user.userId, user.variantId, ratio.cellMetricKey]);
      if (ratiosDone.has(done)) continue;
      ratiosDone.add(done);
      const [numerator, denominator] =
        ratio.side === 'numerator' ? [user.metricKey, ratio.partner] : [ratio.partner, user.metricKey];
      addExtra(cellsOf(user, ratio.cellMetricKey), 'crossSum', totalOf(user, numerator) * totalOf(user, denominator));
    }
  }

  const table: CounterTable = new Map();
  for (const [key, cell] of exact) {
    const values: CounterCellValues = {
      events: cell.events,
      units: cell.units,
      sum: Number(formatScaled(cell.sum, VALUE_DECIMALS)),
      sumSquares: Number(formatScaled(cell.sumSquares, SQUARE_DECIMALS)),
    };
    let extras = false;
    for (const field of Object.keys(EXTRA_DECIMALS) as ExtraField[]) {
      const value = cell.extra[field];
      if (value === undefined || value === 0n) continue;
      values[field] = Number(formatScaled(value, EXTRA_DECIMALS[field]));
      extras = true;
    }
    // A cell of extra sums that all came to 0 is no cell (absent reads 0), as readCounters reads it.
    if (!extras && cell.events === 0) continue;
    table.set(key, values);
  }
  return table;
}
