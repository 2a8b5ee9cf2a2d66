/**
 * The one commit step of every consumer adapter (local consumer, Lambda, KCL). An adapter
 * maps its event source onto a `ShardBatch` and a `checkpoint(outcome)` function; this step
 * does the rest, the same way for all three:
 *
 *   ShardBatch ─ pipeline.processBatch ─┬─ outcome ─────────▶ checkpoint(outcome) ─▶ metrics, onBatchCommitted
 *                                       ├─ retriable ───────▶ retry with backoff (common/retry.ts, policy passed in);
 *                                       │                     attempts out: `retries-exhausted`, resume at the part's first record
 *                                       ├─ STATE_LOST ──────▶ `state-lost`: stop; no bisection, no dead letter, no checkpoint
 *                                       └─ refused for good ▶ bisect: two contiguous halves, in order, each committed and
 *                                                             checkpointed on its own; one Kinesis record left: its KPL user
 *                                                             records; one user record left: dead letter `sink-rejected`, move on
 *
 * Every error is classified once (classify-error.ts). A checkpoint is written only after the
 * part's outcome, and only where a Kinesis record ends: a checkpoint names a whole Kinesis
 * record, so a part ending inside a KPL aggregate is checkpointed by the part that finishes
 * the aggregate. Re-cutting a batch into contiguous parts is safe for the exactly-once
 * counters (processors/counters/README.md, "What it assumes").
 *
 * Metrics recorded here and only here: `processor_batch_failures_total`,
 * `processor_checkpoints_total`, `processor_event_freshness_seconds`, `processor_state_lost`,
 * and the outcome metrics of isolated records (`processor_dead_letters_total{reason="sink-rejected"}`).
 *
 * @example
 *   const commitStep = createCommitStep({ pipeline, logger, retry: DEFAULT_RETRY_POLICY });
 *   const result = await commitStep.commit({ shardId, records }, (outcome) =>
 *     checkpoints.save(shardId, outcome.lastSequenceNumber),
 *   );
 *   if (result.status === 'state-lost') stopReadingTheShard();
 *   else if (result.status === 'retries-exhausted') restartFrom(result.resumeAt);
 */
