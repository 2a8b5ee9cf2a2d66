/**
 * The reference answer: what the counters table must hold for a list of events, computed
 * the simplest way there is, with none of the sink's machinery (no batches, no
 * watermarks, no increments): de-duplicate by eventId, fix each user's segments at their
 * first event, cap values per dimension first-come, sum each user's values, and square
 * the final totals. The fault-injection proof, the query API tests and the bench compare
 * the real table with it.
 */
import {
  EXPOSURE_METRIC,
  MAX_PAIR_DIMENSIONS,
  OTHER_SEGMENT_VALUE,
  encodeCellKey,
  encodePairSegment,
} from '../../common/counter-layout.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { SQUARE_DECIMALS, VALUE_DECIMALS, formatScaled, toScaledValue } from './exact-value.js';

/** One cell's counters, as numbers. */
export interface CounterCellValues {
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
}

interface UserMetricTotal {
  experimentId: string;
  variantId: string;
  metricKey: string;
  segments: [string, string][];
  events: number;
  total: bigint;
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
  const admitted = new Map<string, Set<string>>();
  const perUserMetric = new Map<string, UserMetricTotal>();

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
    }
    const metricKey = event.type === 'impression' ? EXPOSURE_METRIC : (event.metric ?? '');
    const key = JSON.stringify([event.experimentId, event.userId, event.variantId, metricKey]);
    const entry = perUserMetric.get(key) ?? {
      experimentId: event.experimentId,
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

  const exact = new Map<string, { events: number; units: number; sum: bigint; sumSquares: bigint }>();
  for (const user of perUserMetric.values()) {
    const segmentsOfCells: ({ dimension: string; value: string } | undefined)[] = [undefined];
    for (const [dimension, value] of user.segments) segmentsOfCells.push({ dimension, value });
    const firstFour = user.segments.slice(0, MAX_PAIR_DIMENSIONS);
    firstFour.forEach(([dimA, valueA], i) => {
      for (const [dimB, valueB] of firstFour.slice(i + 1)) {
        segmentsOfCells.push(encodePairSegment({ dimension: dimA, value: valueA }, { dimension: dimB, value: valueB }));
      }
    });
    for (const segment of segmentsOfCells) {
      const sortKey = encodeCellKey({
        variantId: user.variantId,
        metricKey: user.metricKey,
        ...(segment ? { segment } : {}),
      });
      const key = `${user.experimentId}|${sortKey}`;
      const cell = exact.get(key) ?? { events: 0, units: 0, sum: 0n, sumSquares: 0n };
      cell.events += user.events;
      cell.units += 1;
      cell.sum += user.total;
      cell.sumSquares += user.total * user.total;
      exact.set(key, cell);
    }
  }

  const table: CounterTable = new Map();
  for (const [key, cell] of exact) {
    table.set(key, {
      events: cell.events,
      units: cell.units,
      sum: Number(formatScaled(cell.sum, VALUE_DECIMALS)),
      sumSquares: Number(formatScaled(cell.sumSquares, SQUARE_DECIMALS)),
    });
  }
  return table;
}
