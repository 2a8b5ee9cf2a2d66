/**
 * The query API's Fastify app. `createQueryApi(config, deps)` wires plugins and routes
 * to injected dependencies and does not listen: tests drive it with `app.inject()`,
 * `startQueryApi` (start-query-api.ts) listens.
 *
 *   /api/v1/experiments[/{experimentId}]            definitions (PostgreSQL)
 *   /api/v1/experiments/{id}/results                 per-variant statistics (DynamoDB counters, cached)
 *   /api/v1/experiments/{id}/segments/{dimension}    breakdowns (?by= a second dimension)
 *   /api/v1/flags[/{flagKey}]                        feature flags
 *   POST /api/v1/events/search                       ad-hoc aggregations (OpenSearch)
 *   /health /ready /metrics /docs                    operations
 */
import { createHash, randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { JwksCache } from 'aws-jwt-verify/jwk';
import Fastify from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../common/config.js';
import { PipelineError } from '../common/errors.js';
import { ExperimentDefinitionSchema, FlagDefinitionSchema } from '../common/experiment-definition.js';
import type { ExperimentDefinition, FlagDefinition } from '../common/experiment-definition.js';
import { registerErrorHandling } from '../common/http-errors.js';
import { createSilentLogger, type Logger } from '../common/logger.js';
import { assertMayWrite, createAuthenticator } from './auth/authenticate.js';
import { createMemoryResultsCache, type ResultsCache } from './cache/results-cache.js';
import type { QueryApiContext, QueryApiInstance } from './context.js';
import type { Database } from './db/database.js';
import { targetingRuleViolations } from '../common/targeting.js';
import {
  applyExperimentPatch,
  applyFlagPatch,
  experimentFromCreate,
  experimentRuleViolations,
  flagFromCreate,
  flagRuleViolations,
  type TargetingValidator,
} from './definitions/definition-rules.js';
import { createDefinitionStore } from './definitions/definition-store.js';
import {
  CreateExperimentSchema,
  CreateFlagSchema,
  PatchExperimentSchema,
  PatchFlagSchema,
  type CreateExperiment,
  type CreateFlag,
  type PatchExperiment,
  type PatchFlag,
} from './definitions/schemas.js';
import { createQueryApiMetrics, type QueryApiMetrics } from './metrics.js';
import { registerDefinitionRoutes } from './routes/definition-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerResultsRoutes } from './routes/results-routes.js';
import { registerSearchRoutes } from './routes/search-routes.js';
import type { EventSearch } from './search/event-search.js';

/** What the query API needs from the outside world; connections are owned by the caller. */
export interface QueryApiDeps {
  database: Database;
  dynamo: DynamoDBClient;
  /** Used for readiness and the shared rate-limit store; pass the one the cache uses. */
  redis?: Redis;
  /** Defaults to an in-process LRU with REDIS_CACHE_TTL. */
  cache?: ResultsCache;
  /** Absent: POST /api/v1/events/search answers 503. */
  search?: EventSearch;
  logger?: Logger;
  metrics?: QueryApiMetrics;
  /** Defaults to the shared rule language's validator (common/targeting.ts). */
  validateTargeting?: TargetingValidator;
  /** JWKS source for Cognito verification (tests serve a local JWKS). */
  jwksCache?: JwksCache;
  /** Requests per minute per caller (API key, token or IP). Default 1200. */
  rateLimitPerMinute?: number;
  now?: () => Date;
}

/** Largest accepted request body: definitions and search requests are small. */
const BODY_LIMIT_BYTES = 256 * 1024;
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const DEFINITION_RESPONSE_OPTIONS = { experiments: ExperimentDefinitionSchema, flags: FlagDefinitionSchema };

/** Builds the query API (not listening). Options are validated by `loadConfig`; the context is frozen here. */
export async function createQueryApi(config: Config, deps: QueryApiDeps): Promise<QueryApiInstance> {
  const logger = deps.logger ?? createSilentLogger();
  const context: QueryApiContext = Object.freeze({
    config,
    database: deps.database,
    dynamo: deps.dynamo,
    ...(deps.redis ? { redis: deps.redis } : {}),
    ...(deps.search ? { search: deps.search } : {}),
    experiments: createDefinitionStore<ExperimentDefinition>(deps.database, 'experiments', 'experiment'),
    flags: createDefinitionStore<FlagDefinition>(deps.database, 'flags', 'flag'),
    cache: deps.cache ?? createMemoryResultsCache({ ttlSeconds: config.redis.cacheTtlSeconds }),
    authenticator: createAuthenticator(config.queryApi, deps.jwksCache ? { jwksCache: deps.jwksCache } : {}),
    metrics: deps.metrics ?? createQueryApiMetrics(),
    validateTargeting: deps.validateTargeting ?? targetingRuleViolations,
    now: deps.now ?? (() => new Date()),
  });
  if (!context.authenticator.enabled) {
    logger.warn('query API authentication is OFF: set API_KEYS and/or COGNITO_USER_POOL_ID + COGNITO_CLIENT_ID');
  }

  const app: QueryApiInstance = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    },
    // Reject unknown fields instead of silently dropping them; numbers in query strings still coerce.
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: 'array',
        useDefaults: true,
        allErrors: true,
        allowUnionTypes: true,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerErrorHandling(app);
  // JSON only: anything else is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  await app.register(fastifyHelmet, { global: true });
  await app.register(fastifyRateLimit, {
    max: deps.rateLimitPerMinute ?? 1200,
    timeWindow: 60_000,
    ...(deps.redis ? { redis: deps.redis, nameSpace: 'qa-ratelimit-' } : {}),
    // Per caller; credentials are hashed so no secret ends up in a Redis key name.
    keyGenerator: (request) => {
      const apiKey = request.headers['x-api-key'];
      const token = request.headers.authorization;
      const credential = typeof apiKey === 'string' ? apiKey : token;
      return credential
        ? `caller:${createHash('sha256').update(credential).digest('hex').slice(0, 24)}`
        : `ip:${request.ip}`;
    },
    errorResponseBuilder: (_request, limit) =>
      new PipelineError(
        'RATE_LIMITED',
        `rate limit of ${limit.max} requests per minute exceeded; retry in ${limit.after}`,
        {
          details: { retryAfterSeconds: Math.ceil(limit.ttl / 1000) },
        },
      ),
  });
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Experiment query API',
        version: '1.0.0',
        description:
          'Experiment and flag definitions, per-variant results with statistics, segment breakdowns, event search.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (Amazon Cognito)' },
        },
      },
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: true });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    const access = request.routeOptions.config.access ?? (request.url.startsWith('/docs') ? 'public' : 'read');
    if (access === 'public') return;
    const principal = await context.authenticator.authenticate(request.headers);
    if (access === 'write') assertMayWrite(principal);
  });
  app.addHook('onResponse', async (request, reply) => {
    context.metrics.requestDuration.observe(
      { route: request.routeOptions.url ?? 'unknown', method: request.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  registerHealthRoutes(app, context);
  registerDefinitionRoutes<ExperimentDefinition, CreateExperiment, PatchExperiment>(app, {
    resource: 'experiments',
    noun: 'experiment',
    paramName: 'experimentId',
    store: context.experiments,
    definitionSchema: DEFINITION_RESPONSE_OPTIONS.experiments,
    createSchema: CreateExperimentSchema,
    patchSchema: PatchExperimentSchema,
    fromCreate: experimentFromCreate,
    applyPatch: applyExperimentPatch,
    violations: (definition) => experimentRuleViolations(definition, context.validateTargeting),
  });
  registerDefinitionRoutes<FlagDefinition, CreateFlag, PatchFlag>(app, {
    resource: 'flags',
    noun: 'flag',
    paramName: 'flagKey',
    store: context.flags,
    definitionSchema: DEFINITION_RESPONSE_OPTIONS.flags,
    createSchema: CreateFlagSchema,
    patchSchema: PatchFlagSchema,
    fromCreate: flagFromCreate,
    applyPatch: applyFlagPatch,
    violations: (definition) => flagRuleViolations(definition, context.validateTargeting),
  });
  registerResultsRoutes(app, context);
  registerSearchRoutes(app, context);
  return app;
}
