/**
 * Durable PutRecords: writes a list of records to a Kinesis stream and resolves only
 * when every one of them is written. Used by the dead-letter sink and by `dlq replay`.
 *
 * The calls, their limits and the retry of only the failed entries are common/kinesis's; here
 * the outcome becomes the processors' error: when attempts run out the call rejects with a
 * retriable PipelineError so the caller does not checkpoint, and a call Kinesis refuses for
 * good (a missing stream, denied access) rejects at once, not retriable.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { PipelineError } from '../../common/errors.js';
import { classifyKinesisError } from '../../common/kinesis/errors.js';
import {
  chunkPutEntries,
  putRecordsRetryingFailed,
  type PutEntry,
  type PutRecordsLimits,
} from '../../common/kinesis/put-records.js';
import type { Logger } from '../../common/logger.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../../common/retry.js';

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
  kinesis: Pick<KinesisClient, 'send'>,
  streamName: string,
  entries: readonly PutEntry[],
  options: PutRecordsDurablyOptions = {},
): Promise<void> {
  for (const chunk of chunkPutEntries(entries, options.limits)) {
    const { unwritten, fatal, lastCallError } = await putRecordsRetryingFailed(chunk, {
      kinesis,
      streamName,
      policy: options.policy ?? DEFAULT_RETRY_POLICY,
      toEntry: (entry) => ({ Data: entry.data, PartitionKey: entry.partitionKey }),
      onRetry: (pending, attempt, delayMs, errorCode) =>
        options.logger?.warn(
          { errorCode, attempt, delayMs, pending, streamName },
          'retrying records PutRecords did not write',
        ),
    });
    if (fatal !== undefined) throw classifyKinesisError(fatal, 'PutRecords', streamName);
    if (unwritten.length === 0) continue;
    // The last call failed as a whole: report its error; else entries were refused one by one.
    if (lastCallError !== undefined) throw classifyKinesisError(lastCallError, 'PutRecords', streamName);
    throw new PipelineError(
      'SINK_THROTTLED',
      `${unwritten.length} of ${entries.length} records to ${streamName} were not written`,
    );
  }
}
