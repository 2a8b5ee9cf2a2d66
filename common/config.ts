/**
 * Configuration: parsed and validated once, at start-up, from environment variables
 * (the names the AWS deployment uses), then frozen and passed down. Nothing below an
 * entry point reads `process.env`.
 *
 * @example
 *   const config = loadConfig(process.env); // throws PipelineError('CONFIG_INVALID') naming the variable
 */
import Type from 'typebox';
import Value from 'typebox/value';
import { PipelineError } from './errors.js';
import { REDACTED, redactEnvValue } from './redact.js';

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Url = Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9+.-]*://\\S+$' });
/** Shortest accepted audit signing key (AUDIT_HMAC_SECRET and each of AUDIT_HMAC_PREVIOUS_SECRETS). */
export const MIN_AUDIT_SECRET_LENGTH = 32;
const Name = Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9_.-]+$' });

/** Every variable the pipeline reads, with its default. Documented in README.md. */
const EnvSchema = Type.Object({
  AWS_REGION: Type.String({ default: 'us-east-1', minLength: 1 }),
  AWS_ENDPOINT_URL_KINESIS: Type.Optional(Url),
  AWS_ENDPOINT_URL_DYNAMODB: Type.Optional(Url),
  KINESIS_STREAM_NAME: Type.String({ ...Name, default: 'ExperimentEvents' }),
  KINESIS_DLQ_STREAM_NAME: Type.String({ ...Name, default: 'ExperimentEvents-dlq' }),
  KINESIS_SHARD_COUNT: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
  DYNAMODB_TABLE_NAME: Type.String({ ...Name, default: 'ExperimentCounters' }),
  DYNAMODB_CHECKPOINT_TABLE_NAME: Type.String({ ...Name, default: 'ExperimentCheckpoints' }),
  DATABASE_URL: Type.Optional(Url),
  DATABASE_REPLICA_URL: Type.Optional(Url),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  DATABASE_MAX_OVERFLOW: Type.Integer({ minimum: 0, maximum: 1000, default: 5 }),
  DATABASE_POOL_TIMEOUT: Type.Number({ minimum: 0.1, maximum: 600, default: 30 }),
  /** Log in with IAM database authentication tokens (Aurora) instead of a password in the URL. */
  DATABASE_IAM_AUTH: Type.Boolean({ default: false }),
  REDIS_URL: Type.Optional(Url),
  REDIS_CACHE_TTL: Type.Integer({ minimum: 1, maximum: 86_400, default: 60 }),
  /** Most results kept in the results cache, in Redis and in the in-process cache alike (oldest go first). */
  REDIS_CACHE_MAX_SIZE: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 10_000 }),
  /** HMAC-SHA256 key of the audit trail's signatures; the query API refuses to start without it. */
  AUDIT_HMAC_SECRET: Type.Optional(Type.String({ minLength: MIN_AUDIT_SECRET_LENGTH, maxLength: 1024 })),
  /** Retired audit keys, comma-separated, still accepted when verifying events they signed (key rotation). */
  AUDIT_HMAC_PREVIOUS_SECRETS: Type.String({ default: '' }),
  OPENSEARCH_ENDPOINT: Type.Optional(Url),
  /** Lower case only: OpenSearch refuses upper-case index names, which would stall every shard. */
  OPENSEARCH_INDEX_PREFIX: Type.String({
    minLength: 1,
    maxLength: 128,
    pattern: '^[a-z0-9][a-z0-9_.-]*$',
    default: 'experimentation-events',
  }),
  LISTEN_HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  INGEST_PORT: Type.Integer({ ...Port, default: 8081 }),
  QUERY_API_PORT: Type.Integer({ ...Port, default: 8080 }),
  /** The query API's /metrics listener (never the public port; not behind the load balancer). */
  QUERY_API_METRICS_PORT: Type.Integer({ ...Port, default: 8083 }),
  /** Proxies in front of the query API that append to X-Forwarded-For (1 behind an ALB): the client IP is taken that many hops back. */
  QUERY_API_TRUSTED_PROXY_HOPS: Type.Integer({ minimum: 0, maximum: 5, default: 0 }),
  PROCESSORS_METRICS_PORT: Type.Integer({ ...Port, default: 8082 }),
  /** Address the processors' /metrics, /health and /ready listener binds to; unset: LISTEN_HOST. */
  PROCESSORS_METRICS_HOST: Type.Optional(Type.String({ minLength: 1 })),
  INGEST_API_KEYS: Type.String({ default: '' }),
  /** Browser origins allowed to post events (CORS): `*` (default, any page), a comma-separated list of `https://host[:port]` origins, or `none` (no CORS headers). */
  INGEST_CORS_ORIGINS: Type.String({
    default: '*',
    pattern: '^(\\*|none|https?://[^/,\\s]+(\\s*,\\s*https?://[^/,\\s]+)*)$',
  }),
  INGEST_MAX_BODY_BYTES: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 1024 * 1024 }),
  INGEST_MAX_EVENTS_PER_REQUEST: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }),
  INGEST_MAX_BUFFER_BYTES: Type.Integer({ minimum: 64 * 1024, default: 32 * 1024 * 1024 }),
  INGEST_LINGER_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 5 }),
  INGEST_PUT_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 20, default: 6 }),
  INGEST_PUT_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 8 }),
  INGEST_KPL_AGGREGATION: Type.Boolean({ default: false }),
  /** `json`: one Kinesis record per event (or KPL aggregates of them); `compact`: the compact format (common/compact-records.ts), one record per shard and call. */
  INGEST_RECORD_FORMAT: Type.Enum(['json', 'compact'], { default: 'json' }),
  /** Raw-deflate compact records (fewer shard bytes, more CPU); only with INGEST_RECORD_FORMAT=compact. */
  INGEST_COMPRESS_RECORDS: Type.Boolean({ default: false }),
  EVENT_MAX_BYTES: Type.Integer({ minimum: 256, maximum: 1024 * 1024, default: 8 * 1024 }),
  EVENT_MAX_AGE_HOURS: Type.Number({ minimum: 0, maximum: 24 * 365, default: 24 * 7 }),
  EVENT_MAX_FUTURE_SECONDS: Type.Number({ minimum: 0, maximum: 86_400, default: 300 }),
  EVENT_MAX_SEGMENTS: Type.Integer({ minimum: 0, maximum: 50, default: 10 }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  API_KEYS: Type.String({ default: '' }),
  /** API keys with the admin scope (compliance export and verification) besides read and write. */
  ADMIN_API_KEYS: Type.String({ default: '' }),
  COGNITO_USER_POOL_ID: Type.Optional(Type.String({ minLength: 1 })),
  COGNITO_CLIENT_ID: Type.Optional(Type.String({ minLength: 1 })),
  /** The user pool's Hosted UI (`https://<prefix>.auth.<region>.amazoncognito.com` or a custom domain): the results pages sign in there. */
  COGNITO_DOMAIN: Type.Optional(Type.String({ pattern: '^https?://[^/\\s]+$' })),
  EXPERIMENTATION_API_URL: Type.Optional(Url),
  /** Sent as `x-api-key` by the Assignment and Flag Evaluation Lambdas when they fetch definitions. */
  EXPERIMENTATION_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * The query API the processors read experiment definitions from (their counter plans: ratio,
   * capped and CUPED sums, processors/definitions); unset: those sums are not kept.
   */
  PROCESSOR_DEFINITIONS_API_URL: Type.Optional(Url),
  /** Sent as `x-api-key` with the definition lookups: a key with read access (in AWS: from PROCESSOR_DEFINITIONS_API_KEY_SECRET_ID). */
  PROCESSOR_DEFINITIONS_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  /** How long a fetched definition (and its counter plan) is fresh; a failed refresh keeps serving the stale copy. */
  PROCESSOR_DEFINITIONS_TTL_MS: Type.Integer({ minimum: 1000, maximum: 3_600_000, default: 60_000 }),
  PROCESSOR_SEGMENT_VALUE_CAP: Type.Integer({ minimum: 1, maximum: 10_000, default: 50 }),
  PROCESSOR_DEDUP_WINDOW_SECONDS: Type.Integer({ minimum: 1, default: 24 * 3600 }),
  PROCESSOR_BATCH_MAX_RECORDS: Type.Integer({ minimum: 1, maximum: 10_000, default: 10_000 }),
  PROCESSOR_POLL_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 200 }),
  /** Records wait up to this long to be processed together: one counter write per touched cell and interval (bench/README.md). */
  PROCESSOR_FLUSH_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 250 }),
  /**
   * Record bytes one processors process holds in its batches at most, divided among the shards it reads: bounds its
   * memory whatever one record holds.
   */
  PROCESSOR_BATCH_BUDGET_BYTES: Type.Integer({
    minimum: 64 * 1024,
    maximum: 1024 * 1024 * 1024,
    default: 16 * 1024 * 1024,
  }),
  /**
   * User records after de-aggregation (a compact or KPL record holds hundreds) one processors process holds in its
   * batches at most, divided among the shards it reads; lowered to what the heap holds (processors/README.md).
   */
  PROCESSOR_BATCH_BUDGET_USER_RECORDS: Type.Integer({ minimum: 100, maximum: 10_000_000, default: 200_000 }),
  PROCESSOR_WRITE_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 16 }),
  /**
   * Longest wait of a batch's cell writes for the other shards' batches in the process, to write the cells they
   * share with one UpdateItem each (processors/counters/cell-write-groups.ts); 0 writes each batch alone.
   */
  PROCESSOR_CELL_WRITE_GROUP_WAIT_MS: Type.Integer({ minimum: 0, maximum: 5_000, default: 100 }),
  /** `<index>/<of>`: this process reads shards whose number is index modulo of (several local processes, no lease manager). */
  PROCESSOR_SHARD_ASSIGNMENT: Type.String({ default: '0/1', pattern: '^[0-9]+/[0-9]+$' }),
  /** Where the exactly-once state lives: a durable Redis (default when a Redis URL is set), the embedded LMDB store, or process memory. */
  PROCESSOR_STATE_STORE: Type.Optional(Type.Enum(['redis', 'embedded', 'in-process'])),
  /** Directory of the embedded state store. */
  PROCESSOR_STATE_DIR: Type.String({ minLength: 1, default: '.local-data/state' }),
  /** The state store's own Redis (MemoryDB, noeviction); falls back to REDIS_URL for local runs. */
  STATE_REDIS_URL: Type.Optional(Url),
  /** The state store speaks the Redis cluster protocol (MemoryDB always does). */
  STATE_REDIS_CLUSTER: Type.Boolean({ default: false }),
  /** AI-assisted experiment design (POST /api/v1/experiments/design); unset: that route answers 503. */
  ANTHROPIC_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  /** The Claude model that drafts experiment definitions. */
  ANTHROPIC_MODEL: Type.String({
    minLength: 1,
    maxLength: 128,
    pattern: '^[A-Za-z0-9._:@-]+$',
    default: 'claude-sonnet-4-5',
  }),
  /** Base URL of the Anthropic API (tests point it at a local fake server). */
  ANTHROPIC_API_URL: Type.String({ ...Url, default: 'https://api.anthropic.com' }),
  /** Slack alerts (chat.postMessage); unset: the Slack channel is skipped. */
  SLACK_BOT_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  SLACK_DEFAULT_CHANNEL: Type.Optional(
    Type.String({ minLength: 1, maxLength: 81, pattern: '^#?[A-Za-z0-9._-]{1,80}$' }),
  ),
  SLACK_API_URL: Type.String({ ...Url, default: 'https://slack.com/api' }),
  /** Email alerts (SendGrid v3 mail send) to an experiment's owners; unset: the email channel is skipped. */
  SENDGRID_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  SENDGRID_API_URL: Type.String({ ...Url, default: 'https://api.sendgrid.com' }),
  /** Sender of alert emails (a verified SendGrid sender). */
  ALERT_EMAIL_FROM: Type.Optional(
    Type.String({ minLength: 3, maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$' }),
  ),
  /** Comma-separated addresses of pipeline-health alert emails; unset: the running experiments' owners. */
  ALERT_EMAIL_TO: Type.Optional(
    Type.String({
      maxLength: 4096,
      pattern: '^\\s*[^\\s@,]+@[^\\s@,]+\\.[^\\s@,]+\\s*(,\\s*[^\\s@,]+@[^\\s@,]+\\.[^\\s@,]+\\s*)*$',
    }),
  ),
  /** Base URL of the results pages in alert links; default the query API's own address. */
  PUBLIC_BASE_URL: Type.Optional(Url),
  /** Seconds per results snapshot: one per experiment, metric and interval (results history). */
  MONITOR_SNAPSHOT_INTERVAL: Type.Integer({ minimum: 60, maximum: 7 * 86_400, default: 3600 }),
  /** Seconds between monitor runs in `npm run monitor -- watch` and `npm start`. */
  MONITOR_INTERVAL: Type.Integer({ minimum: 5, maximum: 86_400, default: 60 }),
  /** Dead letters added within MONITOR_DEAD_LETTER_WINDOW above which the dead-letter alert fires. */
  MONITOR_DEAD_LETTER_THRESHOLD: Type.Integer({ minimum: 0, default: 0 }),
  MONITOR_DEAD_LETTER_WINDOW: Type.Integer({ minimum: 60, maximum: 86_400, default: 900 }),
  /** Processor lag (MillisBehindLatest / iterator age) above which the lag alert fires. */
  MONITOR_LAG_THRESHOLD_MS: Type.Integer({ minimum: 0, default: 60_000 }),
  /** The processors' metrics endpoints (comma-separated `/metrics` URLs) the monitor reads pipeline health from. */
  PROCESSORS_METRICS_URLS: Type.String({ default: '' }),
  /** Where the monitor reads pipeline health: the processors' /metrics endpoints, or CloudWatch (Lambda processors). */
  MONITOR_HEALTH_SOURCE: Type.Enum(['processors-metrics', 'cloudwatch'], { default: 'processors-metrics' }),
  /** The Event Processor function whose IteratorAge CloudWatch reports (MONITOR_HEALTH_SOURCE=cloudwatch). */
  MONITOR_PROCESSOR_FUNCTION_NAME: Type.String({ ...Name, default: 'experimentation-event-processor' }),
  AWS_ENDPOINT_URL_CLOUDWATCH: Type.Optional(Url),
  /**
   * Run the monitor loop inside the query API process on its own pool (`npm start` sets it for
   * the embedded database, whose one session must not be shared by two processes).
   */
  MONITOR_IN_PROCESS: Type.Boolean({ default: false }),
});

