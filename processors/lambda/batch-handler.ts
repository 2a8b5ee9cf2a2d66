/**
 * The Lambda adapter's core: maps each shard batch of an invocation onto the one commit
 * step (processors/commit) and reports partial failure the way the event source mapping
 * understands it (`ReportBatchItemFailures`): the sequence number of the first record not
 * committed. The mapping checkpoints before it and retries (or, with
 * BisectBatchOnFunctionError, splits the batch) from exactly there; records from it on are
 * replayed safely because counters are exactly-once per record identity.
 *
 * - A record a sink refuses for good is isolated and dead-lettered inside the invocation,
 *   so the mapping never gives up on good records because of it.
 * - A retriable failure is retried here (`batchRetry`), then reported at the first record
 *   of the first unfinished part — never at the batch's first record when earlier parts
 *   were committed.
 * - STATE_LOST fails the whole invocation (throws): nothing may advance.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import type { Logger } from '../../common/logger.js';
import type { RetryPolicy } from '../../common/retry.js';
import { createCommitStep } from '../commit/commit-step.js';
import type { Pipeline } from '../pipeline.js';
import { toShardBatches } from './kinesis-event.js';

/** A Lambda handler for Kinesis events with partial batch responses. */
export type KinesisBatchHandler = (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;

/** Tuning of the handler. */
export interface KinesisBatchHandlerOptions {
  /**
   * Retries of a retriable failure inside the invocation before it is reported (the event
   * source mapping retries too). Default: 3 attempts, 50 ms base, 1 s cap.
   */
  batchRetry?: RetryPolicy;
}

/** Default in-invocation retries: short, because the event source mapping retries as well. */
export const DEFAULT_LAMBDA_BATCH_RETRY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 3,
  baseDelayMs: 50,
  maxDelayMs: 1_000,
});

/**
 * Creates the handler over `pipeline`.
 *
 * @example
 *   export const handler = createKinesisBatchHandler(pipeline, logger);
 *   // → { batchItemFailures: [] } or [{ itemIdentifier: '<first sequence number not committed>' }]
 */
export function createKinesisBatchHandler(
  pipeline: Pipeline,
  logger: Logger,
  options: KinesisBatchHandlerOptions = {},
): KinesisBatchHandler {
  const commitStep = createCommitStep({ pipeline, logger, retry: options.batchRetry ?? DEFAULT_LAMBDA_BATCH_RETRY });
  // The event source mapping checkpoints from the response: nothing to write here.
  const checkpoint = () => Promise.resolve('ok' as const);
  return async (event) => {
    const failures: KinesisStreamBatchResponse['batchItemFailures'] = [];
    for (const batch of toShardBatches(event)) {
      const result = await commitStep.commit(batch, checkpoint);
      const summary = { shardId: batch.shardId, ...result.committed, isolated: result.isolated };
      if (result.status === 'committed') {
        logger.info(summary, 'batch committed');
        continue;
      }
      if (result.status === 'state-lost') {
        logger.error(
          { ...summary, err: result.error, code: 'STATE_LOST' },
          'exactly-once state was lost: failing the invocation so nothing advances (see the runbook in processors/README.md)',
        );
        throw result.error;
      }
      const resumeAt = result.resumeAt?.sequenceNumber ?? batch.records[0]?.sequenceNumber;
      if (!resumeAt) continue;
      logger.warn(
        { ...summary, err: result.error, status: result.status, resumeAt },
        'batch not fully committed; reporting the first unfinished record so the event source mapping resumes there',
      );
      failures.push({ itemIdentifier: resumeAt });
    }
    return { batchItemFailures: failures };
  };
}
