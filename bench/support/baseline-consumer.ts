/**
 * The baseline the AWS integration describes: a consumer that does one DynamoDB
 * `UpdateItem ADD` per event. It is what our pipeline is measured against in the same
 * run, on the same stream. (It is also wrong: ADD is not idempotent, so every
 * redelivery double-counts — the bench measures its speed and cost, not its answers.)
 */
import { UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { listShards } from '../../common/kinesis/list-shards.js';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY, EXPOSURE_METRIC } from '../../common/counter-layout.js';
import { decodeCompactRecord, isCompactRecord } from '../../common/compact-records.js';
import { deaggregateRecord } from '../../processors/decode/deaggregate.js';

export interface BaselineProgress {
  events: number;
  writes: number;
}

export interface BaselineOptions {
  kinesis: Pick<KinesisClient, 'send'>;
  dynamo: Pick<DynamoDBClient, 'send'>;
  streamName: string;
  tableName: string;
  /** UpdateItem calls in flight per shard. */
  concurrency: number;
  /** Stop at this time (epoch ms) even when not caught up. */
  deadline: number;
  progress: BaselineProgress;
}

async function addOne(
  options: BaselineOptions,
  event: { experimentId: string; variantId: string; metric?: string; value?: number },
): Promise<void> {
  await options.dynamo.send(
    new UpdateItemCommand({
      TableName: options.tableName,
      Key: {
        [COUNTER_PARTITION_KEY]: { S: event.experimentId },
        [COUNTER_SORT_KEY]: { S: `${event.variantId}#${event.metric ?? EXPOSURE_METRIC}` },
      },
      UpdateExpression: 'ADD events :one, #sum :value',
      ExpressionAttributeNames: { '#sum': 'sum' },
      ExpressionAttributeValues: { ':one': { N: '1' }, ':value': { N: String(event.value ?? 1) } },
    }),
  );
  options.progress.writes++;
}

async function consumeShard(options: BaselineOptions, shardId: string): Promise<void> {
  let iterator = (
    await options.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: options.streamName,
        ShardId: shardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    )
  ).ShardIterator;
  while (iterator && Date.now() < options.deadline) {
    const out = await options.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    const events: { experimentId: string; variantId: string; metric?: string; value?: number }[] = [];
    (out.Records ?? []).forEach((record, index) => {
      if (record.Data && isCompactRecord(record.Data)) {
        // The same reader the processors use: the baseline pays the same decode cost.
        const decoded = decodeCompactRecord(record.Data, index, { maxSegments: 50 });
        if (decoded.ok) for (const event of decoded.events) if (event.ok) events.push(event.event);
        return;
      }
      const split = deaggregateRecord(
        {
          sequenceNumber: record.SequenceNumber ?? '0',
          partitionKey: record.PartitionKey ?? '',
          data: record.Data ?? new Uint8Array(),
        },
        shardId,
        index,
      );
      if (!split.ok) return;
      for (const userRecord of split.userRecords) {
        try {
          events.push(JSON.parse(Buffer.from(userRecord.data).toString('utf8')) as (typeof events)[number]);
        } catch {
          // the baseline has no dead-letter path: it drops what it cannot parse
        }
      }
    });
    for (let i = 0; i < events.length && Date.now() < options.deadline; i += options.concurrency) {
      await Promise.all(events.slice(i, i + options.concurrency).map((event) => addOne(options, event)));
      options.progress.events += Math.min(options.concurrency, events.length - i);
    }
    if ((out.Records ?? []).length === 0 && out.MillisBehindLatest === 0) return;
    iterator = out.NextShardIterator;
  }
}

/** Drains every shard from TRIM_HORIZON until caught up or the deadline; progress is updated live. */
export async function runPerEventConsumer(options: BaselineOptions): Promise<void> {
  const shards = await listShards(options.kinesis, options.streamName);
  await Promise.all(shards.map((shard) => consumeShard(options, shard.ShardId ?? '')));
}
