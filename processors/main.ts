/**
 * The processors' entry point: `startProcessors(config, deps?)` runs the local consumer
 * in-process (for `npm start` and the bench), and `tsx processors/main.ts` runs it as its
 * own process, stopping cleanly on SIGTERM/SIGINT (the batch in hand is finished and
 * checkpointed first).
 */
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { loadConfig, type ProcessorsConfig } from '../common/config.js';
import { runMain, stopOnSignals } from '../common/lifecycle.js';
import { createLogger, type Logger } from '../common/logger.js';
import { startMetricsServer } from './metrics-server.js';
import {
  fitBudgetToHeap,
  HEAP_BYTES_PER_USER_RECORD,
  HEAP_RESERVE_BYTES,
  type BatchBounds,
} from './consumer/batch-budget.js';
import { createCheckpointStore } from './consumer/checkpoint-store.js';
import { createLocalConsumer, type LocalConsumerOptions } from './consumer/local-consumer.js';
import { readinessOf, type ProcessorMetrics } from './metrics.js';
import type { BatchOutcome } from './pipeline.js';
import { createPipelineFromConfig, type PipelineOverrides } from './pipeline-from-config.js';

/** Optional dependencies of {@link startProcessors}. */
export interface StartProcessorsDeps extends PipelineOverrides {
  /** Consumer tuning beyond the config (tests shorten poll and refresh intervals). */
  consumerOptions?: Partial<LocalConsumerOptions>;
  /** Called after each batch is checkpointed with the commit time (epoch ms): freshness for the bench. */
  onBatchCommitted?: (outcome: BatchOutcome, committedAt: number) => void;
  /** The V8 heap limit the batch budget is fitted to; default this process's (`v8.getHeapStatistics`). */
  heapLimitBytes?: number;
}

/**
 * The configured batch budget, lowered to what the heap holds (`fitBudgetToHeap`); says which it is, and
 * what to change when it had to be lowered.
 */
function batchBudgetForHeap(config: ProcessorsConfig, heapLimitBytes: number, logger: Logger): BatchBounds {
  const { batchMaxRecords, batchBudgetBytes, batchBudgetUserRecords } = config.processors;
  const budget = fitBudgetToHeap(
    { maxRecords: batchMaxRecords, maxBytes: batchBudgetBytes, maxUserRecords: batchBudgetUserRecords },
    heapLimitBytes,
  );
  const heapLimitMiB = Math.round(heapLimitBytes / 2 ** 20);
  const fields = { userRecords: budget.maxUserRecords, bytes: budget.maxBytes, heapLimitMiB };
  if (budget.maxUserRecords < batchBudgetUserRecords) {
    logger.warn(
      { ...fields, configured: batchBudgetUserRecords, code: 'BATCH_BUDGET_LOWERED' },
      `PROCESSOR_BATCH_BUDGET_USER_RECORDS=${batchBudgetUserRecords} does not fit a ${heapLimitMiB} MiB heap ` +
        `(about ${HEAP_BYTES_PER_USER_RECORD} bytes per user record in flight beside ${HEAP_RESERVE_BYTES / 2 ** 20} MiB): ` +
        `batches hold at most ${budget.maxUserRecords} user records in all. Give Node a larger heap ` +
        '(--max-old-space-size in NODE_OPTIONS) or set a smaller budget to silence this.',
    );
  } else {
    logger.info(fields, 'batch budget: user records and record bytes in flight, divided among the shards read');
  }
  return budget;
}

/** A running processor. */
export interface RunningProcessors {
  /** Finishes the batches in hand, checkpoints, closes connections. */
  stop(): Promise<void>;
  metrics: ProcessorMetrics;
}

/**
 * Starts the local consumer with the real sinks built from `config`. The stream and the
 * tables must exist: it creates nothing (the CDK stacks do in AWS; locally `npm start`, the
 * tests and the bench call local/provision.ts first). It reads only its slice of the
 * configuration, {@link ProcessorsConfig}.
 *
 * @example
 *   const processors = await startProcessors(loadConfig(), { onBatchCommitted: (o, at) => … });
 *   await processors.stop();
 */
export async function startProcessors(
  config: ProcessorsConfig,
  deps: StartProcessorsDeps = {},
): Promise<RunningProcessors> {
  const runtime = await createPipelineFromConfig(config, deps);
  const { kinesis, dynamo, logger, metrics } = runtime;
  const budget = batchBudgetForHeap(config, deps.heapLimitBytes ?? getHeapStatistics().heap_size_limit, logger);

  const checkpoints = createCheckpointStore(dynamo, config.dynamodb.checkpointTable, () =>
    metrics.dynamodbWrites.inc({ table: 'checkpoints' }),
  );
  const consumer = createLocalConsumer({
    kinesis,
    streamName: config.kinesis.streamName,
    checkpoints,
    pipeline: runtime.pipeline,
    logger,
    metrics,
    options: {
      batchMaxRecords: config.processors.batchMaxRecords,
      pollIntervalMs: config.processors.pollIntervalMs,
      flushIntervalMs: config.processors.flushIntervalMs,
      batchBudgetBytes: budget.maxBytes,
      batchBudgetUserRecords: budget.maxUserRecords,
      assignment: config.processors.shardAssignment,
      ...deps.consumerOptions,
    },
    ...(deps.onBatchCommitted ? { onBatchCommitted: deps.onBatchCommitted } : {}),
  });
  try {
    await consumer.start();
  } catch (error) {
    // e.g. the stream does not exist: release what createPipelineFromConfig opened.
    await runtime.close();
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    metrics,
    stop: () => {
      stopped ??= (async () => {
        await consumer.stop();
        await runtime.close();
      })();
      return stopped;
    },
  };
}

async function runAsProcess(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, name: 'processors' });
  const processors = await startProcessors(config, { logger });
  const metricsServer = await startMetricsServer(
    processors.metrics.registry,
    config.processors.metricsHost,
    config.processors.metricsPort,
    { readiness: () => readinessOf(processors.metrics) },
  );
  logger.info({ url: `${metricsServer.url}/metrics` }, 'processors metrics served');
  stopOnSignals(async () => void (await Promise.all([processors.stop(), metricsServer.close()])), { logger });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runMain('processors', runAsProcess);
