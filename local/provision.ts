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

/** Key schema of a table: partition key and optional sort key, both strings. */
export interface TableKeys {
  partitionKey: string;
  sortKey?: string;
}

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
    const attributes = [keys.partitionKey, ...(keys.sortKey ? [keys.sortKey] : [])];
    await dynamo.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: attributes.map((name) => ({ AttributeName: name, AttributeType: 'S' })),
        KeySchema: [
          { AttributeName: keys.partitionKey, KeyType: 'HASH' },
          ...(keys.sortKey ? [{ AttributeName: keys.sortKey, KeyType: 'RANGE' as const }] : []),
        ],
      }),
    );
  }
  await waitUntil(async () => (await status()) === 'ACTIVE', `table ${tableName}`);
}