/** Structured, frozen configuration handed to every component. */
export interface Config {
  readonly aws: {
    readonly region: string;
    readonly kinesisEndpoint?: string;
    readonly dynamodbEndpoint?: string;
    readonly cloudwatchEndpoint?: string;
  };
  readonly kinesis: { readonly streamName: string; readonly dlqStreamName: string; readonly shardCount: number };
  readonly dynamodb: { readonly countersTable: string; readonly checkpointTable: string };
  readonly database: {
    readonly url?: string;
    readonly replicaUrl?: string;
    readonly poolSize: number;
    readonly maxOverflow: number;
    readonly poolTimeoutMs: number;
    /** Set with DATABASE_IAM_AUTH: each connection signs an IAM token (query-api/db/iam-auth-token.ts). */
    readonly iamAuth?: { readonly region: string };
  };
  readonly redis: {
    readonly url?: string;
    readonly cacheTtlSeconds: number;
    /** Most values the results cache keeps (Redis and in-process). */
    readonly cacheMaxItems: number;
  };
  /** The query API's audit trail signing keys (query-api/audit). */
  readonly audit: {
    /** The current HMAC-SHA256 key; unset: the query API refuses to start. */
    readonly hmacSecret?: string;
    /** Retired keys, accepted for verification only. */
    readonly previousHmacSecrets: readonly string[];
  };
  readonly opensearch: { readonly endpoint?: string; readonly indexPrefix: string };
  readonly ingest: {
    readonly host: string;
    readonly port: number;
    readonly apiKeys: readonly string[];
    /** Origins whose pages may post events (`*`: any); empty (`none`): no CORS headers at all. */
    readonly corsOrigins: '*' | readonly string[];
    readonly maxBodyBytes: number;
    /** Events one request may carry; more is refused whole (413, rule max-events). */
    readonly maxEventsPerRequest: number;
    readonly maxBufferBytes: number;
    readonly lingerMs: number;
    readonly putMaxAttempts: number;
    readonly putConcurrency: number;
    readonly kplAggregation: boolean;
    /** Record format on the stream; `compact` packs each call's events per destination shard. */
    readonly recordFormat: 'json' | 'compact';
    readonly compressRecords: boolean;
  };
  readonly events: EventLimits;
  readonly queryApi: {
    readonly host: string;
    readonly port: number;
    readonly apiKeys: readonly string[];
    /** Keys that also carry the admin scope (compliance routes). */
    readonly adminApiKeys: readonly string[];
    readonly cognito?: { readonly userPoolId: string; readonly clientId: string };
    /** The Hosted UI origin the results pages (/ui/) send analysts to for sign-in (COGNITO_DOMAIN). */
    readonly cognitoDomain?: string;
    /** Port of the separate /metrics listener. */
    readonly metricsPort: number;
    /** X-Forwarded-For hops to trust (0: the socket address is the client). */
    readonly trustedProxyHops: number;
  };
  readonly processors: {
    readonly segmentValueCap: number;
    readonly dedupWindowSeconds: number;
    readonly batchMaxRecords: number;
    readonly pollIntervalMs: number;
    readonly flushIntervalMs: number;
    /** Record bytes in the process's batches in hand, all shards together. */
    readonly batchBudgetBytes: number;
    /** User records in the process's batches in hand, all shards together. */
    readonly batchBudgetUserRecords: number;
    /** Shards this process reads (processors/consumer/shard-assignment.ts). */
    readonly shardAssignment: { readonly index: number; readonly of: number };
    readonly writeConcurrency: number;
    /** Longest wait of a batch's cell writes for other shards' batches (0: none). */
    readonly cellWriteGroupWaitMs: number;
    /** Address of the local consumer's /metrics, /health and /ready listener (PROCESSORS_METRICS_HOST, else LISTEN_HOST). */
    readonly metricsHost: string;
    /** Port of the local consumer's /metrics and /health. */
    readonly metricsPort: number;
    /**
     * The exactly-once state store. `kind` is undefined when nothing was chosen: the
     * processors then refuse to start (a deployed processor must never fall back to memory).
     */
    readonly state: {
      readonly kind?: 'redis' | 'embedded' | 'in-process';
      readonly redisUrl?: string;
      readonly redisCluster: boolean;
      readonly directory: string;
    };
    /** Where the counter plans come from (processors/definitions); no `apiUrl`: no plan source. */
    readonly definitions: {
      readonly apiUrl?: string;
      readonly apiKey?: string;
      readonly ttlMs: number;
    };
  };
  readonly experimentationApiUrl?: string;
  readonly experimentationApiKey?: string;
  readonly logLevel: string;
  /** The Messages API behind AI-assisted experiment design (query-api/design). */
  readonly anthropic: { readonly apiKey?: string; readonly model: string; readonly apiUrl: string };
  /** The monitor job: snapshots, alert conditions and channels (query-api/monitor). */
  readonly monitor: MonitorConfig;
}

