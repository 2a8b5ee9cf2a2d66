import { Match, type Template } from 'aws-cdk-lib/assertions';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INGEST_PORT, QUERY_API_PORT } from './network-stack.js';
import { QUERY_API_METRICS_PORT } from './api-stack.js';
import { CANARY_TRAFFIC_PERCENT, SERVER_ERROR_RATE_ALARM_PERCENT } from './blue-green-fargate-service.js';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ bundle: false });
const { api } = synthesized.platform;
const template = synthesized.template(api);
const prod = synthesizePlatform({ bundle: false, context: { stage: 'prod' } });
const prodTemplate = prod.template(prod.platform.api);

type ContainerDefinition = {
  Secrets?: { Name: string; ValueFrom: unknown }[];
  Environment: { Name: string; Value: string }[];
};
const containers = (from: Template): ContainerDefinition[] =>
  Object.values(from.findResources('AWS::ECS::TaskDefinition')).flatMap(
    (definition) => definition.Properties.ContainerDefinitions as ContainerDefinition[],
  );
const containerSecrets = (from: Template) => containers(from).flatMap((container) => container.Secrets ?? []);
const environments = (from: Template) =>
  containers(from).map((container) =>
    Object.fromEntries(container.Environment.map((entry) => [entry.Name, entry.Value])),
  );

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

  it('has the collector write the compact record format the Event Processor reads (both stages)', () => {
    for (const from of [template, prodTemplate]) {
      const collector = environments(from).find((env) => env['INGEST_PORT'] !== undefined);
      expect(collector?.['INGEST_RECORD_FORMAT']).toBe('compact');
    }
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

  it('releases through `cdk deploy` with ECS canary blue/green: 10% for 5 min, then 100%, blue kept 5 min (both stages)', () => {
    for (const stageTemplate of [template, prodTemplate]) {
      stageTemplate.resourceCountIs('AWS::CodeDeploy::DeploymentGroup', 0);
      stageTemplate.resourceCountIs('AWS::CodeDeploy::Application', 0);
      const services = Object.values(stageTemplate.findResources('AWS::ECS::Service'));
      expect(services).toHaveLength(2);
      for (const service of services) {
        expect(service.Properties.DeploymentController).toEqual({ Type: 'ECS' });
        expect(service.Properties.DeploymentConfiguration).toMatchObject({
          Strategy: 'CANARY',
          CanaryConfiguration: { CanaryPercent: CANARY_TRAFFIC_PERCENT, CanaryBakeTimeInMinutes: 5 },
          BakeTimeInMinutes: 5,
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
          Alarms: { Enable: true, Rollback: true },
          MinimumHealthyPercent: 100,
        });
        expect(CANARY_TRAFFIC_PERCENT).toBe(10);
        // The rollback alarms: unhealthy targets and 5xx rate, for blue and green.
        const alarmNames = service.Properties.DeploymentConfiguration.Alarms.AlarmNames as { Ref: string }[];
        expect(alarmNames).toHaveLength(4);
        const alarms = stageTemplate.findResources('AWS::CloudWatch::Alarm');
        for (const name of alarmNames) expect(Object.keys(alarms)).toContain(name.Ref);
        // Green is the alternate target group behind the production and test listener rules.
        const [loadBalancer] = service.Properties.LoadBalancers as {
          TargetGroupArn: unknown;
          AdvancedConfiguration: Record<string, unknown>;
        }[];
        expect(JSON.stringify(loadBalancer?.TargetGroupArn)).toMatch(/BlueTargetGroup/);
        expect(JSON.stringify(loadBalancer?.AdvancedConfiguration.AlternateTargetGroupArn)).toMatch(/GreenTargetGroup/);
        expect(JSON.stringify(loadBalancer?.AdvancedConfiguration.ProductionListenerRule)).toMatch(/ProductionRule/);
        expect(JSON.stringify(loadBalancer?.AdvancedConfiguration.TestListenerRule)).toMatch(/TestRule/);
        expect(JSON.stringify(loadBalancer?.AdvancedConfiguration.RoleArn)).toMatch(/AlternateTargetRole/);
      }
      // Each listener has one rule matching every path that forwards by weight: blue 100, green 0.
      const rules = Object.values(stageTemplate.findResources('AWS::ElasticLoadBalancingV2::ListenerRule'));
      expect(rules).toHaveLength(4);
      for (const rule of rules) {
        const groups = rule.Properties.Actions[0].ForwardConfig.TargetGroups as {
          TargetGroupArn: unknown;
          Weight: number;
        }[];
        expect(
          groups.map((group) => [
            JSON.stringify(group.TargetGroupArn).match(/(Blue|Green)TargetGroup/)?.[1],
            group.Weight,
          ]),
        ).toEqual([
          ['Blue', 100],
          ['Green', 0],
        ]);
        expect(rule.Properties.Conditions).toEqual([{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*'] } }]);
      }
    }
  });

  it('rolls back on 5xx as a rate (5xx / requests per target group), not a count', () => {
    const rateAlarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) =>
      ((alarm.Properties.Metrics ?? []) as { Expression?: string }[]).some((metric) =>
        metric.Expression?.includes('100 * FILL(errors, 0) / requests'),
      ),
    );
    expect(rateAlarms).toHaveLength(4);
    for (const alarm of rateAlarms) {
      const metrics = alarm.Properties.Metrics as {
        Id: string;
        MetricStat?: { Metric: { MetricName: string; Dimensions: { Name: string }[] } };
      }[];
      const names = metrics.flatMap((metric) => (metric.MetricStat ? [metric.MetricStat.Metric.MetricName] : []));
      expect(names.sort()).toEqual(['HTTPCode_Target_5XX_Count', 'RequestCount']);
      for (const metric of metrics.filter((entry) => entry.MetricStat))
        expect(metric.MetricStat?.Metric.Dimensions.map((dimension) => dimension.Name).sort()).toEqual([
          'LoadBalancer',
          'TargetGroup',
        ]);
      expect(alarm.Properties).toMatchObject({
        Threshold: SERVER_ERROR_RATE_ALARM_PERCENT,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
    // No alarm counts raw 5xx any more.
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'HTTPCode_Target_5XX_Count' }, 0);
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

  it('injects credentials from Secrets Manager, never as plain variables, and no database password', () => {
    const secretNames = containerSecrets(template).map((secret) => secret.Name);
    expect(secretNames.sort()).toEqual(
      [
        'ADMIN_API_KEYS',
        'API_KEYS',
        'AUDIT_HMAC_SECRET',
        'EDGE_API_KEY',
        'INGEST_API_KEYS',
        'INTERNAL_API_KEY',
        'REDIS_AUTH_TOKEN',
        'SECRET_KEY',
      ].sort(),
    );
    const plain = JSON.stringify(environments(template));
    expect(plain).not.toMatch(/PASSWORD|TOKEN|API_KEYS|SECRET/);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'experimentation/api/audit-hmac-secret',
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'value', PasswordLength: 64 }),
    });
  });

  it('adds the optional integrations’ secrets only when their ARNs are configured', () => {
    const arn = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbC123`;
    const withIntegrations = synthesizePlatform({
      bundle: false,
      context: {
        slackBotTokenSecretArn: arn('slack'),
        sendgridApiKeySecretArn: arn('sendgrid'),
        anthropicApiKeySecretArn: arn('anthropic'),
      },
    });
    const secrets = containerSecrets(withIntegrations.template(withIntegrations.platform.api));
    const byName = Object.fromEntries(secrets.map((secret) => [secret.Name, secret.ValueFrom]));
    expect(byName).toMatchObject({
      SLACK_BOT_TOKEN: arn('slack'),
      SENDGRID_API_KEY: arn('sendgrid'),
      ANTHROPIC_API_KEY: arn('anthropic'),
    });
    const without = containerSecrets(template).map((secret) => secret.Name);
    expect(without).not.toEqual(expect.arrayContaining(['SLACK_BOT_TOKEN']));
    expect(without.filter((name) => /SLACK|SENDGRID|ANTHROPIC/.test(name))).toEqual([]);
    expect(() => synthesizePlatform({ bundle: false, context: { slackBotTokenSecretArn: 'slack-token' } })).toThrow(
      /slackBotTokenSecretArn \(SLACK_BOT_TOKEN_SECRET_ARN\)=slack-token: expected the complete ARN/,
    );
  });

  it('logs the query API in to PostgreSQL as the application role with IAM tokens (rds-db:connect)', () => {
    const queryApi = environments(template).find((environment) => environment.QUERY_API_PORT !== undefined);
    expect(queryApi).toMatchObject({ DATABASE_IAM_AUTH: 'true', DATABASE_USERNAME: 'experimentation_app' });
    const statements = Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('QueryApiTaskTaskRole'))
      .flatMap(
        ([, policy]) =>
          (policy.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement,
      );
    const connect = statements.filter((statement) => statement.Action === 'rds-db:connect');
    expect(connect).toHaveLength(1);
    const resource = JSON.stringify(connect[0]?.Resource);
    expect(resource).toContain(':dbuser:');
    expect(resource).toMatch(/MetadataCluster\w*DBClusterResourceId/);
    expect(resource).toContain('/experimentation_app');
    expect(resource).not.toMatch(/dbuser:\*|experimentation"/);
  });

  it('replicates the split-URL edge key to us-east-1, where the edge function reads it', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'experimentation/edge/split-url-api-key',
      ReplicaRegions: [{ Region: 'us-east-1' }],
    });
  });

  it('empties the access-log bucket on destroy in dev and keeps it in production', () => {
    const [, devBucket] = Object.entries(template.findResources('AWS::S3::Bucket'))[0] ?? [];
    expect(devBucket?.DeletionPolicy).toBe('Delete');
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
    const [, prodBucket] = Object.entries(prodTemplate.findResources('AWS::S3::Bucket'))[0] ?? [];
    expect(prodBucket?.DeletionPolicy).toBe('Retain');
    prodTemplate.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
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
