/**
 * MonitoringStack: the platform's log groups, the alarm topic, the operations dashboard
 * and the alarms on the pipeline and on the processors' state store (lost state, memory,
 * evictions, replica lag). It deploys before the stacks it watches, because they log
 * into its groups, so it names their metrics through resource-names.ts rather than
 * references. Alarms on the load balancers live beside them in ApiStack (CodeDeploy rolls
 * back on them too) and publish to this topic.
 */
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { PlatformConfig } from './platform-config.js';
import { resourceNames, type ResourceNames } from './resource-names.js';

/** Namespace of the metrics this stack derives from log lines. */
export const PLATFORM_METRIC_NAMESPACE = 'ExperimentationPlatform';
/** Iterator age above this means the processors are falling behind the producers. */
const ITERATOR_AGE_ALARM_MS = 60_000;
/** Share of Event Processor invocations that may fail before someone is paged. */
const ERROR_RATE_ALARM_PERCENT = 1;
/** p99 duration of one processor batch; beyond it the mapping starts to lag. */
const PROCESSOR_P99_ALARM_MS = 10_000;
/** Error code the processors log (pino `err.code`) when their state store lost data. */
export const STATE_LOST_CODE = 'STATE_LOST';
/** Memory use of a state-store node that calls for a bigger node type (it never evicts: full means refused writes). */
const STATE_MEMORY_ALARM_PERCENT = 80;
/** A replica this far behind its primary (seconds) is not a safe failover target. */
const STATE_REPLICATION_LAG_ALARM_SECONDS = 5;

export interface MonitoringStackProps extends StackProps {
  readonly config: PlatformConfig;
}

/** The log groups services write to, keyed by their role. */
export interface PlatformLogGroups {
  readonly api: logs.LogGroup;
  readonly services: logs.LogGroup;
  readonly errors: logs.LogGroup;
}

