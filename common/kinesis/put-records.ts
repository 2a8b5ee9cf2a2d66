/**
 * PutRecords for every writer (the collector's batcher, the dead-letter sink, `dlq replay`):
 * the call's limits, cutting a list into calls, and the one retry core.
 *
 * PutRecords is not all-or-nothing: each entry can fail on its own (throttling, an internal
 * failure) while the call succeeds. `putRecordsRetryingFailed` sends again only the entries that
 * failed, with the full-jitter backoff of common/retry.ts, for at most `policy.maxAttempts`
 * calls; a whole call that fails retriably (common/kinesis/errors.ts) counts as every entry
 * failing; one that fails for good ends the attempts at once. What is still unwritten is
 * returned, never dropped: the caller decides (a 503 per entry, a retriable batch error).
 */
import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { backoffDelayMs, sleep, type RetryPolicy } from '../retry.js';
import { isKinesisThrottle, isRetriableKinesisError } from './errors.js';

/** PutRecords limits: 500 records and 5 MiB (data plus partition keys) per call. */
export interface PutRecordsLimits {
  maxRecords: number;
  maxBytes: number;
}

export const PUT_RECORDS_LIMITS: Readonly<PutRecordsLimits> = Object.freeze({
  maxRecords: 500,
  maxBytes: 5 * 1024 * 1024,
});

/** One record to write. */
export interface PutEntry {
  data: Uint8Array;
  partitionKey: string;
}

/** What an entry counts against the call's byte limit: its data and its partition key. */
export const putEntryBytes = (entry: PutEntry): number =>
  entry.data.byteLength + Buffer.byteLength(entry.partitionKey, 'utf8');

/**
 * Cuts entries into PutRecords calls that respect both limits, keeping their order.
 * Pure. An entry larger than `maxBytes` on its own still gets a call of its own (Kinesis
 * will refuse it; callers keep records under the 1 MiB record limit).
 *
 * @example chunkPutEntries(entries).length // → 3 for 1,200 small entries
 */
export function chunkPutEntries<E extends PutEntry>(
  entries: readonly E[],
  limits: PutRecordsLimits = PUT_RECORDS_LIMITS,
): E[][] {
  const chunks: E[][] = [];
  let current: E[] = [];
  let currentBytes = 0;
  for (const entry of entries) {
    const bytes = putEntryBytes(entry);
    if (current.length > 0 && (current.length >= limits.maxRecords || currentBytes + bytes > limits.maxBytes)) {
      chunks.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(entry);
    currentBytes += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** An entry still unwritten after the attempts, with the last error Kinesis gave for it. */
export interface UnwrittenRecord<R> {
  record: R;
  errorCode: string;
  message: string;
}

export interface PutRecordsRetryOptions<R> {
  kinesis: Pick<KinesisClient, 'send'>;
  streamName: string;
  policy: RetryPolicy;
  /** The request entry of a record (called once per attempt that sends it). */
  toEntry: (record: R) => PutRecordsRequestEntry;
  /** Called as soon as a record is written. */
  onWritten?: (record: R, shardId: string, sequenceNumber: string) => void;
  /** After every call: its duration, records sent, records that failed, and how many of those were throttled. */
  onCall?: (durationMs: number, records: number, failed: number, throttled: number) => void;
  /** Before waiting to send `pending` records again. */
  onRetry?: (pending: number, attempt: number, delayMs: number, lastErrorCode: string) => void;
}

export interface PutRecordsRetryResult<R> {
  /** Records not written when the attempts ended (empty when every record was written). */
  unwritten: UnwrittenRecord<R>[];
  /** The error of a call that failed for good (not retriable), which ended the attempts at once. */
  fatal?: unknown;
  /** The error of the last call when it failed as a whole (retriably) rather than entry by entry. */
  lastCallError?: unknown;
  /** Calls made. */
  attempts: number;
}

/**
 * Writes `records` (at most one call's worth: see `chunkPutEntries`), sending only the failed
 * ones again, and resolves with what is still unwritten. Never rejects for a Kinesis error.
 *
 * @example
 *   const { unwritten, fatal } = await putRecordsRetryingFailed(entries, {
 *     kinesis, streamName, policy: DEFAULT_RETRY_POLICY,
 *     toEntry: (e) => ({ Data: e.data, PartitionKey: e.partitionKey }),
 *   });
 */
export async function putRecordsRetryingFailed<R>(
  records: readonly R[],
  options: PutRecordsRetryOptions<R>,
): Promise<PutRecordsRetryResult<R>> {
  const { kinesis, streamName, policy } = options;
  let remaining: readonly R[] = records;
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    let failed: UnwrittenRecord<R>[] = [];
    let callError: unknown;
    try {
      const out = await kinesis.send(
        new PutRecordsCommand({ StreamName: streamName, Records: remaining.map(options.toEntry) }),
      );
      const results = out.Records ?? [];
      remaining.forEach((record, i) => {
        const result = results[i];
        if (result?.SequenceNumber && result.ShardId && !result.ErrorCode) {
          options.onWritten?.(record, result.ShardId, result.SequenceNumber);
        } else {
          failed.push({
            record,
            errorCode: result?.ErrorCode ?? 'MissingResult',
            message: result?.ErrorMessage ?? 'no result for record',
          });
        }
      });
    } catch (error) {
      const err = error as Error;
      const errorCode = err.name || 'PutRecordsFailed';
      failed = remaining.map((record) => ({ record, errorCode, message: err.message }));
      callError = error;
      if (!isRetriableKinesisError(error)) {
        options.onCall?.(performance.now() - started, remaining.length, remaining.length, 0);
        return { unwritten: failed, fatal: error, attempts: attempt };
      }
    }
    const throttled = failed.reduce((count, f) => count + (isKinesisThrottle(f.errorCode) ? 1 : 0), 0);
    options.onCall?.(performance.now() - started, remaining.length, failed.length, throttled);
    if (failed.length === 0 || attempt >= policy.maxAttempts) {
      return callError === undefined
        ? { unwritten: failed, attempts: attempt }
        : { unwritten: failed, attempts: attempt, lastCallError: callError };
    }
    remaining = failed.map((f) => f.record);
    const delayMs = backoffDelayMs(policy, attempt);
    options.onRetry?.(remaining.length, attempt, delayMs, failed[0]?.errorCode ?? '');
    await sleep(delayMs);
  }
}