/*
 * Each component receives only its slice of the configuration (issue #17): its entry point
 * takes the top-level sections it reads and no others, so its signature says what it depends
 * on and it cannot start reading another component's settings unnoticed. Helpers inside a
 * component take a smaller `Pick<Config, …>` still (one section, when they read one). A full
 * `Config` is assignable to every slice: whoever holds one (local/start.ts, the Lambda
 * handlers, tests, benches) passes it as it is.
 */

/**
 * What the collector reads (ingest/server.ts `startCollector`): its listener, limits and
 * batching (`ingest`), the event contract limits, the stream it writes, the AWS client
 * settings and the log level. Never a database, Redis, the audit keys or the tables.
 *
 * @example const collector = await startCollector(loadConfig()); // a full Config is a CollectorConfig
 */
export type CollectorConfig = Pick<Config, 'aws' | 'kinesis' | 'ingest' | 'events' | 'logLevel'>;

/**
 * What the processors read (processors/main.ts `startProcessors`, pipeline-from-config.ts):
 * their own settings (`processors`: batching, state store, definitions, metrics listener),
 * the streams, the counter and checkpoint tables, the OpenSearch index, the event limits,
 * the AWS client settings and the log level. Not `ingest` (their metrics host is
 * PROCESSORS_METRICS_HOST) and not `redis` (the state store's Redis is `processors.state`).
 *
 * @example const processors = await startProcessors(loadConfig());
 */
