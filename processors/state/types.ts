/**
 * The contract between the counter sink and its per-event state. A store keeps, per
 * record identity, what must not be redone when the record is delivered again:
 * eventId claims (producer-retry de-duplication), each user's segment values (fixed at
 * their first event, capped per dimension), and each user's running total per metric,
 * with the outcome of every not-yet-committed state change memoized under the record's
 * identity so a replay yields the same deltas. Both stores (Redis, in-process) run the
 * same rules; the shared contract test proves it.
 */

/** One event's state change, in shard order. All strings are contract-validated keys. */
export interface StateRequest {
  eventId: string;
  /** Record position (`recordPosition`) inside the shard: the record's identity there. */
  position: string;
  experimentId: string;
  userId: string;
  /** `${variantId}#${metricKey}`: a user's running total is kept per variant and metric. */
  variantMetric: string;
  /** The event's segments as [dimension, value], sorted by dimension. */
  segments: readonly (readonly [string, string])[];
  /** The event's value, scaled (see counters/exact-value.ts). */
  scaledValue: bigint;
}

/** What a state change meant for the counters. */
export type StateOutcome =
  | { kind: 'duplicate' }
  | {
      kind: 'applied';
      /** True when the store had already applied this very record (a replay). */
      replay: boolean;
      /** The user's segment values, fixed at their first event; capped values read `(other)`. */
      segments: readonly (readonly [string, string])[];
      /** The user's total for this variant and metric before this event; `undefined` = first event. */
      totalBefore: bigint | undefined;
    };

/**
 * Per-event state of the exactly-once protocol. One writer per shard calls it; shards
 * may call it concurrently (claims are atomic across shards).
 */
export interface UserStateStore {
  /**
   * Applies the batch's state changes in order and returns one outcome per request.
   * `committed` is the shard's committed position: memos at or before it are dropped,
   * because every counter cell already holds those records.
   */
  apply(shardId: string, committed: string | undefined, requests: readonly StateRequest[]): Promise<StateOutcome[]>;
  /** The last position whose counters are fully written for the shard (see `markCommitted`). */
  readCommitted(shardId: string): Promise<string | undefined>;
  /** Records that every record of the shard up to `position` is in the counters; never moves back. */
  markCommitted(shardId: string, position: string): Promise<void>;
  close(): Promise<void>;
}

/** Bounds shared by both stores. */
export interface StateLimits {
  /** Distinct values per (experiment, dimension) that get their own cell; later ones read `(other)`. */
  segmentValueCap: number;
  /** How long an eventId claim lasts: producer retries within it are counted once. */
  dedupWindowSeconds: number;
  /** How long a user's state lives after their last event (default 90 days). */
  userStateTtlSeconds: number;
}

export const DEFAULT_USER_STATE_TTL_SECONDS = 90 * 24 * 3600;
