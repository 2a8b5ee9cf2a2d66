import { describe, expect, it } from 'vitest';
import type { EntryOutcome } from './put-records-batcher.js';
import { RejectionSummary, STREAM_WRITE_FAILED } from './rejection-summary.js';
import { MISSING_OUTCOME, STREAM_UNAVAILABLE_RETRY_AFTER_SECONDS, summarizeStreamOutcomes } from './stream-outcomes.js';

const written = (n: number): EntryOutcome => ({ ok: true, shardId: 'shardId-000000000000', sequenceNumber: `${n}` });
const failed = (errorCode: string): EntryOutcome => ({ ok: false, errorCode, message: `injected ${errorCode}` });
/** Accepted events at these request positions (invalid events in between are not submitted). */
const at = (...indexes: number[]) => indexes.map((index) => ({ index }));

describe('summarizeStreamOutcomes', () => {
  it('answers 202 with every event accepted and nothing to retry when every outcome is ok', () => {
    const summary = summarizeStreamOutcomes(at(0, 1, 4), [written(1), written(2), written(3)]);
    expect(summary).toEqual({ status: 202, accepted: 3, rejections: [], failedByCode: new Map() });
  });

  it('names each failed event by its request index and counts failures per error code', () => {
    const summary = summarizeStreamOutcomes(at(0, 2, 3, 5, 7), [
      written(1),
      failed('ProvisionedThroughputExceededException'),
      written(2),
      failed('InternalFailure'),
      failed('ProvisionedThroughputExceededException'),
    ]);
    expect(summary.status).toBe(202);
    expect(summary.accepted).toBe(2);
    expect(summary.failedByCode).toEqual(
      new Map([
        ['ProvisionedThroughputExceededException', 2],
        ['InternalFailure', 1],
      ]),
    );
    expect(summary.rejections).toEqual([
      {
        index: 2,
        field: '(event)',
        rule: STREAM_WRITE_FAILED,
        message: 'the stream did not accept the event (ProvisionedThroughputExceededException); retry it',
      },
      {
        index: 5,
        field: '(event)',
        rule: STREAM_WRITE_FAILED,
        message: 'the stream did not accept the event (InternalFailure); retry it',
      },
      {
        index: 7,
        field: '(event)',
        rule: STREAM_WRITE_FAILED,
        message: 'the stream did not accept the event (ProvisionedThroughputExceededException); retry it',
      },
    ]);
    expect(summary.mismatch).toBeUndefined();
    // Added to the request's summary, they are what the producer sends again.
    const report = new RejectionSummary();
    report.addAll(summary.rejections);
    expect(report.report()).toMatchObject({ retryIndexes: [2, 5, 7], invalidIndexes: [] });
  });

  it('answers 503 with Retry-After when the stream took none of the events', () => {
    const summary = summarizeStreamOutcomes(at(1, 2), [failed('InternalFailure'), failed('KMSThrottlingException')]);
    expect(summary).toMatchObject({ status: 503, retryAfterSeconds: STREAM_UNAVAILABLE_RETRY_AFTER_SECONDS });
    expect(STREAM_UNAVAILABLE_RETRY_AFTER_SECONDS).toBe(1);
    expect(summary.accepted).toBe(0);
    expect(summary.rejections.map((rejection) => rejection.index)).toEqual([1, 2]);
    expect(summary.failedByCode).toEqual(
      new Map([
        ['InternalFailure', 1],
        ['KMSThrottlingException', 1],
      ]),
    );
  });

  it('counts an event without an outcome as failed (MISSING_OUTCOME, to send again) and flags the mismatch', () => {
    const summary = summarizeStreamOutcomes(at(0, 3, 4), [written(1)]);
    expect(summary.status).toBe(202);
    expect(summary.accepted).toBe(1);
    expect(summary.rejections.map(({ index, rule }) => ({ index, rule }))).toEqual([
      { index: 3, rule: STREAM_WRITE_FAILED },
      { index: 4, rule: STREAM_WRITE_FAILED },
    ]);
    expect(summary.rejections[0]?.message).toContain(MISSING_OUTCOME);
    expect(summary.failedByCode).toEqual(new Map([[MISSING_OUTCOME, 2]]));
    expect(summary.mismatch).toEqual({ events: 3, outcomes: 1, missing: 2 });
  });

  it('treats a hole in the outcomes like a missing outcome, and no outcome at all as nothing written (503)', () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is the case under test
    const holed = summarizeStreamOutcomes(at(0, 1, 2), [written(1), , written(3)]);
    expect(holed).toMatchObject({ status: 202, accepted: 2, mismatch: { events: 3, outcomes: 3, missing: 1 } });
    expect(holed.rejections.map((rejection) => rejection.index)).toEqual([1]);

    const none = summarizeStreamOutcomes(at(0), []);
    expect(none).toMatchObject({ status: 503, accepted: 0, mismatch: { events: 1, outcomes: 0, missing: 1 } });
  });

  it('ignores outcomes beyond the events (an extra ok never inflates accepted) and flags the mismatch', () => {
    const summary = summarizeStreamOutcomes(at(0), [failed('InternalFailure'), written(2), written(3)]);
    expect(summary).toMatchObject({ status: 503, accepted: 0, mismatch: { events: 1, outcomes: 3, missing: 0 } });
    expect(summary.rejections.map((rejection) => rejection.index)).toEqual([0]);
    expect(summary.failedByCode).toEqual(new Map([['InternalFailure', 1]]));
  });
});
