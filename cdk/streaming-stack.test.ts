import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const dev = synthesizePlatform({ bundle: false });
const template = dev.template(dev.platform.streaming);

describe('StreamingStack', () => {
  it('creates ExperimentEvents with 2 encrypted shards and a one-shard dead-letter stream', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: 'ExperimentEvents',
      ShardCount: 2,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
      RetentionPeriodHours: 168,
    });
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      Name: 'ExperimentEvents-dlq',
      ShardCount: 1,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
  });

  it('runs a single-node t3.medium.search, VPC-only, encrypted OpenSearch domain in development', () => {
    template.hasResourceProperties('AWS::OpenSearchService::Domain', {
      ClusterConfig: Match.objectLike({
        InstanceCount: 1,
        InstanceType: 't3.medium.search',
        DedicatedMasterEnabled: false,
        ZoneAwarenessEnabled: false,
      }),
      VPCOptions: { SubnetIds: [Match.anyValue()], SecurityGroupIds: [Match.anyValue()] },
      EncryptionAtRestOptions: { Enabled: true },
      NodeToNodeEncryptionOptions: { Enabled: true },
      DomainEndpointOptions: Match.objectLike({ EnforceHTTPS: true }),
    });
  });

  it('accepts only this account’s signed requests and publishes slow logs', () => {
    const [domain] = Object.values(template.findResources('AWS::OpenSearchService::Domain'));
    const statements = (domain?.Properties.AccessPolicies as { Statement: { Principal: unknown }[] }).Statement;
    expect(statements).toHaveLength(1);
    expect(JSON.stringify(statements[0]?.Principal)).toContain(`:iam::${dev.config.account}:root`);
    expect(Object.keys(domain?.Properties.LogPublishingOptions as object).sort()).toEqual(
      ['ES_APPLICATION_LOGS', 'INDEX_SLOW_LOGS', 'SEARCH_SLOW_LOGS'].sort(),
    );
    template.resourceCountIs('Custom::OpenSearchAccessPolicy', 0);
  });

  it('runs a zone-aware cluster with dedicated masters for stage=prod, with the shard count from context', () => {
    const prod = synthesizePlatform({ bundle: false, context: { stage: 'prod', shardCount: '4' } });
    const prodTemplate = prod.template(prod.platform.streaming);
    prodTemplate.hasResourceProperties('AWS::OpenSearchService::Domain', {
      ClusterConfig: Match.objectLike({
        InstanceCount: 2,
        DedicatedMasterEnabled: true,
        DedicatedMasterCount: 3,
        ZoneAwarenessEnabled: true,
        ZoneAwarenessConfig: { AvailabilityZoneCount: 2 },
      }),
    });
    prodTemplate.hasResourceProperties('AWS::Kinesis::Stream', { Name: 'ExperimentEvents', ShardCount: 4 });
    for (const stream of Object.values(prodTemplate.findResources('AWS::Kinesis::Stream')))
      expect(stream.DeletionPolicy).toBe('Retain');
    prodTemplate.hasResource('AWS::OpenSearchService::Domain', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    prod.template(prod.platform.dynamo).hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Retain' });
    // Development: everything goes with `cdk destroy`.
    for (const type of ['AWS::Kinesis::Stream', 'AWS::OpenSearchService::Domain'])
      for (const resource of Object.values(template.findResources(type)))
        expect(resource.DeletionPolicy).toBe('Delete');
  });
});
