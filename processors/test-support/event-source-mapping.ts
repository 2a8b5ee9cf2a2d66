/**
 * Test helpers for the Lambda adapter: Lambda Kinesis events in the documented shape built
 * from records really read from kinesalite, and a stand-in for the Kinesis event source
 * mapping (which cannot run here) that follows its documented error handling:
 *
 * - a batch is at most `BatchSize` records from the shard's checkpoint; success moves the
 *   checkpoint past it;
 * - a partial batch response (`ReportBatchItemFailures` on) checkpoints before the lowest
 *   reported sequence number and retries only the records from there on; with
 *   `BisectBatchOnFunctionError` this is the "split at the returned sequence number". An
 *   identifier that is empty or not in the batch makes the whole batch a failure. Without
 *   `ReportBatchItemFailures` the response is ignored (the batch counts as a success);
 * - a thrown error (function error) with `BisectBatchOnFunctionError` splits the batch in
 *   two halves retried in order; splitting does not consume the retry quota; without it (or
 *   for a single record) the batch is retried as is;
 * - `MaximumRetryAttempts` retries (-1: infinite) and `MaximumRecordAgeInSeconds` (-1:
 *   infinite) bound the retries; records given up on are skipped and the on-failure
 *   destination receives the metadata of their batch (not the records).
 *
 * Sources: AWS Lambda developer guide, "Configuring partial batch response with Kinesis Data
 * Streams and Lambda" and "Retain discarded batch records for a Kinesis Data Streams event
 * source in Lambda".
 */
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { listShards } from '../../common/kinesis/list-shards.js';
import type { KinesisBatchHandler } from '../lambda/batch-handler.js';
import { shardIdOf } from '../lambda/kinesis-event.js';

const MAX_GET_RECORDS_CALLS = 1_000;

