/**
 * The KCL record processor (adapter 3), on `aws-kcl`'s MultiLang interface. The Java
 * daemon owns leases and de-aggregation; this processor maps each batch onto the one commit
 * step (processors/commit), which checkpoints only after the pipeline's outcome (every sink
 * acknowledged) and isolates records a sink refuses for good (bisection, dead letter).
 *
 * The KCL does not redeliver a batch whose `processRecords` completed, so a retriable
 * failure is retried by the commit step; when retries run out, or when the state store lost
 * state (STATE_LOST: nothing is checkpointed), the process gives up (`onFatal`), the daemon
 * loses the processor, and the lease is picked up again from the last checkpoint.
 */
import type { KclCheckpointer, KclRecord, RecordProcessor } from 'aws-kcl';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from '../../common/retry.js';
import { createCommitStep } from '../commit/commit-step.js';
import type { Pipeline } from '../pipeline.js';
import type { KinesisRecord } from '../types.js';

/** Checkpoint errors the daemon reports that are worth retrying (KCL exception names). */
const RETRIABLE_CHECKPOINT_ERRORS = new Set(['ThrottlingException', 'KinesisClientLibDependencyException']);
/** The lease is gone: another worker owns the shard now, so this one must not checkpoint. */
const LEASE_GONE_ERRORS = new Set(['ShutdownException']);

/** What the record processor needs. */
export interface KclRecordProcessorDeps {
  pipeline: Pipeline;
  logger: Logger;
  /** Retries of a batch whose sinks failed. */
  batchRetry?: RetryPolicy;
  /** Retries of a throttled checkpoint. */
  checkpointRetry?: RetryPolicy;
  /** Called when the processor cannot go on; the process should exit non-zero. */
  onFatal: (error: unknown) => void;
}

function toRawRecord(record: KclRecord): KinesisRecord {
  return {
    sequenceNumber: record.sequenceNumber,
    partitionKey: record.partitionKey,
    data: Buffer.from(record.data, 'base64'),
    subSequenceNumber: record.subSequenceNumber ?? 0,
    ...(record.approximateArrivalTimestamp ? { approximateArrivalTimestamp: record.approximateArrivalTimestamp } : {}),
  };
}

function checkpointOnce(checkpointer: KclCheckpointer, sequenceNumber: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    checkpointer.checkpoint(sequenceNumber, (error) => {
      if (!error) return resolve();
      const retriable = RETRIABLE_CHECKPOINT_ERRORS.has(error);
      reject(new PipelineError('CHECKPOINT_FAILED', `KCL checkpoint failed: ${error}`, { retriable, details: error }));
    });
  });
}

/**
 * Creates the record processor. Pass it to `aws-kcl` (`kcl(processor).run()`).
 *
 * @example
 *   kcl(createKclRecordProcessor({ pipeline, logger, onFatal: () => process.exit(1) })).run();
 */
export function createKclRecordProcessor(deps: KclRecordProcessorDeps): RecordProcessor {
  let shardId = 'unknown';
  let logger = deps.logger;
  let lastProcessed: string | undefined;
  let leaseLost = false;
  const commitStep = createCommitStep({
    pipeline: deps.pipeline,
    logger: deps.logger,
    retry: deps.batchRetry ?? DEFAULT_RETRY_POLICY,
  });

  /** Checkpoints with backoff on throttling; returns false when the lease is gone. */
  const checkpoint = async (checkpointer: KclCheckpointer, sequenceNumber: string | null): Promise<boolean> => {
    try {
      await withRetry(() => checkpointOnce(checkpointer, sequenceNumber), {
        policy: deps.checkpointRetry ?? DEFAULT_RETRY_POLICY,
        onRetry: (error, attempt, delayMs) => logger.warn({ err: error, attempt, delayMs }, 'checkpoint retry'),
      });
      return true;
    } catch (error) {
      if (error instanceof PipelineError && LEASE_GONE_ERRORS.has(String(error.details))) {
        leaseLost = true;
        logger.warn({ sequenceNumber }, 'lease lost while checkpointing; another worker continues from its checkpoint');
        return false;
      }
      throw error;
    }
  };

  const failFatally = (error: unknown, what: string) => {
    logger.error({ err: error }, `${what}; giving up the shard so it restarts from its last checkpoint`);
    deps.onFatal(error);
  };

  return {
    initialize(input, done) {
      shardId = input.shardId;
      logger = deps.logger.child({ shardId });
      logger.info({ from: input.sequenceNumber }, 'KCL initialized the record processor');
      done();
    },

    processRecords(input, done) {
      const records = input.records.map(toRawRecord);
      if (records.length === 0 || leaseLost) return done();
      commitStep
        .commit({ shardId, records }, async (outcome) => {
          if (!outcome.lastSequenceNumber) return 'ok';
          const written = await checkpoint(input.checkpointer, outcome.lastSequenceNumber);
          if (!written) return 'stale';
          lastProcessed = outcome.lastSequenceNumber;
          return 'ok';
        })
        .then((result) => {
          if (result.status === 'committed' || result.status === 'lease-lost') return done();
          const what =
            result.status === 'state-lost'
              ? 'exactly-once state was lost (STATE_LOST): not checkpointing'
              : 'batch could not be committed or checkpointed';
          failFatally(result.error ?? new Error(result.status), what);
        })
        .catch((error: unknown) => failFatally(error, 'batch could not be committed or checkpointed'));
    },

    leaseLost(_input, done) {
      leaseLost = true;
      logger.info('lease lost; not checkpointing');
      done();
    },

    shardEnded(input, done) {
      // SHARD_END must be checkpointed (null) for the daemon to start the children.
      checkpoint(input.checkpointer, null)
        .then(() => {
          logger.info('shard ended and checkpointed at SHARD_END');
          done();
        })
        .catch((error: unknown) => failFatally(error, 'SHARD_END checkpoint failed'));
    },

    shutdownRequested(input, done) {
      const pending =
        lastProcessed && !leaseLost ? checkpoint(input.checkpointer, lastProcessed) : Promise.resolve(true);
      pending.then(() => done()).catch((error: unknown) => failFatally(error, 'checkpoint on shutdown failed'));
    },
  };
}
