/**
 * ApiStack: the query API and the collector as two Fargate services, each behind its own
 * HTTPS load balancer and released by ECS's built-in canary blue/green deployment
 * (blue-green-fargate-service.ts). One container image (the repository's Dockerfile) serves
 * both; the command picks the server.
 *
 * Why two services and not one: the collector is the public, high-volume write path and
 * the query API the analysts' read path. Apart, each scales on its own load, an event flood
 * cannot starve analyst queries, a bad release of one rolls back without touching the
 * other, and each task role holds only its own permissions (the collector writes the
 * stream and never sees the database; the query API reads and never writes events).
 * ECS shifts traffic by moving the weights of a listener rule, so each service gets its own
 * listener; with its own load balancer both keep port 443 and a plain hostname.
 *
 * Secrets reach the tasks from Secrets Manager (ECS secrets), except the database password:
 * the query API logs in as an application role with IAM authentication tokens it signs
 * itself (query-api/db/iam-auth-token.ts), so the master password's rotation never touches a
 * running task.
 */
import { METRIC_INDEX } from '../common/counter-layout.js';
import { CfnOutput, Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { BlueGreenFargateService } from './blue-green-fargate-service.js';
import { MonitorJob } from './monitor-job.js';
import { ResultsPagesSignIn } from './results-pages-sign-in.js';
import { REPOSITORY_ROOT } from './bundled-function.js';
import { REDIS_TOKEN_KEY, type CacheEndpoint } from './database-stack.js';
import { INGEST_PORT, POSTGRES_PORT, QUERY_API_PORT, type TierSecurityGroups } from './network-stack.js';

/** The query API's /metrics listener (QUERY_API_METRICS_PORT): reachable only inside the task (sidecar scrapers). */
export const QUERY_API_METRICS_PORT = 8083;
import type { PlatformConfig } from './platform-config.js';
import { resourceNames } from './resource-names.js';
import { searchResourceArn, searchResourceNagId } from './streaming-stack.js';

/** Key of the comma-separated key list inside each API-key secret. */
export const API_KEYS_SECRET_KEY = 'keys';
/** Key of the value inside the generated application secrets (SECRET_KEY, AUDIT_HMAC_SECRET). */
export const SECRET_VALUE_KEY = 'value';
/** Region the split-URL edge function reads its key in (replica of the secret, see edgeApiKey). */
const EDGE_SECRET_REGION = 'us-east-1';

export interface ApiStackProps extends StackProps {
  readonly config: PlatformConfig;
  readonly vpc: ec2.IVpc;
  readonly securityGroups: TierSecurityGroups;
  readonly databaseCluster: rds.IDatabaseCluster;
  readonly cache: CacheEndpoint;
  readonly countersTable: dynamodb.ITableV2;
  readonly eventsStream: kinesis.IStream;
  readonly searchDomainEndpoint: string;
  readonly logGroup: logs.ILogGroup;
  readonly alarmTopic: sns.ITopic;
}

/** Cluster, shared image, access-log bucket and the two blue/green services. */
export class ApiStack extends Stack {
  readonly cluster: ecs.Cluster;
  readonly queryApi: BlueGreenFargateService;
  readonly collector: BlueGreenFargateService;
  /** The scheduled monitor function (cdk/monitor-job.ts). */
  readonly monitorJob: MonitorJob;
  /**
   * The key the platform's own callers (Assignment and Flag Evaluation functions) present to
   * the query API; the entrypoint adds it to API_KEYS, so operators' key edits cannot lock them out.
   */
  readonly internalApiKey: secretsmanager.Secret;
  /**
   * The split-URL edge function's own key (JSON `keys`), replicated to us-east-1 where the
   * function reads it at run time; the entrypoint adds it to API_KEYS like the internal key.
   */
  readonly edgeApiKey: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = resourceNames(config);
    this.cluster = new ecs.Cluster(this, 'Cluster', {
      clusterName: names.cluster,
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    // Synth only records this asset; `cdk deploy` builds and pushes it (Docker needed there).
    const image = ecs.ContainerImage.fromAsset(REPOSITORY_ROOT, {
      file: 'Dockerfile',
      platform: ecrAssets.Platform.LINUX_AMD64,
    });
    const accessLogBucket = this.createAccessLogBucket(config);
    const shared = {
      cluster: this.cluster,
      vpc: props.vpc,
      image,
      cpu: config.services.cpu,
      memoryMiB: config.services.memoryMiB,
      minTasks: config.services.minTasks,
      maxTasks: config.services.maxTasks,
      logGroup: props.logGroup,
      loadBalancerSecurityGroup: props.securityGroups.loadBalancer,
      serviceSecurityGroup: props.securityGroups.services,
      accessLogBucket,
      alarmTopic: props.alarmTopic,
    };
    const common = { LISTEN_HOST: '0.0.0.0', LOG_LEVEL: 'info', NODE_ENV: 'production' };
    this.internalApiKey = this.apiKeySecret('InternalApiKey', `${config.prefix}/api/internal-key`);
    this.edgeApiKey = this.apiKeySecret('EdgeApiKey', edgeApiKeySecretName(config), {
      replicaRegions: config.region === EDGE_SECRET_REGION ? [] : [{ region: EDGE_SECRET_REGION }],
    });

    this.queryApi = new BlueGreenFargateService(this, 'QueryApi', {
      ...shared,
      name: names.services.queryApi,
      command: ['query-api/server.js'],
      containerPort: QUERY_API_PORT,
      certificate: this.certificate('ApiCertificate', config.services.apiDomainName, config.services.apiCertificateArn),
      environment: {
        ...common,
        QUERY_API_PORT: String(QUERY_API_PORT),
        // /metrics on its own port: not in the target group nor the security group, so not internet-facing.
        QUERY_API_METRICS_PORT: String(QUERY_API_METRICS_PORT),
        // The ALB is one proxy hop: rate limits of unauthenticated callers key on the address it appends.
        QUERY_API_TRUSTED_PROXY_HOPS: '1',
        DYNAMODB_TABLE_NAME: props.countersTable.tableName,
        OPENSEARCH_ENDPOINT: `https://${props.searchDomainEndpoint}`,
        OPENSEARCH_INDEX_PREFIX: config.openSearch.indexPrefix,
        // The entrypoint composes DATABASE_URL, DATABASE_REPLICA_URL and REDIS_URL from these and the secrets.
        DATABASE_HOST: props.databaseCluster.clusterEndpoint.hostname,
        DATABASE_REPLICA_HOST: props.databaseCluster.clusterReadEndpoint.hostname,
        DATABASE_PORT: String(POSTGRES_PORT),
        DATABASE_NAME: config.database.databaseName,
        // IAM database authentication as the application role: the pools sign a 15-minute token
        // per connection (query-api/db/iam-auth-token.ts); no password reaches the task.
        DATABASE_IAM_AUTH: 'true',
        DATABASE_USERNAME: config.database.applicationUser,
        REDIS_HOST: props.cache.host,
        REDIS_PORT: props.cache.port,
        // Analysts' sign-in: the pool, its Hosted UI and the results pages' app client (results-pages-sign-in.ts).
        ...(config.services.cognitoUserPoolId
          ? new ResultsPagesSignIn(this, 'ResultsPagesSignIn', { config }).environment
          : {}),
      },
      secrets: {
        ...this.applicationSecrets(config),
        REDIS_AUTH_TOKEN: ecs.Secret.fromSecretsManager(props.cache.authTokenSecret, REDIS_TOKEN_KEY),
        API_KEYS: ecs.Secret.fromSecretsManager(
          this.apiKeySecret('QueryApiKeys', `${config.prefix}/api/keys`),
          API_KEYS_SECRET_KEY,
        ),
        // Keys with the admin scope (compliance export and verification), kept apart from everyday keys.
        ADMIN_API_KEYS: ecs.Secret.fromSecretsManager(
          this.apiKeySecret('AdminApiKeys', `${config.prefix}/api/admin-keys`),
          API_KEYS_SECRET_KEY,
        ),
        INTERNAL_API_KEY: ecs.Secret.fromSecretsManager(this.internalApiKey, API_KEYS_SECRET_KEY),
        EDGE_API_KEY: ecs.Secret.fromSecretsManager(this.edgeApiKey, API_KEYS_SECRET_KEY),
      },
    });
    this.collector = new BlueGreenFargateService(this, 'Collector', {
      ...shared,
      name: names.services.collector,
      command: ['ingest/server.js'],
      containerPort: INGEST_PORT,
      certificate: this.certificate(
        'IngestCertificate',
        config.services.ingestDomainName,
        config.services.ingestCertificateArn,
      ),
      environment: {
        ...common,
        INGEST_PORT: String(INGEST_PORT),
        KINESIS_STREAM_NAME: props.eventsStream.streamName,
        KINESIS_SHARD_COUNT: String(config.streams.shardCount),
        // The compact record format (common/compact-records.ts): the Event Processor reads it.
        INGEST_RECORD_FORMAT: 'compact',
      },
      secrets: {
        INGEST_API_KEYS: ecs.Secret.fromSecretsManager(
          this.apiKeySecret('IngestApiKeys', `${config.prefix}/ingest/keys`),
          API_KEYS_SECRET_KEY,
        ),
      },
    });
    this.grantQueryApi(props, this.queryApi.taskDefinition.taskRole);
    // The monitor job (results history, Slack/email alerts): a scheduled function beside the query API.
    this.monitorJob = new MonitorJob(this, 'MonitorJob', {
      config,
      vpc: props.vpc,
      securityGroup: props.securityGroups.lambdas,
      databaseCluster: props.databaseCluster,
      countersTable: props.countersTable,
      logGroup: props.logGroup,
    });
    props.eventsStream.grant(
      this.collector.taskDefinition.taskRole,
      'kinesis:PutRecords',
      'kinesis:PutRecord',
      'kinesis:DescribeStreamSummary',
      'kinesis:ListShards',
    );
    this.acknowledgeExecutionRoleFindings();
    // Point the service hostnames (CNAME or alias) at these names after the first deploy.
    new CfnOutput(this, 'QueryApiLoadBalancerDns', {
      description: `CNAME target for ${config.services.apiDomainName}`,
      value: this.queryApi.loadBalancer.loadBalancerDnsName,
    });
    new CfnOutput(this, 'CollectorLoadBalancerDns', {
      description: `CNAME target for ${config.services.ingestDomainName}`,
      value: this.collector.loadBalancer.loadBalancerDnsName,
    });
  }

  /**
   * SECRET_KEY and AUDIT_HMAC_SECRET (generated here), and the optional integrations' keys
   * (operator-created secrets, only when their ARN is configured).
   */
  private applicationSecrets(config: PlatformConfig): Record<string, ecs.Secret> {
    const generated = (id: string, name: string, description: string) => {
      const secret = new secretsmanager.Secret(this, id, {
        secretName: `${config.prefix}/api/${name}`,
        description,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({}),
          generateStringKey: SECRET_VALUE_KEY,
          excludePunctuation: true,
          passwordLength: 64,
        },
      });
      Validations.of(secret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotated by procedure (cdk/README.md, "Secrets and rotation"): a new value invalidates sessions or starts a new audit key period, which a rotation Lambda must not do unannounced.',
      });
      return ecs.Secret.fromSecretsManager(secret, SECRET_VALUE_KEY);
    };
    const optional = (id: string, arn: string | undefined) =>
      arn ? ecs.Secret.fromSecretsManager(secretsmanager.Secret.fromSecretCompleteArn(this, id, arn)) : undefined;
    const entries: [string, ecs.Secret | undefined][] = [
      ['SECRET_KEY', generated('SecretKey', 'secret-key', 'Signing key of the query API (sessions, tokens)')],
      [
        'AUDIT_HMAC_SECRET',
        generated('AuditHmacSecret', 'audit-hmac-secret', 'HMAC key that chains the audit trail entries'),
      ],
      ['SLACK_BOT_TOKEN', optional('SlackBotToken', config.services.optionalSecretArns.slackBotToken)],
      ['SENDGRID_API_KEY', optional('SendgridApiKey', config.services.optionalSecretArns.sendgridApiKey)],
      ['ANTHROPIC_API_KEY', optional('AnthropicApiKey', config.services.optionalSecretArns.anthropicApiKey)],
    ];
    return Object.fromEntries(entries.filter((entry): entry is [string, ecs.Secret] => entry[1] !== undefined));
  }

  /** Reads counters and searches raw events, and logs in to PostgreSQL as the application role; nothing else. */
  private grantQueryApi(props: ApiStackProps, role: iam.IRole): void {
    props.databaseCluster.grantConnect(role, props.config.database.applicationUser);
    // The table and its one index by name (TableV2.grant would cover every index with a wildcard).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem'],
        resources: [props.countersTable.tableArn, `${props.countersTable.tableArn}/index/${METRIC_INDEX.name}`],
      }),
    );
    const indexPattern = `${props.config.openSearch.indexPrefix}-*`;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['es:ESHttpGet', 'es:ESHttpPost', 'es:ESHttpHead'],
        resources: [searchResourceArn(this, props.config, indexPattern)],
      }),
    );
    Validations.of(role).acknowledge({
      id: searchResourceNagId(this, props.config, indexPattern),
      reason: 'Searches span the per-period indices under the configured prefix; the wildcard covers exactly those.',
    });
  }

  private certificate(id: string, domainName: string, certificateArn: string | undefined): acm.ICertificate {
    if (certificateArn) return acm.Certificate.fromCertificateArn(this, id, certificateArn);
    // Without a certificate ARN, ACM issues one; the deploy waits until its DNS record is in place.
    return new acm.Certificate(this, id, { domainName, validation: acm.CertificateValidation.fromDns() });
  }

  private apiKeySecret(
    id: string,
    secretName: string,
    options: Pick<secretsmanager.SecretProps, 'replicaRegions'> = {},
  ): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, id, {
      ...options,
      secretName,
      description: 'Comma-separated API keys; the generated one is the first, add more by editing the value',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({}),
        generateStringKey: API_KEYS_SECRET_KEY,
        excludePunctuation: true,
        passwordLength: 40,
      },
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'API keys are held by clients; they are rotated by adding a key, moving clients, then removing the old one.',
    });
    return secret;
  }

  private createAccessLogBucket(config: PlatformConfig): s3.Bucket {
    const bucket = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(config.stage === 'prod' ? 365 : 30) }],
      removalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      // Development stacks must be destroyable: a bucket with logs in it blocks the stack's deletion.
      autoDeleteObjects: !config.retainData,
    });
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket receives the load balancers access logs; logging it would log the logs.',
    });
    return bucket;
  }

  /** The execution roles pull images (ECR's token call has no resource) and read their secrets. */
  private acknowledgeExecutionRoleFindings(): void {
    for (const service of [this.queryApi, this.collector]) {
      const executionRole = service.taskDefinition.executionRole;
      if (!executionRole) continue;
      Validations.of(executionRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ecr:GetAuthorizationToken does not support resource-level permissions.',
      });
    }
  }
}

/** Name of the split-URL edge function's key secret (same name in the API region and its us-east-1 replica). */
export function edgeApiKeySecretName(config: Pick<PlatformConfig, 'prefix'>): string {
  return `${config.prefix}/edge/split-url-api-key`;
}
