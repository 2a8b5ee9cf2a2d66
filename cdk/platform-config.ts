/**
 * Deployment configuration of the platform, read once by the CDK app: CDK context
 * (`-c key=value` or cdk.context.json) wins over the environment variables a deployment
 * guide lists, which win over the defaults of the stage (`dev` or `prod`). Stream and table
 * names come from the same variables the services read (common/config.ts), so a deployed
 * service and its infrastructure cannot disagree on a name.
 *
 * @example
 *   const config = loadPlatformConfig((key) => app.node.tryGetContext(key), process.env);
 */
import { loadConfig } from '../common/config.js';

export type Stage = 'dev' | 'prod';

/** Everything the stacks need to know, resolved and frozen. */
export interface PlatformConfig {
  readonly stage: Stage;
  /** Prefix of physical names that are not part of the data contract (functions, clusters, log groups). */
  readonly prefix: string;
  readonly account: string;
  readonly region: string;
  readonly network: {
    /** Named, not looked up: synth then needs no AWS credentials and never changes with the account. */
    readonly availabilityZones: readonly string[];
    readonly natGateways: number;
    readonly cidr: string;
  };
  readonly streams: {
    readonly eventsStreamName: string;
    readonly deadLetterStreamName: string;
    readonly shardCount: number;
    readonly retentionHours: number;
  };
  readonly tables: { readonly countersTableName: string; readonly checkpointTableName: string };
  readonly openSearch: {
    readonly dataNodes: number;
    readonly dataNodeInstanceType: string;
    readonly masterNodes: number;
    readonly masterNodeInstanceType: string;
    readonly volumeSizeGib: number;
    readonly indexPrefix: string;
  };
  readonly database: {
    readonly instanceType: string;
    readonly readers: number;
    readonly backupRetentionDays: number;
    readonly databaseName: string;
    readonly cacheNodeType: string;
    /** Replicas of the results cache's node (0: a single node; the cache may lose everything). */
    readonly cacheReplicas: number;
    /**
     * The PostgreSQL role the query API logs in as, with IAM database authentication (never the
     * master user). Created once by the bootstrap step in cdk/README.md ("Database access").
     */
    readonly applicationUser: string;
  };
  readonly services: {
    readonly cpu: number;
    readonly memoryMiB: number;
    readonly minTasks: number;
    readonly maxTasks: number;
    readonly apiDomainName: string;
    readonly apiCertificateArn?: string;
    readonly ingestDomainName: string;
    readonly ingestCertificateArn?: string;
    readonly cognitoUserPoolId?: string;
    /**
     * An existing app client of the pool the query API verifies tokens for. Unset (with a
     * pool): ApiStack creates the results pages' public app client (cdk/results-pages-sign-in.ts).
     */
    readonly cognitoClientId?: string;
    /** Prefix of the Hosted UI domain ApiStack creates: `https://<prefix>.auth.<region>.amazoncognito.com`. */
    readonly cognitoDomainPrefix: string;
    /** An existing Hosted UI of the pool (`https://…`, COGNITO_DOMAIN): used instead of creating a domain. */
    readonly cognitoDomain?: string;
    /**
     * `https://` origins that serve the results pages (`/ui/`): the query API's hostname, the
     * CloudFront frontend's custom domain, and any `uiOrigins` (e.g. the distribution's
     * `*.cloudfront.net` name, known after its first deploy). The app client's callback
     * (`<origin>/ui/callback`) and sign-out (`<origin>/ui/`) URLs.
     */
    readonly uiOrigins: readonly string[];
    /**
     * Complete ARNs of operator-created Secrets Manager secrets (plain string values) for the
     * query API's optional integrations; each is injected only when configured.
     */
    readonly optionalSecretArns: {
      readonly slackBotToken?: string;
      readonly sendgridApiKey?: string;
      readonly anthropicApiKey?: string;
    };
  };
  /**
   * The processors' exactly-once state store (MemoryDB, one shard). Size it with the rule in
   * cdk/README.md ("Sizing the state store"): it never evicts, so a full node refuses writes.
   */
  readonly stateStore: {
    /** MemoryDB node type (`db.*`); every node holds the whole data set. */
    readonly nodeType: string;
    /** Replicas of the shard (≥ 1: one in another AZ takes over on failure). */
    readonly replicas: number;
  };
  readonly processor: {
    readonly memoryMiB: number;
    readonly batchSize: number;
    readonly retryAttempts: number;
    readonly maxRecordAgeHours: number;
  };
  /** Where the Assignment/Flag Evaluation functions and the edge function read definitions. */
  readonly experimentationApiUrl: string;
  readonly splitUrl: {
    readonly experimentKey: string;
    readonly domainName?: string;
    readonly certificateArn?: string;
    readonly webAclArn?: string;
  };
  readonly alarmEmail?: string;
  /** The monitor job (query-api/monitor): its schedule and where alerts go besides each experiment's own. */
  readonly monitor: {
    /** Minutes between runs (EventBridge rate). */
    readonly scheduleMinutes: number;
    readonly slackDefaultChannel?: string;
    /** Verified SendGrid sender of alert emails. */
    readonly alertEmailFrom?: string;
    /** Comma-separated recipients of pipeline-health alert emails (default: the running experiments' owners). */
    readonly alertEmailTo?: string;
  };
  /**
   * Folder (relative to the repository root, or absolute) of the built static pages that are
   * deployed into the frontend bucket behind CloudFront; skipped when it does not exist.
   */
  readonly staticSiteSource: string;
  /** Whether stateful resources survive `cdk destroy` (always in prod). */
  readonly retainData: boolean;
}

