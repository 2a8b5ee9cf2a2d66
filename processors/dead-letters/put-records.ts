/**
 * Durable PutRecords: writes a list of records to a Kinesis stream and resolves only
 * when every one of them is written. Used by the dead-letter sink and by `dlq replay`.
 *
 * PutRecords is not all-or-nothing: each entry can fail on its own (throttling,
 * internal failure) while the call succeeds. Only the failed entries are sent again,
 * with the backoff of common/retry.ts; attempts are bounded, after which the call
 * rejects with a retriable PipelineError so the caller does not checkpoint.
 */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from '../../common/retry.js';

/** One record to write. */
export interface PutEntry {
  data: Uint8Array;
  partitionKey: string;
}

/** PutRecords limits: 500 records and 5 MiB (data plus partition keys) per call. */
export interface PutRecordsLimits {
  maxRecords: number;
  maxBytes: number;
}

export const KINESIS_PUT_RECORDS_LIMITS: Readonly<PutRecordsLimits> = Object.freeze({
  maxRecords: 500,
  maxBytes: 5 * 1024 * 1024,
});

const entryBytes = (entry: PutEntry): number => entry.data.byteLength + Buffer.byteLength(entry.partitionKey, 'utf8');

/**
 * Cuts entries into PutRecords calls that respect both limits, keeping their order.
 * Pure. An entry larger than `maxBytes` on its own still gets a call of its own (Kinesis
 * will refuse it; callers keep records under the 1 MiB record limit).
 */
export function chunkPutEntries(
  entries: readonly PutEntry[],
  limits: PutRecordsLimits = KINESIS_PUT_RECORDS_LIMITS,
): PutEntry[][] {
  const chunks: PutEntry[][] = [];
  let current: PutEntry[] = [];
  let currentBytes = 0;
  for (const entry of entries) {
    const bytes = entryBytes(entry);
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

const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'KMSThrottlingException',
  'ThrottlingException',
]);

/**
 * Turns an SDK error of a whole Kinesis call (PutRecords, GetRecords …) into a PipelineError. Throttling, server
 * faults and network errors (no HTTP response at all) are retriable; client faults such
 * as a missing stream or denied access are not: retrying them only delays the alarm.
 */
export function classifyKinesisError(error: unknown, operation: string, streamName: string): PipelineError {
  const e = error as { name?: string; $fault?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const name = e?.name ?? 'Error';
  if (THROTTLING_ERRORS.has(name)) {
    return new PipelineError('SINK_THROTTLED', `Kinesis throttled ${operation} on ${streamName}`, { cause: error });
  }
  const noResponse = e?.$metadata?.httpStatusCode === undefined;
  const retriable = e?.$fault === 'server' || noResponse;
  return new PipelineError('SINK_FAILED', `${operation} on ${streamName} failed: ${name}`, { cause: error, retriable });
}

export interface PutRecordsDurablyOptions {
  policy?: RetryPolicy;
  limits?: PutRecordsLimits;
  logger?: Logger;
}

/**
 * Writes every entry, retrying only failed entries, and resolves when all are written.
 * Rejects with a PipelineError (`SINK_THROTTLED` or `SINK_FAILED`) when attempts run out
 * or a non-retriable error occurs; entries may then be partly written, which is safe
 * because every reader of these streams tolerates duplicates.
 *
 * @example
 *   await putRecordsDurably(kinesis, 'ExperimentEvents-dlq', [{ data, partitionKey: 'user-1' }]);
 */
export async function putRecordsDurably(
  kinesis: KinesisClient,
  streamName: string,
  entries: readonly PutEntry[],
  options: PutRecordsDurablyOptions = {},
): Promise<void> {
  let pending: readonly PutEntry[] = entries;
  await withRetry(
    async () => {
      const chunks = chunkPutEntries(pending, options.limits);
      const failed: PutEntry[] = [];
      for (const [position, chunk] of chunks.entries()) {
        let output;
        try {
          output = await kinesis.send(
            new PutRecordsCommand({
              StreamName: streamName,
              Records: chunk.map((entry) => ({ Data: entry.data, PartitionKey: entry.partitionKey })),
            }),
          );
        } catch (error) {
          pending = [...failed, ...chunks.slice(position).flat()];
          throw classifyKinesisError(error, 'PutRecords', streamName);
        }
        const results = output.Records ?? [];
        chunk.forEach((entry, index) => {
          if (results[index]?.ErrorCode !== undefined || results[index]?.SequenceNumber === undefined) {
            failed.push(entry);
          }
        });
      }
      pending = failed;
      if (failed.length > 0) {
        throw new PipelineError(
          'SINK_THROTTLED',
          `${failed.length} of ${entries.length} records to ${streamName} were not written`,
        );
      }
    },
    {
      policy: options.policy ?? DEFAULT_RETRY_POLICY,
      onRetry: (error, attempt, delayMs) =>
        options.logger?.warn(
          { err: error, attempt, delayMs, pending: pending.length, streamName },
          'retrying records PutRecords did not write',
        ),
    },
  );
}