/** Log groups, SNS alarm topic, dashboard and alarms of the whole platform. */
export class MonitoringStack extends Stack {
  readonly alarmTopic: sns.Topic;
  readonly logGroups: PlatformLogGroups;
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = resourceNames(config);
    this.logGroups = this.createLogGroups(names, config);
    this.alarmTopic = this.createAlarmTopic(config);
    this.routeOperationalFailuresToErrorLog(names);
    const errorLines = this.errorLogLineMetric();
    const stateLost = this.stateLostMetric();
    this.createAlarms(names, config, errorLines);
    this.createStateStoreAlarms(names, stateLost);
    this.dashboard = this.createDashboard(names, config, errorLines);
    this.dashboard.addWidgets(...stateStoreWidgets(names.stateStore.cluster, stateLost));
  }

  private createLogGroups(names: ResourceNames, config: PlatformConfig): PlatformLogGroups {
    const group = (id: string, logGroupName: string) =>
      new logs.LogGroup(this, id, {
        logGroupName,
        retention: config.stage === 'prod' ? logs.RetentionDays.THREE_MONTHS : logs.RetentionDays.TWO_WEEKS,
        removalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      });
    return {
      api: group('ApiLogs', names.logGroups.api),
      services: group('ServiceLogs', names.logGroups.services),
      errors: group('ErrorLogs', names.logGroups.errors),
    };
  }

  private createAlarmTopic(config: PlatformConfig): sns.Topic {
    // A customer-managed key, because CloudWatch cannot publish to a topic under the AWS-managed SNS key.
    const key = new kms.Key(this, 'AlarmTopicKey', {
      description: 'Encrypts the experimentation alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'], // In a key policy "*" means this key.
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `${config.prefix} platform alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    if (config.alarmEmail) topic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));
    return topic;
  }

  /**
   * Failures that happen outside our code (a task stopped by ECS, a CodeDeploy rollback)
   * land in the errors log group, next to the error lines, where on-call looks first.
   */
  private routeOperationalFailuresToErrorLog(names: ResourceNames): void {
    const policy = new logs.CfnResourcePolicy(this, 'ErrorLogDeliveryPolicy', {
      policyName: `${names.cluster}-error-log-delivery`,
      policyDocument: this.toJsonString({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: { Service: ['events.amazonaws.com', 'delivery.logs.amazonaws.com'] },
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: `${this.logGroups.errors.logGroupArn}`,
          },
        ],
      }),
    });
    const rule = new events.Rule(this, 'OperationalFailures', {
      description: 'Stopped service tasks and failed deployments, copied to the errors log group',
      eventPattern: {
        source: ['aws.ecs', 'aws.codedeploy'],
        detailType: ['ECS Task State Change', 'CodeDeploy Deployment State-change Notification'],
        detail: {
          $or: [
            { lastStatus: ['STOPPED'], stopCode: ['EssentialContainerExited', 'TaskFailedToStart'] },
            { state: ['FAILURE'] },
          ],
        },
      },
    });
    rule.addTarget({ bind: () => ({ arn: this.logGroups.errors.logGroupArn }) });
    rule.node.addDependency(policy);
  }

  /** Error and fatal lines (pino `level` label) in the service and function logs. */
  private errorLogLineMetric(): cloudwatch.Metric {
    const metricName = 'ErrorLogLines';
    for (const [id, group] of [
      ['ApiErrorLines', this.logGroups.api],
      ['ServiceErrorLines', this.logGroups.services],
    ] as const) {
      new logs.MetricFilter(this, id, {
        logGroup: group,
        filterPattern: logs.FilterPattern.any(
          logs.FilterPattern.stringValue('$.level', '=', 'error'),
          logs.FilterPattern.stringValue('$.level', '=', 'fatal'),
        ),
        metricNamespace: PLATFORM_METRIC_NAMESPACE,
        metricName,
        metricValue: '1',
        defaultValue: 0,
      });
    }
    return new cloudwatch.Metric({
      namespace: PLATFORM_METRIC_NAMESPACE,
      metricName,
      statistic: 'Sum',
      period: Duration.minutes(5),
    });
  }

  /**
   * Lines of the processors' log group that report lost state: the pino error line
   * `{"level":…,"err":{"code":"STATE_LOST",…}}` (Lambda keeps JSON lines as they are), or a
   * line carrying the code at the top level.
   */
  private stateLostMetric(): cloudwatch.Metric {
    const metricName = 'StateLost';
    new logs.MetricFilter(this, 'StateLostLines', {
      logGroup: this.logGroups.services,
      filterPattern: logs.FilterPattern.any(
        logs.FilterPattern.stringValue('$.err.code', '=', STATE_LOST_CODE),
        logs.FilterPattern.stringValue('$.code', '=', STATE_LOST_CODE),
      ),
      metricNamespace: PLATFORM_METRIC_NAMESPACE,
      metricName,
      metricValue: '1',
    });
    return new cloudwatch.Metric({
      namespace: PLATFORM_METRIC_NAMESPACE,
      metricName,
      statistic: 'Sum',
      period: Duration.minutes(1),
    });
  }

  /**
   * The exactly-once state store: lost state (the processors stopped), memory running out
   * (it never evicts, so a full node refuses writes), evictions (must stay 0 under
   * `noeviction`; anything else is a misconfigured store) and replica lag (a failover
   * target behind its primary). MemoryDB publishes per node; the Metrics Insights queries
   * take the worst node of the cluster, whichever is primary after a failover.
   */
  private createStateStoreAlarms(names: ResourceNames, stateLost: cloudwatch.Metric): void {
    const cluster = names.stateStore.cluster;
    const alarms = [
      new cloudwatch.Alarm(this, 'StateLostAlarm', {
        alarmDescription: `The event processors detected lost exactly-once state (${STATE_LOST_CODE}) and stopped; find what emptied or replaced the store before restarting them`,
        metric: stateLost,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'StateStoreMemoryAlarm', {
        alarmDescription: `A node of the state store ${cluster} uses over ${STATE_MEMORY_ALARM_PERCENT}% of its memory; move to a bigger node type (cdk/README.md, Sizing)`,
        metric: stateStoreMetric(cluster, 'MAX', 'DatabaseMemoryUsagePercentage', Duration.minutes(5)),
        threshold: STATE_MEMORY_ALARM_PERCENT,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'StateStoreEvictionsAlarm', {
        alarmDescription: `The state store ${cluster} evicted keys: it must run maxmemory-policy noeviction; state was lost`,
        metric: stateStoreMetric(cluster, 'SUM', 'Evictions', Duration.minutes(1)),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'StateStoreReplicationLagAlarm', {
        alarmDescription: `A replica of the state store ${cluster} lags its primary by over ${STATE_REPLICATION_LAG_ALARM_SECONDS} s`,
        metric: stateStoreMetric(cluster, 'MAX', 'ReplicationLag', Duration.minutes(1)),
        threshold: STATE_REPLICATION_LAG_ALARM_SECONDS,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    const notify = new actions.SnsAction(this.alarmTopic);
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
  }

  private createAlarms(names: ResourceNames, config: PlatformConfig, errorLines: cloudwatch.Metric): void {
    const processor = lambdaMetrics(names.functions.eventProcessor);
    const alarms = [
      new cloudwatch.Alarm(this, 'IteratorAgeAlarm', {
        alarmDescription: 'The Event Processor is falling behind ExperimentEvents',
        metric: processor('IteratorAge', 'Maximum'),
        threshold: ITERATOR_AGE_ALARM_MS,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'ProcessorErrorRateAlarm', {
        alarmDescription: `More than ${ERROR_RATE_ALARM_PERCENT}% of Event Processor invocations fail`,
        metric: new cloudwatch.MathExpression({
          expression: '100 * errors / MAX([invocations, 1])',
          usingMetrics: {
            errors: processor('Errors', 'Sum').with({ period: Duration.minutes(5) }),
            invocations: processor('Invocations', 'Sum').with({ period: Duration.minutes(5) }),
          },
          period: Duration.minutes(5),
          label: 'Event Processor error rate (%)',
        }),
        threshold: ERROR_RATE_ALARM_PERCENT,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'ProcessorP99LatencyAlarm', {
        alarmDescription: 'p99 duration of an Event Processor batch is too high',
        metric: processor('Duration', 'p99'),
        threshold: PROCESSOR_P99_ALARM_MS,
        evaluationPeriods: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'DeadLetterStreamAlarm', {
        alarmDescription: 'Events are being dead-lettered; inspect them with npm run dlq',
        metric: streamMetric(config.streams.deadLetterStreamName, 'IncomingRecords'),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'FailedBatchesAlarm', {
        alarmDescription: 'Kinesis batches exhausted their retries; their positions are in the failure queue',
        metric: new cloudwatch.Metric({
          namespace: 'AWS/SQS',
          metricName: 'ApproximateNumberOfMessagesVisible',
          dimensionsMap: { QueueName: names.processorFailureQueue },
          statistic: 'Maximum',
          period: Duration.minutes(5),
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      new cloudwatch.Alarm(this, 'ErrorLogLinesAlarm', {
        alarmDescription: 'Services or functions are logging errors',
        metric: errorLines,
        threshold: 10,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    const notify = new actions.SnsAction(this.alarmTopic);
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
  }

  private createDashboard(
    names: ResourceNames,
    config: PlatformConfig,
    errorLines: cloudwatch.Metric,
  ): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${config.prefix}-platform`,
      defaultInterval: Duration.hours(3),
    });
    // The load balancers' names end in a generated id, so the dashboard finds them by search.
    const albSearch = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{AWS/ApplicationELB,LoadBalancer} MetricName="${metricName}" ${config.prefix}', '${statistic}', 60)`,
        label,
        period: Duration.minutes(1),
      });
    const functionMetric = (metricName: string, statistic: string) =>
      Object.values(names.functions).map((name) => lambdaMetrics(name)(metricName, statistic));
    const table = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/DynamoDB',
        metricName,
        dimensionsMap: { TableName: config.tables.countersTableName },
        statistic: 'Sum',
        period: Duration.minutes(1),
      });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'API latency (p50 / p99, seconds)',
        left: [albSearch('TargetResponseTime', 'p50', 'p50'), albSearch('TargetResponseTime', 'p99', 'p99')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Error rates',
        left: [albSearch('HTTPCode_Target_5XX_Count', 'Sum', 'HTTP 5xx'), errorLines],
        right: functionMetric('Errors', 'Sum'),
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Lambda invocations',
        left: functionMetric('Invocations', 'Sum'),
        right: functionMetric('Throttles', 'Sum'),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'DynamoDB counters throughput',
        left: [table('ConsumedWriteCapacityUnits'), table('ConsumedReadCapacityUnits')],
        right: [table('ThrottledRequests')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Iterator age and dead letters',
        left: [lambdaMetrics(names.functions.eventProcessor)('IteratorAge', 'Maximum')],
        right: [
          streamMetric(config.streams.deadLetterStreamName, 'IncomingRecords'),
          streamMetric(config.streams.eventsStreamName, 'IncomingRecords'),
        ],
        width: 8,
      }),
    );
    return dashboard;
  }
}

