/**
 * The contract between the counter sink and its per-event state. A store keeps, per
 * record identity, what must not be redone when the record is delivered again:
 * eventId claims (producer-retry de-duplication), each user's segment values (fixed at
 * their first event, capped per dimension), and each user's running total per metric,
 * with the outcome of every not-yet-committed state change memoized under the record's
 * identity so a replay yields the same deltas. Every store (Redis, embedded LMDB,
 * in-process) runs the same rules; the shared contract suite (test-support/store-contract.ts) proves it.
 *
 * Three guarantees beyond the rules:
 * - **Fencing.** `apply` reads the shard's committed position itself, inside the same atomic
 *   operation as the state change: a record at or before it is answered `committed` and
 *   changes nothing, so a stale writer (paused while another took over and moved on) cannot
 *   re-apply records whose memos were already dropped.
 * - **Epoch.** A store holds one random epoch, created once (`epoch()`). `apply` checks it
 *   atomically and fails with `STATE_LOST` when the store's epoch is not the one the caller
 *   expects: a flushed, restarted-empty, failed-over or replaced store is detected, never
 *   silently re-counted.
 * - **Bounded totals.** A user's running total per variant and metric stays within
 *   ±`userTotalLimit` (scaled); an event that would leave it is `refused` (memoized, so every
 *   replay is refused too) and the pipeline dead-letters it with rule `user-total-limit`.
 */

import type { StateAnswers } from './state-answers.js';

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
  /**
   * The event's value, scaled (`scaledNumber`, counters/exact-value.ts): an exact integer. Totals
   * are numbers too: bounded by ±userTotalLimit ≤ 2^52, every sum the rules form is an exact double.
   */
  scaledValue: number;
  /**
   * The event's covariates as [metric key, scaled value], sorted by key, restricted to the
   * experiment's CUPED metrics (common/counter-plan.ts); absent or empty when none. Like
   * `segments`, fixed at the user's first applied event: later events' covariates are ignored.
   */
  covariates?: readonly (readonly [string, number])[];
  /**
   * Running totals (`${variantId}#${metricKey}` of the same user) whose value at this event the
   * counters need: the ratio partners of the event's metric. Answered in `partnerTotals`, in
   * this order, and memoized with the record so a replay gets the very same values.
   */
  partners?: readonly string[];
}

/**
 * What a state change meant for the counters, as one object: the contract's vocabulary. `apply`
 * answers in columns (`StateAnswers`, state-answers.ts), whose `outcome(i)` gives this form.
 */
export type StateOutcome =
  /** Another record already claimed this eventId (a producer retry): counts nothing. */
  | { kind: 'duplicate' }
  /** The record is at or before the shard's committed position: every cell holds it already. */
  | { kind: 'committed' }
  /** The user's total would leave ±userTotalLimit: nothing changed; dead-letter the record. */
  | { kind: 'refused'; rule: 'user-total-limit' }
  | {
      kind: 'applied';
      /** True when the store had already applied this very record (a replay). */
      replay: boolean;
      /** The user's segment values, fixed at their first event; capped values read `(other)`. */
      segments: readonly (readonly [string, string])[];
      /** The user's total for this variant and metric before this event; `undefined` = first event. */
      totalBefore: number | undefined;
      /** The user's covariates, fixed at their first event (sorted by metric key; empty when none). */
      covariates: readonly (readonly [string, number])[];
      /**
       * Per `request.partners` (same order), the user's running total of that partner at this
       * event (`undefined`: none yet); memoized, so a replay answers the same. Empty without partners.
       */
      partnerTotals: readonly (number | undefined)[];
    };

/**
 * Per-event state of the exactly-once protocol. One writer per shard calls it; shards
 * may call it concurrently (claims are atomic across shards).
 */
export interface UserStateStore {
  /**
   * The store's epoch: a random id created the first time any caller asks, and kept for the
   * store's life. A store that lost its data answers a new epoch (or none matches).
   */
  epoch(): Promise<string>;
  /**
   * Applies the batch's state changes in order and answers each request, in columns (answer `i`
   * for request `i`; `answers.outcome(i)` is the object form). Reads the shard's committed
   * position atomically with each change (fencing); memos at or before it are dropped. Rejects
   * with `STATE_LOST` when the store's epoch is not `epoch`. A store reads the request objects only
   * until the returned promise settles (the counter sink writes them again for a later batch): it
   * keeps the values it needs, never a request.
   */
  apply(shardId: string, epoch: string, requests: readonly StateRequest[]): Promise<StateAnswers>;
  /** The shard's committed position, in the compact stored form (`compactPosition`); for diagnostics. */
  readCommitted(shardId: string): Promise<string | undefined>;
  /** Records that every record of the shard up to `position` (a `recordPosition`) is in the counters; never moves back. */
  markCommitted(shardId: string, position: string): Promise<void>;
  /**
   * Drops every user's state and admitted segment values of one experiment (run once its
   * results are final: user state has no TTL, it lives as long as its experiment). Resolves
   * with the number of users forgotten.
   */
  forgetExperiment(experimentId: string): Promise<number>;
  close(): Promise<void>;
}

/** Bounds shared by every store. */
export interface StateLimits {
  /** Distinct values per (experiment, dimension) that get their own cell; later ones read `(other)`. */
  segmentValueCap: number;
  /** How long an eventId claim lasts: producer retries within it are counted once. */
  dedupWindowSeconds: number;
  /**
   * Largest |running total| of one user per variant and metric, scaled (default: MAX_USER_TOTAL × 10^6);
   * at most MAX_USER_TOTAL_LIMIT (2^52), so running totals and their sums stay exact doubles.
   */
  userTotalLimit: number;
}
