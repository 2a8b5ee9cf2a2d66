/**
 * POST /api/v1/events as a Fastify plugin: API-key check, media type and charset before the
 * body is read, UTF-8 decode, parse, per-event validation (collect-events.ts), the durable
 * write through `submit`, and the answer from the pure summary of the stream's outcomes
 * (stream-outcomes.ts). Documented in OpenAPI with the event contract.
 *
 * Registered by `buildCollectorApp` in its own (encapsulated) context: it inherits the app's
 * byte-buffer content-type parser for JSON and NDJSON, its error handler and the swagger
 * route hook, all set up before it is registered.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Config } from '../common/config.js';
import { isPipelineError, PipelineError } from '../common/errors.js';
import { createEventIdGenerator } from '../common/event-ids.js';
import { EventRejectionSchema, IncomingEventSchema } from '../common/event-contract.js';
import { sendError } from '../common/http-errors.js';
import { matchingKeyIndex } from '../common/secrets/key-match.js';
import { collectEvents } from './collect-events.js';
import { requestBodyFormat } from './content-type.js';
import type { CollectorMetrics } from './metrics.js';
import { decodeUtf8Body, parseBody } from './parse-body.js';
import type { EntryOutcome, StreamEntry } from './put-records-batcher.js';
import { MAX_LISTED_REJECTIONS } from './rejection-summary.js';
import { summarizeStreamOutcomes } from './stream-outcomes.js';

/** What the events route needs. */
export interface EventsRouteOptions {
  /** The collector's settings (`ingest`: keys, limits, record format) and the event limits. */
  config: Pick<Config, 'ingest' | 'events'>;
  metrics: CollectorMetrics;
  /** Writes entries durably (the PutRecords batcher): one outcome per entry, in entry order. */
  submit: (entries: readonly StreamEntry[]) => Promise<EntryOutcome[]>;
  /** Epoch milliseconds (`receivedAt`, timestamp checks); `Date.now` by default. */
  clock?: () => number;
  /** Ids of events sent without one, given the request's receive time; UUIDv7 of that millisecond by default. */
  newEventId?: (receivedAt: number) => string;
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

const RequestBodySchema = Type.Union([
  Type.Array(IncomingEventSchema),
  Type.Object({ events: Type.Array(IncomingEventSchema) }),
]);

/** The rule a whole-request refusal names, for metrics. */
function refusalRule(error: unknown): string {
  const rule = isPipelineError(error) ? (error.details as { rule?: unknown } | undefined)?.rule : undefined;
  if (typeof rule === 'string') return rule;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'unknown';
}

function apiKeyMatches(expected: readonly Buffer[], provided: string | string[] | undefined): boolean {
  return typeof provided === 'string' && matchingKeyIndex(expected, provided) >= 0;
}

/**
 * Registers POST /api/v1/events.
 *
 * @example
 *   await app.register(eventsRoute, { config, metrics, submit: (entries) => batcher.submit(entries) });
 */
export const eventsRoute: FastifyPluginAsyncTypebox<EventsRouteOptions> = (app, options) => {
  const { config, metrics, submit } = options;
  const clock = options.clock ?? Date.now;
  const newEventId = options.newEventId ?? createEventIdGenerator();
  const apiKeys = config.ingest.apiKeys.map((key) => Buffer.from(key));
  // Compact records are encoded from the events themselves: no JSON text per event is needed.
  const serialize = config.ingest.recordFormat === 'json';

  const countRejections = (byRule: ReadonlyMap<string, number>): void => {
    for (const [rule, count] of byRule) metrics.rejected.inc({ rule }, count);
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
        metrics.refused.inc({ rule: refusalRule(error) });
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
      const parsed = parseBody(text, format, {
        maxEvents: config.ingest.maxEventsPerRequest,
        deferDepthCheck: true,
      });
      const { valid, rejected } = collectEvents(parsed, {
        now: clock(),
        limits: config.events,
        newEventId,
        serialize,
        onDefect: (defect) => request.log.error({ err: defect }, 'event validator threw'),
      });

      if (valid.length === 0) {
        countRejections(rejected.rules());
        const message =
          parsed.candidates.length === 0 ? 'the body contains no events' : 'no event in the request is valid';
        return reply.code(400).send({ accepted: 0, ...rejected.report(), error: { code: 'EVENT_INVALID', message } });
      }
      let outcomes: EntryOutcome[];
      try {
        outcomes = await submit(valid);
      } catch (error) {
        if (error instanceof PipelineError && error.code === 'BACKPRESSURE')
          metrics.throttled.inc({ reason: 'backpressure' });
        throw error;
      }
      const summary = summarizeStreamOutcomes(valid, outcomes);
      if (summary.mismatch)
        request.log.error(summary.mismatch, 'submit returned outcomes that do not match its entries');
      for (const [code, count] of summary.failedByCode) metrics.failed.inc({ code }, count);
      rejected.addAll(summary.rejections);
      metrics.accepted.inc(summary.accepted);
      countRejections(rejected.rules());
      if (summary.status === 503) {
        void reply.header('retry-after', String(summary.retryAfterSeconds));
        return reply.code(503).send({
          accepted: summary.accepted,
          ...rejected.report(),
          error: { code: 'STREAM_UNAVAILABLE', message: 'the stream accepted none of the events; retry later' },
        });
      }
      return reply.code(202).send({ accepted: summary.accepted, ...rejected.report() });
    },
  );
  // Nothing to wait for: registering a route is synchronous.
  return Promise.resolve();
};
