/**
 * Runs the query API in-process: connects what `deps` does not provide (PostgreSQL —
 * embedded PGlite when DATABASE_URL is unset —, DynamoDB, Redis, OpenSearch), applies
 * migrations, listens on QUERY_API_PORT/LISTEN_HOST, and stops everything it started.
 * Used by server.ts and by the `npm start` launcher.
 *
 * @example
 *   const api = await startQueryApi(loadConfig());
 *   console.log(api.url); // http://127.0.0.1:8080
 *   await api.stop();
 */
import { Redis } from 'ioredis';
import type { Config } from '../common/config.js';
import { createDynamoClient } from '../common/aws-clients.js';
import { createLogger } from '../common/logger.js';
import { createQueryApi, type QueryApiDeps } from './app.js';
import { createMemoryResultsCache, createRedisResultsCache, type ResultsCache } from './cache/results-cache.js';
import { createDatabase } from './db/database.js';
import { runMigrations } from './db/migrations.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { createQueryApiMetrics } from './metrics.js';
import { createEventSearch } from './search/event-search.js';

export interface RunningQueryApi {
  /** `http://host:port` the API listens on. */
  readonly url: string;
  /** Closes the server (in-flight requests finish), then the connections this call opened. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Directory of the embedded PostgreSQL (used only without DATABASE_URL); in memory when omitted. */
  embeddedDataDir?: string;
}

/** Key prefix of everything the service stores in Redis. */
const REDIS_KEY_PREFIX = 'qa:';

/** Starts the query API with whatever `deps` leaves out created from `config`. */
export async function startQueryApi(
  config: Config,
  deps: Partial<QueryApiDeps> = {},
  options: StartOptions = {},
): Promise<RunningQueryApi> {
  const logger = deps.logger ?? createLogger({ level: config.logLevel, name: 'query-api' });
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error: unknown) => logger.warn({ err: error }, 'stop step failed'));
  };
  try {
    let database = deps.database;
    if (!database) {
      let url = config.database.url;
      if (!url) {
        const embedded = await startEmbeddedPostgres(
          options.embeddedDataDir ? { dataDir: options.embeddedDataDir } : {},
        );
        cleanups.push(() => embedded.stop());
        url = embedded.url;
        logger.info({ url }, 'DATABASE_URL not set: using an embedded PostgreSQL (PGlite)');
      }
      const created = createDatabase(config.database, { url });
      cleanups.push(() => created.close());
      database = created;
    }
    const applied = await runMigrations(database.writer);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');

    const dynamo = deps.dynamo ?? createDynamoClient(config);
    if (!deps.dynamo) cleanups.push(() => Promise.resolve(dynamo.destroy()));

    let redis = deps.redis;
    if (!redis && config.redis.url) {
      const created = new Redis(config.redis.url, { maxRetriesPerRequest: 2, enableOfflineQueue: false });
      created.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
      cleanups.push(() => Promise.resolve(created.disconnect()));
      redis = created;
    }
    const cache: ResultsCache =
      deps.cache ??
      (redis
        ? createRedisResultsCache({ redis, keyPrefix: REDIS_KEY_PREFIX, ttlSeconds: config.redis.cacheTtlSeconds })
        : createMemoryResultsCache({ ttlSeconds: config.redis.cacheTtlSeconds }));
    if (!redis) logger.info('REDIS_URL not set: results cached in process');

    const search = deps.search ?? createEventSearch(config);
    if (!deps.search && search) cleanups.push(() => search.close());
    if (!search) logger.info('OPENSEARCH_ENDPOINT not set: POST /api/v1/events/search answers 503');

    const app = await createQueryApi(config, {
      ...deps,
      logger,
      database,
      dynamo,
      cache,
      ...(redis ? { redis } : {}),
      ...(search ? { search } : {}),
      metrics: deps.metrics ?? createQueryApiMetrics({ defaultMetrics: true }),
    });
    cleanups.push(() => app.close());
    const address = await app.listen({ port: config.queryApi.port, host: config.queryApi.host });
    logger.info({ address }, 'query API listening');
    return { url: address, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
