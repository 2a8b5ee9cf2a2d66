/**
 * The whole platform with every check on: cdk-nag's AWS Solutions pack and aws-cdk-lib's
 * CloudFormation schema validation both run during this synth and fail it on any
 * unacknowledged finding. Plus what holds across stacks: least privilege and placement.
 */
import type { Stack } from 'aws-cdk-lib';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ checks: true });
const stacks = Object.values(synthesized.platform);

/** Error-severity findings of the synth's validation report (cdk-nag and the schema checks). */
function validationErrors(outdir: string): string[] {
  const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { pluginName: string; violations: { severity: string; ruleName?: string }[] }[];
  };
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations
      .filter((violation) => violation.severity === 'error')
      .map((violation) => `${plugin.pluginName}: ${violation.ruleName ?? ''}`),
  );
}

interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Identity-policy statements granting something on Resource "*". */
function wildcardGrants(): { stack: string; actions: string[] }[] {
  return stacks.flatMap((stack) =>
    Object.values(synthesized.template(stack).findResources('AWS::IAM::Policy')).flatMap((policy) =>
      (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.filter(
        (statement) => statement.Effect === 'Allow' && [statement.Resource].flat().includes('*'),
      ).map((statement) => ({ stack: stack.stackName, actions: [statement.Action].flat() })),
    ),
  );
}

describe('the platform', () => {
  it('synthesizes all eight stacks with cdk-nag AWS Solutions and schema validation passing', () => {
    expect(stacks.map((stack) => stack.stackName).sort()).toEqual(
      [
        'ApiStack',
        'DatabaseStack',
        'DynamoStack',
        'LambdaStack',
        'MonitoringStack',
        'NetworkStack',
        'SplitUrlStack',
        'StreamingStack',
      ].sort(),
    );
    expect(validationErrors(synthesized.outdir)).toEqual([]);
  });

  it('passes cdk-nag and schema validation for production too, with every optional part configured', () => {
    const site = mkdtempSync(path.join(tmpdir(), 'static-site-'));
    mkdirSync(path.join(site, 'assets'));
    writeFileSync(path.join(site, 'index.html'), '<!doctype html><title>ui</title>');
    writeFileSync(path.join(site, 'assets', 'app.0a1b2c.js'), '');
    const arn = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbC123`;
    const prod = synthesizePlatform({
      checks: true,
      bundle: false,
      context: {
        stage: 'prod',
        staticSiteSource: site,
        alarmEmail: 'oncall@example.com',
        cacheReplicas: '1',
        slackBotTokenSecretArn: arn('slack'),
        sendgridApiKeySecretArn: arn('sendgrid'),
        anthropicApiKeySecretArn: arn('anthropic'),
        // Analysts' sign-in: the Hosted UI domain and the results pages' app client.
        cognitoUserPoolId: 'eu-west-1_AbCdEf123',
      },
    });
    expect(validationErrors(prod.outdir)).toEqual([]);
    expect(
      prod.template(prod.platform.splitUrl).findResources('Custom::CDKBucketDeployment'),
      'the static site was deployed in this synth',
    ).not.toEqual({});
  });

  it('grants "*" only for actions that have no resource-level permissions', () => {
    const allowed =
      /^(ec2:(Create|Describe|Delete)NetworkInterfaces?|ec2:(Assign|Unassign)PrivateIpAddresses|ec2:DescribeSubnets|ecr:GetAuthorizationToken|cloudwatch:GetMetricData)$/;
    const offending = wildcardGrants().filter((grant) => grant.actions.some((action) => !allowed.test(action)));
    expect(offending).toEqual([]);
  });

  it('places the edge stack in us-east-1 and everything else in the configured region', () => {
    for (const stack of stacks) {
      expect(stack.region).toBe(stack === synthesized.platform.splitUrl ? 'us-east-1' : synthesized.config.region);
      expect(stack.account).toBe(synthesized.config.account);
    }
  });

  it('deploys the monitoring stack before the services that log into it', () => {
    const dependencies = (stack: Stack): string[] =>
      stack.dependencies.map((dependency: Stack) => dependency.stackName);
    expect(dependencies(synthesized.platform.api)).toContain('MonitoringStack');
    expect(dependencies(synthesized.platform.lambdas)).toContain('MonitoringStack');
    expect(dependencies(synthesized.platform.monitoring)).toEqual([]);
  });
});
