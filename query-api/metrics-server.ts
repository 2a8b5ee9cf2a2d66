/**
 * The query API's Prometheus endpoint on a listener of its own (QUERY_API_METRICS_PORT,
 * default 8083): `GET /metrics`. The public port never serves it, so the internet-facing
 * load balancer cannot reach it — in ECS only the task's own sidecar or an in-VPC scraper
 * the security groups admit can. Nothing else is served here.
 *
 * @example
 *   const metricsServer = await createMetricsServer(metrics);
 *   await metricsServer.listen({ port: config.queryApi.metricsPort, host: config.queryApi.host });
 */
import Fastify, {
  type FastifyInstance,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import { closePromptly } from '../common/http-close.js';
import { createSilentLogger, type Logger } from '../common/logger.js';
import type { QueryApiMetrics } from './metrics.js';

export type MetricsServer = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  Logger
>;

/** Builds (does not listen) the metrics app. */
export async function createMetricsServer(metrics: QueryApiMetrics, logger?: Logger): Promise<MetricsServer> {
  // Scrapes are not worth a log line each: only warnings and errors of this listener are logged.
  const app = Fastify({
    loggerInstance: (logger ?? createSilentLogger()).child({ listener: 'metrics' }, { level: 'warn' }),
  });
  closePromptly(app);
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  await app.ready();
  return app;
}
