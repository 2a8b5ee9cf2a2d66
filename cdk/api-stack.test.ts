import { Match } from 'aws-cdk-lib/assertions';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INGEST_PORT, QUERY_API_PORT } from './network-stack.js';
import { QUERY_API_METRICS_PORT } from './api-stack.js';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ bundle: false });
const { api } = synthesized.platform;
const template = synthesized.template(api);

describe('ApiStack', () => {
  it('runs the query API and the collector as two Fargate services of 2 vCPU / 4 GB from one image', () => {
    template.resourceCountIs('AWS::ECS::Service', 2);
    const definitions = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    expect(definitions).toHaveLength(2);
    const images = new Set<string>();
    for (const definition of definitions) {
      expect(definition.Properties).toMatchObject({
        Cpu: '2048',
        Memory: '4096',
        RequiresCompatibilities: ['FARGATE'],
      });
      const [container] = definition.Properties.ContainerDefinitions as { Image: unknown; Command: string[] }[];
      images.add(JSON.stringify(container?.Image));
    }
    expect(images.size).toBe(1);
    const commands = definitions.map(
      (definition) => (definition.Properties.ContainerDefinitions as { Command: string[] }[])[0]?.Command,
    );
    expect(commands).toEqual(expect.arrayContaining([['query-api/server.js'], ['ingest/server.js']]));
  });

  it('puts each service behind an HTTPS load balancer with /health checks on its port', () => {
    template.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 2);
    template.resourcePropertiesCountIs(
      'AWS::ElasticLoadBalancingV2::Listener',
      { Port: 443, Protocol: 'HTTPS', Certificates: [Match.anyValue()], SslPolicy: Match.stringLikeRegexp('TLS') },
      2,
    );
    for (const port of [QUERY_API_PORT, INGEST_PORT]) {
      template.resourcePropertiesCountIs(
        'AWS::ElasticLoadBalancingV2::TargetGroup',
        { Port: port, TargetType: 'ip', HealthCheckPath: '/health' },
        2,
      );
    }
  });

  it('scales each service between 2 and 10 tasks on CPU and on memory', () => {
    template.resourcePropertiesCountIs(
      'AWS::ApplicationAutoScaling::ScalableTarget',
      { MinCapacity: 2, MaxCapacity: 10, ScalableDimension: 'ecs:service:DesiredCount' },
      2,
    );
    for (const metric of ['ECSServiceAverageCPUUtilization', 'ECSServiceAverageMemoryUtilization']) {
      template.resourcePropertiesCountIs(
        'AWS::ApplicationAutoScaling::ScalingPolicy',
        {
          TargetTrackingScalingPolicyConfiguration: Match.objectLike({
            PredefinedMetricSpecification: { PredefinedMetricType: metric },
          }),
        },
        2,
      );
    }
  });

  it('releases blue/green through CodeDeploy: 10% first, the rest after 5 minutes, rollback on alarms', () => {
    template.resourcePropertiesCountIs('AWS::ECS::Service', { DeploymentController: { Type: 'CODE_DEPLOY' } }, 2);
    const groups = Object.values(template.findResources('AWS::CodeDeploy::DeploymentGroup'));
    expect(groups).toHaveLength(2);
    for (const group of groups) {
      expect(group.Properties).toMatchObject({
        DeploymentConfigName: 'CodeDeployDefault.ECSCanary10Percent5Minutes',
        DeploymentStyle: { DeploymentType: 'BLUE_GREEN', DeploymentOption: 'WITH_TRAFFIC_CONTROL' },
        AutoRollbackConfiguration: {
          Enabled: true,
          Events: expect.arrayContaining(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']),
        },
        AlarmConfiguration: { Enabled: true },
      });
      const pairs = group.Properties.LoadBalancerInfo.TargetGroupPairInfoList as { TargetGroups: unknown[] }[];
      expect(pairs[0]?.TargetGroups).toHaveLength(2);
      // Rollback alarms: unhealthy blue, unhealthy green, 5xx.
      expect(group.Properties.AlarmConfiguration.Alarms).toHaveLength(3);
    }
    const unhealthy = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.MetricName === 'UnHealthyHostCount',
    );
    expect(unhealthy).toHaveLength(4);
  });

  it('alarms on p99 latency to the monitoring topic', () => {
    template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      {
        MetricName: 'TargetResponseTime',
        ExtendedStatistic: 'p99',
        AlarmActions: [Match.objectLike({ 'Fn::ImportValue': Match.stringLikeRegexp('AlarmTopic') })],
      },
      2,
    );
  });

  it('injects credentials from Secrets Manager, never as plain variables', () => {
    const definitions = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    const secretNames = definitions.flatMap((definition) =>
      (definition.Properties.ContainerDefinitions as { Secrets?: { Name: string }[] }[]).flatMap(
        (container) => container.Secrets?.map((secret) => secret.Name) ?? [],
      ),
    );
    expect(secretNames.sort()).toEqual(
      [
        'API_KEYS',
        'DATABASE_PASSWORD',
        'DATABASE_USERNAME',
        'INGEST_API_KEYS',
        'INTERNAL_API_KEY',
        'REDIS_AUTH_TOKEN',
      ].sort(),
    );
    const plain = JSON.stringify(
      definitions.map((definition) =>
        (definition.Properties.ContainerDefinitions as { Environment: { Name: string }[] }[]).map((c) => c.Environment),
      ),
    );
    expect(plain).not.toMatch(/PASSWORD|TOKEN|API_KEYS/);
  });

  it('serves query API metrics on a port of their own that no load balancer or security group opens', () => {
    const definitions = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
    const environments = definitions.flatMap((definition) =>
      (definition.Properties.ContainerDefinitions as { Environment: { Name: string; Value: string }[] }[]).map(
        (container) => Object.fromEntries(container.Environment.map((entry) => [entry.Name, entry.Value])),
      ),
    );
    const queryApi = environments.find((environment) => environment.QUERY_API_PORT !== undefined);
    expect(queryApi).toMatchObject({
      QUERY_API_METRICS_PORT: String(QUERY_API_METRICS_PORT),
      QUERY_API_TRUSTED_PROXY_HOPS: '1',
    });
    const targetPorts = Object.values(template.findResources('AWS::ElasticLoadBalancingV2::TargetGroup')).map(
      (group) => group.Properties.Port as number,
    );
    expect(targetPorts).not.toContain(QUERY_API_METRICS_PORT);
    expect(JSON.stringify(template.findResources('AWS::EC2::SecurityGroupIngress'))).not.toContain(
      String(QUERY_API_METRICS_PORT),
    );
  });

  it('gives the collector only stream writes and the query API only reads', () => {
    const policies = Object.entries(template.findResources('AWS::IAM::Policy'));
    const actionsOf = (rolePrefix: string) =>
      policies
        .filter(([id]) => id.startsWith(rolePrefix))
        .flatMap(
          ([, policy]) =>
            (policy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement,
        )
        .flatMap((statement) => [statement.Action].flat());
    expect(actionsOf('CollectorTaskTaskRole').sort()).toEqual(
      ['kinesis:DescribeStreamSummary', 'kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords'].sort(),
    );
    const queryActions = actionsOf('QueryApiTaskTaskRole');
    expect(queryActions).toEqual(expect.arrayContaining(['dynamodb:Query', 'es:ESHttpGet']));
    expect(queryActions.filter((action) => /Put|Update|Delete|Write/.test(action))).toEqual([]);
  });

  it('records the Dockerfile image asset for deploy time (synth does not build it)', () => {
    const assets = JSON.parse(readFileSync(path.join(synthesized.outdir, `${api.artifactId}.assets.json`), 'utf8')) as {
      dockerImages: Record<string, { source: { dockerFile: string; platform: string; directory: string } }>;
    };
    const images = Object.values(assets.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]?.source).toMatchObject({ dockerFile: 'Dockerfile', platform: 'linux/amd64' });
    const context = path.join(synthesized.outdir, images[0]?.source.directory ?? '');
    // .dockerignore keeps the context to the service sources: no node_modules, no tests.
    expect(existsSync(path.join(context, 'query-api/server.ts'))).toBe(existsSync('query-api/server.ts'));
    expect(existsSync(path.join(context, 'ingest/server.ts'))).toBe(true);
    expect(existsSync(path.join(context, 'node_modules'))).toBe(false);
    expect(existsSync(path.join(context, 'cdk/container/entrypoint.sh'))).toBe(true);
  });
});
