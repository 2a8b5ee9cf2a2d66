/**
 * The one processing pipeline every adapter (local consumer, Lambda, KCL) runs:
 *
 *   ShardBatch ─ decode (de-aggregate, JSON, validate) ─┬─ counters (exactly-once)     ─┐
 *                                                      └─ index → dead letters (+index rejections) ─┴─ BatchOutcome
 *
 * It moves whole batches (arrays), never one emission per event. An outcome is emitted only
 * after every sink acknowledged; a sink failure errors with a retriable `PipelineError` and
 * the adapter must not checkpoint.
 *
 * @example
 *   const pipeline = createPipeline({ counters, deadLetters, logger, metrics, limits: config.events });
 *   const outcome = await pipeline.processBatch({ shardId, records });
 *   // or, as an operator: batches$.pipe(pipeline.operator)
 */
import { firstValueFrom, of, type OperatorFunction } from 'rxjs';
import type { Logger } from '../common/logger.js';
import type { DecodeLimits } from './decode/decode-user-record.js';
import type { ProcessorMetrics } from './metrics.js';
import type { BatchOutcome } from './pipeline/batch-outcome.js';
import { decodeBatches } from './pipeline/decode-batches.js';
import { deliverToSinks, type PipelineSinks } from './pipeline/deliver-to-sinks.js';
import { recordOutcomeMetrics } from './pipeline/record-outcome-metrics.js';
import { logOutcomes } from './pipeline/log-outcomes.js';
import type { DeadLetterSink, ShardBatch } from './types.js';

export type { BatchOutcome } from './pipeline/batch-outcome.js';

/** What the pipeline needs: its sinks, a logger, metrics, and the decode limits. */
export interface PipelineDeps extends PipelineSinks {
  logger: Logger;
  metrics: ProcessorMetrics;
  limits: DecodeLimits;
}

/** The pipeline, as an RxJS operator and as a promise per batch. */
export interface Pipeline {
  /** Batches in, outcomes out, in order. Errors (sink failures) end the stream: the caller retries. */
  readonly operator: OperatorFunction<ShardBatch, BatchOutcome>;
  /** Runs one batch through {@link Pipeline.operator}; resolves when every sink acknowledged. */
  processBatch(batch: ShardBatch): Promise<BatchOutcome>;
  /** The dead-letter sink, for records the commit step isolates (processors/commit). */
  readonly deadLetters: DeadLetterSink;
  /** The metrics the pipeline records into; the commit step records into the same. */
  readonly metrics: ProcessorMetrics;
}

/** Wires decode, sinks and metrics into one pipeline. Nothing connects or starts here. */
export function createPipeline(deps: PipelineDeps): Pipeline {
  const logger = deps.logger.child({ component: 'pipeline' });
  const operator: OperatorFunction<ShardBatch, BatchOutcome> = (batches) =>
    batches.pipe(
      decodeBatches(deps.limits, deps.metrics),
      deliverToSinks(deps, deps.metrics),
      recordOutcomeMetrics(deps.metrics),
      logOutcomes(logger),
    );
  return {
    operator,
    processBatch: (batch) => firstValueFrom(of(batch).pipe(operator)),
    deadLetters: deps.deadLetters,
    metrics: deps.metrics,
  };
}
