/**
 * One shard batch → valid events and dead letters, in record order. Every user record
 * ends up in exactly one of the two lists; an unexpected exception on one record becomes
 * that record's dead letter instead of stalling the shard.
 */
import type { DeadLetter, ShardBatch, ValidEvent } from '../types.js';
import { deaggregateRecord } from './deaggregate.js';
import { decodeUserRecord, type DecodeLimits } from './decode-user-record.js';
import type { UserRecord } from './user-record.js';

/** What decoding made of a batch. `validSources[i]` holds the bytes behind `valid[i]`. */
export interface DecodedBatch {
  shardId: string;
  /** Sequence number of the batch's last Kinesis record; undefined for an empty batch. */
  lastSequenceNumber: string | undefined;
  records: number;
  userRecords: number;
  valid: ValidEvent[];
  /** Original partition key and bytes of each valid event, so a later sink rejection can be dead-lettered. */
  validSources: Pick<UserRecord, 'partitionKey' | 'data'>[];
  deadLetters: DeadLetter[];
  /** `performance.now()` when processing began, set by the pipeline to time the whole batch. */
  startedAt?: number;
}

function unexpectedFailure(record: UserRecord, index: number, error: unknown): DeadLetter {
  return {
    id: record.id,
    partitionKey: record.partitionKey,
    data: record.data,
    reasons: [
      {
        index,
        field: '(event)',
        rule: 'decode-failure',
        message: error instanceof Error ? error.message : String(error),
      },
    ],
  };
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
    const split = deaggregateRecord(record, batch.shardId, recordIndex);
    if (!split.ok) {
      decoded.userRecords += 1;
      decoded.deadLetters.push({
        id: { shardId: batch.shardId, sequenceNumber: record.sequenceNumber, subSequenceNumber: 0 },
        partitionKey: record.partitionKey,
        data: record.data,
        reasons: [{ ...split.rejection, index: decoded.userRecords - 1 }],
      });
      continue;
    }
    for (const userRecord of split.userRecords) {
      const index = decoded.userRecords++;
      let result;
      try {
        result = decodeUserRecord(userRecord, index, limits);
      } catch (error) {
        decoded.deadLetters.push(unexpectedFailure(userRecord, index, error));
        continue;
      }
      if (result.ok) {
        decoded.valid.push(result.valid);
        decoded.validSources.push(userRecord);
      } else {
        decoded.deadLetters.push(result.deadLetter);
      }
    }
  }
  return decoded;
}
