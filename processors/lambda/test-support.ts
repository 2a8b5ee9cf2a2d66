/**
 * Test helpers for the Lambda adapter: Lambda Kinesis events in the documented shape built
 * from records really read from kinesalite, and a stand-in for the event source mapping
 * (which cannot run here) that delivers batches, honours `batchItemFailures`, and bisects
 * on error the way the service does.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { KinesisBatchHandler } from './batch-handler.js';

const MAX_GET_RECORDS_CALLS = 1_000;

/** Every record of every shard of `streamName`, per shard, as Lambda would deliver them. */
export async function readAsLambdaRecords(
  kinesis: KinesisClient,
  streamName: string,
): Promise<Map<string, KinesisStreamRecord[]>> {
  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: streamName }))).Shards ?? [];
  const byShard = new Map<string, KinesisStreamRecord[]>();
  for (const shard of shards) {
    const shardId = shard.ShardId!;
    const records: KinesisStreamRecord[] = [];
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
      )
    ).ShardIterator;
    for (let call = 0; iterator && call < MAX_GET_RECORDS_CALLS; call++) {
      const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      for (const record of out.Records ?? []) {
        records.push({
          kinesis: {
            kinesisSchemaVersion: '1.0',
            partitionKey: record.PartitionKey!,
            sequenceNumber: record.SequenceNumber!,
            data: Buffer.from(record.Data!).toString('base64'),
            approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) / 1000,
          },
          eventSource: 'aws:kinesis',
          eventVersion: '1.0',
          eventID: `${shardId}:${record.SequenceNumber!}`,
          eventName: 'aws:kinesis:record',
          invokeIdentityArn: 'arn:aws:iam::123456789012:role/event-processor-role',
          awsRegion: 'us-east-1',
          eventSourceARN: `arn:aws:kinesis:us-east-1:123456789012:stream/${streamName}`,
        });
      }
      if ((out.Records ?? []).length === 0) break;
      iterator = out.NextShardIterator;
    }
    byShard.set(shardId, records);
  }
  return byShard;
}

/** How the simulated event source mapping behaves. */
export interface EventSourceMappingOptions {
  batchSize: number;
  bisectOnError: boolean;
  /** Bound on invocations, so a handler that never succeeds fails the test instead of hanging it. */
  maxInvocations: number;
}

/** What happened while delivering. */
export interface EventSourceMappingReport {
  invocations: number;
  failedInvocations: number;
  bisections: number;
  /** Sequence numbers each invocation started at, in order. */
  startedAt: string[];
}

/**
 * Delivers one shard's records to `handler` like the Kinesis event source mapping with
 * ReportBatchItemFailures: on a reported failure it resumes at the reported record; on a
 * thrown error it retries the whole batch; with bisect-on-error, a failed batch is split
 * in two halves delivered one after the other.
 */
export async function driveEventSourceMapping(
  handler: KinesisBatchHandler,
  records: readonly KinesisStreamRecord[],
  options: EventSourceMappingOptions,
): Promise<EventSourceMappingReport> {
  const report: EventSourceMappingReport = { invocations: 0, failedInvocations: 0, bisections: 0, startedAt: [] };
  const deliver = async (batch: readonly KinesisStreamRecord[]): Promise<void> => {
    let pending = batch;
    while (pending.length > 0) {
      if (++report.invocations > options.maxInvocations) {
        throw new Error(`event source mapping gave up after ${options.maxInvocations} invocations`);
      }
      report.startedAt.push(pending[0]!.kinesis.sequenceNumber);
      let failedAt: number | undefined;
      try {
        const event: KinesisStreamEvent = { Records: [...pending] };
        const failures = new Set((await handler(event)).batchItemFailures.map((f) => f.itemIdentifier));
        const index = pending.findIndex((record) => failures.has(record.kinesis.sequenceNumber));
        failedAt = index >= 0 ? index : undefined;
      } catch {
        failedAt = 0;
      }
      if (failedAt === undefined) return;
      report.failedInvocations += 1;
      pending = pending.slice(failedAt);
      if (options.bisectOnError && pending.length > 1) {
        report.bisections += 1;
        const middle = Math.ceil(pending.length / 2);
        await deliver(pending.slice(0, middle));
        await deliver(pending.slice(middle));
        return;
      }
    }
  };
  for (let start = 0; start < records.length; start += options.batchSize) {
    await deliver(records.slice(start, start + options.batchSize));
  }
  return report;
}
