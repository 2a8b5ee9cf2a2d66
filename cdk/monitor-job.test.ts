import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  PLATFORM_METRIC_NAMESPACE as MONITOR_NAMESPACE,
  STATE_LOST_METRIC_NAME,
} from '../query-api/monitor/cloudwatch-health-source.js';
import { MONITOR_ENTRY } from './monitor-job.js';
import { PLATFORM_METRIC_NAMESPACE } from './monitoring-stack.js';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const SLACK_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:experimentation/slack-AbCdEf';
const SENDGRID_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:experimentation/sendgrid-GhIjKl';

const withIntegrations = synthesizePlatform({
  bundle: false,
  context: {
    slackBotTokenSecretArn: SLACK_ARN,
    sendgridApiKeySecretArn: SENDGRID_ARN,
    slackDefaultChannel: '#experiments',
    alertEmailFrom: 'alerts@example.com',
    alertEmailTo: 'oncall@example.com,data@example.com',
    monitorScheduleMinutes: '5',
  },
});
const template = withIntegrations.template(withIntegrations.platform.api);
const plain = synthesizePlatform({ bundle: false });
const plainTemplate = plain.template(plain.platform.api);

/** The monitor function's resource in a template. */
function monitorFunction(t: typeof template): { Properties: Record<string, unknown> } {
  const found = Object.values(
    t.findResources('AWS::Lambda::Function', { Properties: { FunctionName: 'experimentation-monitor' } }),
  );
  expect(found).toHaveLength(1);
  return found[0] as { Properties: Record<string, unknown> };
}

const variablesOf = (t: typeof template) =>
  (monitorFunction(t).Properties.Environment as { Variables: Record<string, unknown> }).Variables;

describe('MonitorJob (CDK)', () => {
  it('bundles the monitor handler', () => {
    expect(MONITOR_ENTRY).toBe('query-api/monitor/lambda-handler.ts');
    expect(monitorFunction(template).Properties.Handler).toBe('index.handler');
  });

  it('runs on an EventBridge schedule (configurable, every minute by default), without retries', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } })],
    });
    plainTemplate.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
    });
    expect(monitorFunction(template).Properties.Timeout).toBe(295);
  });

  it('gets the secrets by ARN, read at cold start, never their values', () => {
    const variables = variablesOf(template);
    expect(variables).toMatchObject({
      SLACK_BOT_TOKEN_SECRET_ID: SLACK_ARN,
      SENDGRID_API_KEY_SECRET_ID: SENDGRID_ARN,
      SLACK_DEFAULT_CHANNEL: '#experiments',
      ALERT_EMAIL_FROM: 'alerts@example.com',
      ALERT_EMAIL_TO: 'oncall@example.com,data@example.com',
      DATABASE_IAM_AUTH: 'true',
      PUBLIC_BASE_URL: expect.stringMatching(/^https:\/\//),
    });
    expect(JSON.stringify(variables)).not.toContain('{{resolve:');
    expect(variables).not.toHaveProperty('SLACK_BOT_TOKEN');
    expect(JSON.stringify(variables.DATABASE_URL)).toContain('experimentation_app@');
    expect(JSON.stringify(variables.DATABASE_URL)).not.toMatch(/experimentation_app:/);
    const plainVariables = variablesOf(plainTemplate);
    expect(plainVariables).not.toHaveProperty('SLACK_BOT_TOKEN_SECRET_ID');
    expect(plainVariables).not.toHaveProperty('SENDGRID_API_KEY_SECRET_ID');
  });

  it('may read the counters, connect to Aurora as the application role and read only its two secrets', () => {
    const role = (monitorFunction(template).Properties.Role as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy.Properties.Roles).includes(role),
    );
    const statements = policies.flatMap(
      (policy) =>
        (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] })
          .Statement,
    );
    const actions = statements.flatMap((statement) => [statement.Action].flat());
    expect(actions).toEqual(
      expect.arrayContaining([
        'dynamodb:GetItem',
        'dynamodb:BatchGetItem',
        'dynamodb:Query',
        'rds-db:connect',
        'secretsmanager:GetSecretValue',
        'cloudwatch:GetMetricData',
      ]),
    );
    expect(actions.filter((action) => /^(dynamodb|kinesis|sqs|s3):(Put|Update|Delete|Write)/.test(action))).toEqual([]);
    const secretReads = statements.filter((statement) =>
      [statement.Action].flat().includes('secretsmanager:GetSecretValue'),
    );
    expect(secretReads.map((statement) => statement.Resource)).toEqual([[SLACK_ARN, SENDGRID_ARN]]);
    expect(JSON.stringify(statements.find((s) => [s.Action].flat().includes('rds-db:connect')))).toContain('dbuser:');
  });

  it('reads pipeline health from the CloudWatch metrics the platform publishes', () => {
    expect(variablesOf(template)).toMatchObject({
      MONITOR_HEALTH_SOURCE: 'cloudwatch',
      MONITOR_PROCESSOR_FUNCTION_NAME: 'experimentation-event-processor',
      KINESIS_DLQ_STREAM_NAME: withIntegrations.config.streams.deadLetterStreamName,
    });
    expect(MONITOR_NAMESPACE).toBe(PLATFORM_METRIC_NAMESPACE);
    const monitoring = withIntegrations.template(withIntegrations.platform.monitoring);
    monitoring.hasResourceProperties('AWS::Logs::MetricFilter', {
      MetricTransformations: [Match.objectLike({ MetricName: STATE_LOST_METRIC_NAME })],
    });
  });

  it('runs in the VPC in the functions security group (the one Aurora admits)', () => {
    const vpcConfig = monitorFunction(template).Properties.VpcConfig as { SecurityGroupIds: unknown[] };
    expect(JSON.stringify(vpcConfig.SecurityGroupIds)).toMatch(/LambdaSecurityGroup/);
  });
});
