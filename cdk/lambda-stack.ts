/**
 * LambdaStack: the Event Processor that consumes `ExperimentEvents` (exactly-once counters
 * into DynamoDB, raw events into OpenSearch, bad events to the dead-letter stream) and the
 * Assignment and Flag Evaluation functions. All three are bundled from this repository.
 *
 * The Kinesis mapping settings are the exactly-once protocol's preconditions, not tuning:
 * one batch per shard at a time (one writer per shard), partial batch responses (the
 * pipeline reports failed records by sequence number), bisect on error and bounded retries
 * and record age (so a poison batch cannot stall a shard forever), with the positions of
 * what was given up on recorded in an SQS queue.
 *
 * No secret is in a function's configuration: the functions get the ARNs of their secrets
 * (`*_SECRET_ID`) and read them from Secrets Manager at cold start, cached, re-read when the
 * credential is refused (common/secrets). The Assignment and Flag Evaluation functions are
 * called by SDK clients, directly (`lambda:InvokeFunction`) or through their function URLs;
 * both need IAM credentials: the URLs use `AWS_IAM` auth and no resource policy names `*`.
 * Callers get the `invokerPolicy` managed policy.
 */
import { CfnOutput, Duration, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { createBundledFunction } from './bundled-function.js';
import type { PlatformConfig } from './platform-config.js';
import type { StateStoreEndpoint } from './processor-state-store.js';
import { resourceNames } from './resource-names.js';
import { searchResourceArn, searchResourceNagId } from './streaming-stack.js';
import {
  API_KEY_SECRET_ID_VARIABLE,
  DEFINITIONS_API_KEY_SECRET_ID_VARIABLE,
  STATE_PASSWORD_SECRET_ID_VARIABLE,
  stateRedisUrl,
} from './service-environment.js';

/** Handler modules, relative to the repository root. */
export const LAMBDA_ENTRIES = {
  eventProcessor: 'processors/lambda-handler.ts',
  assignment: 'edge/assignment-handler.ts',
  flagEvaluation: 'edge/flag-evaluation-handler.ts',
} as const;

export interface LambdaStackProps extends StackProps {
  readonly config: PlatformConfig;
  readonly vpc: ec2.IVpc;
  readonly lambdaSecurityGroup: ec2.ISecurityGroup;
  /** The only group the processors' state store admits; the Event Processor alone joins it. */
  readonly processorSecurityGroup: ec2.ISecurityGroup;
  readonly countersTable: dynamodb.ITableV2;
  readonly eventsStream: kinesis.IStream;
  readonly deadLetterStream: kinesis.IStream;
  /** The domain's endpoint; its paths are granted by name (streaming-stack.ts). */
  readonly searchDomainEndpoint: string;
  /** The processors' durable exactly-once state (STATE_REDIS_URL). */
  readonly stateStore: StateStoreEndpoint;
  readonly logGroup: logs.ILogGroup;
  /** Secret (JSON key `keys`) with the key the definition lookups present to the query API. */
  readonly internalApiKey: secretsmanager.ISecret;
  /** Handler modules relative to the repository root; defaults to LAMBDA_ENTRIES. */
  readonly entries?: Partial<Record<keyof typeof LAMBDA_ENTRIES, string>>;
}

/** The three functions and the Event Processor's Kinesis mapping. */
export class LambdaStack extends Stack {
  readonly eventProcessor: nodejs.NodejsFunction;
  readonly assignment: nodejs.NodejsFunction;
  readonly flagEvaluation: nodejs.NodejsFunction;
  readonly failureQueue: sqs.Queue;
  /** `AWS_IAM` function URLs of the Assignment and Flag Evaluation functions. */
  readonly assignmentUrl: lambda.FunctionUrl;
  readonly flagEvaluationUrl: lambda.FunctionUrl;
  /** What an SDK client's role needs to call the two functions (directly or by URL), and nothing else. */
  readonly invokerPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: LambdaStackProps) {
    super(scope, id, props);
    const { config } = props;
    const names = resourceNames(config);
    const entries = { ...LAMBDA_ENTRIES, ...props.entries };
    this.failureQueue = new sqs.Queue(this, 'ProcessorFailures', {
      queueName: names.processorFailureQueue,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.failureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter destination of the Kinesis mapping.',
    });
    this.eventProcessor = this.createEventProcessor(props, entries.eventProcessor, names.functions.eventProcessor);
    // Called by SDK clients; they read definitions from the query API with the internal key,
    // which they read from Secrets Manager at cold start (JSON key `keys`), never from their configuration.
    const definitionLookup = {
      logGroup: props.logGroup,
      environment: {
        EXPERIMENTATION_API_URL: config.experimentationApiUrl,
        [API_KEY_SECRET_ID_VARIABLE]: props.internalApiKey.secretArn,
        LOG_LEVEL: 'info',
      },
    };
    this.assignment = createBundledFunction(this, 'Assignment', {
      ...definitionLookup,
      entry: entries.assignment,
      description: 'Assignment: deterministic variant assignment for a user',
      functionName: names.functions.assignment,
    });
    this.flagEvaluation = createBundledFunction(this, 'FlagEvaluation', {
      ...definitionLookup,
      entry: entries.flagEvaluation,
      description: 'Flag Evaluation: feature flag values for a user',
      functionName: names.functions.flagEvaluation,
    });
    for (const fn of [this.assignment, this.flagEvaluation]) props.internalApiKey.grantRead(fn);
    this.assignmentUrl = this.assignment.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    this.flagEvaluationUrl = this.flagEvaluation.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    this.invokerPolicy = new iam.ManagedPolicy(this, 'DefinitionLookupInvoker', {
      managedPolicyName: `${config.prefix}-definition-lookup-invoker`,
      description: 'Invoke the Assignment and Flag Evaluation functions (SDK or function URL) and nothing else',
      statements: [
        new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl'],
          resources: [this.assignment.functionArn, this.flagEvaluation.functionArn],
        }),
      ],
    });
    new CfnOutput(this, 'AssignmentUrl', { description: 'SigV4-signed POST', value: this.assignmentUrl.url });
    new CfnOutput(this, 'FlagEvaluationUrl', { description: 'SigV4-signed POST', value: this.flagEvaluationUrl.url });
    new CfnOutput(this, 'InvokerPolicyArn', {
      description: 'Attach to the roles of SDK clients that call the functions',
      value: this.invokerPolicy.managedPolicyArn,
    });
  }

  private createEventProcessor(props: LambdaStackProps, entry: string, functionName: string): nodejs.NodejsFunction {
    const { config } = props;
    const fn = createBundledFunction(this, 'EventProcessor', {
      entry,
      description: 'Event Processor: ExperimentEvents to exactly-once counters and the search index',
      functionName,
      memorySize: config.processor.memoryMiB,
      timeout: Duration.minutes(2),
      logGroup: props.logGroup,
      vpc: props.vpc,
      securityGroups: [props.lambdaSecurityGroup, props.processorSecurityGroup],
      environment: {
        KINESIS_STREAM_NAME: props.eventsStream.streamName,
        KINESIS_DLQ_STREAM_NAME: props.deadLetterStream.streamName,
        KINESIS_SHARD_COUNT: String(config.streams.shardCount),
        DYNAMODB_TABLE_NAME: props.countersTable.tableName,
        DYNAMODB_CHECKPOINT_TABLE_NAME: config.tables.checkpointTableName,
        OPENSEARCH_ENDPOINT: `https://${props.searchDomainEndpoint}`,
        OPENSEARCH_INDEX_PREFIX: config.openSearch.indexPrefix,
        // The exactly-once state lives in its own durable MemoryDB store, never in the results
        // cache (no REDIS_URL here, so the processors cannot fall back to a store that evicts).
        // The URL carries no password: the handler reads it from the secret at cold start
        // (cached; re-read when the store refuses it) and puts it into the URL.
        STATE_REDIS_URL: stateRedisUrl(props.stateStore),
        [STATE_PASSWORD_SECRET_ID_VARIABLE]: props.stateStore.passwordSecret.secretArn,
        // A missing URL is then a start-up error, never a silent in-process store.
        PROCESSOR_STATE_STORE: 'redis',
        // MemoryDB speaks only the cluster protocol; the processors key every state key under one hash tag.
        STATE_REDIS_CLUSTER: 'true',
        // Counter plans (ratio, capped, CUPED sums) from the experiment definitions, with the
        // internal key read from its secret at cold start (processors/definitions).
        PROCESSOR_DEFINITIONS_API_URL: config.experimentationApiUrl,
        [DEFINITIONS_API_KEY_SECRET_ID_VARIABLE]: props.internalApiKey.secretArn,
        LOG_LEVEL: 'info',
      },
    });
    // A function that never runs twice for one shard at once: the exactly-once protocol needs one writer per shard.
    fn.addEventSource(
      new sources.KinesisEventSource(props.eventsStream, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: config.processor.batchSize,
        maxBatchingWindow: Duration.seconds(1),
        bisectBatchOnError: true,
        reportBatchItemFailures: true,
        retryAttempts: config.processor.retryAttempts,
        maxRecordAge: Duration.hours(config.processor.maxRecordAgeHours),
        parallelizationFactor: 1,
        onFailure: new sources.SqsDlq(this.failureQueue),
      }),
    );
    // The exactly-once writer: conditional UpdateItem, and GetItem to read a watermark after a conflict.
    // On the table itself only (TableV2.grant would add its indexes with a wildcard; the writer reads none).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [props.countersTable.tableArn],
      }),
    );
    props.stateStore.passwordSecret.grantRead(fn);
    props.internalApiKey.grantRead(fn);
    props.deadLetterStream.grant(fn, 'kinesis:PutRecord', 'kinesis:PutRecords', 'kinesis:DescribeStreamSummary');
    this.grantSearchIndexing(fn, props);
    return fn;
  }

  /** Bulk indexing into `<prefix>-*` indices, and the index templates that shape them. */
  private grantSearchIndexing(fn: nodejs.NodejsFunction, props: LambdaStackProps): void {
    const { config } = props;
    const indexPattern = `${config.openSearch.indexPrefix}-*`;
    const templatePattern = `_index_template/${config.openSearch.indexPrefix}*`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['es:ESHttpPost', 'es:ESHttpPut', 'es:ESHttpGet', 'es:ESHttpHead'],
        resources: [
          searchResourceArn(this, config, '_bulk'),
          searchResourceArn(this, config, indexPattern),
          searchResourceArn(this, config, templatePattern),
        ],
      }),
    );
    for (const pattern of [indexPattern, templatePattern]) {
      Validations.of(fn.role ?? fn).acknowledge({
        id: searchResourceNagId(this, config, pattern),
        reason: 'Indices are created per period under the configured prefix; the wildcard covers exactly those.',
      });
    }
  }
}
