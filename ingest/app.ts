/**
 * The collector's Fastify app. `buildCollectorApp` wires routes to injected
 * dependencies and does not listen: tests drive it with `app.inject()`, `server.ts`
 * calls `listen()`. Here: the app-wide parts (error handling, CORS, the byte-buffer
 * content-type parser for JSON and NDJSON, OpenAPI), the operational routes, and the
 * events route registered as a plugin (events-route.ts; its outcome summary is
 * stream-outcomes.ts).
 *
 *   POST /api/v1/events   JSON array, { events: [...] } or NDJSON (UTF-8 only, at most
 *                         INGEST_MAX_EVENTS_PER_REQUEST events) → 202 { accepted, rejected, … }
 *   GET  /health          process alive
 *   GET  /ready           stream reachable
 *   GET  /metrics         Prometheus
 *   GET  /docs            OpenAPI (generated from the event contract)
 */
import fastifyCors from '@fastify/cors';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController } from 'fastify';
import type { Config } from '../common/config.js';
import { closePromptly } from '../common/http-close.js';
import { registerErrorHandling, sendError } from '../common/http-errors.js';
import type { Logger } from '../common/logger.js';
import { eventsRoute, type EventsRouteOptions } from './events-route.js';
import type { CollectorMetrics } from './metrics.js';

/** What the collector needs from the outside world. */
export interface CollectorDeps {
  logger: Logger;
  metrics: CollectorMetrics;
  /** Writes entries durably (the PutRecords batcher). */
  submit: EventsRouteOptions['submit'];
  /** Throws when the stream is not reachable. */
  checkReady: () => Promise<void>;
  clock?: EventsRouteOptions['clock'];
  newEventId?: EventsRouteOptions['newEventId'];
}

/** Builds the collector app (not listening); of the configuration it reads `ingest` and `events` only. */
export async function buildCollectorApp(config: Pick<Config, 'ingest' | 'events'>, deps: CollectorDeps) {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: config.ingest.maxBodyBytes,
    requestIdHeader: 'x-request-id',
    // Per-request lines would cost more than the request at 10k events/s; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerErrorHandling(app);
  closePromptly(app);
  const { corsOrigins } = config.ingest;
  if (corsOrigins === '*' || corsOrigins.length > 0) {
    // Pages post impressions straight from the browser (GrowthBook's trackingCallback, any tag):
    // preflights are answered before authentication; nothing is sent with cookies.
    await app.register(fastifyCors, {
      origin: corsOrigins === '*' ? '*' : [...corsOrigins],
      methods: ['POST'],
      allowedHeaders: ['content-type', 'x-api-key', 'x-request-id'],
      exposedHeaders: ['retry-after'],
      maxAge: 600,
    });
  }
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Experiment event collector',
        version: '1.0.0',
        description: 'Accepts experiment impressions and conversions.',
      },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } } },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  // The body is read as bytes and parsed by the route: only the route knows the charset rule, and one bad
  // NDJSON line or one invalid event stays that event's problem.
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser(
    ['application/json', 'application/x-ndjson', 'application/ndjson'],
    { parseAs: 'buffer' },
    (_req, body, done) => done(null, body),
  );

  // In a context of its own, after the parser and swagger above, which it inherits.
  await app.register(eventsRoute, {
    config,
    metrics: deps.metrics,
    submit: deps.submit,
    clock: deps.clock,
    newEventId: deps.newEventId,
  });

  app.get('/health', { schema: { hide: true } }, () => ({ status: 'ok' }));
  app.get('/ready', { schema: { hide: true } }, async (_request, reply) => {
    try {
      await deps.checkReady();
      return { status: 'ready' };
    } catch (error) {
      deps.logger.warn({ err: error }, 'readiness check failed');
      return sendError(reply, 'STREAM_UNAVAILABLE', 'the event stream is not reachable');
    }
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    void reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  return app;
}

/** The collector app type, for callers that hold one. */
export type CollectorApp = Awaited<ReturnType<typeof buildCollectorApp>>;
