/**
 * Reads the dead-letter stream from the oldest record (TRIM_HORIZON) of every shard,
 * decoding envelopes, for `dlq list` and `dlq replay`. Bounded: it stops at `limit`
 * matching letters, at the end of the data, or when `maxDurationMs` runs out, and says
 * which one happened.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { withRetry, type RetryPolicy } from '../../common/retry.js';
import { decodeDeadLetter, type DeadLetterEnvelope, type EnvelopeDecoding } from './envelope.js';
import { classifyKinesisError } from './put-records.js';

/** One record read from the dead-letter stream. */
export interface ReadDeadLetter {
  /** Position on the dead-letter stream (not the source stream: that is in the envelope). */
  dlqShardId: string;
  dlqSequenceNumber: string;
  decoding: EnvelopeDecoding;
}

export interface ReadDeadLettersOptions {
  kinesis: KinesisClient;
  streamName: string;
  /** Stop after this many matching letters. */
  limit: number;
  /** Keeps only letters this returns true for; undecodable records are kept unless `letterFilter` is set. */
  letterFilter?: (envelope: DeadLetterEnvelope) => boolean;
  /** Wall-clock bound of the whole read. */
  maxDurationMs?: number;
  /** GetRecords page size (at most 10,000). */
  pageSize?: number;
  retryPolicy?: RetryPolicy;
}

export interface ReadDeadLettersResult {
  letters: ReadDeadLetter[];
  /** Why reading stopped: every shard read to its end, `limit` reached, or out of time. */
  stoppedBy: 'end-of-stream' | 'limit' | 'time';
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
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const token = nextToken;
    const page = await readWithRetry(
      () => kinesis.send(new ListShardsCommand(token ? { NextToken: token } : { StreamName: streamName })),
      streamName,
      policy,
    );
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  // Parents before children, so letters come out roughly in the order they were written.
  return shards.sort((a, b) => (a.ShardId ?? '').localeCompare(b.ShardId ?? ''));
}

/**
 * Reads dead letters from every shard of the dead-letter stream, oldest first per shard.
 *
 * @example
 *   const { letters } = await readDeadLetters({ kinesis, streamName: 'ExperimentEvents-dlq', limit: 100 });
 */
export async function readDeadLetters(options: ReadDeadLettersOptions): Promise<ReadDeadLettersResult> {
  const { kinesis, streamName, limit } = options;
  const deadline = Date.now() + (options.maxDurationMs ?? DEFAULT_MAX_DURATION_MS);
  const letters: ReadDeadLetter[] = [];
  const send = <T>(call: () => Promise<T>): Promise<T> => readWithRetry(call, streamName, options.retryPolicy);
  const keep = (decoding: EnvelopeDecoding): boolean =>
    options.letterFilter === undefined || (decoding.ok && options.letterFilter(decoding.envelope));

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
      if (letters.length >= limit) return { letters, stoppedBy: 'limit' };
      if (Date.now() > deadline) return { letters, stoppedBy: 'time' };
      const currentIterator = iterator;
      const page = await send(() =>
        kinesis.send(
          new GetRecordsCommand({ ShardIterator: currentIterator, Limit: options.pageSize ?? DEFAULT_PAGE_SIZE }),
        ),
      );
      for (const record of page.Records ?? []) {
        const decoding = decodeDeadLetter(record.Data ?? new Uint8Array());
        if (!keep(decoding)) continue;
        letters.push({ dlqShardId: shardId, dlqSequenceNumber: record.SequenceNumber ?? '', decoding });
        if (letters.length >= limit) return { letters, stoppedBy: 'limit' };
      }
      // An empty page at the tip means this shard is read; a closed shard ends with no next iterator.
      const caughtUp = (page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0;
      iterator = caughtUp ? undefined : page.NextShardIterator;
    }
  }
  return { letters, stoppedBy: 'end-of-stream' };
}
