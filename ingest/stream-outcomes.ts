/**
 * Pure: what the stream did with a request's accepted events, as the route answers it. The
 * batcher's per-entry outcomes (in entry order) become the count of events durably written,
 * one `stream-write-failed` problem per event the stream did not take (safe to send again:
 * the processors de-duplicate by `eventId`), failures per error code (for metrics), and the
 * status: 202 when at least one event was written, 503 with `Retry-After` when none was.
 *
 * Outcome count: `PutRecordsBatcher.submit` resolves exactly one outcome per entry, in entry
 * order (its slot resolves only once every entry is decided; a defect in a call settles the
 * call's entries as `INTERNAL`), so a mismatch can only come from another `submit` (a test
 * double, a future writer). It is a defect, never the producer's fault, and no event may go
 * unaccounted: an event without an outcome counts as failed with code `MISSING_OUTCOME` (its
 * fate is unknown, so the producer sends it again, which de-duplication makes safe), outcomes
 * beyond the events are ignored, and `mismatch` tells the caller to log it.
 */
import type { EventRejection } from '../common/event-contract.js';
import type { EntryOutcome } from './put-records-batcher.js';
import { STREAM_WRITE_FAILED } from './rejection-summary.js';

/** The error code of an event its `submit` returned no outcome for (a defect on our side). */
export const MISSING_OUTCOME = 'MISSING_OUTCOME';

/** Seconds a producer waits before sending again when the stream took none of its events. */
export const STREAM_UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/** How the route answers: 202, or 503 with `Retry-After`. */
export type StreamAnswer = { status: 202 } | { status: 503; retryAfterSeconds: number };

export type StreamOutcomeSummary = StreamAnswer & {
  /** Events durably written. */
  accepted: number;
  /** One `stream-write-failed` problem per event not written, by request index, in submit order. */
  rejections: EventRejection[];
  /** Events not written, per error code (Kinesis's, or `INTERNAL` / `MISSING_OUTCOME` for our defects). */
  failedByCode: ReadonlyMap<string, number>;
  /** Set when some event had no outcome or `submit` returned more outcomes than events (a defect: log it). */
  mismatch?: { events: number; outcomes: number; missing: number };
};

/**
 * Summarises the outcomes of one `submit` of `events` (the route's accepted events, with their
 * request index; `outcomes[i]` is the outcome of `events[i]`). The route calls it with at least
 * one event (a request without a valid one is answered 400 before anything is submitted).
 *
 * @example
 *   summarizeStreamOutcomes([{ index: 0 }, { index: 2 }], [ok, { ok: false, errorCode: 'InternalFailure', message }])
 *   // → { status: 202, accepted: 1, rejections: [{ index: 2, rule: 'stream-write-failed', … }],
 *   //     failedByCode: Map { 'InternalFailure' → 1 } }
 */
export function summarizeStreamOutcomes(
  events: readonly { index: number }[],
  outcomes: readonly (EntryOutcome | undefined)[],
): StreamOutcomeSummary {
  let accepted = 0;
  let missing = 0;
  const rejections: EventRejection[] = [];
  const failedByCode = new Map<string, number>();
  for (let i = 0; i < events.length; i++) {
    const outcome = outcomes[i];
    if (outcome?.ok) {
      accepted++;
      continue;
    }
    const { index } = events[i] as { index: number };
    if (outcome === undefined) missing++;
    const errorCode = outcome === undefined ? MISSING_OUTCOME : outcome.errorCode;
    failedByCode.set(errorCode, (failedByCode.get(errorCode) ?? 0) + 1);
    rejections.push({
      index,
      field: '(event)',
      rule: STREAM_WRITE_FAILED,
      message: `the stream did not accept the event (${errorCode}); retry it`,
    });
  }
  const answer: StreamAnswer =
    accepted > 0 ? { status: 202 } : { status: 503, retryAfterSeconds: STREAM_UNAVAILABLE_RETRY_AFTER_SECONDS };
  const summary: StreamOutcomeSummary = { ...answer, accepted, rejections, failedByCode };
  if (missing > 0 || outcomes.length > events.length) {
    summary.mismatch = { events: events.length, outcomes: outcomes.length, missing };
  }
  return summary;
}