/** Reads one context key; `app.node.tryGetContext` in the app, a plain map in tests. */
export type ContextReader = (key: string) => unknown;

interface Setting {
  context: string;
  env?: string;
}

/** Stage defaults: prod is what the issue documents; dev keeps the shape but shrinks the bill. */
const STAGE_DEFAULTS = {
  dev: {
    natGateways: 1,
    openSearchDataNodes: 1,
    openSearchMasterNodes: 0,
    openSearchInstance: 't3.medium.search',
    stateNodeType: 'db.t4g.small',
  },
  // db.r7g.xlarge (26.32 GiB): 5 M users and 50 M events a day need ~11.1 GiB (cdk/README.md, "Sizing the state store").
  prod: {
    natGateways: 2,
    openSearchDataNodes: 2,
    openSearchMasterNodes: 3,
    openSearchInstance: 'r6g.large.search',
    stateNodeType: 'db.r7g.xlarge',
  },
} as const;

/** A complete secret ARN (with the 6-character suffix), so grants name exactly one secret. */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
/** PostgreSQL role names the bootstrap step can create without quoting. */
const POSTGRES_ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/** Cognito domain prefixes: lower-case letters, digits and hyphens, not at either end. */
const COGNITO_DOMAIN_PREFIX = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** An https origin (the Hosted UI, a page's origin): no path, query or trailing slash. */
const HOSTED_UI_URL = /^https:\/\/[A-Za-z0-9.-]+(?::\d+)?$/;

/**
 * The origins that serve the results pages, from host names or `https://` origins (blank
 * entries skipped, duplicates removed). Throws naming `uiOrigins` for anything else.
 */
function uiOrigins(entries: readonly (string | undefined)[]): string[] {
  const origins = entries
    .map((entry) => entry?.trim().replace(/\/+$/, '') ?? '')
    .filter((entry) => entry !== '')
    .map((entry) => (entry.includes('://') ? entry : `https://${entry}`));
  for (const origin of origins) {
    if (!HOSTED_UI_URL.test(origin)) {
      throw new Error(`Invalid CDK setting uiOrigins (UI_ORIGINS)=${origin}: expected https://<host> without a path`);
    }
  }
  return [...new Set(origins)];
}

/** MemoryDB node types are `db.<family>.<size>`; an ElastiCache `cache.*` type here is a mistake. */
const MEMORYDB_NODE_TYPE = /^db\.[a-z0-9]+\.[a-z0-9]+$/;

/**
 * Resolves the configuration. Throws with the key and the rule when a value is unusable,
 * before any stack is built, so a typo never becomes a half-deployed platform.
 */
export function loadPlatformConfig(
  context: ContextReader,
  env: Record<string, string | undefined> = process.env,
): PlatformConfig {
  const read = (setting: Setting): string | undefined => {
    const fromContext = context(setting.context);
    if (typeof fromContext === 'string' && fromContext !== '') return fromContext;
    if (typeof fromContext === 'number' || typeof fromContext === 'boolean') return String(fromContext);
    if (fromContext !== undefined && fromContext !== null && fromContext !== '') {
      throw new Error(`Invalid CDK setting ${setting.context}: expected a string, number or boolean`);
    }
    const fromEnv = setting.env ? env[setting.env] : undefined;
    return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
  };
  const text = (setting: Setting, fallback: string): string => read(setting) ?? fallback;
  const integer = (setting: Setting, fallback: number, min: number, max: number): number => {
    const raw = read(setting);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(`Invalid CDK setting ${describe(setting)}=${raw}: expected an integer in [${min}, ${max}]`);
    }
    return value;
  };

  const secretArn = (setting: Setting): string | undefined => {
    const raw = read(setting);
    if (raw !== undefined && !SECRET_ARN.test(raw)) {
      throw new Error(
        `Invalid CDK setting ${describe(setting)}=${raw}: expected the complete ARN of a Secrets Manager secret`,
      );
    }
    return raw;
  };

  const stageName = text({ context: 'stage', env: 'PLATFORM_STAGE' }, 'dev');
  if (stageName !== 'dev' && stageName !== 'prod') {
    throw new Error(`Invalid CDK setting stage (PLATFORM_STAGE)=${stageName}: expected dev or prod`);
  }
  const stage: Stage = stageName;
  const defaults = STAGE_DEFAULTS[stage];
  // The services' own variables (KINESIS_STREAM_NAME, DYNAMODB_TABLE_NAME, ...) with their defaults.
  const service = loadConfig(env);
  const prefix = text({ context: 'prefix', env: 'PLATFORM_PREFIX' }, 'experimentation');
  const zoneName = text({ context: 'domainName', env: 'PLATFORM_DOMAIN_NAME' }, 'experiments.example.com');
  const apiDomainName = text({ context: 'apiDomainName', env: 'API_DOMAIN_NAME' }, `api.${zoneName}`);

  const region = text({ context: 'region', env: 'CDK_DEFAULT_REGION' }, env.AWS_REGION ?? 'us-east-1');
  const account = text({ context: 'account', env: 'CDK_DEFAULT_ACCOUNT' }, '123456789012');
  const availabilityZones = (read({ context: 'availabilityZones' }) ?? `${region}a,${region}b`)
    .split(',')
    .map((zone) => zone.trim())
    .filter((zone) => zone.length > 0);
  if (availabilityZones.length < 2) {
    throw new Error('Invalid CDK setting availabilityZones: at least two zones, comma-separated');
  }
  const config: PlatformConfig = {
    stage,
    prefix,
    account,
    region,
    network: {
      availabilityZones,
      natGateways: integer({ context: 'natGateways', env: 'NAT_GATEWAYS' }, defaults.natGateways, 1, 6),
      cidr: text({ context: 'vpcCidr' }, '10.40.0.0/16'),
    },
    streams: {
      eventsStreamName: service.kinesis.streamName,
      deadLetterStreamName: service.kinesis.dlqStreamName,
      shardCount: integer({ context: 'shardCount', env: 'KINESIS_SHARD_COUNT' }, 2, 1, 64),
      retentionHours: integer({ context: 'streamRetentionHours' }, 168, 24, 8760),
    },
    tables: {
      countersTableName: service.dynamodb.countersTable,
      checkpointTableName: service.dynamodb.checkpointTable,
    },
    openSearch: {
      dataNodes: integer({ context: 'openSearchDataNodes' }, defaults.openSearchDataNodes, 1, 20),
      dataNodeInstanceType: text({ context: 'openSearchInstanceType' }, defaults.openSearchInstance),
      masterNodes: integer({ context: 'openSearchMasterNodes' }, defaults.openSearchMasterNodes, 0, 5),
      masterNodeInstanceType: text({ context: 'openSearchMasterInstanceType' }, 'm6g.large.search'),
      volumeSizeGib: integer({ context: 'openSearchVolumeGib' }, stage === 'prod' ? 100 : 20, 10, 16_384),
      indexPrefix: service.opensearch.indexPrefix,
    },
    database: {
      instanceType: text({ context: 'databaseInstanceType', env: 'DATABASE_INSTANCE_TYPE' }, 'r6g.large'),
      readers: integer({ context: 'databaseReaders' }, 1, 0, 15),
      backupRetentionDays: integer({ context: 'backupRetentionDays' }, 7, 1, 35),
      databaseName: text({ context: 'databaseName' }, 'experimentation'),
      cacheNodeType: text({ context: 'cacheNodeType', env: 'CACHE_NODE_TYPE' }, 'cache.t3.medium'),
      cacheReplicas: integer({ context: 'cacheReplicas' }, 0, 0, 5),
      applicationUser: text(
        { context: 'databaseApplicationUser', env: 'DATABASE_APPLICATION_USER' },
        'experimentation_app',
      ),
    },
    services: {
      cpu: integer({ context: 'serviceCpu' }, 2048, 256, 16_384),
      memoryMiB: integer({ context: 'serviceMemoryMiB' }, 4096, 512, 122_880),
      minTasks: integer({ context: 'serviceMinTasks' }, 2, 1, 100),
      maxTasks: integer({ context: 'serviceMaxTasks' }, 10, 1, 100),
      apiDomainName,
      apiCertificateArn: read({ context: 'apiCertificateArn', env: 'API_CERTIFICATE_ARN' }),
      ingestDomainName: text({ context: 'ingestDomainName', env: 'INGEST_DOMAIN_NAME' }, `ingest.${zoneName}`),
      ingestCertificateArn: read({ context: 'ingestCertificateArn', env: 'INGEST_CERTIFICATE_ARN' }),
      cognitoUserPoolId: read({ context: 'cognitoUserPoolId', env: 'COGNITO_USER_POOL_ID' }),
      cognitoClientId: read({ context: 'cognitoClientId', env: 'COGNITO_CLIENT_ID' }),
      cognitoDomainPrefix: text(
        { context: 'cognitoDomainPrefix', env: 'COGNITO_DOMAIN_PREFIX' },
        `${prefix}-${stage}-${account}`,
      ),
      cognitoDomain: read({ context: 'cognitoDomain', env: 'COGNITO_DOMAIN' }),
      uiOrigins: uiOrigins([
        apiDomainName,
        read({ context: 'splitUrlDomainName', env: 'SPLIT_URL_DOMAIN_NAME' }),
        ...(read({ context: 'uiOrigins', env: 'UI_ORIGINS' }) ?? '').split(','),
      ]),
      optionalSecretArns: {
        slackBotToken: secretArn({ context: 'slackBotTokenSecretArn', env: 'SLACK_BOT_TOKEN_SECRET_ARN' }),
        sendgridApiKey: secretArn({ context: 'sendgridApiKeySecretArn', env: 'SENDGRID_API_KEY_SECRET_ARN' }),
        anthropicApiKey: secretArn({ context: 'anthropicApiKeySecretArn', env: 'ANTHROPIC_API_KEY_SECRET_ARN' }),
      },
    },
    stateStore: {
      nodeType: text({ context: 'stateNodeType', env: 'STATE_NODE_TYPE' }, defaults.stateNodeType),
      replicas: integer({ context: 'stateReplicas' }, 1, 1, 5),
    },
    processor: {
      memoryMiB: integer({ context: 'processorMemoryMiB' }, 1024, 128, 10_240),
      batchSize: integer({ context: 'processorBatchSize' }, 100, 1, 10_000),
      retryAttempts: integer({ context: 'processorRetryAttempts' }, 10, 0, 10_000),
      maxRecordAgeHours: integer({ context: 'processorMaxRecordAgeHours' }, 24, 1, 168),
    },
    experimentationApiUrl: text(
      { context: 'experimentationApiUrl', env: 'EXPERIMENTATION_API_URL' },
      `https://${apiDomainName}`,
    ),
    splitUrl: {
      experimentKey: text({ context: 'splitUrlExperimentKey', env: 'SPLIT_URL_EXPERIMENT_KEY' }, 'homepage-redesign'),
      domainName: read({ context: 'splitUrlDomainName', env: 'SPLIT_URL_DOMAIN_NAME' }),
      certificateArn: read({ context: 'splitUrlCertificateArn', env: 'SPLIT_URL_CERTIFICATE_ARN' }),
      webAclArn: read({ context: 'splitUrlWebAclArn', env: 'SPLIT_URL_WEB_ACL_ARN' }),
    },
    alarmEmail: read({ context: 'alarmEmail', env: 'ALARM_EMAIL' }),
    monitor: {
      scheduleMinutes: integer({ context: 'monitorScheduleMinutes' }, 1, 1, 1440),
      slackDefaultChannel: read({ context: 'slackDefaultChannel', env: 'SLACK_DEFAULT_CHANNEL' }),
      alertEmailFrom: read({ context: 'alertEmailFrom', env: 'ALERT_EMAIL_FROM' }),
      alertEmailTo: read({ context: 'alertEmailTo', env: 'ALERT_EMAIL_TO' }),
    },
    staticSiteSource: text({ context: 'staticSiteSource', env: 'STATIC_SITE_SOURCE' }, 'query-api/ui/dist'),
    retainData: stage === 'prod' || read({ context: 'retainData' }) === 'true',
  };
  if (config.services.minTasks > config.services.maxTasks) {
    throw new Error(
      `Invalid CDK setting serviceMinTasks=${config.services.minTasks}: above serviceMaxTasks=${config.services.maxTasks}`,
    );
  }
  if (!MEMORYDB_NODE_TYPE.test(config.stateStore.nodeType)) {
    throw new Error(
      `Invalid CDK setting stateNodeType (STATE_NODE_TYPE)=${config.stateStore.nodeType}: expected a MemoryDB node type such as db.r7g.xlarge`,
    );
  }
  if (
    !COGNITO_DOMAIN_PREFIX.test(config.services.cognitoDomainPrefix) ||
    /aws|amazon|cognito/.test(config.services.cognitoDomainPrefix)
  ) {
    throw new Error(
      `Invalid CDK setting cognitoDomainPrefix (COGNITO_DOMAIN_PREFIX)=${config.services.cognitoDomainPrefix}: expected 1-63 lower-case letters, digits and inner hyphens, without "aws", "amazon" or "cognito"`,
    );
  }
  if (config.services.cognitoDomain !== undefined && !HOSTED_UI_URL.test(config.services.cognitoDomain)) {
    throw new Error(
      `Invalid CDK setting cognitoDomain (COGNITO_DOMAIN)=${config.services.cognitoDomain}: expected https://<host> without a path`,
    );
  }
  if (!POSTGRES_ROLE.test(config.database.applicationUser)) {
    throw new Error(
      `Invalid CDK setting databaseApplicationUser (DATABASE_APPLICATION_USER)=${config.database.applicationUser}: expected a lower-case PostgreSQL role name`,
    );
  }
  if (config.processor.maxRecordAgeHours > config.streams.retentionHours) {
    throw new Error('Invalid CDK setting processorMaxRecordAgeHours: a record cannot outlive the stream retention');
  }
  return Object.freeze(config);
}

function describe(setting: Setting): string {
  return setting.env ? `${setting.context} (${setting.env})` : setting.context;
}
