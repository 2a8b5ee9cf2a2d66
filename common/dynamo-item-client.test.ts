/**
 * The counter writes' DynamoDB JSON client: the wire protocol against dynalite (real), and
 * against a fake DynamoDB (test-support/fake-dynamodb.ts) what dynalite cannot show: a
 * Signature Version 4 the way AWS checks it, session tokens and rotated credentials, error
 * answers (throttling, 5xx, a non-JSON page), a silent server, a refused connection. Each
 * failure is also classified by the cell writer, which decides retries on it.
 */
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable } from '../local/provision.js';
import { freePort } from '../local/stand-ins.js';
import { randomName, testConfig } from '../local/test-support/test-config.js';
import { isTransientDynamoError, toSinkError } from '../processors/counters/dynamo-cell-writer.js';
import { createDynamoClient, createDynamoItemClient } from './aws-clients.js';
import {
  DynamoRequestError,
  createJsonItemClient,
  errorOfAnswer,
  type DynamoItemClient,
  type ItemClientCredentials,
} from './dynamo-item-client.js';
import { dynamoErrorBody, startFakeDynamoDB, type FakeDynamoDB } from './test-support/fake-dynamodb.js';
import { FAKE_AWS_CREDENTIALS } from './test-support/sigv4-verify.js';

const config = testConfig();

