/**
 * Pure helpers of poison isolation: cutting a failed part in two, opening a failed compact
 * record or KPL aggregate into its user records, and the dead letter and outcome of the one
 * user record a sink refused for good.
 */
import { isPipelineError } from '../../common/errors.js';
import { deaggregateRecord, isKplAggregate } from '../decode/deaggregate.js';
import { compactEventRecords } from '../decode/decode-shard-batch.js';
import type { BatchOutcome } from '../pipeline/batch-outcome.js';
import type { DeadLetter, DeliverySink, KinesisRecord } from '../types.js';
import { describeError } from './classify-error.js';

/** The dead-letter rule of a record a sink refused for good. */
export const SINK_REJECTED_RULE = 'sink-rejected';

/** Two contiguous halves (the first one the larger); `records` must hold at least two. */
export function splitInHalves(records: readonly KinesisRecord[]): [readonly KinesisRecord[], readonly KinesisRecord[]] {
  const middle = Math.ceil(records.length / 2);
  return [records.slice(0, middle), records.slice(middle)];
}

/**
 * The user records of a compact record (its events, each as JSON: `compactEventRecords`) or of a
 * KPL aggregate, as raw records with `subSequenceNumber` set (the pipeline then takes them as
 * they are and gives them the ids they had in the whole record), or undefined when `record` does
 * not hold two or more (plain, already a user record, or corrupt: decoding dead-letters those itself).
 */
export function userRecordsOf(record: KinesisRecord, shardId: string): KinesisRecord[] | undefined {
  const events = compactEventRecords(record);
  if (events !== undefined) return events;
  if (record.subSequenceNumber !== undefined || !isKplAggregate(record.data)) return undefined;
  const split = deaggregateRecord(record, shardId, 0);
  if (!split.ok || split.userRecords.length < 2) return undefined;
  return split.userRecords.map((user) => ({
    sequenceNumber: user.id.sequenceNumber,
    subSequenceNumber: user.id.subSequenceNumber,
    partitionKey: user.partitionKey,
    data: user.data,
    ...(record.approximateArrivalTimestamp === undefined
      ? {}
      : { approximateArrivalTimestamp: record.approximateArrivalTimestamp }),
  }));
}

const SINKS: readonly DeliverySink[] = ['counters', 'index'];

/** `details.takenBy` of a sink error, when it names sinks that already took the record. */
function takenByOf(error: unknown): DeliverySink[] {
  if (!isPipelineError(error) || typeof error.details !== 'object' || error.details === null) return [];
  const takenBy = (error.details as { takenBy?: unknown }).takenBy;
  if (!Array.isArray(takenBy)) return [];
  return SINKS.filter((sink) => takenBy.includes(sink));
}

/**
 * The dead letter of one (user) record refused for good with `error`.
 *
 * @example
 *   sinkRejectedLetter('shardId-0', record, new PipelineError('RECORD_REJECTED', 'total over the limit'))
 *   // reasons: [{ index: 0, field: '(event)', rule: 'sink-rejected', message: 'RECORD_REJECTED: total over the limit' }]
 */
export function sinkRejectedLetter(shardId: string, record: KinesisRecord, error: unknown): DeadLetter {
  const takenBy = takenByOf(error);
  return {
    id: { shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber: record.subSequenceNumber ?? 0 },
    partitionKey: record.partitionKey,
    data: record.data,
    reasons: [{ index: 0, field: '(event)', rule: SINK_REJECTED_RULE, message: describeError(error) }],
    ...(takenBy.length > 0 ? { takenBy } : {}),
  };
}

/** The outcome of a part that was one dead-lettered user record. */
export function deadLetteredOutcome(shardId: string, record: KinesisRecord, durationMs: number): BatchOutcome {
  return {
    shardId,
    lastSequenceNumber: record.sequenceNumber,
    records: 1,
    userRecords: 1,
    counted: 0,
    duplicates: 0,
    replayed: 0,
    deadLettered: 1,
    indexed: 0,
    indexRejected: 0,
    counterCells: 0,
    counterWrites: 0,
    deadLetterReasons: { [SINK_REJECTED_RULE]: 1 },
    receivedAt: [],
    durationMs,
  };
}
