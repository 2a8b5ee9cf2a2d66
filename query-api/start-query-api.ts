/**
 * Runs the query API in-process: connects what `deps` does not provide (PostgreSQL at
 * DATABASE_URL, DynamoDB, Redis, OpenSearch), applies migrations, listens on
 * QUERY_API_PORT/LISTEN_HOST and serves /metrics on QUERY_API_METRICS_PORT, and stops
 * everything it started. Used by server.ts (the Fargate task, and `npm start`, whose
 * launcher starts an embedded PostgreSQL itself and passes its DATABASE_URL).
 *
 * With MONITOR_IN_PROCESS it also runs the monitor loop on its own pool (`npm start` on the
 * embedded database; query-api/monitor/monitor-in-process.ts).
 *
 * Without DATABASE_URL (and no `deps.database`) it refuses to start, naming the variable:
 * a deployed task must never serve from an empty, ephemeral database. Likewise without
 * AUDIT_HMAC_SECRET: it never changes state without a signed record of the change.
 *
 * @example
 *   const api = await startQueryApi(loadConfig());
 *   console.log(api.url, api.metricsUrl); // http://127.0.0.1:8080 http://127.0.0.1:8083
 *   await api.stop();
 */
import { Redis } from 'ioredis';
import type { QueryApiConfig } from '../common/config.js';
import { createDynamoClient } from '../common/aws-clients.js';
import { PipelineError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { createQueryApi, type QueryApiDeps } from './app.js';
import { auditKeyRingFromConfig } from './audit/audit-keys.js';
import { createDatabase } from './db/database.js';
import { runMigrations } from './db/migrations.js';
import { createMetricsServer } from './metrics-server.js';
import { createQueryApiMetrics } from './metrics.js';
import { createEventSearch } from './search/event-search.js';
import { startInProcessMonitor } from './monitor/monitor-in-process.js';

export interface RunningQueryApi {
  /** `http://host:port` the API listens on. */
  readonly url: string;
  /** `http://host:port` of the /metrics listener. */
  readonly metricsUrl: string;
  /** Closes the server (in-flight requests finish), then the connections this call opened. */
  stop(): Promise<void>;
}

/**
 * How long one Redis command may take before the cache or the rate limiter gives up on it
 * and serves from process memory: a slow Redis must not slow every request down.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 500;

/**
 * The Redis client of the results cache and rate limiter: commands fail fast while it is
 * disconnected (no offline queue, one attempt, a command timeout) so callers fall back at
 * once, and it reconnects in the background on its own.
 *
 * @example const redis = connectQueryApiRedis('redis://127.0.0.1:6379', logger);
 */
export function connectQueryApiRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  return redis;
}

/**
 * Starts the query API with whatever `deps` leaves out created from `config`, its slice of the
 * configuration ({@link QueryApiConfig}).
 */
export async function startQueryApi(
  config: QueryApiConfig,
  deps: Partial<QueryApiDeps> = {},
): Promise<RunningQueryApi> {
  const logger = deps.logger ?? createLogger({ level: config.logLevel, name: 'query-api' });
  if (!deps.database && !config.database.url) {
    throw new PipelineError(
      'CONFIG_INVALID',
      'Invalid configuration: DATABASE_URL is not set; the query API needs PostgreSQL ' +
        '(`npm start` provides an embedded one for local runs)',
    );
  }
  auditKeyRingFromConfig(config); // throws CONFIG_INVALID naming AUDIT_HMAC_SECRET when it is not set
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse())
      await cleanup().catch((error: unknown) => logger.warn({ err: error }, 'stop step failed'));
  };
  try {
    let database = deps.database;
    if (!database) {
      const created = createDatabase(config.database);
      cleanups.push(() => created.close());
      database = created;
    }
    const applied = await runMigrations(database.writer);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');

    const dynamo = deps.dynamo ?? createDynamoClient(config, { cacheMiddleware: true }); // each read resolves its middleware once
    if (!deps.dynamo) cleanups.push(() => Promise.resolve(dynamo.destroy()));

    let redis = deps.redis;
    if (!redis && config.redis.url) {
      const created = connectQueryApiRedis(config.redis.url, logger);
      cleanups.push(() => Promise.resolve(created.disconnect()));
      redis = created;
    }
    if (!redis) logger.info('REDIS_URL not set: results cached and rate limits counted in process');

    const search = deps.search ?? createEventSearch(config);
    if (!deps.search && search) cleanups.push(() => search.close());
    if (!search) logger.info('OPENSEARCH_ENDPOINT not set: POST /api/v1/events/search answers 503');

    const metrics = deps.metrics ?? createQueryApiMetrics({ defaultMetrics: true });
    const app = await createQueryApi(config, {
      ...deps,
      logger,
      database,
      dynamo,
      metrics,
      ...(redis ? { redis } : {}),
      ...(search ? { search } : {}),
    });
    cleanups.push(() => app.close());
    const metricsServer = await createMetricsServer(metrics, logger);
    cleanups.push(() => metricsServer.close());
    const metricsUrl = await metricsServer.listen({ port: config.queryApi.metricsPort, host: config.queryApi.host });
    const address = await app.listen({ port: config.queryApi.port, host: config.queryApi.host });
    logger.info({ address, metrics: `${metricsUrl}/metrics` }, 'query API listening');
    if (config.monitor.inProcess) {
      // The monitor on this process's own pool (MONITOR_IN_PROCESS; query-api/monitor/monitor-in-process.ts),
      // stopped first: a run in progress finishes before the pool closes.
      const loop = startInProcessMonitor(config, { database, dynamo, logger });
      cleanups.push(() => loop.stop());
    }
    return { url: address, metricsUrl, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
