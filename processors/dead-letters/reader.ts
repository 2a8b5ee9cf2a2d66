/**
 * Reads a stream from the oldest record (TRIM_HORIZON) of every shard, and the
 * dead-letter stream's envelopes on top of that, for `dlq list` and `dlq replay`.
 * Bounded: a read stops at `limit` matching records, at the end of the data, or when
 * `maxDurationMs` runs out, and says which one happened.
 */
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';
import { classifyKinesisError } from '../../common/kinesis/errors.js';
import type { ShardRecord } from '../../common/kinesis/record.js';
import { listShards } from '../../common/kinesis/list-shards.js';
import { withRetry, type RetryPolicy } from '../../common/retry.js';
import { decodeDeadLetter, type DeadLetterEnvelope, type EnvelopeDecoding } from './envelope.js';

/** Bounds of a whole-stream read. */
export interface StreamReadOptions {
  kinesis: KinesisClient;
  streamName: string;
  /** Stop after this many selected records. */
  limit: number;
  /** Wall-clock bound of the whole read. */
  maxDurationMs?: number;
  /** GetRecords page size (at most 10,000). */
  pageSize?: number;
  retryPolicy?: RetryPolicy;
}

/** Why a read stopped: every shard read to its end, `limit` reached, or out of time. */
export type ReadStop = 'end-of-stream' | 'limit' | 'time';

/** One record read from the dead-letter stream. */
export interface ReadDeadLetter {
  /** Position on the dead-letter stream (not the source stream: that is in the envelope). */
  dlqShardId: string;
  dlqSequenceNumber: string;
  decoding: EnvelopeDecoding;
}

export interface ReadDeadLettersOptions extends StreamReadOptions {
  /** Keeps only letters this returns true for; undecodable records are kept only when it is not set. */
  letterFilter?: (envelope: DeadLetterEnvelope) => boolean;
}

export interface ReadDeadLettersResult {
  letters: ReadDeadLetter[];
  stoppedBy: ReadStop;
}

const DEFAULT_MAX_DURATION_MS = 60_000;
const DEFAULT_PAGE_SIZE = 1_000;

/** Keeps only letters that have a reason with this rule (as `dlq --reason` does). */
export const hasReasonRule =
  (rule: string) =>
  (envelope: DeadLetterEnvelope): boolean =>
    envelope.reasons.some((reason) => reason.rule === rule);

/** One read call with the shared backoff; SDK errors become typed, so only transient ones are retried. */
function readWithRetry<T>(call: () => Promise<T>, streamName: string, policy?: RetryPolicy): Promise<T> {
  return withRetry(
    () => call().catch((error: unknown) => Promise.reject(classifyKinesisError(error, 'reading', streamName))),
    { policy },
  );
}

async function listAllShards(kinesis: KinesisClient, streamName: string, policy?: RetryPolicy): Promise<Shard[]> {
  const shards = await listShards(kinesis, streamName, policy ? { policy } : {}).catch((error: unknown) =>
    Promise.reject(classifyKinesisError(error, 'reading', streamName)),
  );
  // Parents before children, so records come out roughly in the order they were written.
  return shards.sort((a, b) => (a.ShardId ?? '').localeCompare(b.ShardId ?? ''));
}

/**
 * Reads a whole stream from the oldest record (TRIM_HORIZON) of every shard, keeping the
 * records `select` maps to a value. Not a consumer: no checkpoints, no waiting for new
 * data; it stops at the tip of each shard, at `limit` selected records, or out of time.
 *
 * @example
 *   const { items } = await readStreamFromStart({ kinesis, streamName, limit: 100 }, (record) => record);
 */
export async function readStreamFromStart<T>(
  options: StreamReadOptions,
  select: (record: ShardRecord) => T | undefined,
): Promise<{ items: T[]; stoppedBy: ReadStop }> {
  const { kinesis, streamName, limit } = options;
  const deadline = Date.now() + (options.maxDurationMs ?? DEFAULT_MAX_DURATION_MS);
  const items: T[] = [];
  const send = <R>(call: () => Promise<R>): Promise<R> => readWithRetry(call, streamName, options.retryPolicy);

  for (const shard of await listAllShards(kinesis, streamName, options.retryPolicy)) {
    const shardId = shard.ShardId ?? '';
    let iterator = (
      await send(() =>
        kinesis.send(
          new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
        ),
      )
    ).ShardIterator;
    while (iterator) {
      if (items.length >= limit) return { items, stoppedBy: 'limit' };
      if (Date.now() > deadline) return { items, stoppedBy: 'time' };
      const currentIterator = iterator;
      const page = await send(() =>
        kinesis.send(
          new GetRecordsCommand({ ShardIterator: currentIterator, Limit: options.pageSize ?? DEFAULT_PAGE_SIZE }),
        ),
      );
      for (const record of page.Records ?? []) {
        const item = select({
          shardId,
          sequenceNumber: record.SequenceNumber ?? '',
          partitionKey: record.PartitionKey ?? '',
          data: record.Data ?? new Uint8Array(),
        });
        if (item === undefined) continue;
        items.push(item);
        if (items.length >= limit) return { items, stoppedBy: 'limit' };
      }
      // An empty page at the tip means this shard is read; a closed shard ends with no next iterator.
      const caughtUp = (page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0;
      iterator = caughtUp ? undefined : page.NextShardIterator;
    }
  }
  return { items, stoppedBy: 'end-of-stream' };
}

/**
 * Reads dead letters from every shard of the dead-letter stream, oldest first per shard.
 *
 * @example
 *   const { letters } = await readDeadLetters({ kinesis, streamName: 'ExperimentEvents-dlq', limit: 100 });
 */
export async function readDeadLetters(options: ReadDeadLettersOptions): Promise<ReadDeadLettersResult> {
  const { letterFilter } = options;
  const { items, stoppedBy } = await readStreamFromStart(options, (record): ReadDeadLetter | undefined => {
    const decoding = decodeDeadLetter(record.data);
    if (letterFilter !== undefined && !(decoding.ok && letterFilter(decoding.envelope))) return undefined;
    return { dlqShardId: record.shardId, dlqSequenceNumber: record.sequenceNumber, decoding };
  });
  return { letters: items, stoppedBy };
}
