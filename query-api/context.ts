/**
 * What route plugins receive: the app type with the TypeBox provider, and the resolved
 * dependencies of the service. Routes import this, never the entry point.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logger.js';
import type { ExperimentDefinition, FlagDefinition } from '../common/experiment-definition.js';
import type { AuditLog } from './audit/audit-log.js';
import type { AuthFailureSummary } from './audit/auth-failure-summary.js';
import type { Authenticator, Principal } from './auth/authenticate.js';
import type { ResultsCache } from './cache/results-cache.js';
import type { Database } from './db/database.js';
import type { TargetingValidator } from './definitions/definition-rules.js';
import type { DefinitionStore } from './definitions/definition-store.js';
import type { QueryApiMetrics } from './metrics.js';
import type { EventSearch } from './search/event-search.js';
import type { RevocationList } from './sessions/revocation-list.js';

export type QueryApiInstance = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  Logger,
  TypeBoxTypeProvider
>;

/**
 * Who may call a route: `public` (health, docs), `read` (default for /api), `write`
 * (definition changes), `admin` (compliance export and verification).
 */
export type RouteAccess = 'public' | 'read' | 'write' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** Who is calling, set by the authentication hook (undefined on public routes or when it failed). */
    principal: Principal | undefined;
    /** Why authentication failed; answered (401) before the body is parsed. */
    authFailure: Error | undefined;
  }
}

export interface QueryApiContext {
  /** What routes read of the configuration: the counters table. */
  config: Pick<Config, 'dynamodb'>;
  database: Database;
  dynamo: DynamoDBClient;
  redis?: Redis;
  experiments: DefinitionStore<ExperimentDefinition>;
  flags: DefinitionStore<FlagDefinition>;
  cache: ResultsCache;
  search?: EventSearch;
  authenticator: Authenticator;
  metrics: QueryApiMetrics;
  validateTargeting: TargetingValidator;
  /** The audit trail: every change is appended in its own transaction (audit/audit-log.ts). */
  auditLog: AuditLog;
  /** Failed authentications, summarized into the audit trail once a minute. */
  authFailures: AuthFailureSummary;
  /** Signed-out tokens (Redis when configured). */
  revocations: RevocationList;
  now: () => Date;
}
