/**
 * Which counter cells one event feeds: the variant's total cell, one cell per segment
 * dimension of the user, and one pair cell per pair of the user's first
 * `MAX_PAIR_DIMENSIONS` dimensions (by name). Layout in common/counter-layout.ts.
 */
import { EXPOSURE_METRIC, MAX_PAIR_DIMENSIONS, encodeCellKey, encodePairSegment } from '../../common/counter-layout.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { PipelineError } from '../../common/errors.js';

/** `$exposure` for impressions, the event's metric for conversions. */
export function metricKeyOf(event: Pick<StreamEvent, 'type' | 'metric' | 'eventId'>): string {
  if (event.type === 'impression') return EXPOSURE_METRIC;
  if (event.metric === undefined) {
    throw new PipelineError('EVENT_INVALID', `conversion ${event.eventId} has no metric`);
  }
  return event.metric;
}

/**
 * Sort keys of every cell an event of this user feeds, total cell first.
 * `segments` are the user's fixed (already capped) values, sorted by dimension.
 */
export function cellSortKeys(
  variantId: string,
  metricKey: string,
  segments: readonly (readonly [string, string])[],
): string[] {
  const keys = [encodeCellKey({ variantId, metricKey })];
  for (const [dimension, value] of segments) {
    keys.push(encodeCellKey({ variantId, metricKey, segment: { dimension, value } }));
  }
  const paired = segments.slice(0, MAX_PAIR_DIMENSIONS);
  for (let i = 0; i < paired.length; i++) {
    for (let j = i + 1; j < paired.length; j++) {
      const [dimA, valueA] = paired[i] as readonly [string, string];
      const [dimB, valueB] = paired[j] as readonly [string, string];
      const segment = encodePairSegment({ dimension: dimA, value: valueA }, { dimension: dimB, value: valueB });
      keys.push(encodeCellKey({ variantId, metricKey, segment }));
    }
  }
  return keys;
}
