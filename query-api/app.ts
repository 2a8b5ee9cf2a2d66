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
 *   /health /ready /docs                             operations (/metrics: metrics-server.ts, its own port)
 *
 * Request lifecycle: `onRequest` authenticates (the principal, or the failure kept for
 * later) → the rate limiter counts the principal's bucket (`rate-limit/rate-limit-key.ts`)
 * → `preParsing` answers 401/403 → body parsing and schemas → handler.
 */
import { assertFiniteQueryNumbers } from './finite-query-numbers.js';
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { JwksCache } from 'aws-jwt-verify/jwk';
import Fastify, { type FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../common/config.js';
import { PipelineError } from '../common/errors.js';
import { ExperimentDefinitionSchema, FlagDefinitionSchema } from '../common/experiment-definition.js';
import type { ExperimentDefinition, FlagDefinition } from '../common/experiment-definition.js';
import { registerErrorHandling } from '../common/http-errors.js';
import { createSilentLogger, type Logger } from '../common/logger.js';
import { assertMayWrite, createAuthenticator } from './auth/authenticate.js';
import { createMemoryResultsCache, createRedisResultsCache, type ResultsCache } from './cache/results-cache.js';
import type { QueryApiContext, QueryApiInstance, RouteAccess } from './context.js';
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
import { rateLimitKey } from './rate-limit/rate-limit-key.js';
import { createRateLimitStore } from './rate-limit/rate-limit-store.js';
import type { EventSearch } from './search/event-search.js';
import { createStoreOutage } from './store-outage.js';

/** What the query API needs from the outside world; connections are owned by the caller. */
export interface QueryApiDeps {
  database: Database;
  dynamo: DynamoDBClient;
  /**
   * The shared store of the results cache and the rate-limit counters, and a readiness
   * check. Its outage degrades to in-process caching and counting, never fails requests.
   */
  redis?: Redis;
  /**
   * Defaults to the Redis cache (with `redis`, falling back to an in-process one while Redis
   * fails), else an in-process LRU with REDIS_CACHE_TTL.
   */
  cache?: ResultsCache;
  /** Prefix of the cache's and the rate limiter's Redis keys. Default `qa:` (tests: random). */
  redisKeyPrefix?: string;
  /** Absent: POST /api/v1/events/search answers 503. */
  search?: EventSearch;
  logger?: Logger;
  metrics?: QueryApiMetrics;
  /** Defaults to the shared rule language's validator (common/targeting.ts). */
  validateTargeting?: TargetingValidator;
  /** JWKS source for Cognito verification (tests serve a local JWKS). */
  jwksCache?: JwksCache;
  /** Requests per minute per caller (API key, token `sub`, or IP when unauthenticated). Default 1200. */
  rateLimitPerMinute?: number;
  now?: () => Date;
}

/** Prefix of everything the service stores in Redis. */
export const DEFAULT_REDIS_KEY_PREFIX = 'qa:';
/** Largest accepted request body: definitions and search requests are small. */
const BODY_LIMIT_BYTES = 256 * 1024;
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const DEFINITION_RESPONSE_OPTIONS = { experiments: ExperimentDefinitionSchema, flags: FlagDefinitionSchema };

function accessOf(request: FastifyRequest): RouteAccess {
  return request.routeOptions.config.access ?? (request.url.startsWith('/docs') ? 'public' : 'read');
}

/** Builds the query API (not listening). Options are validated by `loadConfig`; the context is frozen here. */
export async function createQueryApi(config: Config, deps: QueryApiDeps): Promise<QueryApiInstance> {
  const logger = deps.logger ?? createSilentLogger();
  const metrics = deps.metrics ?? createQueryApiMetrics();
  const redisKeyPrefix = deps.redisKeyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
  const memoryCache = () => createMemoryResultsCache({ ttlSeconds: config.redis.cacheTtlSeconds });
  const cache =
    deps.cache ??
    (deps.redis
      ? createRedisResultsCache({
          redis: deps.redis,
          keyPrefix: redisKeyPrefix,
          ttlSeconds: config.redis.cacheTtlSeconds,
          fallback: memoryCache(),
          outage: createStoreOutage('results-cache', { logger, metrics }),
        })
      : memoryCache());
  const context: QueryApiContext = Object.freeze({
    config,
    database: deps.database,
    dynamo: deps.dynamo,
    ...(deps.redis ? { redis: deps.redis } : {}),
    ...(deps.search ? { search: deps.search } : {}),
    experiments: createDefinitionStore<ExperimentDefinition>(deps.database, 'experiments', 'experiment'),
    flags: createDefinitionStore<FlagDefinition>(deps.database, 'flags', 'flag'),
    cache,
    authenticator: createAuthenticator(config.queryApi, deps.jwksCache ? { jwksCache: deps.jwksCache } : {}),
    metrics,
    validateTargeting: deps.validateTargeting ?? targetingRuleViolations,
    now: deps.now ?? (() => new Date()),
  });
  if (!context.authenticator.enabled) {
    logger.warn('query API authentication is OFF: set API_KEYS and/or COGNITO_USER_POOL_ID + COGNITO_CLIENT_ID');
  }

  const app: QueryApiInstance = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Behind the ALB (1 hop) the client is the address the ALB appended to X-Forwarded-For;
    // earlier entries are whatever the client sent and are never trusted.
    trustProxy: (_address: string, hop: number) => hop < config.queryApi.trustedProxyHops,
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
  // ajv lets `?limit=1e309` through as Infinity: refused here, with the field (finite-query-numbers.ts).
  app.addHook('preValidation', (request, _reply, done) => {
    try {
      assertFiniteQueryNumbers(request);
      done();
    } catch (error) {
      done(error as Error);
    }
  });
  // JSON only: anything else is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  await app.register(fastifyHelmet, { global: true });
  app.decorateRequest('principal', undefined);
  app.decorateRequest('authFailure', undefined);
  // Authenticate first, answer later: the rate limiter (a route-level onRequest hook, so it
  // runs after this one) must know the principal, and failed attempts still count (per IP).
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    if (accessOf(request) === 'public') return;
    try {
      request.principal = await context.authenticator.authenticate(request.headers);
    } catch (error) {
      request.authFailure = error instanceof Error ? error : new Error(String(error));
    }
  });
  await app.register(fastifyRateLimit, {
    max: deps.rateLimitPerMinute ?? 1200,
    timeWindow: 60_000,
    hook: 'onRequest',
    store: createRateLimitStore({
      ...(deps.redis ? { redis: deps.redis } : {}),
      keyPrefix: `${redisKeyPrefix}ratelimit:`,
      outage: createStoreOutage('rate-limit', { logger, metrics }),
    }),
    keyGenerator: (request) => rateLimitKey(request.principal, request.ip),
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

  app.addHook('preParsing', (request, _reply, payload, done) => {
    if (request.authFailure) return done(request.authFailure);
    try {
      if (accessOf(request) === 'write' && request.principal) assertMayWrite(request.principal);
    } catch (error) {
      return done(error instanceof Error ? error : new Error(String(error)));
    }
    return done(null, payload);
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
