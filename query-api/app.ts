/**
 * The query API's Fastify app. `createQueryApi(config, deps)` wires plugins and routes
 * to injected dependencies and does not listen: tests drive it with `app.inject()`,
 * `startQueryApi` (start-query-api.ts) listens.
 *
 *   /api/v1/experiments[/{experimentId}]            definitions (PostgreSQL)
 *   /api/v1/experiments/{id}/results                 per-variant statistics (DynamoDB counters, cached)
 *   /api/v1/experiments/{id}/results/history         results over time (the monitor's snapshots, PostgreSQL)
 *   POST /api/v1/experiments/power                   sample size and days (stats/power-plan.ts)
 *   POST /api/v1/experiments/design                  AI-drafted definition, unsaved (design/)
 *   /api/v1/experiments/{id}/segments/{dimension}    breakdowns (?by= a second dimension)
 *   /api/v1/flags[/{flagKey}]                        feature flags
 *   POST /api/v1/events/search                       ad-hoc aggregations (OpenSearch)
 *   /api/v1/compliance/{export,verify}, /api/v1/audit-events   the audit trail (audit/)
 *   POST /api/v1/sessions/logout                     sign out (revokes the token in Redis)
 *   /api/v1/sdk-connections[/{id}], GET /api/features/{clientKey}   GrowthBook SDK keys and payload (sdk/)
 *   /ui/…                                            the results pages (ui/ui-routes.ts; public, the API calls are not)
 *   /health /ready /docs                             operations (/metrics: metrics-server.ts, its own port)
 *
 * Request lifecycle: `onRequest` authenticates (the principal, or the failure kept for
 * later; a signed-out token is a failure; failures are counted for the audit summary)
 * → the rate limiter counts the principal's bucket (`rate-limit/rate-limit-key.ts`)
 * → `preParsing` answers 401/403 (503 for a write whose token cannot be checked against
 * the sign-out list) → body parsing and schemas → handler. Every state change writes its
 * audit event in the change's transaction.
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
import { closePromptly } from '../common/http-close.js';
import { registerErrorHandling } from '../common/http-errors.js';
import { createSilentLogger, type Logger } from '../common/logger.js';
import { createAuditLog } from './audit/audit-log.js';
import { auditKeyRingFromConfig } from './audit/audit-keys.js';
import { createAuthFailureSummary } from './audit/auth-failure-summary.js';
import {
  assertMayAdminister,
  assertMayWrite,
  AuthenticationError,
  createAuthenticator,
  type Principal,
} from './auth/authenticate.js';
import { createMemoryResultsCache, createRedisResultsCache, type ResultsCache } from './cache/results-cache.js';
import type { QueryApiContext, QueryApiInstance, RouteAccess } from './context.js';
import type { MessagesClient } from './design/anthropic-client.js';
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
import { registerComplianceRoutes } from './routes/compliance-routes.js';
import { registerDefinitionRoutes } from './routes/definition-routes.js';
import { designClientFromConfig, registerDesignRoutes } from './routes/design-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerMetricTotalsRoutes } from './routes/metric-totals-routes.js';
import { registerPowerRoutes } from './routes/power-routes.js';
import { registerResultsRoutes } from './routes/results-routes.js';
import { registerSummaryRoutes } from './routes/summary-routes.js';
import { registerHistoryRoutes } from './routes/history-routes.js';
import { registerSearchRoutes } from './routes/search-routes.js';
import { registerSessionRoutes } from './routes/session-routes.js';
import { registerSdkRoutes } from './sdk/sdk-routes.js';
import { registerUiRoutes } from './ui/ui-routes.js';
import { rateLimitKey } from './rate-limit/rate-limit-key.js';
import { createRateLimitStore } from './rate-limit/rate-limit-store.js';
import type { EventSearch } from './search/event-search.js';
import { createMemoryRevocationList, createRedisRevocationList } from './sessions/revocation-list.js';
import { createStoreOutage, type StoreOutage } from './store-outage.js';

/** What the query API needs from the outside world; connections are owned by the caller. */
export interface QueryApiDeps {
  database: Database;
  dynamo: DynamoDBClient;
  /**
   * The shared store of the results cache, the rate-limit counters and the sign-out list,
   * and a readiness check. Its outage degrades to in-process caching and counting; writes
   * by signed-in users are refused meanwhile (their tokens cannot be checked).
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
  /**
   * The Messages API client of POST /api/v1/experiments/design. Default: built from
   * ANTHROPIC_* (none without ANTHROPIC_API_KEY: the route answers 503).
   */
  designClient?: MessagesClient;
  /** JWKS source for Cognito verification (tests serve a local JWKS). */
  jwksCache?: JwksCache;
  /** Requests per minute per caller (API key, token `sub`, or IP when unauthenticated). Default 1200. */
  rateLimitPerMinute?: number;
  /** Length of a failed-authentication summary window (audit/auth-failure-summary.ts). Default 60 s. */
  authFailureWindowMs?: number;
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

/** Routes that change state or expose the whole trail: refused when a token's sign-out status is unknown. */
const failsClosed = (access: RouteAccess) => access === 'write' || access === 'admin';

/**
 * Refuses a signed-out token (401). When the sign-out list cannot answer (Redis down), a
 * route that changes state is refused (503) and a read goes on unchecked (counted and
 * logged as a `sessions` store outage).
 */
async function checkNotSignedOut(
  principal: Principal,
  request: FastifyRequest,
  revocations: QueryApiContext['revocations'],
  outage: StoreOutage,
): Promise<void> {
  if (!principal.session) return;
  let revoked: boolean;
  try {
    revoked = await revocations.isRevoked(principal.session);
    outage.succeeded();
  } catch (error) {
    if (failsClosed(accessOf(request))) throw error;
    outage.failed(error);
    return;
  }
  if (revoked)
    throw new AuthenticationError('revoked-token', 'the bearer token was revoked (signed out); sign in again');
}

/**
 * Builds the query API (not listening). Options are validated by `loadConfig`; the context is frozen here.
 * Of the configuration it reads its own section (`queryApi`), the audit keys, the results cache's
 * settings (`redis`), the design assistant and the counters table (routes, through the context).
 */
export async function createQueryApi(
  config: Pick<Config, 'queryApi' | 'audit' | 'redis' | 'anthropic' | 'dynamodb'>,
  deps: QueryApiDeps,
): Promise<QueryApiInstance> {
  const logger = deps.logger ?? createSilentLogger();
  const metrics = deps.metrics ?? createQueryApiMetrics();
  const redisKeyPrefix = deps.redisKeyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
  const keys = auditKeyRingFromConfig(config);
  const now = deps.now ?? (() => new Date());
  const memoryCache = () =>
    createMemoryResultsCache({ ttlSeconds: config.redis.cacheTtlSeconds, maxItems: config.redis.cacheMaxItems });
  const cache =
    deps.cache ??
    (deps.redis
      ? createRedisResultsCache({
          redis: deps.redis,
          keyPrefix: redisKeyPrefix,
          ttlSeconds: config.redis.cacheTtlSeconds,
          maxItems: config.redis.cacheMaxItems,
          fallback: memoryCache(),
          outage: createStoreOutage('results-cache', { logger, metrics }),
        })
      : memoryCache());
  const auditLog = createAuditLog({ pool: deps.database.writer, keys, now });
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
    auditLog,
    authFailures: createAuthFailureSummary({
      auditLog,
      logger,
      now,
      ...(deps.authFailureWindowMs ? { windowMs: deps.authFailureWindowMs } : {}),
    }),
    revocations: deps.redis
      ? createRedisRevocationList({ redis: deps.redis, keyPrefix: redisKeyPrefix })
      : createMemoryRevocationList(),
    now,
  });
  const sessionsOutage = createStoreOutage(
    'sessions',
    { logger, metrics },
    'sign-outs cannot be checked: reads go on, writes by signed-in users answer 503',
  );
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
  closePromptly(app);
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
      const principal = await context.authenticator.authenticate(request.headers);
      await checkNotSignedOut(principal, request, context.revocations, sessionsOutage);
      request.principal = principal;
    } catch (error) {
      request.authFailure = error instanceof Error ? error : new Error(String(error));
      if (error instanceof AuthenticationError) {
        context.authFailures.record({ sourceIp: request.ip, reason: error.reason });
      }
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
      const access = accessOf(request);
      if (access === 'write' && request.principal) assertMayWrite(request.principal);
      if (access === 'admin' && request.principal) assertMayAdminister(request.principal);
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
    deletionRefusal: (definition) =>
      definition.status === 'running'
        ? `experiment "${definition.key}" is running: stop it first (PATCH status "stopped"), then delete it`
        : undefined,
    auditLog: context.auditLog,
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
    auditLog: context.auditLog,
  });
  registerPowerRoutes(app);
  registerDesignRoutes(app, context, deps.designClient ?? designClientFromConfig(config.anthropic, logger));
  registerResultsRoutes(app, context);
  registerSummaryRoutes(app, context);
  registerHistoryRoutes(app, context);
  registerMetricTotalsRoutes(app, context);
  registerSearchRoutes(app, context);
  registerComplianceRoutes(app, context);
  registerSessionRoutes(app, context);
  registerSdkRoutes(app, context);
  await registerUiRoutes(app, config);
  context.authFailures.start();
  app.addHook('onClose', () => context.authFailures.stop());
  return app;
}
