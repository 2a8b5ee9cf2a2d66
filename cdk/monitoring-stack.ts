/**
 * MonitoringStack: the platform's log groups, the alarm topic, the operations dashboard
 * and the alarms: the pipeline (iterator age, error rates, dead letters, abandoned batches,
 * Kinesis write throttling), the processors' state store (lost state, memory, evictions,
 * replica lag), the data tier (OpenSearch health and storage, Aurora CPU, connections and
 * memory, the results cache's memory and evictions) and the Assignment and Flag Evaluation
 * functions (error rate, throttles). It deploys before the stacks it watches, because they
 * log into its groups, so it names their metrics through resource-names.ts rather than
 * references. Alarms on the load balancers live beside them in ApiStack (a release rolls back
 * on them too) and publish to this topic.
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
import { searchDomainName } from './streaming-stack.js';

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
/** Share of the search volume that must stay free (OpenSearch blocks writes near full disks). */
const SEARCH_FREE_STORAGE_ALARM_FRACTION = 0.2;
/** Aurora writer/reader CPU that leaves no headroom for a failover or a burst. */
const DATABASE_CPU_ALARM_PERCENT = 80;
/** Connections one query API task opens at most per instance (DATABASE_POOL_SIZE 10 + DATABASE_MAX_OVERFLOW 5). */
const CONNECTIONS_PER_TASK = 15;
/** Connections beyond the services' pools: migrations, rotation, operators' psql sessions. */
const CONNECTIONS_HEADROOM = 20;
/** Freeable memory below which an instance starts swapping (bytes). */
const DATABASE_FREEABLE_MEMORY_ALARM_BYTES = 512 * 1024 * 1024;
/** Memory use of the results cache node that calls for a bigger node type. */
const CACHE_MEMORY_ALARM_PERCENT = 80;
/** Evictions per 5 minutes beyond which the results cache is too small to be worth having. */
const CACHE_EVICTIONS_ALARM = 1000;
/** Share of Assignment / Flag Evaluation invocations that may fail before someone is paged. */
const LOOKUP_ERROR_RATE_ALARM_PERCENT = 1;

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
    this.createDataTierAlarms(names, config);
    this.createDefinitionLookupAlarms(names);
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
   * Failures that happen outside our code (a task stopped by ECS, a failed or rolled-back
   * release) land in the errors log group, next to the error lines, where on-call looks first.
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
      description: 'Stopped service tasks and failed or rolled-back releases, copied to the errors log group',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change', 'ECS Deployment State Change'],
        detail: {
          $or: [
            { lastStatus: ['STOPPED'], stopCode: ['EssentialContainerExited', 'TaskFailedToStart'] },
            { eventName: ['SERVICE_DEPLOYMENT_FAILED', 'SERVICE_DEPLOYMENT_ROLLBACK_COMPLETED'] },
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

  /** Sends an alarm's state changes (into and out of ALARM) to the topic. */
  private page(alarms: cloudwatch.Alarm[]): void {
    const notify = new actions.SnsAction(this.alarmTopic);
    for (const alarm of alarms) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }
  }

  /**
   * The stores: OpenSearch (red or, with replicas to hold, yellow health; free storage; writes
   * blocked), Aurora (CPU, connections beyond what the services can open, freeable memory),
   * the results cache (memory, sustained evictions) and the events stream (write throttling,
   * oldest unread record). Names come from resource-names.ts and the configuration.
   */
  private createDataTierAlarms(names: ResourceNames, config: PlatformConfig): void {
    const minute = Duration.minutes(1);
    const five = Duration.minutes(5);
    const search = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/ES',
        metricName,
        dimensionsMap: { DomainName: searchDomainName(config), ClientId: this.account },
        statistic,
        period: minute,
      });
    const database = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        dimensionsMap: { DBClusterIdentifier: names.databaseCluster },
        statistic,
        period: five,
      });
    const cache = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/ElastiCache',
        metricName,
        dimensionsMap: { CacheClusterId: `${names.cache}-001` },
        statistic,
        period: five,
      });
    const events = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Kinesis',
        metricName,
        dimensionsMap: { StreamName: config.streams.eventsStreamName },
        statistic,
        period: minute,
      });
    const above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
    const atLeast = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
    const below = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD;
    const alarm = (
      id: string,
      alarmDescription: string,
      metric: cloudwatch.IMetric,
      threshold: number,
      comparisonOperator: cloudwatch.ComparisonOperator,
      evaluationPeriods: number,
    ) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription,
        metric,
        threshold,
        comparisonOperator,
        evaluationPeriods,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    const volumeMb = config.openSearch.volumeSizeGib * 1024;
    const maxConnections = config.services.maxTasks * CONNECTIONS_PER_TASK + CONNECTIONS_HEADROOM;
    const alarms = [
      alarm(
        'SearchClusterRedAlarm',
        'OpenSearch: a primary shard is unassigned (cluster red); events are not indexed',
        search('ClusterStatus.red', 'Maximum'),
        1,
        atLeast,
        1,
      ),
      ...(config.openSearch.dataNodes > 1
        ? [
            alarm(
              'SearchClusterYellowAlarm',
              'OpenSearch: replica shards unassigned for 10 minutes (cluster yellow); one node loss from red',
              search('ClusterStatus.yellow', 'Maximum'),
              1,
              atLeast,
              10,
            ),
          ]
        : []),
      alarm(
        'SearchFreeStorageAlarm',
        `OpenSearch: a node has under ${SEARCH_FREE_STORAGE_ALARM_FRACTION * 100}% of its ${config.openSearch.volumeSizeGib} GiB free; writes block near full`,
        search('FreeStorageSpace', 'Minimum'),
        Math.round(volumeMb * SEARCH_FREE_STORAGE_ALARM_FRACTION),
        below,
        3,
      ),
      alarm(
        'SearchWritesBlockedAlarm',
        'OpenSearch refuses writes (ClusterIndexWritesBlocked)',
        search('ClusterIndexWritesBlocked', 'Maximum'),
        1,
        atLeast,
        2,
      ),
      alarm(
        'DatabaseCpuAlarm',
        `Aurora ${names.databaseCluster}: CPU above ${DATABASE_CPU_ALARM_PERCENT}% for 15 minutes`,
        database('CPUUtilization', 'Maximum'),
        DATABASE_CPU_ALARM_PERCENT,
        above,
        3,
      ),
      alarm(
        'DatabaseConnectionsAlarm',
        `Aurora ${names.databaseCluster}: more than ${maxConnections} connections, beyond what ${config.services.maxTasks} query API tasks open (a leak or a foreign client)`,
        database('DatabaseConnections', 'Maximum'),
        maxConnections,
        above,
        2,
      ),
      alarm(
        'DatabaseFreeableMemoryAlarm',
        `Aurora ${names.databaseCluster}: under 512 MiB freeable memory`,
        database('FreeableMemory', 'Minimum'),
        DATABASE_FREEABLE_MEMORY_ALARM_BYTES,
        below,
        3,
      ),
      alarm(
        'CacheMemoryAlarm',
        `Results cache ${names.cache}: memory above ${CACHE_MEMORY_ALARM_PERCENT}%`,
        cache('DatabaseMemoryUsagePercentage', 'Maximum'),
        CACHE_MEMORY_ALARM_PERCENT,
        above,
        3,
      ),
      alarm(
        'CacheEvictionsAlarm',
        `Results cache ${names.cache}: over ${CACHE_EVICTIONS_ALARM} evictions per 5 minutes for 15 minutes; results are recomputed, grow the node (cacheNodeType)`,
        cache('Evictions', 'Sum'),
        CACHE_EVICTIONS_ALARM,
        above,
        3,
      ),
      alarm(
        'StreamWriteThrottlingAlarm',
        `${config.streams.eventsStreamName}: writes throttled for 3 minutes; add shards (shardCount)`,
        events('WriteProvisionedThroughputExceeded', 'Sum'),
        0,
        above,
        3,
      ),
      alarm(
        'StreamIteratorAgeAlarm',
        `${config.streams.eventsStreamName}: the oldest unread record is over ${ITERATOR_AGE_ALARM_MS / 1000} s old`,
        events('GetRecords.IteratorAgeMilliseconds', 'Maximum'),
        ITERATOR_AGE_ALARM_MS,
        above,
        3,
      ),
    ];
    this.page(alarms);
  }

  /** Assignment and Flag Evaluation: error rate (errors / invocations) and any throttling. */
  private createDefinitionLookupAlarms(names: ResourceNames): void {
    const alarms = (
      [
        ['Assignment', names.functions.assignment],
        ['FlagEvaluation', names.functions.flagEvaluation],
      ] as const
    ).flatMap(([id, functionName]) => {
      const metric = lambdaMetrics(functionName);
      const period = Duration.minutes(5);
      return [
        new cloudwatch.Alarm(this, `${id}ErrorRateAlarm`, {
          alarmDescription: `More than ${LOOKUP_ERROR_RATE_ALARM_PERCENT}% of ${functionName} invocations fail`,
          metric: new cloudwatch.MathExpression({
            expression: 'IF(invocations > 0, 100 * FILL(errors, 0) / invocations, 0)',
            usingMetrics: {
              errors: metric('Errors', 'Sum').with({ period }),
              invocations: metric('Invocations', 'Sum').with({ period }),
            },
            period,
            label: `${functionName} error rate (%)`,
          }),
          threshold: LOOKUP_ERROR_RATE_ALARM_PERCENT,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 2,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
        new cloudwatch.Alarm(this, `${id}ThrottlesAlarm`, {
          alarmDescription: `${functionName} is throttled (concurrency limit): SDK clients get errors`,
          metric: metric('Throttles', 'Sum').with({ period }),
          threshold: 0,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      ];
    });
    this.page(alarms);
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
          expression: 'IF(invocations > 0, 100 * FILL(errors, 0) / invocations, 0)',
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
        right: [throttledRequests(config.tables.countersTableName)],
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

/** The operations the platform sends to the counters table (writer: UpdateItem/GetItem; query API: Query/BatchGetItem). */
export const COUNTER_TABLE_OPERATIONS = ['UpdateItem', 'GetItem', 'Query', 'BatchGetItem'] as const;

/**
 * Throttled requests of a table: DynamoDB publishes `ThrottledRequests` only per operation
 * (dimensions TableName + Operation), so a TableName-only metric stays empty; this sums the
 * operations the platform uses.
 */
export function throttledRequests(tableName: string): cloudwatch.MathExpression {
  const usingMetrics = Object.fromEntries(
    COUNTER_TABLE_OPERATIONS.map((operation) => [
      operation.toLowerCase(),
      new cloudwatch.Metric({
        namespace: 'AWS/DynamoDB',
        metricName: 'ThrottledRequests',
        dimensionsMap: { TableName: tableName, Operation: operation },
        statistic: 'Sum',
        period: Duration.minutes(1),
      }),
    ]),
  );
  return new cloudwatch.MathExpression({
    expression: `SUM([${Object.keys(usingMetrics)
      .map((id) => `FILL(${id}, 0)`)
      .join(', ')}])`,
    usingMetrics,
    period: Duration.minutes(1),
    label: 'Throttled requests (all operations)',
  });
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