/** Every record of every shard of `streamName`, per shard, as Lambda would deliver them. */
export async function readAsLambdaRecords(
  kinesis: KinesisClient,
  streamName: string,
): Promise<Map<string, KinesisStreamRecord[]>> {
  const shards = await listShards(kinesis, streamName);
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

/** How the simulated event source mapping is configured (the parameters of the same names). */
export interface EventSourceMappingOptions {
  /** `BatchSize`. */
  batchSize: number;
  /** `BisectBatchOnFunctionError`. */
  bisectOnError: boolean;
  /** `FunctionResponseTypes: ['ReportBatchItemFailures']` (default true). */
  reportBatchItemFailures?: boolean;
  /** `MaximumRetryAttempts`: retries after the first attempt; -1 (default) retries until the records expire. */
  maximumRetryAttempts?: number;
  /** `MaximumRecordAgeInSeconds`; -1 (default): never discard by age. */
  maximumRecordAgeSeconds?: number;
  /** The mapping's clock (epoch ms), for record age; `Date.now` by default. */
  now?: () => number;
  /** Bound on invocations, so a handler that never succeeds fails the test instead of hanging it. */
  maxInvocations: number;
}

/** What the on-failure destination receives for records the mapping gives up on: metadata only. */
export interface OnFailureInvocationRecord {
  requestContext: {
    condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
    approximateInvokeCount: number;
  };
  responseContext: { functionError?: 'Unhandled' };
  KinesisBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
}

/** What happened while delivering. */
export interface EventSourceMappingReport {
  invocations: number;
  failedInvocations: number;
  /** Batches split: halved after a function error, or split at a returned sequence number past the first record. */
  bisections: number;
  /** Sequence numbers each invocation started at, in order. */
  startedAt: string[];
  /** The on-failure destination (an SQS queue or SNS topic in AWS): one entry per batch given up on. */
  onFailureDestination: OnFailureInvocationRecord[];
}

/** A contiguous run `[start, end)` of the shard's records, with the retries it has consumed. */
interface PendingBatch {
  start: number;
  end: number;
  retries: number;
}

const arrivalIso = (record: KinesisStreamRecord) =>
  new Date(record.kinesis.approximateArrivalTimestamp * 1000).toISOString();

function batchInfo(
  records: readonly KinesisStreamRecord[],
  condition: OnFailureInvocationRecord['requestContext']['condition'],
  invokeCount: number,
): OnFailureInvocationRecord {
  const first = records[0]!;
  const last = records.at(-1)!;
  return {
    requestContext: { condition, approximateInvokeCount: invokeCount },
    responseContext: condition === 'RetryAttemptsExhausted' ? { functionError: 'Unhandled' } : {},
    KinesisBatchInfo: {
      shardId: shardIdOf(first),
      startSequenceNumber: first.kinesis.sequenceNumber,
      endSequenceNumber: last.kinesis.sequenceNumber,
      approximateArrivalOfFirstRecord: arrivalIso(first),
      approximateArrivalOfLastRecord: arrivalIso(last),
      batchSize: records.length,
      streamArn: first.eventSourceARN,
    },
  };
}

/** The index (in `batch`) where the function asked to resume; `'all'` when the whole batch failed; undefined on success. */
async function invoke(
  handler: KinesisBatchHandler,
  batch: readonly KinesisStreamRecord[],
  reportBatchItemFailures: boolean,
): Promise<{ failedAt?: number; thrown: boolean }> {
  let response: Awaited<ReturnType<KinesisBatchHandler>>;
  try {
    response = await handler({ Records: [...batch] } satisfies KinesisStreamEvent);
  } catch {
    return { failedAt: 0, thrown: true };
  }
  const identifiers = (response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier);
  if (!reportBatchItemFailures || identifiers.length === 0) return { thrown: false };
  const positions = identifiers.map((id) => batch.findIndex((record) => record.kinesis.sequenceNumber === id));
  // An empty, null or unknown identifier makes the whole batch a failure.
  if (positions.some((position) => position < 0)) return { failedAt: 0, thrown: true };
  return { failedAt: Math.min(...positions), thrown: false };
}

/**
 * Delivers one shard's records to `handler` like the Kinesis event source mapping (see the
 * module comment for the semantics), and returns what happened, including what reached the
 * on-failure destination.
 *
 * @example
 *   const report = await driveEventSourceMapping(handler, records, {
 *     batchSize: 100, bisectOnError: true, maximumRetryAttempts: 2, maxInvocations: 500,
 *   });
 *   expect(report.onFailureDestination).toEqual([]);
 */
export async function driveEventSourceMapping(
  handler: KinesisBatchHandler,
  records: readonly KinesisStreamRecord[],
  options: EventSourceMappingOptions,
): Promise<EventSourceMappingReport> {
  const report: EventSourceMappingReport = {
    invocations: 0,
    failedInvocations: 0,
    bisections: 0,
    startedAt: [],
    onFailureDestination: [],
  };
  const maxRetries = options.maximumRetryAttempts ?? -1;
  const maxAgeMs = (options.maximumRecordAgeSeconds ?? -1) * 1000;
  const now = options.now ?? Date.now;
  const reportFailures = options.reportBatchItemFailures ?? true;
  /** Sub-batches still to deliver, in shard order (the first is next). */
  const pending: PendingBatch[] = [];
  let checkpoint = 0;

  while (checkpoint < records.length || pending.length > 0) {
    const batch = pending.shift() ?? {
      start: checkpoint,
      end: Math.min(checkpoint + options.batchSize, records.length),
      retries: 0,
    };
    if (maxAgeMs >= 0) {
      let fresh = batch.start;
      while (fresh < batch.end && now() - records[fresh]!.kinesis.approximateArrivalTimestamp * 1000 > maxAgeMs)
        fresh += 1;
      if (fresh > batch.start) {
        report.onFailureDestination.push(
          batchInfo(records.slice(batch.start, fresh), 'RecordAgeExceeded', batch.retries),
        );
        checkpoint = fresh;
        if (fresh === batch.end) continue;
        batch.start = fresh;
      }
    }
    if (++report.invocations > options.maxInvocations) {
      throw new Error(`event source mapping gave up after ${options.maxInvocations} invocations`);
    }
    const delivered = records.slice(batch.start, batch.end);
    report.startedAt.push(delivered[0]!.kinesis.sequenceNumber);
    const { failedAt, thrown } = await invoke(handler, delivered, reportFailures);
    if (failedAt === undefined) {
      checkpoint = batch.end;
      continue;
    }
    report.failedInvocations += 1;
    if (thrown && options.bisectOnError && delivered.length > 1) {
      // Splitting does not consume the retry quota.
      report.bisections += 1;
      const middle = batch.start + Math.ceil(delivered.length / 2);
      pending.unshift(
        { start: batch.start, end: middle, retries: batch.retries },
        { start: middle, end: batch.end, retries: batch.retries },
      );
      continue;
    }
    const resumeAt = batch.start + failedAt;
    if (resumeAt > batch.start && options.bisectOnError) report.bisections += 1;
    checkpoint = resumeAt;
    const retry = { start: resumeAt, end: batch.end, retries: batch.retries + 1 };
    if (maxRetries >= 0 && retry.retries > maxRetries) {
      report.onFailureDestination.push(
        batchInfo(records.slice(retry.start, retry.end), 'RetryAttemptsExhausted', retry.retries),
      );
      checkpoint = retry.end;
      continue;
    }
    pending.unshift(retry);
  }
  return report;
}
