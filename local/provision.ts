/**
 * Creates the streams and tables the pipeline needs when they are missing. In AWS the
 * CDK stacks own these resources; locally (`npm start`, tests, bench) this does.
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
