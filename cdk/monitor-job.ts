/**
 * The monitor job in AWS (query-api/monitor): a Lambda function in the VPC that an
 * EventBridge rule invokes every `monitor.scheduleMinutes` (default 1). Each run computes the
 * results of every running experiment, stores the hourly snapshot (results history) and
 * sends Slack / email alerts.
 *
 * What it may do, and nothing else: read the counters table (GetItem, BatchGetItem, Query),
 * read CloudWatch metrics (GetMetricData: the pipeline's health), log in to Aurora as the application role with an IAM token (`rds-db:connect`), read the
 * Slack and SendGrid secrets when they are configured (at cold start, never in its
 * configuration), write its own log group; it reaches Slack and SendGrid over HTTPS through
 * the VPC's egress. Runs never overlap (a PostgreSQL advisory lock in the code: a run that
 * finds it taken does nothing); a missed run is not retried (the next one is on schedule).
 */
import { Duration, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as rds from 'aws-cdk-lib/aws-rds';
import { Construct } from 'constructs';
import { METRIC_INDEX } from '../common/counter-layout.js';
import { createBundledFunction } from './bundled-function.js';
import { POSTGRES_PORT } from './network-stack.js';
import type { PlatformConfig } from './platform-config.js';
import { resourceNames } from './resource-names.js';

/** The handler module, relative to the repository root. */
export const MONITOR_ENTRY = 'query-api/monitor/lambda-handler.ts';
/** The Node.js Lambda runtime's bundle of CA certificates, RDS's included (verify-full TLS to Aurora). */
const LAMBDA_CA_BUNDLE = '/var/runtime/ca-cert.pem';

export interface MonitorJobProps {
  readonly config: PlatformConfig;
  readonly vpc: ec2.IVpc;
  /** A group the database admits (the functions' group). */
  readonly securityGroup: ec2.ISecurityGroup;
  readonly databaseCluster: rds.IDatabaseCluster;
  readonly countersTable: dynamodb.ITableV2;
  readonly logGroup: logs.ILogGroup;
  /** Handler module instead of {@link MONITOR_ENTRY} (tests). */
  readonly entry?: string;
}

/** The scheduled monitor function and its rule. */
export class MonitorJob extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: MonitorJobProps) {
    super(scope, id);
    const { config } = props;
    const secrets = config.services.optionalSecretArns;
    const databaseUrl =
      `postgres://${config.database.applicationUser}@${props.databaseCluster.clusterEndpoint.hostname}:` +
      `${POSTGRES_PORT}/${config.database.databaseName}?sslmode=verify-full`;
    this.function = createBundledFunction(this, 'Function', {
      entry: props.entry ?? MONITOR_ENTRY,
      description: 'Monitor: results snapshots and Slack/email alerts for running experiments',
      functionName: `${config.prefix}-monitor`,
      timeout: Duration.seconds(Math.min(300, config.monitor.scheduleMinutes * 60 - 5)),
      logGroup: props.logGroup,
      vpc: props.vpc,
      securityGroups: [props.securityGroup],
      environment: {
        LOG_LEVEL: 'info',
        DYNAMODB_TABLE_NAME: props.countersTable.tableName,
        DATABASE_URL: databaseUrl,
        DATABASE_IAM_AUTH: 'true',
        // The run lock's connection and the work's.
        DATABASE_POOL_SIZE: '2',
        DATABASE_MAX_OVERFLOW: '0',
        NODE_EXTRA_CA_CERTS: LAMBDA_CA_BUNDLE,
        PUBLIC_BASE_URL: `https://${config.services.apiDomainName}`,
        // Pipeline health from CloudWatch: the Event Processor's iterator age, the StateLost
        // metric of its log lines, the dead-letter stream's incoming records.
        MONITOR_HEALTH_SOURCE: 'cloudwatch',
        MONITOR_PROCESSOR_FUNCTION_NAME: resourceNames(config).functions.eventProcessor,
        KINESIS_DLQ_STREAM_NAME: config.streams.deadLetterStreamName,
        ...(config.monitor.slackDefaultChannel ? { SLACK_DEFAULT_CHANNEL: config.monitor.slackDefaultChannel } : {}),
        ...(config.monitor.alertEmailFrom ? { ALERT_EMAIL_FROM: config.monitor.alertEmailFrom } : {}),
        ...(config.monitor.alertEmailTo ? { ALERT_EMAIL_TO: config.monitor.alertEmailTo } : {}),
        ...(secrets.slackBotToken ? { SLACK_BOT_TOKEN_SECRET_ID: secrets.slackBotToken } : {}),
        ...(secrets.sendgridApiKey ? { SENDGRID_API_KEY_SECRET_ID: secrets.sendgridApiKey } : {}),
      },
    });
    const role = this.function.role!;
    props.databaseCluster.grantConnect(role, config.database.applicationUser);
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
        resources: [props.countersTable.tableArn, `${props.countersTable.tableArn}/index/${METRIC_INDEX.name}`],
      }),
    );
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] }));
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'cloudwatch:GetMetricData has no resource-level permissions; it only reads metrics.',
    });
    const secretArns = [secrets.slackBotToken, secrets.sendgridApiKey].filter(
      (arn): arn is string => arn !== undefined,
    );
    if (secretArns.length > 0) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: secretArns }),
      );
    }
    this.rule = new events.Rule(this, 'Schedule', {
      description: `Runs the experiment monitor every ${config.monitor.scheduleMinutes} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(config.monitor.scheduleMinutes)),
      targets: [new targets.LambdaFunction(this.function, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });
  }
}