export type ProcessorsConfig = Pick<
  Config,
  'aws' | 'kinesis' | 'dynamodb' | 'opensearch' | 'events' | 'processors' | 'logLevel'
>;

/**
 * What the query API reads (query-api/start-query-api.ts `startQueryApi`): its listeners and
 * authentication (`queryApi`), PostgreSQL, the results cache's Redis, the audit keys, the
 * counters table, OpenSearch, the design assistant, the AWS client settings and the log level;
 * `monitor` and `kinesis` only for the monitor loop it runs inside itself with MONITOR_IN_PROCESS
 * (`kinesis`: the dead-letter stream whose CloudWatch metrics the health source reads).
 *
 * @example const api = await startQueryApi(loadConfig());
 */
export type QueryApiConfig = Pick<
  Config,
  | 'aws'
  | 'kinesis'
  | 'dynamodb'
  | 'database'
  | 'redis'
  | 'audit'
  | 'opensearch'
  | 'queryApi'
  | 'anthropic'
  | 'monitor'
  | 'logLevel'
>;

/** Settings of the monitor job (query-api/monitor/README.md). */
export interface MonitorConfig {
  readonly slack: { readonly botToken?: string; readonly defaultChannel?: string; readonly apiUrl: string };
  readonly sendgrid: {
    readonly apiKey?: string;
    readonly apiUrl: string;
    readonly from?: string;
    /** Recipients of pipeline-health alerts (ALERT_EMAIL_TO); empty: the running experiments' owners. */
    readonly to: readonly string[];
  };
  /** Base URL of links to results pages (`<base>/ui/experiments/<key>`). */
  readonly publicBaseUrl?: string;
  readonly snapshotIntervalMs: number;
  readonly runIntervalMs: number;
  readonly deadLetterThreshold: number;
  readonly deadLetterWindowMs: number;
  readonly lagThresholdMs: number;
  readonly processorsMetricsUrls: readonly string[];
  readonly healthSource: 'processors-metrics' | 'cloudwatch';
  readonly processorFunctionName: string;
  /** Run the monitor loop inside the query API (MONITOR_IN_PROCESS; the embedded database of `npm start`). */
  readonly inProcess: boolean;
}

