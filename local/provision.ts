/**
 * Creates the streams and tables the pipeline needs when they are missing, on the local
 * stand-ins (kinesalite, dynalite). In AWS the CDK stacks own these resources and no
 * production start-up creates any; locally `npm start` (local/start.ts), the tests and the
 * bench call this module, and only this module creates streams and tables.
 *
 *   provisionPipeline(config, clients)   both streams, the counters and the checkpoint table
 *   ensureCountersTable / ensureCheckpointTable   one table, in its layout (common/*-layout.ts)
 *   ensureStream / ensureTable           any stream or table (tests' own names and keys)
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceNotFoundException as TableNotFound,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  ResourceNotFoundException as StreamNotFound,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { createDynamoClient, createKinesisClient } from '../common/aws-clients.js';
import { CHECKPOINT_PARTITION_KEY } from '../common/checkpoint-layout.js';
import type { Config } from '../common/config.js';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY, METRIC_INDEX } from '../common/counter-layout.js';

const POLL_MS = 50;
const ACTIVE_TIMEOUT_MS = 30_000;

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not become ACTIVE within ${ACTIVE_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Creates a Kinesis stream with `shardCount` shards unless it exists; waits until ACTIVE. */
export async function ensureStream(kinesis: KinesisClient, streamName: string, shardCount: number): Promise<void> {
  const status = async (): Promise<string | undefined> => {
    try {
      const out = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
      return out.StreamDescriptionSummary?.StreamStatus;
    } catch (error) {
      if (error instanceof StreamNotFound) return undefined;
      throw error;
    }
  };
  if ((await status()) === undefined) {
    await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shardCount }));
  }
  await waitUntil(async () => (await status()) === 'ACTIVE', `stream ${streamName}`);
}

/** A global secondary index: string keys, the listed attributes projected (keys always are). */
export interface TableIndex {
  name: string;
  partitionKey: string;
  sortKey?: string;
  projectedAttributes?: readonly string[];
}

/** Key schema of a table: partition key and optional sort key, both strings, and its indexes. */
export interface TableKeys {
  partitionKey: string;
  sortKey?: string;
  /** Created with the table (an existing table keeps the indexes it has: dynalite cannot add one). */
  globalSecondaryIndexes?: readonly TableIndex[];
}

const keySchema = (partitionKey: string, sortKey?: string) => [
  { AttributeName: partitionKey, KeyType: 'HASH' as const },
  ...(sortKey ? [{ AttributeName: sortKey, KeyType: 'RANGE' as const }] : []),
];

/** Creates an on-demand DynamoDB table unless it exists; waits until ACTIVE. */
export async function ensureTable(dynamo: DynamoDBClient, tableName: string, keys: TableKeys): Promise<void> {
  const status = async (): Promise<string | undefined> => {
    try {
      return (await dynamo.send(new DescribeTableCommand({ TableName: tableName }))).Table?.TableStatus;
    } catch (error) {
      if (error instanceof TableNotFound) return undefined;
      throw error;
    }
  };
  if ((await status()) === undefined) {
    const indexes = keys.globalSecondaryIndexes ?? [];
    const attributes = new Set([keys.partitionKey, ...(keys.sortKey ? [keys.sortKey] : [])]);
    for (const index of indexes) {
      attributes.add(index.partitionKey);
      if (index.sortKey) attributes.add(index.sortKey);
    }
    await dynamo.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [...attributes].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
        KeySchema: keySchema(keys.partitionKey, keys.sortKey),
        ...(indexes.length === 0
          ? {}
          : {
              GlobalSecondaryIndexes: indexes.map((index) => ({
                IndexName: index.name,
                KeySchema: keySchema(index.partitionKey, index.sortKey),
                Projection: index.projectedAttributes
                  ? { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...index.projectedAttributes] }
                  : { ProjectionType: 'ALL' as const },
              })),
            }),
      }),
    );
  }
  await waitUntil(async () => (await status()) === 'ACTIVE', `table ${tableName}`);
}

/**
 * Creates a counters table in the layout of common/counter-layout.ts unless it exists. With
 * the `metric-totals` index by default, as the CDK DynamoStack creates it; `metricIndex:
 * false` leaves it out (tests and benches that never read it, as they always did).
 *
 * @example await ensureCountersTable(dynamo, config.dynamodb.countersTable);
 */
export async function ensureCountersTable(
  dynamo: DynamoDBClient,
  tableName: string,
  options: { metricIndex?: boolean } = {},
): Promise<void> {
  await ensureTable(dynamo, tableName, {
    partitionKey: COUNTER_PARTITION_KEY,
    sortKey: COUNTER_SORT_KEY,
    ...(options.metricIndex === false ? {} : { globalSecondaryIndexes: [METRIC_INDEX] }),
  });
}

/**
 * Creates a checkpoint table in the layout of common/checkpoint-layout.ts unless it exists.
 *
 * @example await ensureCheckpointTable(dynamo, config.dynamodb.checkpointTable);
 */
export async function ensureCheckpointTable(dynamo: DynamoDBClient, tableName: string): Promise<void> {
  await ensureTable(dynamo, tableName, { partitionKey: CHECKPOINT_PARTITION_KEY });
}

/**
 * Creates what the pipeline uses, named by `config`, unless it exists: the event stream
 * (`KINESIS_SHARD_COUNT` shards), the dead-letter stream (1 shard), the counters table (with
 * its index) and the checkpoint table. Only on local endpoints: streams only when
 * `AWS_ENDPOINT_URL_KINESIS` is set, tables only when `AWS_ENDPOINT_URL_DYNAMODB` is, so it
 * never creates anything in AWS, where the CDK stacks own these resources. Without `clients`
 * it opens its own for the call.
 *
 * @example
 *   await provisionPipeline(testConfig());                      // clients of its own
 *   await provisionPipeline(config, { kinesis, dynamo });       // the caller's clients
 */
export async function provisionPipeline(
  config: Config,
  clients?: { kinesis: KinesisClient; dynamo: DynamoDBClient },
): Promise<void> {
  const kinesis = clients?.kinesis ?? createKinesisClient(config);
  const dynamo = clients?.dynamo ?? createDynamoClient(config);
  try {
    const tasks: Promise<void>[] = [];
    if (config.aws.kinesisEndpoint) {
      tasks.push(ensureStream(kinesis, config.kinesis.streamName, config.kinesis.shardCount));
      tasks.push(ensureStream(kinesis, config.kinesis.dlqStreamName, 1));
    }
    if (config.aws.dynamodbEndpoint) {
      tasks.push(ensureCountersTable(dynamo, config.dynamodb.countersTable));
      tasks.push(ensureCheckpointTable(dynamo, config.dynamodb.checkpointTable));
    }
    await Promise.all(tasks);
  } finally {
    if (!clients) {
      kinesis.destroy();
      dynamo.destroy();
    }
  }
}
