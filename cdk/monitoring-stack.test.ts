import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ bundle: false });
const template = synthesized.template(synthesized.platform.monitoring);

/** Alarms of the stack as { metric names involved, alarm actions }. */
function alarms() {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => ({
    text: JSON.stringify(alarm.Properties),
    actions: alarm.Properties.AlarmActions as unknown[],
  }));
}

describe('MonitoringStack', () => {
  it('creates the platform log groups with a retention', () => {
    for (const name of ['api', 'services', 'errors']) {
      template.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: `/experimentation-platform/${name}`,
        RetentionInDays: Match.anyValue(),
      });
    }
  });

  it('alarms on iterator age, error rate, p99 latency and dead letters, to the SNS topic', () => {
    const all = alarms();
    const find = (needle: string) => all.filter((alarm) => alarm.text.includes(needle));
    expect(find('IteratorAge')).toHaveLength(1);
    expect(find('"errors"').length + find('ErrorLogLines').length).toBeGreaterThanOrEqual(2);
    expect(find('"ExtendedStatistic":"p99"')).toHaveLength(1);
    expect(find('ExperimentEvents-dlq')).toHaveLength(1);
    expect(find('ApproximateNumberOfMessagesVisible')).toHaveLength(1);
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    for (const alarm of all) expect(alarm.actions).toEqual([{ Ref: topicId }]);
  });

  it('counts STATE_LOST lines of the processors’ log group and alarms on the first one', () => {
    const [servicesGroupId] = Object.keys(
      template.findResources('AWS::Logs::LogGroup', {
        Properties: { LogGroupName: '/experimentation-platform/services' },
      }),
    );
    const filters = Object.values(
      template.findResources('AWS::Logs::MetricFilter', {
        Properties: { MetricTransformations: [Match.objectLike({ MetricName: 'StateLost' })] },
      }),
    );
    expect(filters).toHaveLength(1);
    expect(filters[0]?.Properties.LogGroupName).toEqual({ Ref: servicesGroupId });
    expect(filters[0]?.Properties.FilterPattern).toContain('$.err.code = "STATE_LOST"');
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'StateLost',
      Namespace: 'ExperimentationPlatform',
      Statistic: 'Sum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
    });
  });

  it('alarms on the state store’s memory, evictions and replication lag, to the SNS topic', () => {
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    const onStateStore = (metricName: string) =>
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) => {
        const metrics = (alarm.Properties.Metrics ?? []) as { Expression?: string }[];
        return metrics.some(
          (metric) =>
            metric.Expression?.includes(`(${metricName})`) === true &&
            metric.Expression.includes('"AWS/MemoryDB"') &&
            metric.Expression.includes("ClusterName = 'experimentation-processor-state'"),
        );
      });
    const expectations = [
      ['DatabaseMemoryUsagePercentage', 80],
      ['Evictions', 0],
      ['ReplicationLag', 5],
    ] as const;
    for (const [metricName, threshold] of expectations) {
      const alarms = onStateStore(metricName);
      expect(alarms, metricName).toHaveLength(1);
      expect(alarms[0]?.Properties).toMatchObject({
        Threshold: threshold,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [{ Ref: topicId }],
      });
    }
  });

  it('encrypts the alarm topic and requires TLS to publish', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      }),
    });
  });

  it('shows API latency, error rates, Lambda invocations, DynamoDB throughput and iterator age', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const title of [
      'API latency',
      'Error rates',
      'Lambda invocations',
      'DynamoDB counters throughput',
      'Iterator age',
    ]) {
      expect(body).toContain(title);
    }
    for (const metric of ['TargetResponseTime', 'Invocations', 'ConsumedWriteCapacityUnits', 'IteratorAge']) {
      expect(body).toContain(metric);
    }
  });

  it('counts error log lines and routes stopped tasks and failed deployments to the errors group', () => {
    template.resourcePropertiesCountIs(
      'AWS::Logs::MetricFilter',
      { MetricTransformations: [Match.objectLike({ MetricName: 'ErrorLogLines' })] },
      2,
    );
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({ source: ['aws.ecs', 'aws.codedeploy'] }),
      Targets: [Match.objectLike({ Arn: Match.anyValue() })],
    });
  });
});
