/**
 * Reads a whole stream from TRIM_HORIZON, every shard, for tests and benchmark checks.
 * Bounded: stops at the end of each shard's current data or after `maxRecords`.
 */
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards } from '../../common/kinesis/list-shards.js';
import type { ShardRecord } from '../../common/kinesis/record.js';

/** All records currently in the stream, shard by shard, in sequence order within each shard. */
export async function readAllRecords(
  kinesis: Pick<KinesisClient, 'send'>,
  streamName: string,
  maxRecords = 1_000_000,
): Promise<ShardRecord[]> {
  const shards = await listShards(kinesis, streamName);
  const records: ShardRecord[] = [];
  for (const shard of shards) {
    const shardId = shard.ShardId ?? '';
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
      )
    ).ShardIterator;
    while (iterator && records.length < maxRecords) {
      const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of out.Records ?? []) {
        records.push({
          shardId,
          sequenceNumber: record.SequenceNumber ?? '',
          partitionKey: record.PartitionKey ?? '',
          data: record.Data ?? new Uint8Array(),
        });
      }
      // Only an empty answer means the end: kinesalite reports MillisBehindLatest 0 while records remain.
      if ((out.Records ?? []).length === 0) break;
      iterator = out.NextShardIterator;
    }
  }
  return records;
}
