/**
 * Kinesis Lambda events → shard batches. The event source mapping delivers records of one
 * shard per invocation, base64-encoded, with `eventID` = `<shardId>:<sequenceNumber>`;
 * grouping by shard anyway keeps the adapter correct if that ever changes.
 */
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { KinesisRecord, ShardBatch } from '../types.js';

/** The shard a Lambda Kinesis record came from (the part of `eventID` before the colon). */
export function shardIdOf(record: KinesisStreamRecord): string {
  const colon = record.eventID.indexOf(':');
  return colon > 0 ? record.eventID.slice(0, colon) : record.eventID;
}

function toRawRecord(record: KinesisStreamRecord): KinesisRecord {
  return {
    sequenceNumber: record.kinesis.sequenceNumber,
    partitionKey: record.kinesis.partitionKey,
    data: Buffer.from(record.kinesis.data, 'base64'),
    // Lambda gives seconds with a fraction; the pipeline uses epoch ms.
    approximateArrivalTimestamp: Math.round(record.kinesis.approximateArrivalTimestamp * 1000),
  };
}

/** Splits an event into shard batches, keeping record order within each shard. */
export function toShardBatches(event: KinesisStreamEvent): ShardBatch[] {
  const byShard = new Map<string, KinesisRecord[]>();
  for (const record of event.Records) {
    const shardId = shardIdOf(record);
    let records = byShard.get(shardId);
    if (!records) byShard.set(shardId, (records = []));
    records.push(toRawRecord(record));
  }
  return [...byShard].map(([shardId, records]) => ({ shardId, records }));
}