/** The client's rejection (it must reject). */
async function failureOf(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('JSON item client on dynalite', () => {
  const dynamo: DynamoDBClient = createDynamoClient(config);
  const items = createDynamoItemClient(config, dynamo, { maxSockets: 4 });
  const tableName = randomName('items');
  beforeAll(() => ensureTable(dynamo, tableName, { partitionKey: 'pk', sortKey: 'sk' }));
  afterAll(() => {
    items.close();
    dynamo.destroy();
  });
  const key = (sk: string) => ({ pk: { S: 'experiment-1' }, sk: { S: sk } });

  it('ADDs and SETs under a condition, reads the item back; the SDK reads the same item', async () => {
    const update = (n: string, position: string, first: string) =>
      items.updateItem({
        TableName: tableName,
        Key: key('control#m'),
        UpdateExpression: 'ADD #events :n SET #wm = :position',
        ConditionExpression: 'attribute_not_exists(#wm) OR #wm < :first',
        ExpressionAttributeNames: { '#events': 'events', '#wm': 'wm_shard-0' },
        ExpressionAttributeValues: { ':n': { N: n }, ':position': { S: position }, ':first': { S: first } },
      });
    await update('3', '0002', '0001');
    await update('4', '0004', '0003');
    const { Item } = await items.getItem({ TableName: tableName, Key: key('control#m'), ConsistentRead: true });
    expect(Item).toEqual({ ...key('control#m'), events: { N: '7' }, 'wm_shard-0': { S: '0004' } });
    const sdk = await dynamo.send(new GetItemCommand({ TableName: tableName, Key: key('control#m') }));
    expect(sdk.Item).toEqual(Item);
    expect(await items.getItem({ TableName: tableName, Key: key('nothing#here') })).toEqual({ Item: undefined });
  });

  it('rejects a failed condition as ConditionalCheckFailedException (400), which the writer does not retry', async () => {
    const write = () =>
      items.updateItem({
        TableName: tableName,
        Key: key('treatment#m'),
        UpdateExpression: 'ADD #events :n SET #wm = :position',
        ConditionExpression: 'attribute_not_exists(#wm) OR #wm < :first',
        ExpressionAttributeNames: { '#events': 'events', '#wm': 'wm_shard-0' },
        ExpressionAttributeValues: { ':n': { N: '1' }, ':position': { S: '0009' }, ':first': { S: '0009' } },
      });
    await write();
    const error = await failureOf(write());
    expect(error).toBeInstanceOf(DynamoRequestError);
    expect(error.name).toBe('ConditionalCheckFailedException');
    expect(error.$metadata).toEqual({ httpStatusCode: 400 });
    expect(isTransientDynamoError(error)).toBe(false);
  });

  it("names a request DynamoDB refuses by DynamoDB's own error type and message: a SINK_REJECTED for the writer", async () => {
    const error = await failureOf(
      items.updateItem({ TableName: tableName, Key: key('x'), UpdateExpression: 'ADD #missing :n' }),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(/#missing/);
    expect(toSinkError(error, 'counter update')).toMatchObject({ code: 'SINK_REJECTED', retriable: false });
  });
});

describe('JSON item client against a fake DynamoDB (signatures, sockets, errors, silence)', () => {
  let fake: FakeDynamoDB;
  let credentials: ItemClientCredentials = FAKE_AWS_CREDENTIALS;
  const opened: DynamoItemClient[] = [];
  beforeAll(async () => {
    fake = await startFakeDynamoDB();
  });
  afterEach(() => {
    for (const made of opened.splice(0)) made.close();
  });
  afterAll(() => fake.close());
  /** A client of the fake, made inside each test (so everything it does runs under the test). */
  const client = (options: { endpoint?: string; maxSockets?: number } = {}): DynamoItemClient => {
    const made = createJsonItemClient({
      endpoint: options.endpoint ?? fake.endpoint,
      region: 'eu-west-1',
      credentials: () => Promise.resolve(credentials),
      maxSockets: options.maxSockets ?? 2,
      requestTimeoutMs: 200,
    });
    opened.push(made);
    return made;
  };
  const input = { TableName: 'counters', Key: { pk: { S: 'e' }, sk: { S: 'v#m' } }, UpdateExpression: 'ADD #n :n' };

  it('signs each request as AWS checks it, names the operation and the host with its port, sends the input as the body', async () => {
    const items = client();
    fake.answer(() => ({ status: 200, body: '{}' }));
    fake.requests.length = 0;
    await items.updateItem(input);
    fake.answer(() => ({ status: 200, body: JSON.stringify({ Item: { pk: { S: 'e' } } }) }));
    expect(await items.getItem({ TableName: 'counters', Key: input.Key })).toEqual({ Item: { pk: { S: 'e' } } });
    expect(fake.requests.map((request) => request.target)).toEqual([
      'DynamoDB_20120810.UpdateItem',
      'DynamoDB_20120810.GetItem',
    ]);
    expect(fake.requests[0]?.input).toEqual(input);
    expect(fake.requests[0]?.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(fake.requests[0]?.headers.host).toBe(new URL(fake.endpoint).host);
    expect(fake.requests[0]?.headers.authorization).toMatch(/\/eu-west-1\/dynamodb\/aws4_request, /);
  });

  it('keeps its sockets alive and at most maxSockets open, and closes them on close()', async () => {
    fake.answer(() => ({ status: 200, body: '{}' }));
    fake.requests.length = 0;
    for (let wait = 0; wait < 50 && (await fake.openConnections()) > 0; wait++) await delay(10);
    const items = client({ maxSockets: 2 });
    await items.updateItem(input);
    await items.updateItem(input);
    await Promise.all(Array.from({ length: 6 }, () => items.updateItem(input)));
    const ports = new Set(fake.requests.map((request) => request.clientPort));
    expect(fake.requests).toHaveLength(8);
    expect(ports.size).toBeLessThanOrEqual(2);
    expect(await fake.openConnections()).toBeGreaterThan(0);
    items.close();
    for (let wait = 0; wait < 50 && (await fake.openConnections()) > 0; wait++) await delay(10);
    expect(await fake.openConnections()).toBe(0);
  });

  it('asks for credentials on every request: a session token is sent and signed, rotated keys are used', async () => {
    const items = client();
    fake.answer(() => ({ status: 200, body: '{}' }));
    fake.requests.length = 0;
    credentials = { ...FAKE_AWS_CREDENTIALS, sessionToken: 'token-1' };
    await items.updateItem(input);
    expect(fake.requests[0]?.headers['x-amz-security-token']).toBe('token-1');
    expect(fake.requests[0]?.headers.authorization).toMatch(/SignedHeaders=[^,]*x-amz-security-token/);
    credentials = { accessKeyId: FAKE_AWS_CREDENTIALS.accessKeyId, secretAccessKey: 'rotated-away' };
    const refused = await failureOf(items.updateItem(input));
    expect(refused.name).toBe('InvalidSignatureException');
    expect(refused.$metadata).toEqual({ httpStatusCode: 400 });
    credentials = FAKE_AWS_CREDENTIALS;
    await items.updateItem(input);
  });

  it('turns throttling and 5xx answers into errors the writer retries, by name and status', async () => {
    const items = client();
    fake.answer(() => ({
      status: 400,
      body: dynamoErrorBody('ThrottlingException', 'Rate of requests exceeds the allowed throughput.'),
    }));
    const throttled = await failureOf(items.updateItem(input));
    expect(throttled).toMatchObject({
      name: 'ThrottlingException',
      message: 'Rate of requests exceeds the allowed throughput.',
    });
    expect(toSinkError(throttled, 'counter update')).toMatchObject({ code: 'SINK_THROTTLED', retriable: true });
    fake.answer(() => ({ status: 500, body: dynamoErrorBody('InternalServerError', 'Internal server error') }));
    const internal = await failureOf(items.updateItem(input));
    expect(internal).toMatchObject({ name: 'InternalServerError', $metadata: { httpStatusCode: 500 } });
    expect(toSinkError(internal, 'counter update')).toMatchObject({ code: 'SINK_FAILED', retriable: true });
    fake.answer(() => ({ status: 502, body: '<html>Bad Gateway</html>' }));
    const page = await failureOf(items.updateItem(input));
    expect(page).toMatchObject({
      name: 'InternalServerError',
      message: 'DynamoDB answered 502',
      $metadata: { httpStatusCode: 502 },
    });
    expect(isTransientDynamoError(page)).toBe(true);
  });

  it('fails a request the server never answers with TimeoutError (retried), and the client goes on', async () => {
    const items = client();
    fake.answer(() => 'silence');
    const started = Date.now();
    const silent = await failureOf(items.updateItem(input));
    expect(silent).toMatchObject({ name: 'TimeoutError', message: 'DynamoDB UpdateItem: no answer for 200 ms' });
    expect(silent.$metadata).toStrictEqual({});
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(isTransientDynamoError(silent)).toBe(true);
    fake.answer(() => ({ status: 200, body: '{}' }));
    await items.updateItem(input);
  });

  it('rejects an answer cut off halfway with the socket error (retried), and the client goes on', async () => {
    const items = client();
    fake.answer(() => 'cut');
    const cut = await failureOf(items.getItem({ TableName: 'counters', Key: input.Key }));
    expect(cut).toMatchObject({ code: 'ECONNRESET' });
    expect(isTransientDynamoError(cut)).toBe(true);
    fake.answer(() => ({ status: 200, body: '{}' }));
    await items.updateItem(input);
  });

  it('rejects with the socket error when nothing listens (ECONNREFUSED: retried), at the port the endpoint names', async () => {
    const port = await freePort();
    const refused = await failureOf(client({ endpoint: `http://127.0.0.1:${port}` }).updateItem(input));
    expect(refused).toMatchObject({ code: 'ECONNREFUSED', port });
    expect(isTransientDynamoError(refused)).toBe(true);
  });

  it('speaks TLS to an https endpoint (a plain HTTP server fails its handshake), on port 443 when it names none', async () => {
    const tls = await failureOf(client({ endpoint: fake.endpoint.replace('http:', 'https:') }).updateItem(input));
    expect(tls).toMatchObject({ code: expect.stringMatching(/^(EPROTO|ERR_SSL_)/) as unknown });
    const defaultPort = await failureOf(client({ endpoint: 'https://127.0.0.1' }).updateItem(input));
    expect(defaultPort).toMatchObject({ code: 'ECONNREFUSED', port: 443 });
    const plainDefault = await failureOf(client({ endpoint: 'http://127.0.0.1' }).updateItem(input));
    expect(plainDefault).toMatchObject({ code: 'ECONNREFUSED', port: 80 });
  });
});

describe('errorOfAnswer', () => {
  it("names an answer by its __type after '#', else by a 5xx or the status; keeps DynamoDB's message", () => {
    expect(
      errorOfAnswer(400, dynamoErrorBody('ResourceNotFoundException', 'Requested resource not found')),
    ).toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'Requested resource not found',
      $metadata: { httpStatusCode: 400 },
    });
    expect(errorOfAnswer(400, JSON.stringify({ __type: 'ValidationException', Message: 'capital M' }))).toMatchObject({
      name: 'ValidationException',
      message: 'capital M',
    });
    expect(errorOfAnswer(503, '')).toMatchObject({ name: 'InternalServerError', message: 'DynamoDB answered 503' });
    expect(errorOfAnswer(413, 'too large')).toMatchObject({ name: 'HTTP413', message: 'DynamoDB answered 413' });
    expect(errorOfAnswer(400, JSON.stringify({ __type: 42, message: 'kept' }))).toMatchObject({
      name: 'HTTP400',
      message: 'kept',
    });
    expect(errorOfAnswer(400, JSON.stringify({ __type: 'a#Odd', message: 42 }))).toMatchObject({
      name: 'Odd',
      message: 'DynamoDB answered 400 Odd',
    });
    expect(errorOfAnswer(500, 'oops')).toMatchObject({ name: 'InternalServerError', message: 'DynamoDB answered 500' });
    expect(errorOfAnswer(499, '')).toMatchObject({ name: 'HTTP499' });
  });
});
