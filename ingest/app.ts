/**
 * The collector's Fastify app. `buildCollectorApp` wires routes to injected
 * dependencies and does not listen: tests drive it with `app.inject()`, `server.ts`
 * calls `listen()`.
 *
 *   POST /api/v1/events   JSON array, { events: [...] } or NDJSON (UTF-8 only, at most
 *                         INGEST_MAX_EVENTS_PER_REQUEST events) → 202 { accepted, rejected, … }
 *   GET  /health          process alive
 *   GET  /ready           stream reachable
 *   GET  /metrics         Prometheus
 *   GET  /docs            OpenAPI (generated from the event contract)
 */
import { timingSafeEqual } from 'node:crypto';
import fastifyCors from '@fastify/cors';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Config } from '../common/config.js';
import { isPipelineError, PipelineError } from '../common/errors.js';
import { createEventIdGenerator } from '../common/event-ids.js';
import { EventRejectionSchema, IncomingEventSchema } from '../common/event-contract.js';
import { registerErrorHandling, sendError } from '../common/http-errors.js';
import type { Logger } from '../common/logger.js';
import { collectEvents, type CollectedEvent } from './collect-events.js';
import { requestBodyFormat } from './content-type.js';
import type { CollectorMetrics } from './metrics.js';
import { decodeUtf8Body, parseBody } from './parse-body.js';
import type { EntryOutcome, StreamEntry } from './put-records-batcher.js';
import { MAX_LISTED_REJECTIONS, STREAM_WRITE_FAILED } from './rejection-summary.js';

/** What the collector needs from the outside world. */
export interface CollectorDeps {
  logger: Logger;
  metrics: CollectorMetrics;
  /** Writes entries durably (the PutRecords batcher). */
  submit: (entries: readonly StreamEntry[]) => Promise<EntryOutcome[]>;
  /** Throws when the stream is not reachable. */
  checkReady: () => Promise<void>;
  clock?: () => number;
  newEventId?: () => string;
}

const ErrorSchema = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) }),
});

const IngestResponseSchema = Type.Object({
  accepted: Type.Integer({ description: 'Events durably written to the stream.' }),
  rejected: Type.Array(EventRejectionSchema, {
    maxItems: MAX_LISTED_REJECTIONS,
    description: `The first ${MAX_LISTED_REJECTIONS} problems by event index: validation failures, and valid events the stream did not accept (rule \`stream-write-failed\`, safe to retry). Fields and messages are cut to a fixed length.`,
  }),
  rejectedTotal: Type.Integer({ description: 'Every problem of the request, listed in `rejected` or not.' }),
  rejectedByRule: Type.Record(Type.String(), Type.Integer(), { description: 'Problems per rule, over all of them.' }),
  invalidIndexes: Type.Array(Type.Integer(), {
    description: 'Every event refused by validation (request positions, ascending): do not send them again.',
  }),
  retryIndexes: Type.Array(Type.Integer(), {
    description: 'Every valid event the stream did not accept (request positions, ascending): send them again.',
  }),
  error: Type.Optional(ErrorSchema.properties.error),
});

/** The rule a whole-request refusal names, for metrics. */
function refusalRule(error: unknown): string {
  const rule = isPipelineError(error) ? (error.details as { rule?: unknown } | undefined)?.rule : undefined;
  if (typeof rule === 'string') return rule;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'unknown';
}

const RequestBodySchema = Type.Union([
  Type.Array(IncomingEventSchema),
  Type.Object({ events: Type.Array(IncomingEventSchema) }),
]);

function apiKeyMatches(expected: readonly Buffer[], provided: string | string[] | undefined): boolean {
  if (typeof provided !== 'string') return false;
  const candidate = Buffer.from(provided);
  return expected.some((key) => key.length === candidate.length && timingSafeEqual(key, candidate));
}

/** The batcher's entry for an accepted event: its JSON bytes, or the event alone for compact records. */
function streamEntryOf(collected: CollectedEvent): StreamEntry {
  const partitionKey = collected.event.userId;
  return collected.serialized === undefined
    ? { partitionKey, event: collected.event, jsonBytes: collected.jsonBytes }
    : { partitionKey, data: Buffer.from(collected.serialized), event: collected.event };
}

