/**
 * Replays dead letters into the main stream after a fix: the ORIGINAL bytes, under the
 * ORIGINAL partition key, so the pipeline sees exactly what the producer sent and the
 * record lands on the shard it was meant for.
 *
 * Safe to repeat: the dead-letter stream is read from TRIM_HORIZON every time, so a
 * second replay sends the same letters again, and that is harmless because the counters
 * de-duplicate events by `eventId` within the de-dup window (PROCESSOR_DEDUP_WINDOW_SECONDS)
 * and the OpenSearch index uses `_id = eventId` (a replay overwrites, never duplicates).
 * Letters still invalid after the "fix" are dead-lettered again with fresh reasons.
 * Truncated letters (see envelope.ts) and undecodable records are skipped and counted.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Logger } from '../../common/logger.js';
import type { RetryPolicy } from '../../common/retry.js';
import { originalBytes, type DeadLetterEnvelope } from './envelope.js';
import { chunkPutEntries, putRecordsDurably, type PutEntry } from './put-records.js';
import { readDeadLetters, type ReadStop } from './reader.js';

export interface ReplayOptions {
  kinesis: KinesisClient;
  dlqStreamName: string;
  /** The main stream the pipeline reads (`KINESIS_STREAM_NAME`). */
  targetStreamName: string;
  /** At most this many dead letters are read (and replayed). */
  limit: number;
  /** Count what would be replayed without writing anything. */
  dryRun: boolean;
  /** Replays only letters this returns true for (e.g. one rejection rule). */
  letterFilter?: (envelope: DeadLetterEnvelope) => boolean;
  maxDurationMs?: number;
  retryPolicy?: RetryPolicy;
  logger?: Logger;
  /** Called once the total is known (`done` = 0) and after every PutRecords call. */
  onProgress?: (done: number, total: number) => void;
}

/** What a replay did. */
export interface ReplaySummary {
  /** Dead letters read (after the filter). */
  read: number;
  /** Letters written to the main stream (or that would be, in a dry run). */
  replayed: number;
  skippedTruncated: number;
  skippedUndecodable: number;
  dryRun: boolean;
  stoppedBy: ReadStop;
}

/** The PutRecords entry that puts a letter back as the producer's record. */
export function replayEntry(envelope: DeadLetterEnvelope): PutEntry {
  return {
    data: originalBytes(envelope),
    partitionKey: envelope.partitionKey.length > 0 ? envelope.partitionKey : envelope.shardId,
  };
}

/**
 * Reads up to `limit` dead letters and re-sends their original bytes to the main stream.
 *
 * @example
 *   const summary = await replayDeadLetters({ kinesis, dlqStreamName, targetStreamName, limit: 1000, dryRun: false });
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplaySummary> {
  const { letters, stoppedBy } = await readDeadLetters({
    kinesis: options.kinesis,
    streamName: options.dlqStreamName,
    limit: options.limit,
    letterFilter: options.letterFilter,
    maxDurationMs: options.maxDurationMs,
    retryPolicy: options.retryPolicy,
  });
  const decoded = letters.flatMap((letter) => (letter.decoding.ok ? [letter.decoding.envelope] : []));
  const replayable = decoded.filter((envelope) => !envelope.truncated);
  const summary: ReplaySummary = {
    read: letters.length,
    replayed: 0,
    skippedTruncated: decoded.length - replayable.length,
    skippedUndecodable: letters.length - decoded.length,
    dryRun: options.dryRun,
    stoppedBy,
  };
  options.onProgress?.(0, replayable.length);
  if (options.dryRun) {
    summary.replayed = replayable.length;
    options.onProgress?.(replayable.length, replayable.length);
    return summary;
  }
  for (const chunk of chunkPutEntries(replayable.map(replayEntry))) {
    await putRecordsDurably(options.kinesis, options.targetStreamName, chunk, {
      policy: options.retryPolicy,
      logger: options.logger,
    });
    summary.replayed += chunk.length;
    options.onProgress?.(summary.replayed, replayable.length);
  }
  return summary;
}
