/**
 * GrowthBook-compatible SDK endpoint and its client keys:
 *
 *   POST   /api/v1/sdk-connections                      admin: create → { id, clientKey: "sdk-…", environment, … }
 *   GET    /api/v1/sdk-connections                      admin: list
 *   GET    /api/v1/sdk-connections/{id}                 admin: one
 *   POST   /api/v1/sdk-connections/{id}/rotate          admin: a new client key; the old one stops working
 *   DELETE /api/v1/sdk-connections/{id}                 admin: 204
 *   GET    /api/v1/sdk-connections/{id}/payload-report  read: what the payload serves and what it leaves out, why
 *   GET    /api/features/{clientKey}                    public: the payload GrowthBook SDKs fetch from `apiHost`
 *
 * The payload answer is built for browsers and CDNs: `access-control-allow-origin: *` (and
 * preflights answered), a strong `ETag` with `304` on `If-None-Match`, `Cache-Control:
 * public, max-age=<refresh interval>`. A malformed client key answers 400, an unknown one
 * 404 (GrowthBook SDKs log either and keep their cached or fallback values).
 * Connection changes are audit events (`sdk-connection.created|rotated|deleted`) written
 * in the change's transaction.
 */
import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import { PipelineError } from '../../common/errors.js';
import { requestOrigin } from '../audit/audit-input.js';
import type { AuditAction } from '../audit/audit-event.js';
import type { QueryApiContext, QueryApiInstance } from '../context.js';
import { AUTHENTICATED, ERROR_RESPONSES } from '../routes/http-schemas.js';
import { SDK_PAYLOAD_FORMAT_VERSION } from './growthbook-payload.js';
import {
  ClientKeyParams,
  CreateSdkConnectionSchema,
  GrowthBookPayloadSchema,
  PayloadReportSchema,
  SdkConnectionIdParams,
  SdkConnectionListSchema,
  SdkConnectionSchema,
} from './schemas.js';
import {
  CLIENT_KEY_PATTERN,
  createSdkConnectionStore,
  type RecordConnectionChange,
  type SdkConnection,
} from './sdk-connection-store.js';
import { createSdkPayloadService, SDK_PAYLOAD_REFRESH_SECONDS } from './sdk-payload-service.js';

/** Where SDKs fetch a key's payload, relative to the API host. */
export const featuresPath = (clientKey: string): string => `/api/features/${clientKey}`;

const connectionJson = (connection: SdkConnection) => ({
  id: connection.id,
  name: connection.name,
  environment: connection.environment,
  clientKey: connection.clientKey,
  featuresPath: featuresPath(connection.clientKey),
  createdAt: connection.createdAt.toISOString(),
  rotatedAt: connection.rotatedAt?.toISOString() ?? null,
});

/** What an audit event records of a connection (the client key is public). */
const auditedConnection = (connection: SdkConnection) => ({
  id: connection.id,
  name: connection.name,
  environment: connection.environment,
  clientKey: connection.clientKey,
});

/**
 * True when `If-None-Match` names `etag` (weak comparison, as RFC 9110 prescribes for it) or is `*`.
 *
 * @example ifNoneMatchHits('W/"abc", "def"', '"abc"') // true
 */
export function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === opaque;
  });
}

/** Sends already serialized (cached) JSON as is, like the results routes do. */
function sendSerialized(reply: FastifyReply, body: string): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(body);
}

function corsHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('access-control-allow-origin', '*')
    .header('access-control-expose-headers', 'etag, x-cache, x-sdk-payload-version')
    .header('cross-origin-resource-policy', 'cross-origin');
}