/** Limits that protect the pipeline from oversized or absurd events. */
export interface EventLimits {
  readonly maxEventBytes: number;
  readonly maxAgeMs: number;
  readonly maxFutureMs: number;
  readonly maxSegments: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = Object.freeze({
  maxEventBytes: 8 * 1024,
  maxAgeMs: 7 * 24 * 3600 * 1000,
  maxFutureMs: 300 * 1000,
  maxSegments: 10,
});

const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true,
  '1': true,
  yes: true,
  false: false,
  '0': false,
  no: false,
};

function readKnownVariables(env: Record<string, string | undefined>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(EnvSchema.properties)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const type = (schema as { type?: string }).type;
    if (type === 'integer' || type === 'number')
      raw[name] = /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
    else if (type === 'boolean') raw[name] = BOOLEAN_WORDS[value.trim().toLowerCase()] ?? value;
    else raw[name] = value;
  }
  return raw;
}

/**
 * Variables an earlier version read, with what took their place: set, they stop the process with a
 * message naming the new variable, rather than being ignored while the default applies.
 */
const RENAMED_VARIABLES: Readonly<Record<string, { now: string; why: string }>> = Object.freeze({
  PROCESSOR_BATCH_MAX_BYTES: {
    now: 'PROCESSOR_BATCH_BUDGET_BYTES',
    why: 'per process, divided among the shards it reads, no longer per shard',
  },
  PROCESSOR_BATCH_MAX_USER_RECORDS: {
    now: 'PROCESSOR_BATCH_BUDGET_USER_RECORDS',
    why: 'per process, divided among the shards it reads, no longer per shard',
  },
});

