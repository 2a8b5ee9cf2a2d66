/**
 * The whole platform as one CDK app: eight stacks wired by references, in dependency
 * order, with the cdk-nag AWS Solutions checks as a synth-time validation (a finding
 * without a justified acknowledgement fails `cdk synth`).
 *
 * @example
 *   const app = new App();
 *   buildPlatform(app, loadPlatformConfig((key) => app.node.tryGetContext(key)));
 */
import { Validations, type App, type Environment } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApiStack } from './api-stack.js';
import { DatabaseStack } from './database-stack.js';
import { DynamoStack } from './dynamo-stack.js';
import { LambdaStack, type LambdaStackProps } from './lambda-stack.js';
import { MonitoringStack } from './monitoring-stack.js';
import { NetworkStack } from './network-stack.js';
import type { PlatformConfig } from './platform-config.js';
import { EDGE_REGION } from './split-url-distribution.js';
import { SplitUrlStack } from './split-url-stack.js';
import { StreamingStack } from './streaming-stack.js';

/** Every stack of the platform, for tests and for the app entry point. */
export interface Platform {
  readonly network: NetworkStack;
  readonly dynamo: DynamoStack;
  readonly streaming: StreamingStack;
  readonly database: DatabaseStack;
  readonly monitoring: MonitoringStack;
  readonly lambdas: LambdaStack;
  readonly api: ApiStack;
  readonly splitUrl: SplitUrlStack;
}

/** Handler modules to bundle instead of the defaults (relative to the repository root). */
export interface HandlerEntries {
  readonly lambdas?: LambdaStackProps['entries'];
  readonly splitUrl?: string;
}

export interface PlatformOptions {
  readonly entries?: HandlerEntries;
  /**
   * Run the cdk-nag AWS Solutions checks at synth (default true). Tests that assert
   * resource properties turn them off to save time; one test runs them on everything.
   */
  readonly nagChecks?: boolean;
}

/** Adds the eight stacks to `app` and, unless told otherwise, the cdk-nag checks. */
export function buildPlatform(app: App, config: PlatformConfig, options: PlatformOptions = {}): Platform {
  const entries = options.entries ?? {};
  declareAvailabilityZones(app, config);
  const env: Environment = { account: config.account, region: config.region };
  const tags = { project: `${config.prefix}-platform`, stage: config.stage };
  const common = { env, config, tags };

  const network = new NetworkStack(app, 'NetworkStack', { ...common, description: 'VPC and security groups' });
  const dynamo = new DynamoStack(app, 'DynamoStack', { ...common, description: 'Counters and checkpoint tables' });
  const streaming = new StreamingStack(app, 'StreamingStack', {
    ...common,
    description: 'Event and dead-letter streams, raw-event search domain',
    vpc: network.vpc,
    searchSecurityGroup: network.securityGroups.search,
  });
  const database = new DatabaseStack(app, 'DatabaseStack', {
    ...common,
    description: 'Aurora PostgreSQL metadata, Redis results cache, MemoryDB processor state',
    vpc: network.vpc,
    databaseSecurityGroup: network.securityGroups.database,
    cacheSecurityGroup: network.securityGroups.cache,
    stateStoreSecurityGroup: network.securityGroups.stateStore,
    rotationSecurityGroup: network.securityGroups.lambdas,
  });
  const monitoring = new MonitoringStack(app, 'MonitoringStack', {
    ...common,
    description: 'Log groups, dashboard, alarms and the alarm topic',
  });
  const api = new ApiStack(app, 'ApiStack', {
    ...common,
    description: 'Query API and collector on Fargate, blue/green',
    vpc: network.vpc,
    securityGroups: network.securityGroups,
    databaseCluster: database.cluster,
    cache: database.cache,
    countersTable: dynamo.countersTable,
    eventsStream: streaming.eventsStream,
    searchDomainEndpoint: streaming.searchDomain.domainEndpoint,
    logGroup: monitoring.logGroups.api,
    alarmTopic: monitoring.alarmTopic,
  });
  const lambdas = new LambdaStack(app, 'LambdaStack', {
    ...common,
    description: 'Event Processor, Assignment and Flag Evaluation functions',
    vpc: network.vpc,
    lambdaSecurityGroup: network.securityGroups.lambdas,
    processorSecurityGroup: network.securityGroups.processors,
    countersTable: dynamo.countersTable,
    eventsStream: streaming.eventsStream,
    deadLetterStream: streaming.deadLetterStream,
    searchDomainEndpoint: streaming.searchDomain.domainEndpoint,
    stateStore: database.stateStore,
    logGroup: monitoring.logGroups.services,
    internalApiKey: api.internalApiKey,
    entries: entries.lambdas,
  });
  const splitUrl = new SplitUrlStack(app, 'SplitUrlStack', {
    ...common,
    env: { account: config.account, region: EDGE_REGION },
    description: 'CloudFront and the split-URL Lambda@Edge function',
    entry: entries.splitUrl,
  });
  // The edge origin is the query API's hostname: deploy the API first.
  splitUrl.addStackDependency(api, 'CloudFront forwards to the query API load balancer');
  if (options.nagChecks ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { network, dynamo, streaming, database, monitoring, lambdas, api, splitUrl };
}

/**
 * The VPC checks its named zones against the account's list, which the CLI would otherwise
 * look up with AWS credentials. The configured zones answer that lookup (a cached real
 * lookup in cdk.context.json still wins), so synth runs anywhere.
 */
function declareAvailabilityZones(app: App, config: PlatformConfig): void {
  const lookupKey = `availability-zones:account=${config.account}:region=${config.region}`;
  if (app.node.tryGetContext(lookupKey) === undefined)
    app.node.setContext(lookupKey, [...config.network.availabilityZones]);
}
