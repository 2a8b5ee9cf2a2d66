import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { COUNTER_TABLE_OPERATIONS } from './monitoring-stack.js';
import { synthesizePlatform } from './test-support/synthesize-platform.js';

const synthesized = synthesizePlatform({ bundle: false });
const template = synthesized.template(synthesized.platform.monitoring);
const prod = synthesizePlatform({ bundle: false, context: { stage: 'prod' } });

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
    // The Event Processor's IteratorAge and the stream's GetRecords.IteratorAgeMilliseconds.
    expect(find('IteratorAge')).toHaveLength(2);
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
      EventPattern: Match.objectLike({
        source: ['aws.ecs'],
        'detail-type': ['ECS Task State Change', 'ECS Deployment State Change'],
      }),
      Targets: [Match.objectLike({ Arn: Match.anyValue() })],
    });
    expect(JSON.stringify(template.findResources('AWS::Events::Rule'))).toContain('SERVICE_DEPLOYMENT_FAILED');
  });

  it('alarms on OpenSearch health and storage, Aurora, the cache and the events stream, to the topic', () => {
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    const expectations: [string, string, Record<string, string>, number, string][] = [
      ['AWS/ES', 'ClusterStatus.red', { DomainName: 'experimentation-events' }, 1, 'GreaterThanOrEqualToThreshold'],
      ['AWS/ES', 'FreeStorageSpace', { DomainName: 'experimentation-events' }, 20 * 1024 * 0.2, 'LessThanThreshold'],
      [
        'AWS/ES',
        'ClusterIndexWritesBlocked',
        { DomainName: 'experimentation-events' },
        1,
        'GreaterThanOrEqualToThreshold',
      ],
      ['AWS/RDS', 'CPUUtilization', { DBClusterIdentifier: 'experimentation-metadata' }, 80, 'GreaterThanThreshold'],
      [
        'AWS/RDS',
        'DatabaseConnections',
        { DBClusterIdentifier: 'experimentation-metadata' },
        10 * 15 + 20,
        'GreaterThanThreshold',
      ],
      [
        'AWS/RDS',
        'FreeableMemory',
        { DBClusterIdentifier: 'experimentation-metadata' },
        512 * 1024 * 1024,
        'LessThanThreshold',
      ],
      [
        'AWS/ElastiCache',
        'DatabaseMemoryUsagePercentage',
        { CacheClusterId: 'experimentation-cache-001' },
        80,
        'GreaterThanThreshold',
      ],
      ['AWS/ElastiCache', 'Evictions', { CacheClusterId: 'experimentation-cache-001' }, 1000, 'GreaterThanThreshold'],
      [
        'AWS/Kinesis',
        'WriteProvisionedThroughputExceeded',
        { StreamName: 'ExperimentEvents' },
        0,
        'GreaterThanThreshold',
      ],
      [
        'AWS/Kinesis',
        'GetRecords.IteratorAgeMilliseconds',
        { StreamName: 'ExperimentEvents' },
        60_000,
        'GreaterThanThreshold',
      ],
    ];
    for (const [namespace, metricName, dimensions, threshold, comparison] of expectations) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: namespace,
        MetricName: metricName,
        Dimensions: Match.arrayWith(Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value }))),
        Threshold: threshold,
        ComparisonOperator: comparison,
        AlarmActions: [{ Ref: topicId }],
        OKActions: [{ Ref: topicId }],
      });
    }
    // A single development node is always yellow with replicas to place: only multi-node domains alarm on it.
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'ClusterStatus.yellow' }, 0);
    const prodTemplate = prod.template(prod.platform.monitoring);
    prodTemplate.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'ClusterStatus.yellow' }, 1);
    prodTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'FreeStorageSpace',
      Threshold: 100 * 1024 * 0.2,
    });
  });

  it('alarms on Assignment and Flag Evaluation error rates (errors / invocations) and throttles', () => {
    for (const functionName of ['experimentation-assignment', 'experimentation-flag-evaluation']) {
      const onFunction = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) =>
        JSON.stringify(alarm.Properties).includes(`"Value":"${functionName}"`),
      );
      const rate = onFunction.find((alarm) =>
        ((alarm.Properties.Metrics ?? []) as { Expression?: string }[]).some((metric) =>
          metric.Expression?.includes('100 * FILL(errors, 0) / invocations'),
        ),
      );
      expect(rate?.Properties).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanThreshold' });
      const throttles = onFunction.find((alarm) => alarm.Properties.MetricName === 'Throttles');
      expect(throttles?.Properties).toMatchObject({ Threshold: 0, Statistic: 'Sum' });
    }
    // Every error-rate alarm of the stack is a rate, never a raw count of errors.
    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { MetricName: 'Errors' }, 0);
  });

  it('subscribes the alarm e-mail from context, and nobody without it', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    const withEmail = synthesizePlatform({ bundle: false, context: { alarmEmail: 'oncall@example.com' } });
    withEmail.template(withEmail.platform.monitoring).hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
  });

  it('graphs DynamoDB throttling with the per-operation ThrottledRequests metric that exists', () => {
    const [dashboard] = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    const parts = (dashboard?.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
    const body = JSON.parse(parts.map((part) => (typeof part === 'string' ? part : 'region')).join('')) as {
      widgets: { properties: { title: string; metrics: unknown[][] } }[];
    };
    const widget = body.widgets.find((candidate) => candidate.properties.title === 'DynamoDB counters throughput');
    const throttled = (widget?.properties.metrics ?? []).filter((metric) => metric.includes('ThrottledRequests'));
    expect(throttled).toHaveLength(COUNTER_TABLE_OPERATIONS.length);
    for (const metric of throttled) {
      // Namespace, name, then dimension name/value pairs: both TableName and Operation, as DynamoDB publishes it.
      const parts = metric.slice(2).filter((part): part is string => typeof part === 'string');
      const dimensions = Object.fromEntries(
        parts.flatMap((part, index) => (index % 2 === 0 ? [[part, parts[index + 1]] as const] : [])),
      );
      expect(dimensions.TableName).toBe('ExperimentCounters');
      expect(COUNTER_TABLE_OPERATIONS).toContain(dimensions.Operation);
    }
    const expression = (widget?.properties.metrics ?? []).find(
      (metric) => typeof metric[0] === 'object' && JSON.stringify(metric[0]).includes('expression'),
    );
    expect(JSON.stringify(expression)).toContain(
      'SUM([FILL(updateitem, 0), FILL(getitem, 0), FILL(query, 0), FILL(batchgetitem, 0)])',
    );
  });
});
