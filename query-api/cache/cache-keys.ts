/**
 * Results cache keys. Each key is the JSON encoding of its parts in a fixed order, so no
 * two different requests share a key whatever characters the parts hold: a dimension
 * `a:b` with `by=c` and a dimension `a` with `by=b:c` differ (joining with `:` made them
 * one key and served one breakdown for the other). The definition version is a part, so
 * a PATCH is visible at once.
 *
 * @example
 *   segmentsCacheKey({ experimentId: 'e', version: 3, dimension: 'a:b', by: 'c', correction: 'holm', limit: 20, alpha: 0.05, sequential: true });
 *   // → '["segments","e",3,"a:b","c","holm",20,0.05,true]'
 */

export interface ResultsKeyParts {
  experimentId: string;
  version: number;
  alpha: number;
  sequential: boolean;
}

export interface SegmentsKeyParts extends ResultsKeyParts {
  dimension: string;
  /** Absent: a one-dimension breakdown (encoded as null, never as an empty string). */
  by?: string | undefined;
  correction: string;
  limit: number;
}

/** Key of whole-experiment results. */
export function resultsCacheKey(parts: ResultsKeyParts): string {
  return JSON.stringify(['results', parts.experimentId, parts.version, parts.alpha, parts.sequential]);
}

/** Key of a segment breakdown. */
export function segmentsCacheKey(parts: SegmentsKeyParts): string {
  return JSON.stringify([
    'segments',
    parts.experimentId,
    parts.version,
    parts.dimension,
    parts.by ?? null,
    parts.correction,
    parts.limit,
    parts.alpha,
    parts.sequential,
  ]);
}
