/**
 * Collector entry point. `startCollector` builds the Kinesis client, the shared
 * PutRecords batcher and the app, and listens; `stop()` stops accepting requests,
 * writes everything still buffered, then closes. Run directly (`tsx ingest/server.ts`)
 * it reads the environment once and stops cleanly on SIGTERM/SIGINT.
 */
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { pathToFileURL } from 'node:url';
import { createKinesisClient } from '../common/aws-clients.js';
import { loadConfig, type CollectorConfig } from '../common/config.js';
import { runMain, stopOnSignals } from '../common/lifecycle.js';
import { createLogger, type Logger } from '../common/logger.js';
import { DEFAULT_RETRY_POLICY } from '../common/retry.js';
import { buildCollectorApp, type CollectorApp } from './app.js';
import { createCollectorMetrics, type CollectorMetrics } from './metrics.js';
import { PutRecordsBatcher } from './put-records-batcher.js';
import { startShardMapCache } from './stream-shards.js';

/** How often the KPL aggregator re-reads the shard map to follow resharding. */
const SHARD_MAP_REFRESH_MS = 30_000;

export interface RunningCollector {
  url: string;
  app: CollectorApp;
  metrics: CollectorMetrics;
  batcher: PutRecordsBatcher;
  stop(): Promise<void>;
}

export interface CollectorOverrides {
  logger?: Logger;
  /** A Kinesis client to use instead of one built from config (tests wrap the real one to inject faults). */
  kinesis?: Pick<KinesisClient, 'send'>;
  clock?: () => number;
}

/**
 * Starts the collector on `config.ingest.host:port` (port 0 picks a free one). It reads only
 * its slice of the configuration, {@link CollectorConfig}.
 */
export async function startCollector(
  config: CollectorConfig,
  overrides: CollectorOverrides = {},
): Promise<RunningCollector> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel, name: 'collector' });
  const kinesis =
    overrides.kinesis ??
    createKinesisClient(config, { maxSockets: config.ingest.putConcurrency * 2, cacheMiddleware: true });
  const ownsClient = overrides.kinesis === undefined;
  const metrics = createCollectorMetrics({ defaultMetrics: true });
  const compact = config.ingest.recordFormat === 'compact';
  const shardMaps =
    config.ingest.kplAggregation || compact
      ? await startShardMapCache(kinesis, config.kinesis.streamName, SHARD_MAP_REFRESH_MS, logger)
      : undefined;
  const batcher = new PutRecordsBatcher({
    kinesis,
    streamName: config.kinesis.streamName,
    lingerMs: config.ingest.lingerMs,
    maxBufferBytes: config.ingest.maxBufferBytes,
    concurrency: config.ingest.putConcurrency,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, maxAttempts: config.ingest.putMaxAttempts },
    shardMap: shardMaps ? () => shardMaps.current() : undefined,
    compact: compact ? { compress: config.ingest.compressRecords } : undefined,
    observer: metrics,
    logger,
  });
  const app = await buildCollectorApp(config, {
    logger,
    metrics,
    submit: (entries) => batcher.submit(entries),
    clock: overrides.clock,
    checkReady: async () => {
      const out = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: config.kinesis.streamName }));
      const status = out.StreamDescriptionSummary?.StreamStatus;
      if (status !== 'ACTIVE' && status !== 'UPDATING') throw new Error(`stream status is ${status}`);
    },
  });
  const url = await app.listen({ host: config.ingest.host, port: config.ingest.port });
  logger.info(
    {
      url,
      stream: config.kinesis.streamName,
      recordFormat: config.ingest.recordFormat,
      compressRecords: compact && config.ingest.compressRecords,
      kplAggregation: !compact && config.ingest.kplAggregation,
    },
    'collector listening',
  );
  return {
    url,
    app,
    metrics,
    batcher,
    async stop() {
      await app.close();
      await batcher.drain();
      shardMaps?.stop();
      if (ownsClient && kinesis instanceof KinesisClient) kinesis.destroy();
      logger.info('collector stopped');
    },
  };
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const collector = await startCollector(config);
  stopOnSignals(() => collector.stop(), { logger: collector.app.log });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) runMain('collector', main);
