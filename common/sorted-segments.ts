/**
 * An event's segments as [dimension, value] pairs sorted by dimension (code-unit order): the
 * order every state store and counter cell uses.
 *
 * Sorting is per event unless the segments object says how it sorts: a decoder that reads
 * segments in that order already (compact records, common/compact-records.ts, where names must
 * ascend) attaches the pairs to the object it builds (`attachSortedSegments`), so the processors
 * neither sort nor look anything up for each event. Other frozen objects are sorted once and
 * remembered; plain objects (JSON events) are sorted each time.
 *
 * @example
 *   sortedSegments({ device: 'ios', country: 'DE' }) // [['country', 'DE'], ['device', 'ios']]
 */

/** [dimension, value] pairs sorted by dimension. */
export type SegmentPairs = readonly (readonly [string, string])[];

/** Where a segments object keeps its sorted pairs: a symbol, so no key, JSON or equality check sees it. */
const SORTED = Symbol('sortedSegments');

type WithPairs = Readonly<Record<string, string>> & { readonly [SORTED]?: SegmentPairs };

/** No segments: one frozen array shared by every event without any (never mutated). */
export const NO_SEGMENTS: SegmentPairs = Object.freeze([]);
const sortedFrozen = new WeakMap<object, SegmentPairs>();

/**
 * Attaches `pairs` (which must be `segments`' entries sorted by dimension) to a segments object
 * that is not frozen yet, as a hidden property.
 */
export function attachSortedSegments(segments: Record<string, string>, pairs: SegmentPairs): void {
  Object.defineProperty(segments, SORTED, { value: pairs, enumerable: false });
}

/** The segments as [dimension, value] pairs sorted by dimension; shared when the object is frozen (never mutate). */
export function sortedSegments(segments: Readonly<Record<string, string>> | undefined): SegmentPairs {
  if (!segments) return NO_SEGMENTS;
  const attached = (segments as WithPairs)[SORTED];
  if (attached !== undefined) return attached;
  // Frozen segment objects may be shared by many events.
  const frozen = Object.isFrozen(segments);
  const known = frozen ? sortedFrozen.get(segments) : undefined;
  if (known) return known;
  const sorted = Object.entries(segments).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (frozen) sortedFrozen.set(segments, sorted);
  return sorted;
}