function lambdaMetrics(functionName: string) {
  return (metricName: string, statistic: string) =>
    new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName,
      dimensionsMap: { FunctionName: functionName },
      statistic,
      period: Duration.minutes(1),
    });
}

/**
 * The worst node of a MemoryDB cluster as one series: a Metrics Insights query over every
 * `AWS/MemoryDB` series of the cluster (per-node and any cluster-wide ones), so node
 * replacements and failovers need no alarm change.
 */
function stateStoreMetric(
  clusterName: string,
  aggregate: 'MAX' | 'SUM',
  metricName: string,
  period: Duration,
): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: `SELECT ${aggregate}(${metricName}) FROM "AWS/MemoryDB" WHERE ClusterName = '${clusterName}'`,
    usingMetrics: {},
    period,
    label: `${clusterName} ${metricName} (${aggregate.toLowerCase()} over nodes)`,
  });
}

/** Dashboard row of the processors' state store. */
function stateStoreWidgets(clusterName: string, stateLost: cloudwatch.Metric): cloudwatch.IWidget[] {
  const minute = Duration.minutes(1);
  return [
    new cloudwatch.GraphWidget({
      title: 'Processor state store memory (%)',
      left: [stateStoreMetric(clusterName, 'MAX', 'DatabaseMemoryUsagePercentage', minute)],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: 'Processor state store evictions and replication lag',
      left: [stateStoreMetric(clusterName, 'SUM', 'Evictions', minute)],
      right: [stateStoreMetric(clusterName, 'MAX', 'ReplicationLag', minute)],
      width: 8,
    }),
    new cloudwatch.GraphWidget({ title: 'Processor state lost (log lines)', left: [stateLost], width: 8 }),
  ];
}

function streamMetric(streamName: string, metricName: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: 'AWS/Kinesis',
    metricName,
    dimensionsMap: { StreamName: streamName },
    statistic: 'Sum',
    period: Duration.minutes(5),
    label: `${streamName} ${metricName}`,
  });
}
