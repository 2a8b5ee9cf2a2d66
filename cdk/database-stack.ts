/**
 * DatabaseStack: Aurora PostgreSQL (experiment metadata; writer + readers, the query API
 * reads from the reader endpoint as DATABASE_REPLICA_URL), ElastiCache Redis (the query
 * API's results cache, which may evict) and, apart from it, the processors' durable
 * exactly-once state store on MemoryDB (processor-state-store.ts). Credentials are
 * generated into Secrets Manager; nothing secret appears in a template.
 */
import { Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elasticache from 'aws-cdk-lib/aws-elasticache';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { POSTGRES_PORT, REDIS_PORT } from './network-stack.js';
import type { PlatformConfig } from './platform-config.js';
import { ProcessorStateStore, type StateStoreEndpoint } from './processor-state-store.js';
import { resourceNames } from './resource-names.js';

/** Key of the Redis AUTH token inside its secret. */
export const REDIS_TOKEN_KEY = 'authToken';
/** Characters left out of generated credentials so they embed in URLs without escaping. */
const URL_UNSAFE_CHARACTERS = ' %+~`#$&*()|[]{}:;<>?!\'/@"\\=,^';

export interface DatabaseStackProps extends StackProps {
  readonly config: PlatformConfig;
  readonly vpc: ec2.IVpc;
  readonly databaseSecurityGroup: ec2.ISecurityGroup;
  readonly cacheSecurityGroup: ec2.ISecurityGroup;
  /** Group of the processors' state store; it admits only the processors (NetworkStack). */
  readonly stateStoreSecurityGroup: ec2.ISecurityGroup;
  /** Group of the functions that reach the data tier; the rotation function runs in it. */
  readonly rotationSecurityGroup: ec2.ISecurityGroup;
}

/** Connection facts other stacks need; secrets are passed as secrets, never as values. */
export interface CacheEndpoint {
  readonly host: string;
  readonly port: string;
  readonly authTokenSecret: secretsmanager.ISecret;
}

/** Aurora PostgreSQL cluster, Redis cache and MemoryDB state store, all private, encrypted and backed up. */
export class DatabaseStack extends Stack {
  readonly cluster: rds.DatabaseCluster;
  readonly databaseSecret: secretsmanager.ISecret;
  /** The query API's results cache (may evict: never for state). */
  readonly cache: CacheEndpoint;
  /** The processors' exactly-once state (durable, `noeviction`). */
  readonly stateStore: StateStoreEndpoint;

  constructor(scope: Construct, id: string, props: DatabaseStackProps) {
    super(scope, id, props);
    this.cluster = this.createAuroraCluster(props);
    const secret = this.cluster.secret;
    if (!secret) throw new Error('Aurora cluster was created without a generated secret');
    this.databaseSecret = secret;
    this.cache = this.createRedis(props);
    this.stateStore = new ProcessorStateStore(this, 'ProcessorState', {
      config: props.config,
      vpc: props.vpc,
      securityGroup: props.stateStoreSecurityGroup,
    }).endpoint;
  }

  private createAuroraCluster(props: DatabaseStackProps): rds.DatabaseCluster {
    const { database, prefix, retainData } = props.config;
    const clusterIdentifier = resourceNames(props.config).databaseCluster;
    const engine = rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_6 });
    // Created here (with a retention) rather than by RDS on first export, which would keep logs forever.
    const postgresLogs = new logs.LogGroup(this, 'PostgresLogs', {
      logGroupName: `/aws/rds/cluster/${clusterIdentifier}/postgresql`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const instanceType = new ec2.InstanceType(database.instanceType);
    const cluster = new rds.DatabaseCluster(this, 'MetadataCluster', {
      clusterIdentifier,
      engine,
      credentials: rds.Credentials.fromGeneratedSecret('experimentation', {
        secretName: `${prefix}/database/credentials`,
        excludeCharacters: URL_UNSAFE_CHARACTERS,
      }),
      defaultDatabaseName: database.databaseName,
      writer: rds.ClusterInstance.provisioned('Writer', { instanceType, enablePerformanceInsights: true }),
      readers: Array.from({ length: database.readers }, (_, index) =>
        rds.ClusterInstance.provisioned(`Reader${index + 1}`, {
          instanceType,
          enablePerformanceInsights: true,
          promotionTier: 1,
        }),
      ),
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [props.databaseSecurityGroup],
      port: POSTGRES_PORT,
      parameterGroup: new rds.ParameterGroup(this, 'MetadataParameters', {
        engine,
        description: 'Experimentation metadata: TLS only, slow statements logged',
        parameters: { 'rds.force_ssl': '1', log_min_duration_statement: '1000' },
      }),
      subnetGroup: new rds.SubnetGroup(this, 'MetadataSubnets', {
        vpc: props.vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
        description: 'Private subnets of the metadata cluster',
        removalPolicy: RemovalPolicy.DESTROY,
      }),
      backup: { retention: Duration.days(database.backupRetentionDays), preferredWindow: '03:00-04:00' },
      storageEncrypted: true,
      iamAuthentication: true,
      deletionProtection: retainData,
      removalPolicy: retainData ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      cloudwatchLogsExports: ['postgresql'],
    });
    cluster.node.addDependency(postgresLogs);
    this.rotateCredentials(cluster, props);
    // cdk-nag: security-group isolation, not an unusual port, is what keeps clients out.
    Validations.of(cluster).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason: 'Standard PostgreSQL port; only the service and function security groups may reach it.',
    });
    if (!retainData) {
      Validations.of(cluster).acknowledge({
        id: 'AwsSolutions-RDS10',
        reason: 'Development stage: deletion protection is on whenever data is retained (stage=prod or retainData).',
      });
    }
    return cluster;
  }

  /**
   * Monthly rotation of the generated password. The rotation function runs in the functions'
   * security group, which NetworkStack already lets through to PostgreSQL; the target is
   * described with a literal port so no rule in NetworkStack refers back to this stack.
   */
  private rotateCredentials(cluster: rds.DatabaseCluster, props: DatabaseStackProps): void {
    const secret = cluster.secret;
    if (!secret) return;
    new secretsmanager.SecretRotation(this, 'CredentialsRotation', {
      application: secretsmanager.SecretRotationApplication.POSTGRES_ROTATION_SINGLE_USER,
      secret,
      target: {
        connections: new ec2.Connections({
          securityGroups: [props.databaseSecurityGroup],
          defaultPort: ec2.Port.tcp(POSTGRES_PORT),
        }),
      },
      vpc: props.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroup: props.rotationSecurityGroup,
      automaticallyAfter: Duration.days(30),
      excludeCharacters: URL_UNSAFE_CHARACTERS,
    });
  }

  private createRedis(props: DatabaseStackProps): CacheEndpoint {
    const { database, prefix } = props.config;
    const replicated = database.cacheReplicas > 0;
    const authTokenSecret = new secretsmanager.Secret(this, 'RedisAuthToken', {
      secretName: `${prefix}/redis/auth-token`,
      description: 'Redis AUTH token of the experimentation cache',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({}),
        generateStringKey: REDIS_TOKEN_KEY,
        excludePunctuation: true,
        passwordLength: 64,
      },
    });
    // cdk-nag: ElastiCache cannot rotate an AUTH token through a Secrets Manager rotation
    // Lambda without downtime (it needs a ROTATE/SET sequence); rotation is a runbook step.
    Validations.of(authTokenSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Redis AUTH token rotation uses ModifyReplicationGroup ROTATE then SET; it is a documented runbook step.',
    });
    const subnetGroup = new elasticache.CfnSubnetGroup(this, 'CacheSubnets', {
      description: 'Private subnets of the experimentation cache',
      subnetIds: props.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
    });
    // The description below predates the processors' own state store (they no longer use this
    // cache); it stays, because changing a parameter group's description replaces the group.
    const parameterGroup = new elasticache.CfnParameterGroup(this, 'CacheParameters', {
      cacheParameterGroupFamily: 'redis7',
      description: 'Cache and claims: evict only keys with a TTL, never claims without one',
      properties: { 'maxmemory-policy': 'volatile-lru' },
    });
    // One node by default: a results cache that may evict may also restart empty (the query API
    // then recomputes from the counters). `cacheReplicas` adds replicas and Multi-AZ failover.
    const replicationGroup = new elasticache.CfnReplicationGroup(this, 'Cache', {
      // Fixed, so MonitoringStack names its metrics (node `<id>-001`) without a reference.
      replicationGroupId: resourceNames(props.config).cache,
      replicationGroupDescription: 'Experimentation results cache and processor claims',
      engine: 'redis',
      engineVersion: '7.1',
      cacheNodeType: database.cacheNodeType,
      numNodeGroups: 1,
      replicasPerNodeGroup: database.cacheReplicas,
      multiAzEnabled: replicated,
      automaticFailoverEnabled: replicated,
      port: REDIS_PORT,
      cacheSubnetGroupName: subnetGroup.ref,
      cacheParameterGroupName: parameterGroup.ref,
      securityGroupIds: [props.cacheSecurityGroup.securityGroupId],
      atRestEncryptionEnabled: true,
      transitEncryptionEnabled: true,
      authToken: authTokenSecret.secretValueFromJson(REDIS_TOKEN_KEY).unsafeUnwrap(),
      snapshotRetentionLimit: database.backupRetentionDays,
    });
    Validations.of(replicationGroup).acknowledge({
      id: 'AwsSolutions-AEC5',
      reason: 'Standard Redis port; only the service and function security groups may reach it.',
    });
    if (!replicated) {
      Validations.of(replicationGroup).acknowledge({
        id: 'AwsSolutions-AEC4',
        reason:
          'A results cache that may evict: losing its node costs recomputation from the counters, not data. Set cacheReplicas for Multi-AZ.',
      });
    }
    return {
      host: replicationGroup.attrPrimaryEndPointAddress,
      port: replicationGroup.attrPrimaryEndPointPort,
      authTokenSecret,
    };
  }
}
