import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { INGEST_PORT, POSTGRES_PORT, QUERY_API_PORT, REDIS_PORT, TEST_LISTENER_PORT } from './network-stack.js';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ bundle: false });
const { network } = synthesized.platform;
const template = synthesized.template(network);

/** Ingress rules of one group, by the group's logical id prefix, as [fromPort, source]. */
function ingressOf(groupPrefix: string): { port: number; source: unknown }[] {
  const groupId = Object.keys(template.findResources('AWS::EC2::SecurityGroup')).find((id) =>
    id.startsWith(groupPrefix),
  );
  const inline = (template.findResources('AWS::EC2::SecurityGroup')[groupId ?? '']?.Properties?.SecurityGroupIngress ??
    []) as { FromPort: number; CidrIp?: string }[];
  const separate = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress'))
    .map(
      (rule) =>
        rule.Properties as { GroupId: { 'Fn::GetAtt': string[] }; FromPort: number; SourceSecurityGroupId?: unknown },
    )
    .filter((rule) => rule.GroupId['Fn::GetAtt'][0] === groupId);
  return [
    ...inline.map((rule) => ({ port: rule.FromPort, source: rule.CidrIp })),
    ...separate.map((rule) => ({ port: rule.FromPort, source: rule.SourceSecurityGroupId })),
  ];
}

describe('NetworkStack', () => {
  it('spans two AZs with public and private subnets behind NAT', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 4);
    template.resourcePropertiesCountIs('AWS::EC2::Subnet', { MapPublicIpOnLaunch: true }, 2);
    template.resourcePropertiesCountIs('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false }, 2);
    template.resourceCountIs('AWS::EC2::NatGateway', synthesized.config.network.natGateways);
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT' });
  });

  it('keeps counter writes off the NAT with a DynamoDB gateway endpoint', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({
        'Fn::Join': Match.arrayWith([Match.arrayWith([Match.stringLikeRegexp('dynamodb')])]),
      }),
    });
  });

  it('opens only 443 to the internet, on the load balancers', () => {
    const worldOpen = Object.values(template.findResources('AWS::EC2::SecurityGroup')).flatMap((group) =>
      ((group.Properties?.SecurityGroupIngress ?? []) as { CidrIp?: string; FromPort: number }[]).filter(
        (rule) => rule.CidrIp === '0.0.0.0/0',
      ),
    );
    expect(worldOpen.map((rule) => rule.FromPort)).toEqual([443]);
    expect(
      ingressOf('LoadBalancerSecurityGroup')
        .map((rule) => rule.port)
        .sort(),
    ).toEqual([443, TEST_LISTENER_PORT]);
  });

  it('lets each data tier accept only its own port, only from the tiers that use it', () => {
    const ports = (prefix: string) => [...new Set(ingressOf(prefix).map((rule) => rule.port))];
    expect(ports('DatabaseSecurityGroup')).toEqual([POSTGRES_PORT]);
    expect(ports('CacheSecurityGroup')).toEqual([REDIS_PORT]);
    expect(ports('SearchSecurityGroup')).toEqual([443]);
    expect(ports('ServiceSecurityGroup').sort()).toEqual([QUERY_API_PORT, INGEST_PORT].sort());
    expect(ports('StateStoreSecurityGroup')).toEqual([REDIS_PORT]);
    for (const prefix of [
      'DatabaseSecurityGroup',
      'CacheSecurityGroup',
      'SearchSecurityGroup',
      'StateStoreSecurityGroup',
    ]) {
      for (const rule of ingressOf(prefix)) expect(rule.source).toHaveProperty('Fn::GetAtt');
    }
  });

  it('admits only the processors to the state store, and the processors no longer to the results cache', () => {
    const sourceGroups = (prefix: string) =>
      ingressOf(prefix).map((rule) => (rule.source as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]);
    const processorGroupId = Object.keys(template.findResources('AWS::EC2::SecurityGroup')).find((id) =>
      id.startsWith('ProcessorSecurityGroup'),
    );
    expect(processorGroupId).toBeDefined();
    expect(sourceGroups('StateStoreSecurityGroup')).toEqual([processorGroupId]);
    expect(sourceGroups('CacheSecurityGroup').every((id) => id?.startsWith('ServiceSecurityGroup'))).toBe(true);
  });

  it('does not let data tiers open connections outward', () => {
    const groups = Object.entries(template.findResources('AWS::EC2::SecurityGroup'));
    const separateEgress = Object.values(template.findResources('AWS::EC2::SecurityGroupEgress')).map(
      (rule) => (rule.Properties as { GroupId: { 'Fn::GetAtt': string[] } }).GroupId['Fn::GetAtt'][0],
    );
    for (const prefix of [
      'DatabaseSecurityGroup',
      'CacheSecurityGroup',
      'SearchSecurityGroup',
      'StateStoreSecurityGroup',
    ]) {
      const matching = groups.filter(([id]) => id.startsWith(prefix));
      expect(matching, prefix).toHaveLength(1);
      const [groupId, group] = matching[0]!;
      // With allowAllOutbound: false, CDK writes exactly this placeholder rule (ICMP type 252, code 86 to
      // 255.255.255.255/32, which matches no traffic); without any egress rule EC2 would allow everything.
      expect(group.Properties?.SecurityGroupEgress, prefix).toEqual([
        {
          CidrIp: '255.255.255.255/32',
          Description: 'Disallow all traffic',
          FromPort: 252,
          IpProtocol: 'icmp',
          ToPort: 86,
        },
      ]);
      expect(separateEgress, prefix).not.toContain(groupId);
    }
  });
});
