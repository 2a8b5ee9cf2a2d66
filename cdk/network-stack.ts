/**
 * NetworkStack: the VPC (public subnets for the load balancers and NAT, private subnets
 * for everything else) and one security group per tier (the processors' state store admits
 * one group only, which only the processors' compute joins). All rules between tiers live here,
 * so no other stack edits a group it does not own (that is how cross-stack cycles start).
 */
import { Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { PlatformConfig } from './platform-config.js';

export const POSTGRES_PORT = 5432;
export const REDIS_PORT = 6379;
export const HTTPS_PORT = 443;
/** Blue/green test listener: the new task set before it takes production traffic, VPC only. */
export const TEST_LISTENER_PORT = 9443;
/** Ports the container listens on (QUERY_API_PORT / INGEST_PORT defaults in common/config.ts). */
export const QUERY_API_PORT = 8080;
export const INGEST_PORT = 8081;

export interface NetworkStackProps extends StackProps {
  readonly config: PlatformConfig;
}

/** The security groups, one per tier, with only the ports each needs. */
export interface TierSecurityGroups {
  readonly loadBalancer: ec2.SecurityGroup;
  readonly services: ec2.SecurityGroup;
  readonly lambdas: ec2.SecurityGroup;
  readonly database: ec2.SecurityGroup;
  readonly cache: ec2.SecurityGroup;
  readonly search: ec2.SecurityGroup;
  /**
   * The processors' compute (today the Event Processor Lambda): the only group the state
   * store admits. Nothing else joins it, so "from this group" means "from the processors".
   */
  readonly processors: ec2.SecurityGroup;
  /** The processors' exactly-once state store (MemoryDB): Redis only from `processors`. */
  readonly stateStore: ec2.SecurityGroup;
}

/** VPC over the configured AZs (two by default) with NAT, flow logs, a DynamoDB gateway endpoint and the tier security groups. */
export class NetworkStack extends Stack {
  readonly vpc: ec2.Vpc;
  readonly securityGroups: TierSecurityGroups;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    const { network } = props.config;
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(network.cidr),
      availabilityZones: [...network.availabilityZones],
      natGateways: network.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
      flowLogs: {
        rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'RejectedFlowLogs', { retention: logs.RetentionDays.ONE_MONTH }),
          ),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });
    // Counter writes are the hottest path; a gateway endpoint keeps them off the NAT (and its bill).
    this.vpc.addGatewayEndpoint('DynamoDbEndpoint', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    this.securityGroups = this.createTierSecurityGroups();
  }

  private createTierSecurityGroups(): TierSecurityGroups {
    const group = (id: string, description: string, allowAllOutbound: boolean) =>
      new ec2.SecurityGroup(this, id, { vpc: this.vpc, description, allowAllOutbound });
    const loadBalancer = group('LoadBalancerSecurityGroup', 'Public HTTPS load balancers', false);
    // Services and functions call AWS APIs over HTTPS through the NAT; their data-tier ports are added below.
    const services = group('ServiceSecurityGroup', 'Fargate tasks of the query API and the collector', true);
    const lambdas = group('LambdaSecurityGroup', 'Lambda functions that reach the VPC data tier', true);
    const database = group('DatabaseSecurityGroup', 'Aurora PostgreSQL', false);
    const cache = group('CacheSecurityGroup', 'ElastiCache Redis', false);
    const search = group('SearchSecurityGroup', 'OpenSearch domain', false);
    const processors = group('ProcessorSecurityGroup', 'Event processors: the only clients of the state store', false);
    const stateStore = group('StateStoreSecurityGroup', 'MemoryDB exactly-once state of the processors', false);

    loadBalancer.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(HTTPS_PORT), 'HTTPS from producers and analysts');
    loadBalancer.addIngressRule(
      ec2.Peer.ipv4(this.vpc.vpcCidrBlock),
      ec2.Port.tcp(TEST_LISTENER_PORT),
      'Blue/green test traffic from inside the VPC',
    );
    for (const port of [QUERY_API_PORT, INGEST_PORT]) {
      loadBalancer.addEgressRule(services, ec2.Port.tcp(port), 'to the service containers');
      services.addIngressRule(loadBalancer, ec2.Port.tcp(port), 'from the load balancers');
    }
    database.addIngressRule(services, ec2.Port.tcp(POSTGRES_PORT), 'PostgreSQL from the services');
    database.addIngressRule(lambdas, ec2.Port.tcp(POSTGRES_PORT), 'PostgreSQL from the functions');
    // The results cache serves the query API only; the processors' state has its own store.
    cache.addIngressRule(services, ec2.Port.tcp(REDIS_PORT), 'Redis from the services');
    stateStore.addIngressRule(processors, ec2.Port.tcp(REDIS_PORT), 'Redis (TLS) from the event processors only');
    processors.addEgressRule(stateStore, ec2.Port.tcp(REDIS_PORT), 'to the state store');
    search.addIngressRule(services, ec2.Port.tcp(HTTPS_PORT), 'OpenSearch from the query API');
    search.addIngressRule(lambdas, ec2.Port.tcp(HTTPS_PORT), 'OpenSearch bulk indexing from the event processor');

    // cdk-nag: the load balancers are the platform's public entry points (SDKs post events,
    // analysts and CloudFront call the API) and only port 443 is open; everything else is private.
    Validations.of(loadBalancer).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'Public HTTPS entry point: only 443 is open to the internet; TLS is terminated with an ACM certificate.',
    });
    return { loadBalancer, services, lambdas, database, cache, search, processors, stateStore };
  }
}