import { PipelineError, isPipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { withRetry, type RetryPolicy } from '../../common/retry.js';
import { observeStage, type ProcessorMetrics } from '../metrics.js';
import type { BatchOutcome, Pipeline } from '../pipeline.js';
import { recordOutcome } from '../pipeline/record-outcome-metrics.js';
import type { DeadLetter, DeadLetterSink, KinesisRecord, ShardBatch } from '../types.js';
import { classifyCommitError, describeError, type CommitErrorClass } from './classify-error.js';
import { deadLetteredOutcome, sinkRejectedLetter, splitInHalves, userRecordsOf } from './isolate-record.js';

/** What a checkpoint write did: `stale` means another worker owns the shard now (stop). */
export type CheckpointWrite = 'ok' | 'stale';

/** The adapter's checkpoint: moves the shard's position to `outcome.lastSequenceNumber`. */
export type CommitCheckpoint = (outcome: BatchOutcome) => Promise<CheckpointWrite>;

/** What the commit step needs. */
export interface CommitStepDeps {
  pipeline: Pipeline;
  logger: Logger;
  /** Backoff of retriable failures (of the pipeline and of a dead-letter write). */
  retry: RetryPolicy;
  /** Where commit metrics go; the pipeline's own metrics by default. */
  metrics?: ProcessorMetrics;
  /** When aborted, no new attempt starts: the batch ends `stopped` (after the part in hand). */
  signal?: AbortSignal;
  /** Called after each part is committed (and checkpointed where it may be), with the commit time. */
  onBatchCommitted?: (outcome: BatchOutcome, committedAt: number) => void;
}

/**
 * How a batch ended. `committed`: every record has an outcome and the last checkpoint was
 * written. Otherwise the records from `resumeAt` on are not committed (those before are):
 * `retries-exhausted` (a retriable error outlived the policy, or a checkpoint write failed),
 * `state-lost` (STATE_LOST: stop the shard, do not checkpoint anything more), `lease-lost`
 * (the checkpoint was stale), `stopped` (the signal aborted).
 */
export type CommitStatus = 'committed' | 'retries-exhausted' | 'state-lost' | 'lease-lost' | 'stopped';

/** The result of {@link CommitStep.commit}. */
export interface CommitResult {
  status: CommitStatus;
  /** First record not committed (undefined when committed). */
  resumeAt?: KinesisRecord;
  /** The error that ended the batch early. */
  error?: unknown;
  /** Sums over the committed parts. */
  committed: Pick<BatchOutcome, 'records' | 'userRecords' | 'counted' | 'duplicates' | 'replayed' | 'deadLettered'>;
  /** Parts cut to isolate records refused for good. */
  bisections: number;
  /** User records dead-lettered as `sink-rejected`. */
  isolated: number;
}

/** Runs shard batches through the pipeline, exactly as described in the module comment. */
export interface CommitStep {
  commit(batch: ShardBatch, checkpoint: CommitCheckpoint): Promise<CommitResult>;
}

type PartEnd =
  { status: 'done' } | { status: Exclude<CommitStatus, 'committed'>; resumeAt: KinesisRecord; error?: unknown };
const DONE: PartEnd = { status: 'done' };

async function sendLetters(sink: DeadLetterSink, letters: readonly DeadLetter[], metrics: ProcessorMetrics) {
  const stop = metrics.sinkLatency.startTimer({ sink: 'dead_letters' });
  try {
    await sink.send(letters);
  } catch (error) {
    if (isPipelineError(error)) throw error;
    throw new PipelineError('SINK_FAILED', `dead_letters sink failed: ${describeError(error)}`, { cause: error });
  } finally {
    stop();
  }
}

/**
 * Creates the commit step. Nothing runs until `commit`.
 */
export function createCommitStep(deps: CommitStepDeps): CommitStep {
  const { pipeline, signal } = deps;
  const metrics = deps.metrics ?? pipeline.metrics;

  return {
    async commit(batch, checkpoint) {
      const { shardId } = batch;
      const logger = deps.logger.child({ shardId });
      const result: CommitResult = {
        status: 'committed',
        committed: { records: 0, userRecords: 0, counted: 0, duplicates: 0, replayed: 0, deadLettered: 0 },
        bisections: 0,
        isolated: 0,
      };

      const attempt = <T>(work: () => Promise<T>, what: string) =>
        withRetry(
          async () => {
            if (signal?.aborted) throw new PipelineError('SHUTTING_DOWN', 'stopping before the batch was committed');
            try {
              return await work();
            } catch (error) {
              metrics.batchFailures.inc({ shard: shardId });
              throw error;
            }
          },
          {
            policy: deps.retry,
            shouldRetry: (error) => !signal?.aborted && classifyCommitError(error) === 'retry',
            onRetry: (error, attemptNo, delayMs) =>
              logger.warn({ err: error, attempt: attemptNo, delayMs }, `${what} failed; retrying the same records`),
          },
        );

      const ended = (kind: CommitErrorClass, error: unknown, resumeAt: KinesisRecord): PartEnd => {
        if (kind === 'state-lost') {
          metrics.stateLost.set(1);
          return { status: 'state-lost', resumeAt, error };
        }
        if (kind === 'stopping' || signal?.aborted) return { status: 'stopped', resumeAt, error };
        return { status: 'retries-exhausted', resumeAt, error };
      };

      /** Checkpoints (where a Kinesis record ends) and records the commit of a part. */
      const finish = async (
        outcome: BatchOutcome,
        records: readonly KinesisRecord[],
        followedBy: string | undefined,
      ): Promise<PartEnd> => {
        if (followedBy !== records.at(-1)!.sequenceNumber) {
          let write: CheckpointWrite;
          const checkpointStart = performance.now();
          try {
            write = await checkpoint(outcome);
            observeStage(metrics, 'checkpoint', (performance.now() - checkpointStart) / 1000);
          } catch (error) {
            logger.warn({ err: error, sequenceNumber: outcome.lastSequenceNumber }, 'checkpoint failed');
            return { status: 'retries-exhausted', resumeAt: records[0]!, error };
          }
          metrics.checkpoints.inc({ result: write });
          if (write === 'stale') return { status: 'lease-lost', resumeAt: records[0]! };
        }
        const committedAt = Date.now();
        const arrival = records[0]!.approximateArrivalTimestamp;
        const firstReceived = outcome.receivedAt[0];
        if (arrival !== undefined && firstReceived !== undefined)
          observeStage(metrics, 'collector_to_stream', (arrival - firstReceived) / 1000);
        for (const receivedAt of outcome.receivedAt) metrics.freshness.observe((committedAt - receivedAt) / 1000);
        for (const key of Object.keys(result.committed) as (keyof CommitResult['committed'])[])
          result.committed[key] += outcome[key];
        deps.onBatchCommitted?.(outcome, committedAt);
        return DONE;
      };

      /** Runs a contiguous part; `followedBy` is the sequence number of the record after it in the batch. */
      const part = async (records: readonly KinesisRecord[], followedBy: string | undefined): Promise<PartEnd> => {
        let outcome: BatchOutcome;
        try {
          outcome = await attempt(() => pipeline.processBatch({ shardId, records }), 'batch');
        } catch (error) {
          const kind = classifyCommitError(error);
          return kind === 'isolate' ? isolate(records, followedBy, error) : ended(kind, error, records[0]!);
        }
        return finish(outcome, records, followedBy);
      };

      /** A part refused for good: bisect it, or dead-letter its one user record. */
      const isolate = async (
        records: readonly KinesisRecord[],
        followedBy: string | undefined,
        error: unknown,
      ): Promise<PartEnd> => {
        const userRecords = records.length === 1 ? userRecordsOf(records[0]!, shardId) : undefined;
        if (records.length > 1 || userRecords) {
          const [first, second] = splitInHalves(userRecords ?? records);
          result.bisections += 1;
          logger.warn(
            { err: error, records: records.length, userRecords: userRecords?.length },
            'part refused for good; bisecting to isolate the record',
          );
          const head = await part(first, second[0]!.sequenceNumber);
          return head.status === 'done' ? part(second, followedBy) : head;
        }
        const record = records[0]!;
        const startedAt = performance.now();
        const letter = sinkRejectedLetter(shardId, record, error);
        try {
          await attempt(() => sendLetters(pipeline.deadLetters, [letter], metrics), 'dead-letter write');
        } catch (sendError) {
          const kind = classifyCommitError(sendError);
          return ended(kind === 'isolate' ? 'retry' : kind, sendError, record);
        }
        logger.warn(
          {
            err: error,
            sequenceNumber: record.sequenceNumber,
            subSequenceNumber: record.subSequenceNumber ?? 0,
            takenBy: letter.takenBy ?? [],
          },
          'record refused for good by a sink: dead-lettered (sink-rejected), moving on',
        );
        const outcome = deadLetteredOutcome(shardId, record, performance.now() - startedAt);
        recordOutcome(metrics, outcome);
        result.isolated += 1;
        return finish(outcome, records, followedBy);
      };

      if (batch.records.length === 0) return result;
      const end = await part(batch.records, undefined);
      if (end.status === 'done') return result;
      if (end.status === 'state-lost') {
        logger.error(
          { err: end.error, code: 'STATE_LOST', resumeAt: end.resumeAt.sequenceNumber },
          'exactly-once state was lost: not committing or checkpointing this shard any further',
        );
      }
      return {
        ...result,
        status: end.status,
        resumeAt: end.resumeAt,
        ...(end.error === undefined ? {} : { error: end.error }),
      };
    },
  };
}