/** Registers the SDK connection routes and the public payload route. */
export function registerSdkRoutes(app: QueryApiInstance, context: QueryApiContext): void {
  const connections = createSdkConnectionStore(context.database);
  const payloads = createSdkPayloadService({
    database: context.database,
    connections,
    cache: context.cache,
    logger: app.log,
    now: context.now,
  });
  const audit =
    (request: Parameters<typeof requestOrigin>[0], action: AuditAction): RecordConnectionChange =>
    async (tx, { before, after }) => {
      const subject = (after ?? before)!;
      await context.auditLog.append(tx, {
        ...requestOrigin(request),
        action,
        resource: { type: 'sdk-connection', id: subject.id },
        change: {
          ...(before ? { before: auditedConnection(before) } : {}),
          ...(after ? { after: auditedConnection(after) } : {}),
        },
      });
    };
  const admin = { access: 'admin' as const };
  const loadConnection = async (id: string) => {
    const connection = await connections.get(id);
    if (!connection) throw new PipelineError('NOT_FOUND', `SDK connection "${id}" does not exist`);
    return connection;
  };

  app.post(
    '/api/v1/sdk-connections',
    {
      config: admin,
      schema: {
        tags: ['sdk'],
        summary: 'Create an SDK connection: a client key for GrowthBook SDKs',
        description:
          'Answers the connection with its public `clientKey` (`sdk-…`): give it and the API host to any GrowthBook ' +
          'SDK (`new GrowthBook({ apiHost, clientKey })`). Admin scope.',
        security: AUTHENTICATED,
        body: CreateSdkConnectionSchema,
        response: { 201: SdkConnectionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { environment, name } = request.body;
      const created = await connections.create(
        { environment, name: name ?? environment },
        audit(request, 'sdk-connection.created'),
      );
      return reply.code(201).send(connectionJson(created));
    },
  );

  app.get(
    '/api/v1/sdk-connections',
    {
      config: admin,
      schema: {
        tags: ['sdk'],
        summary: 'List SDK connections',
        security: AUTHENTICATED,
        response: { 200: SdkConnectionListSchema, ...ERROR_RESPONSES },
      },
    },
    async () => ({ items: (await connections.list()).map(connectionJson) }),
  );

  app.get(
    '/api/v1/sdk-connections/:id',
    {
      config: admin,
      schema: {
        tags: ['sdk'],
        summary: 'One SDK connection',
        security: AUTHENTICATED,
        params: SdkConnectionIdParams,
        response: { 200: SdkConnectionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => connectionJson(await loadConnection(request.params.id)),
  );

  app.post(
    '/api/v1/sdk-connections/:id/rotate',
    {
      config: admin,
      schema: {
        tags: ['sdk'],
        summary: 'Replace the client key',
        description: `The old key answers 404 within ${SDK_PAYLOAD_REFRESH_SECONDS} s (the payload cache interval).`,
        security: AUTHENTICATED,
        params: SdkConnectionIdParams,
        response: { 200: SdkConnectionSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      connectionJson(await connections.rotate(request.params.id, audit(request, 'sdk-connection.rotated'))),
  );

  app.delete(
    '/api/v1/sdk-connections/:id',
    {
      config: admin,
      schema: {
        tags: ['sdk'],
        summary: 'Delete an SDK connection',
        description: `Its key answers 404 within ${SDK_PAYLOAD_REFRESH_SECONDS} s (the payload cache interval).`,
        security: AUTHENTICATED,
        params: SdkConnectionIdParams,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      await connections.remove(request.params.id, audit(request, 'sdk-connection.deleted'));
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/v1/sdk-connections/:id/payload-report',
    {
      schema: {
        tags: ['sdk'],
        summary: 'What the connection’s payload serves and what it leaves out, with the reason',
        description:
          'Experiments and flags whose targeting has no exact GrowthBook condition are left out of the payload, never ' +
          'served approximately; each is listed in `omitted` with the reason and the path in its definition.',
        security: AUTHENTICATED,
        params: SdkConnectionIdParams,
        response: { 200: PayloadReportSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const connection = await loadConnection(request.params.id);
      const { payload, omitted } = await payloads.report();
      return {
        connectionId: connection.id,
        clientKey: connection.clientKey,
        environment: connection.environment,
        formatVersion: SDK_PAYLOAD_FORMAT_VERSION,
        dateUpdated: payload.dateUpdated,
        features: Object.entries(payload.features).map(([key, feature]) => ({
          key,
          kind: feature.rules?.some((rule) => 'variations' in rule) ? ('experiment' as const) : ('flag' as const),
          rules: feature.rules?.length ?? 0,
        })),
        omitted,
      };
    },
  );

  const publicRoute = { access: 'public' as const };
  app.get(
    '/api/features/:clientKey',
    {
      config: publicRoute,
      schema: {
        tags: ['sdk'],
        summary: 'GrowthBook SDK payload (public; CORS, ETag)',
        description:
          'What GrowthBook SDKs fetch from `apiHost`: `{ features, dateUpdated }` (format in query-api/README.md). ' +
          `Rebuilt at most every ${SDK_PAYLOAD_REFRESH_SECONDS} s from the results cache; \`If-None-Match\` → 304. ` +
          'Malformed key 400, unknown key 404.',
        params: ClientKeyParams,
        response: {
          200: GrowthBookPayloadSchema,
          304: Type.Null({ description: 'Not modified.' }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      corsHeaders(reply);
      const { clientKey } = request.params;
      if (!CLIENT_KEY_PATTERN.test(clientKey)) {
        throw new PipelineError(
          'VALIDATION_FAILED',
          'clientKey must be "sdk-" followed by 16–64 characters of [A-Za-z0-9_-]',
          {
            details: [{ field: 'clientKey', rule: 'pattern', message: 'not a client key (sdk-…)' }],
          },
        );
      }
      const { body, etag, hit } = await payloads.payload(clientKey);
      context.metrics.cacheLookups.inc({ kind: 'sdk-payload', outcome: hit ? 'hit' : 'miss' });
      void reply
        .header('etag', etag)
        .header('cache-control', `public, max-age=${SDK_PAYLOAD_REFRESH_SECONDS}`)
        .header('x-cache', hit ? 'hit' : 'miss')
        .header('x-sdk-payload-version', String(SDK_PAYLOAD_FORMAT_VERSION));
      if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send(null);
      return sendSerialized(reply, body);
    },
  );

  app.options(
    '/api/features/:clientKey',
    { config: { ...publicRoute }, schema: { hide: true } },
    async (request, reply) => {
      // Any request header an SDK is configured to send (apiHostRequestHeaders), as header names only.
      const requested = request.headers['access-control-request-headers'];
      const allowed = typeof requested === 'string' ? requested.replace(/[^A-Za-z0-9, -]/g, '').slice(0, 1_000) : '';
      return corsHeaders(reply)
        .header('access-control-allow-methods', 'GET, OPTIONS')
        .header('access-control-allow-headers', allowed)
        .header('access-control-max-age', '86400')
        .code(204)
        .send();
    },
  );
}
