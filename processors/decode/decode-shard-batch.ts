/**
 * One shard batch → valid events and dead letters, in record order. Every user record
 * ends up in exactly one of the two lists; an unexpected exception on one record becomes
 * that record's dead letter instead of stalling the shard.
 *
 * Plain (not aggregated) records, the common case, take a path that allocates only the
 * record identity and the valid-event pair; KPL aggregates go through `deaggregateRecord`.
 */
import type { EventRejection } from '../../common/event-contract.js';
import type { DeadLetter, RawKinesisRecord, ShardBatch, ValidEvent } from '../types.js';
import { deaggregateRecord, isKplAggregate } from './deaggregate.js';
import { decodeEvent, type DecodeLimits, type EventDecoding } from './decode-user-record.js';

/** Where a user record's bytes came from: enough to dead-letter it later with the original bytes. */
export type RecordSource = Pick<RawKinesisRecord, 'partitionKey' | 'data'>;

/** What decoding made of a batch. `validSources[i]` holds the bytes behind `valid[i]`. */
export interface DecodedBatch {
  shardId: string;
  /** Sequence number of the batch's last Kinesis record; undefined for an empty batch. */
  lastSequenceNumber: string | undefined;
  records: number;
  userRecords: number;
  valid: ValidEvent[];
  /** Original partition key and bytes of each valid event, so a later sink rejection can be dead-lettered. */
  validSources: RecordSource[];
  deadLetters: DeadLetter[];
  /** `performance.now()` when processing began, set by the pipeline to time the whole batch. */
  startedAt?: number;
}

function decodeSafely(data: Uint8Array, index: number, limits: DecodeLimits): EventDecoding {
  try {
    return decodeEvent(data, index, limits);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, rejections: [{ index, field: '(event)', rule: 'decode-failure', message }] };
  }
}

function addUserRecord(
  decoded: DecodedBatch,
  sequenceNumber: string,
  subSequenceNumber: number,
  source: RecordSource,
  limits: DecodeLimits,
): void {
  const index = decoded.userRecords++;
  const result = decodeSafely(source.data, index, limits);
  const id = { shardId: decoded.shardId, sequenceNumber, subSequenceNumber };
  if (result.ok) {
    decoded.valid.push({ id, event: result.event });
    decoded.validSources.push(source);
  } else {
    decoded.deadLetters.push({ id, partitionKey: source.partitionKey, data: source.data, reasons: result.rejections });
  }
}

function addDeadRecord(decoded: DecodedBatch, record: RawKinesisRecord, rejection: EventRejection): void {
  const index = decoded.userRecords++;
  decoded.deadLetters.push({
    id: { shardId: decoded.shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber: 0 },
    partitionKey: record.partitionKey,
    data: record.data,
    reasons: [{ ...rejection, index }],
  });
}

/**
 * Decodes a whole shard batch. Pure and synchronous: the pipeline's only CPU-bound step.
 *
 * @example
 *   const decoded = decodeShardBatch({ shardId, records }, { maxEventBytes: 8192, maxSegments: 10 });
 */
export function decodeShardBatch(batch: ShardBatch, limits: DecodeLimits): DecodedBatch {
  const decoded: DecodedBatch = {
    shardId: batch.shardId,
    lastSequenceNumber: batch.records.at(-1)?.sequenceNumber,
    records: batch.records.length,
    userRecords: 0,
    valid: [],
    validSources: [],
    deadLetters: [],
  };
  for (let recordIndex = 0; recordIndex < batch.records.length; recordIndex++) {
    const record = batch.records[recordIndex]!;
    if (record.subSequenceNumber !== undefined || !isKplAggregate(record.data)) {
      addUserRecord(decoded, record.sequenceNumber, record.subSequenceNumber ?? 0, record, limits);
      continue;
    }
    const split = deaggregateRecord(record, batch.shardId, recordIndex);
    if (!split.ok) {
      addDeadRecord(decoded, record, split.rejection);
      continue;
    }
    for (const userRecord of split.userRecords) {
      addUserRecord(decoded, userRecord.id.sequenceNumber, userRecord.id.subSequenceNumber, userRecord, limits);
    }
  }
  return decoded;
}
