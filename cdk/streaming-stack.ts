/**
 * StreamingStack: the `ExperimentEvents` stream producers write to, its dead-letter stream
 * (replayable with `npm run dlq`), and the OpenSearch domain that indexes raw events. The
 * domain is a single node in development and a zone-aware cluster with dedicated masters in
 * production; both live in the private subnets and accept only signed requests.
 */
import { Duration, RemovalPolicy, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as opensearch from 'aws-cdk-lib/aws-opensearchservice';
import type { Construct } from 'constructs';
import type { PlatformConfig } from './platform-config.js';

/** Fixed domain name, so policies can name the domain's paths without a cross-stack reference. */
export function searchDomainName(config: Pick<PlatformConfig, 'prefix'>): string {
  return `${config.prefix}-events`.slice(0, 28);
}

/**
 * ARN of a path on the search domain (`_bulk`, `<index-pattern>`, ...). Built from the
 * fixed name, so it is a plain string in every stack that grants access.
 */
export function searchResourceArn(scope: Construct, config: Pick<PlatformConfig, 'prefix'>, path: string): string {
  const stack = Stack.of(scope);
  return `arn:${stack.partition}:es:${stack.region}:${stack.account}:domain/${searchDomainName(config)}/${path}`;
}

/**
 * The id under which cdk-nag reports a wildcard in such an ARN, for acknowledging it where
 * the wildcard is intended (index patterns).
 */
export function searchResourceNagId(scope: Construct, config: Pick<PlatformConfig, 'prefix'>, path: string): string {
  const stack = Stack.of(scope);
  const arn = `arn:<AWS::Partition>:es:${stack.region}:${stack.account}:domain/${searchDomainName(config)}/${path}`;
  return `AwsSolutions-IAM5[Resource::${arn}]`;
}

export interface StreamingStackProps extends StackProps {
  readonly config: PlatformConfig;
  readonly vpc: ec2.IVpc;
  readonly searchSecurityGroup: ec2.ISecurityGroup;
}

/** The event stream, the dead-letter stream and the raw-event search domain. */
export class StreamingStack extends Stack {
  readonly eventsStream: kinesis.Stream;
  readonly deadLetterStream: kinesis.Stream;
  readonly searchDomain: opensearch.Domain;

  constructor(scope: Construct, id: string, props: StreamingStackProps) {
    super(scope, id, props);
    const { streams, retainData } = props.config;
    const retention = Duration.hours(streams.retentionHours);
    const removalPolicy = retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    // Provisioned shards: the collector sizes PutRecords per shard and the exactly-once protocol
    // keys watermarks by shard id, so the shard count is a deliberate, visible setting.
    this.eventsStream = new kinesis.Stream(this, 'EventsStream', {
      streamName: streams.eventsStreamName,
      shardCount: streams.shardCount,
      streamMode: kinesis.StreamMode.PROVISIONED,
      encryption: kinesis.StreamEncryption.MANAGED,
      retentionPeriod: retention,
      removalPolicy,
    });
    this.deadLetterStream = new kinesis.Stream(this, 'DeadLetterStream', {
      streamName: streams.deadLetterStreamName,
      shardCount: 1,
      streamMode: kinesis.StreamMode.PROVISIONED,
      encryption: kinesis.StreamEncryption.MANAGED,
      // Dead letters wait for a human: keep them at least as long as the events themselves.
      retentionPeriod: retention,
      removalPolicy,
    });
    this.searchDomain = this.createSearchDomain(props, removalPolicy);
  }

  private createSearchDomain(props: StreamingStackProps, removalPolicy: RemovalPolicy): opensearch.Domain {
    const { openSearch, prefix } = props.config;
    const multiNode = openSearch.dataNodes > 1;
    const slowSearchLogGroup = this.searchLogGroup('SlowSearchLogs', `/aws/opensearch/${prefix}/slow-search`);
    const slowIndexLogGroup = this.searchLogGroup('SlowIndexLogs', `/aws/opensearch/${prefix}/slow-index`);
    const appLogGroup = this.searchLogGroup('ApplicationLogs', `/aws/opensearch/${prefix}/application`);
    // Our own resource policy, scoped to these three groups, instead of the construct's custom resource.
    const logsPolicy = new logs.CfnResourcePolicy(this, 'SearchLogsResourcePolicy', {
      policyName: `${prefix}-opensearch-logs`,
      policyDocument: this.toJsonString({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: 'es.amazonaws.com' },
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: [slowSearchLogGroup, slowIndexLogGroup, appLogGroup].map((group) => group.logGroupArn),
          },
        ],
      }),
    });
    const privateSubnets = props.vpc.selectSubnets({ onePerAz: true }).subnets;
    const domain = new opensearch.Domain(this, 'SearchDomain', {
      domainName: searchDomainName(props.config),
      version: opensearch.EngineVersion.OPENSEARCH_2_19,
      vpc: props.vpc,
      vpcSubnets: [{ subnets: multiNode ? privateSubnets.slice(0, 2) : privateSubnets.slice(0, 1) }],
      securityGroups: [props.searchSecurityGroup],
      capacity: {
        dataNodes: openSearch.dataNodes,
        dataNodeInstanceType: openSearch.dataNodeInstanceType,
        ...(openSearch.masterNodes > 0
          ? { masterNodes: openSearch.masterNodes, masterNodeInstanceType: openSearch.masterNodeInstanceType }
          : {}),
        multiAzWithStandbyEnabled: false,
      },
      zoneAwareness: multiNode ? { enabled: true, availabilityZoneCount: 2 } : { enabled: false },
      ebs: { volumeSize: openSearch.volumeSizeGib, volumeType: ec2.EbsDeviceVolumeType.GP3 },
      encryptionAtRest: { enabled: true },
      nodeToNodeEncryption: true,
      enforceHttps: true,
      tlsSecurityPolicy: opensearch.TLSSecurityPolicy.TLS_1_2,
      logging: {
        slowSearchLogEnabled: true,
        slowSearchLogGroup,
        slowIndexLogEnabled: true,
        slowIndexLogGroup,
        appLogEnabled: true,
        appLogGroup,
      },
      suppressLogsResourcePolicy: true,
      removalPolicy,
    });
    // The domain checks at creation that it may write its logs.
    domain.node.addDependency(logsPolicy);
    // Only signed requests from this account's principals; their own IAM policies then name
    // the indices they may touch (the processor writes, the query API reads). Set on the
    // resource itself: the construct's addAccessPolicies needs a custom resource with "*" rights.
    const accessPolicy = new iam.PolicyDocument({
      statements: [
        new iam.PolicyStatement({
          principals: [new iam.AccountPrincipal(this.account)],
          actions: ['es:ESHttpGet', 'es:ESHttpHead', 'es:ESHttpPost', 'es:ESHttpPut'],
          resources: [searchResourceArn(this, props.config, '*')],
        }),
      ],
    });
    (domain.node.defaultChild as opensearch.CfnDomain).accessPolicies = accessPolicy.toJSON() as unknown;
    // cdk-nag: access is by VPC placement plus SigV4 IAM policies, which is stronger than IP allowlists.
    Validations.of(domain).acknowledge({
      id: 'AwsSolutions-OS3',
      reason: 'The domain is VPC-only and every request must be SigV4-signed by an account principal.',
    });
    if (!multiNode) {
      const reason = 'Development stage runs a single data node; production (stage=prod) has masters and 2 AZs.';
      Validations.of(domain).acknowledge({ id: 'AwsSolutions-OS4', reason });
      Validations.of(domain).acknowledge({ id: 'AwsSolutions-OS7', reason });
    }
    return domain;
  }

  private searchLogGroup(id: string, logGroupName: string): logs.LogGroup {
    return new logs.LogGroup(this, id, {
      logGroupName,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