/** Builds the collector app (not listening). */
export async function buildCollectorApp(config: Config, deps: CollectorDeps) {
  const clock = deps.clock ?? Date.now;
  const newEventId = deps.newEventId ?? createEventIdGenerator();
  const apiKeys = config.ingest.apiKeys.map((key) => Buffer.from(key));
  // Compact records are encoded from the events themselves: no JSON text per event is needed.
  const serialize = config.ingest.recordFormat === 'json';
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: config.ingest.maxBodyBytes,
    requestIdHeader: 'x-request-id',
    // Per-request lines would cost more than the request at 10k events/s; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerErrorHandling(app);
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

  const countRejections = (byRule: ReadonlyMap<string, number>): void => {
    for (const [rule, count] of byRule) deps.metrics.rejected.inc({ rule }, count);
  };

  const authenticate = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (apiKeys.length === 0) return;
    if (!apiKeyMatches(apiKeys, request.headers['x-api-key'])) {
      await sendError(
        reply,
        'UNAUTHORIZED',
        request.headers['x-api-key']
          ? 'the x-api-key header is not a valid producer key'
          : 'the x-api-key header is required',
      );
    }
  };

  app.post(
    '/api/v1/events',
    {
      onRequest: authenticate,
      // Media type and charset are checked before a byte of the body is read.
      preParsing: async (request, _reply, payload) => {
        requestBodyFormat(request.headers['content-type']);
        return payload;
      },
      onError: async (_request, _reply, error) => {
        deps.metrics.refused.inc({ rule: refusalRule(error) });
      },
      // Documented with the contract schema; validated per event by the route, not as a whole.
      validatorCompiler: () => () => true,
      schema: {
        summary: 'Send experiment events',
        description:
          'Accepts a JSON array, `{ "events": [...] }` (application/json) or NDJSON (application/x-ndjson), UTF-8 only (415 for another charset, 400 for bytes that are not UTF-8), at most `INGEST_MAX_EVENTS_PER_REQUEST` events (500; 413 with rule `max-events` beyond). Answers 202 once every accepted event is durably in the stream.',
        security: apiKeys.length > 0 ? [{ apiKey: [] }] : [],
        body: RequestBodySchema,
        response: {
          202: IngestResponseSchema,
          400: Type.Union([IngestResponseSchema, ErrorSchema]),
          503: Type.Union([IngestResponseSchema, ErrorSchema]),
          '4xx': ErrorSchema,
          '5xx': ErrorSchema,
        },
      },
    },
    async (request, reply) => {
      const format = requestBodyFormat(request.headers['content-type']);
      const raw: unknown = request.body;
      const text = decodeUtf8Body(Buffer.isBuffer(raw) ? raw : Buffer.alloc(0));
      const parsed = parseBody(text, format, { maxEvents: config.ingest.maxEventsPerRequest });
      const { valid, rejected, defects } = collectEvents(parsed, {
        now: clock(),
        limits: config.events,
        newEventId,
        serialize,
      });
      for (const defect of defects) request.log.error({ err: defect }, 'event validator threw');

      if (valid.length === 0) {
        countRejections(rejected.rules());
        const message =
          parsed.candidates.length === 0 ? 'the body contains no events' : 'no event in the request is valid';
        return reply.code(400).send({ accepted: 0, ...rejected.report(), error: { code: 'EVENT_INVALID', message } });
      }
      let outcomes: EntryOutcome[];
      try {
        outcomes = await deps.submit(valid.map(streamEntryOf));
      } catch (error) {
        if (error instanceof PipelineError && error.code === 'BACKPRESSURE')
          deps.metrics.throttled.inc({ reason: 'backpressure' });
        throw error;
      }
      let accepted = 0;
      outcomes.forEach((outcome, i) => {
        if (outcome.ok) {
          accepted++;
          return;
        }
        deps.metrics.failed.inc({ code: outcome.errorCode });
        rejected.add({
          index: valid[i]?.index ?? -1,
          field: '(event)',
          rule: STREAM_WRITE_FAILED,
          message: `the stream did not accept the event (${outcome.errorCode}); retry it`,
        });
      });
      deps.metrics.accepted.inc(accepted);
      countRejections(rejected.rules());
      if (accepted === 0) {
        void reply.header('retry-after', '1');
        return reply.code(503).send({
          accepted,
          ...rejected.report(),
          error: { code: 'STREAM_UNAVAILABLE', message: 'the stream accepted none of the events; retry later' },
        });
      }
      return reply.code(202).send({ accepted, ...rejected.report() });
    },
  );

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