function describeRule(error: { keyword: string; message: string }): string {
  return `${error.keyword}: ${error.message}`;
}

const splitList = (value: string): string[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

/**
 * Parses and validates the environment. Throws `PipelineError('CONFIG_INVALID')` whose
 * message names every bad variable and the rule it broke.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const renamed = Object.entries(RENAMED_VARIABLES).filter(([old]) => env[old] !== undefined && env[old] !== '');
  if (renamed.length > 0) {
    const problems = renamed.map(([old, { now, why }]) => `${old} is now ${now} (${why})`);
    throw new PipelineError('CONFIG_INVALID', `Invalid configuration: ${problems.join('; ')}`, { details: problems });
  }
  const raw = readKnownVariables(env);
  const withDefaults = Value.Default(EnvSchema, raw) as Record<string, unknown>;
  if (!Value.Check(EnvSchema, withDefaults)) {
    const problems = [...Value.Errors(EnvSchema, withDefaults)].map((error) => {
      const variable = error.instancePath.replace(/^\//, '') || 'environment';
      const value = env[variable];
      // Never echo credentials: URLs lose their user:password, secret variables their value.
      const shown = value === undefined ? null : redactEnvValue(variable, value);
      return `${variable}=${JSON.stringify(shown)} (${describeRule(error)})`;
    });
    throw new PipelineError('CONFIG_INVALID', `Invalid configuration: ${problems.join('; ')}`, { details: problems });
  }
  const e = withDefaults;
  const cognito =
    e.COGNITO_USER_POOL_ID && e.COGNITO_CLIENT_ID
      ? { userPoolId: e.COGNITO_USER_POOL_ID, clientId: e.COGNITO_CLIENT_ID }
      : undefined;
  if (Boolean(e.COGNITO_USER_POOL_ID) !== Boolean(e.COGNITO_CLIENT_ID)) {
    throw new PipelineError(
      'CONFIG_INVALID',
      'Invalid configuration: COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID must be set together',
    );
  }
  const stateRedisUrl = e.STATE_REDIS_URL ?? e.REDIS_URL;
  if (e.PROCESSOR_STATE_STORE === 'redis' && !stateRedisUrl) {
    throw new PipelineError(
      'CONFIG_INVALID',
      'Invalid configuration: PROCESSOR_STATE_STORE=redis needs STATE_REDIS_URL (or REDIS_URL) to be set',
    );
  }
  const [assignedIndex, assignedOf] = e.PROCESSOR_SHARD_ASSIGNMENT.split('/').map(Number) as [number, number];
  if (!(assignedOf >= 1 && assignedIndex < assignedOf)) {
    throw new PipelineError(
      'CONFIG_INVALID',
      `Invalid configuration: PROCESSOR_SHARD_ASSIGNMENT="${e.PROCESSOR_SHARD_ASSIGNMENT}" (must be <index>/<of> with index < of, e.g. 0/2)`,
    );
  }
  const shardAssignment = { index: assignedIndex, of: assignedOf };
  const previousHmacSecrets = splitList(e.AUDIT_HMAC_PREVIOUS_SECRETS);
  if (previousHmacSecrets.some((secret) => secret.length < MIN_AUDIT_SECRET_LENGTH)) {
    throw new PipelineError(
      'CONFIG_INVALID',
      `Invalid configuration: AUDIT_HMAC_PREVIOUS_SECRETS="${REDACTED}" (minLength: every comma-separated ` +
        `secret must have at least ${MIN_AUDIT_SECRET_LENGTH} characters)`,
    );
  }
  const config: Config = {
    aws: {
      region: e.AWS_REGION,
      kinesisEndpoint: e.AWS_ENDPOINT_URL_KINESIS,
      dynamodbEndpoint: e.AWS_ENDPOINT_URL_DYNAMODB,
      cloudwatchEndpoint: e.AWS_ENDPOINT_URL_CLOUDWATCH,
    },
    kinesis: {
      streamName: e.KINESIS_STREAM_NAME,
      dlqStreamName: e.KINESIS_DLQ_STREAM_NAME,
      shardCount: e.KINESIS_SHARD_COUNT,
    },
    dynamodb: { countersTable: e.DYNAMODB_TABLE_NAME, checkpointTable: e.DYNAMODB_CHECKPOINT_TABLE_NAME },
    database: {
      url: e.DATABASE_URL,
      replicaUrl: e.DATABASE_REPLICA_URL,
      poolSize: e.DATABASE_POOL_SIZE,
      maxOverflow: e.DATABASE_MAX_OVERFLOW,
      poolTimeoutMs: Math.round(e.DATABASE_POOL_TIMEOUT * 1000),
      ...(e.DATABASE_IAM_AUTH ? { iamAuth: { region: e.AWS_REGION } } : {}),
    },
    redis: { url: e.REDIS_URL, cacheTtlSeconds: e.REDIS_CACHE_TTL, cacheMaxItems: e.REDIS_CACHE_MAX_SIZE },
    audit: { hmacSecret: e.AUDIT_HMAC_SECRET, previousHmacSecrets },
    opensearch: { endpoint: e.OPENSEARCH_ENDPOINT, indexPrefix: e.OPENSEARCH_INDEX_PREFIX },
    ingest: {
      host: e.LISTEN_HOST,
      port: e.INGEST_PORT,
      apiKeys: splitList(e.INGEST_API_KEYS),
      corsOrigins:
        e.INGEST_CORS_ORIGINS === '*' ? '*' : e.INGEST_CORS_ORIGINS === 'none' ? [] : splitList(e.INGEST_CORS_ORIGINS),
      maxBodyBytes: e.INGEST_MAX_BODY_BYTES,
      maxEventsPerRequest: e.INGEST_MAX_EVENTS_PER_REQUEST,
      maxBufferBytes: e.INGEST_MAX_BUFFER_BYTES,
      lingerMs: e.INGEST_LINGER_MS,
      putMaxAttempts: e.INGEST_PUT_MAX_ATTEMPTS,
      putConcurrency: e.INGEST_PUT_CONCURRENCY,
      kplAggregation: e.INGEST_KPL_AGGREGATION,
      recordFormat: e.INGEST_RECORD_FORMAT,
      compressRecords: e.INGEST_COMPRESS_RECORDS,
    },
    events: {
      maxEventBytes: e.EVENT_MAX_BYTES,
      maxAgeMs: Math.round(e.EVENT_MAX_AGE_HOURS * 3600 * 1000),
      maxFutureMs: Math.round(e.EVENT_MAX_FUTURE_SECONDS * 1000),
      maxSegments: e.EVENT_MAX_SEGMENTS,
    },
    queryApi: {
      host: e.LISTEN_HOST,
      port: e.QUERY_API_PORT,
      apiKeys: splitList(e.API_KEYS),
      adminApiKeys: splitList(e.ADMIN_API_KEYS),
      cognito,
      cognitoDomain: e.COGNITO_DOMAIN,
      metricsPort: e.QUERY_API_METRICS_PORT,
      trustedProxyHops: e.QUERY_API_TRUSTED_PROXY_HOPS,
    },
    processors: {
      segmentValueCap: e.PROCESSOR_SEGMENT_VALUE_CAP,
      dedupWindowSeconds: e.PROCESSOR_DEDUP_WINDOW_SECONDS,
      batchMaxRecords: e.PROCESSOR_BATCH_MAX_RECORDS,
      pollIntervalMs: e.PROCESSOR_POLL_INTERVAL_MS,
      flushIntervalMs: e.PROCESSOR_FLUSH_INTERVAL_MS,
      batchBudgetBytes: e.PROCESSOR_BATCH_BUDGET_BYTES,
      batchBudgetUserRecords: e.PROCESSOR_BATCH_BUDGET_USER_RECORDS,
      shardAssignment,
      writeConcurrency: e.PROCESSOR_WRITE_CONCURRENCY,
      cellWriteGroupWaitMs: e.PROCESSOR_CELL_WRITE_GROUP_WAIT_MS,
      metricsHost: e.PROCESSORS_METRICS_HOST ?? e.LISTEN_HOST,
      metricsPort: e.PROCESSORS_METRICS_PORT,
      state: {
        kind: e.PROCESSOR_STATE_STORE ?? (stateRedisUrl ? 'redis' : undefined),
        redisUrl: stateRedisUrl,
        redisCluster: e.STATE_REDIS_CLUSTER,
        directory: e.PROCESSOR_STATE_DIR,
      },
      definitions: {
        apiUrl: e.PROCESSOR_DEFINITIONS_API_URL,
        apiKey: e.PROCESSOR_DEFINITIONS_API_KEY,
        ttlMs: e.PROCESSOR_DEFINITIONS_TTL_MS,
      },
    },
    experimentationApiUrl: e.EXPERIMENTATION_API_URL,
    experimentationApiKey: e.EXPERIMENTATION_API_KEY,
    logLevel: e.LOG_LEVEL,
    anthropic: { apiKey: e.ANTHROPIC_API_KEY, model: e.ANTHROPIC_MODEL, apiUrl: e.ANTHROPIC_API_URL },
    monitor: {
      slack: { botToken: e.SLACK_BOT_TOKEN, defaultChannel: e.SLACK_DEFAULT_CHANNEL, apiUrl: e.SLACK_API_URL },
      sendgrid: {
        apiKey: e.SENDGRID_API_KEY,
        apiUrl: e.SENDGRID_API_URL,
        from: e.ALERT_EMAIL_FROM,
        to: splitList(e.ALERT_EMAIL_TO ?? ''),
      },
      publicBaseUrl: e.PUBLIC_BASE_URL,
      snapshotIntervalMs: e.MONITOR_SNAPSHOT_INTERVAL * 1000,
      runIntervalMs: e.MONITOR_INTERVAL * 1000,
      deadLetterThreshold: e.MONITOR_DEAD_LETTER_THRESHOLD,
      deadLetterWindowMs: e.MONITOR_DEAD_LETTER_WINDOW * 1000,
      lagThresholdMs: e.MONITOR_LAG_THRESHOLD_MS,
      processorsMetricsUrls: splitList(e.PROCESSORS_METRICS_URLS),
      healthSource: e.MONITOR_HEALTH_SOURCE,
      processorFunctionName: e.MONITOR_PROCESSOR_FUNCTION_NAME,
      inProcess: e.MONITOR_IN_PROCESS,
    },
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** The documented list of variables, for README generation and `--help` output. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(EnvSchema.properties);
