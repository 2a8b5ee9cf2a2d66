import { DeleteTableCommand, DescribeTableCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { createDynamoClient, createDynamoItemClient } from '../../common/aws-clients.js';
import { ensureCountersTable } from '../../local/provision.js';
import { startNoOpDynamoDB, type NoOpDynamoDB } from './no-op-dynamodb.js';

const running: { close(): unknown }[] = [];
afterEach(async () => {
  for (const item of running.splice(0)) await item.close();
});

async function clients() {
  const noOp: NoOpDynamoDB = await startNoOpDynamoDB();
  running.push(noOp);
  const config = { aws: { region: 'us-east-1', dynamodbEndpoint: noOp.endpoint } };
  const dynamo = createDynamoClient(config);
  running.push({ close: () => dynamo.destroy() });
  const items = createDynamoItemClient(config, dynamo, { maxSockets: 4 });
  running.push(items);
  return { noOp, dynamo, items };
}

describe('no-op DynamoDB endpoint (bench support; the real SDK and JSON clients talk to it)', () => {
  it('accepts every write, finds nothing, reports tables ACTIVE, and counts each operation', async () => {
    const { noOp, dynamo, items } = await clients();
    const key = { experimentId: { S: 'e' }, cell: { S: 'c' } };
    await ensureCountersTable(dynamo, 'counters');
    await items.updateItem({
      TableName: 'counters',
      Key: key,
      UpdateExpression: 'ADD events :one',
      ConditionExpression: 'attribute_not_exists(w)',
      ExpressionAttributeValues: { ':one': { N: '1' } },
    });
    await dynamo.send(new PutItemCommand({ TableName: 'counters', Item: key }));
    expect((await items.getItem({ TableName: 'counters', Key: key })).Item).toBeUndefined();
    const query = await dynamo.send(
      new QueryCommand({
        TableName: 'counters',
        KeyConditionExpression: 'experimentId = :e',
        ExpressionAttributeValues: { ':e': { S: 'e' } },
      }),
    );
    expect(query.Items).toEqual([]);
    expect((await dynamo.send(new DescribeTableCommand({ TableName: 'counters' }))).Table?.TableStatus).toBe('ACTIVE');
    expect(noOp.requests).toMatchObject({ UpdateItem: 1, PutItem: 1, GetItem: 1, Query: 1 });
    expect(noOp.requests.DescribeTable).toBeGreaterThanOrEqual(2); // provisioning's checks, then this test's
  });

  it('refuses an operation it does not speak with DynamoDB’s UnknownOperationException, naming it', async () => {
    const { dynamo } = await clients();
    await expect(dynamo.send(new DeleteTableCommand({ TableName: 'counters' }))).rejects.toMatchObject({
      name: 'UnknownOperationException',
      message: 'the no-op DynamoDB does not speak DeleteTable',
    });
  });
});
