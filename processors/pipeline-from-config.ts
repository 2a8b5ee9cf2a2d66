/**
 * Builds the pipeline from configuration for every entry point (local consumer, Lambda,
 * KCL process): AWS clients, the real sinks, metrics. The counter sink keeps its per-event
 * state in the store the config chose (state/index.ts; none chosen is a start-up error) and
 * learns each experiment's counter plan (ratio, capped and CUPED sums) from the query API
 * when PROCESSOR_DEFINITIONS_API_URL is set (definitions/counter-plan-source.ts; unset: base
 * sums only, logged once); the OpenSearch sink is on only when `OPENSEARCH_ENDPOINT` is set,
 * and the log says so either way.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { createDynamoClient, createDynamoItemClient, createKinesisClient } from '../common/aws-clients.js';
import type { Config, ProcessorsConfig } from '../common/config.js';
import type { CounterPlanSource } from '../common/counter-plan.js';
import { createLogger, type Logger } from '../common/logger.js';
import type { SecretValue } from '../common/secrets/secret-value.js';
import { createCounterSink } from './counters/index.js';
import { createDeadLetterSink } from './dead-letters/dead-letter-sink.js';
import { counterPlanSourceFromConfig } from './definitions/counter-plan-source.js';
import { createProcessorMetrics, type ProcessorMetrics } from './metrics.js';
import { createEventIndexSinkFromConfig } from './opensearch/from-config.js';
import { createPipeline, type Pipeline } from './pipeline.js';
import { createUserStateStoreFromConfig } from './state/index.js';
import type { CounterSink, DeadLetterSink, EventIndexSink } from './types.js';

/** Optional replacements, for tests and benches (no-op sinks, a shared logger or metrics). */
export interface PipelineOverrides {
  logger?: Logger;
  metrics?: ProcessorMetrics;
  kinesis?: KinesisClient;
  dynamo?: DynamoDBClient;
  counters?: CounterSink;
  deadLetters?: DeadLetterSink;
  /** `null` turns indexing off even when OPENSEARCH_ENDPOINT is set. */
  index?: EventIndexSink | null;
  /** The counter plans; `null`: none even when PROCESSOR_DEFINITIONS_API_URL is set. */
  plans?: CounterPlanSource | null;
  /** The definitions API key's secret (PROCESSOR_DEFINITIONS_API_KEY_SECRET_ID): re-read when the API refuses the key. */
  definitionsApiKey?: SecretValue;
}

/** A pipeline with the clients and resources behind it. */
export interface PipelineRuntime {
  pipeline: Pipeline;
  metrics: ProcessorMetrics;
  logger: Logger;
  kinesis: KinesisClient;
  dynamo: DynamoDBClient;
  /** Releases what was opened here (state store connections, sockets). */
  close(): Promise<void>;
}

/**
 * The index sink for the config, or undefined when indexing is off (from-config.ts logs
 * which, and loads the OpenSearch client only when it is on). The index template is
 * installed here, at start-up, so a misconfigured cluster fails early.
 */
async function createIndexSink(
  config: Pick<Config, 'opensearch' | 'aws'>,
  logger: Logger,
  closers: (() => Promise<void>)[],
): Promise<EventIndexSink | undefined> {
  const sink = await createEventIndexSinkFromConfig(config, logger);
  if (!sink) return undefined;
  await sink.start();
  closers.push(() => sink.stop());
  return sink;
}

/**
 * Builds the pipeline and its sinks from `config` (the processors' slice, {@link ProcessorsConfig}).
 *
 * @example
 *   const runtime = await createPipelineFromConfig(loadConfig());
 *   const outcome = await runtime.pipeline.processBatch(batch);
 */
export async function createPipelineFromConfig(
  config: ProcessorsConfig,
  overrides: PipelineOverrides = {},
): Promise<PipelineRuntime> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel, name: 'processors' });
  const metrics = overrides.metrics ?? createProcessorMetrics();
  const kinesis = overrides.kinesis ?? createKinesisClient(config, { cacheMiddleware: true });
  const dynamo =
    overrides.dynamo ??
    createDynamoClient(config, { maxSockets: config.processors.writeConcurrency * 2, cacheMiddleware: true });
  const closers: (() => Promise<void>)[] = [];

  let counters = overrides.counters;
  if (!counters) {
    // Counter writes go through the JSON client (common/dynamo-item-client.ts), unless a test
    // handed in its own DynamoDB client (instrumented or faulty): then through that one.
    const items = overrides.dynamo
      ? undefined
      : createDynamoItemClient(config, dynamo, { maxSockets: config.processors.writeConcurrency * 2 });
    if (items) closers.push(() => Promise.resolve(items.close()));
    const state = createUserStateStoreFromConfig(config, logger);
    closers.push(() => state.close());
    logger.info(
      {
        store: config.processors.state.kind,
        ...(config.processors.state.kind === 'embedded' ? { directory: config.processors.state.directory } : {}),
      },
      'counter state store',
    );
    const plans =
      overrides.plans === null
        ? undefined
        : (overrides.plans ??
          counterPlanSourceFromConfig(config.processors.definitions, logger, overrides.definitionsApiKey));
    counters = createCounterSink({
      dynamo,
      ...(items ? { items } : {}),
      tableName: config.dynamodb.countersTable,
      state,
      writeConcurrency: config.processors.writeConcurrency,
      cellWriteGroupWaitMs: config.processors.cellWriteGroupWaitMs,
      logger,
      metrics,
      ...(plans ? { plans } : {}),
    });
  }
  const deadLetters =
    overrides.deadLetters ??
    createDeadLetterSink({
      kinesis,
      streamName: config.kinesis.dlqStreamName,
      sourceStreamName: config.kinesis.streamName,
      logger,
    });
  const index =
    overrides.index === null ? undefined : (overrides.index ?? (await createIndexSink(config, logger, closers)));

  const pipeline = createPipeline({
    counters,
    deadLetters,
    ...(index ? { index } : {}),
    logger,
    metrics,
    limits: config.events,
  });
  return {
    pipeline,
    metrics,
    logger,
    kinesis,
    dynamo,
    close: async () => {
      await Promise.all(closers.map((close) => close()));
    },
  };
}
