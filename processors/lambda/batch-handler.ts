/**
 * The Lambda adapter's core: runs each shard batch of an invocation through the pipeline
 * and reports partial failure the way the event source mapping understands it
 * (`ReportBatchItemFailures`): the sequence number of the first record not finished. The
 * mapping then retries (or bisects) from exactly there; records before it are done and
 * never redelivered, and records from it on are replayed safely because counters are
 * exactly-once per record identity.
 */
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import type { Logger } from '../../common/logger.js';
import type { Pipeline } from '../pipeline.js';
import { toShardBatches } from './kinesis-event.js';

/** A Lambda handler for Kinesis events with partial batch responses. */
export type KinesisBatchHandler = (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;

/**
 * Creates the handler over `pipeline`. A shard batch is all-or-nothing (the sinks
 * acknowledge whole batches), so the first unfinished record of a failed shard is its first.
 *
 * @example
 *   export const handler = createKinesisBatchHandler(pipeline, logger);
 */
export function createKinesisBatchHandler(pipeline: Pipeline, logger: Logger): KinesisBatchHandler {
  return async (event) => {
    const failures: KinesisStreamBatchResponse['batchItemFailures'] = [];
    for (const batch of toShardBatches(event)) {
      const first = batch.records[0];
      if (!first) continue;
      try {
        const outcome = await pipeline.processBatch(batch);
        logger.info(
          {
            shardId: outcome.shardId,
            records: outcome.records,
            counted: outcome.counted,
            duplicates: outcome.duplicates,
            replayed: outcome.replayed,
            deadLettered: outcome.deadLettered,
          },
          'batch committed',
        );
      } catch (error) {
        logger.warn(
          { err: error, shardId: batch.shardId, resumeAt: first.sequenceNumber },
          'batch failed; reporting its first record so the event source mapping resumes there',
        );
        failures.push({ itemIdentifier: first.sequenceNumber });
      }
    }
    return { batchItemFailures: failures };
  };
}
