/**
 * The cell writer's error vocabulary (which DynamoDB failures are transient, how each is
 * reported) and writeCellDeltas' contract on dynalite: requests counted, empty cells skipped,
 * a watermark that keeps moving refused, concurrency bounded, one failed cell failing the batch.
 * Faults and a competing writer are injected by wrapping the real client.
 */
import { DeleteItemCommand, GetItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoClient, createDynamoItemClient } from '../../common/aws-clients.js';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY, watermarkAttribute } from '../../common/counter-layout.js';
import { PipelineError } from '../../common/errors.js';
import { createLogger } from '../../common/logger.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import type { Contribution } from './aggregate.js';
import { isTransientDynamoError, toSinkError } from './dynamo-cell-writer.js';
import { writeCellDeltas as writeDeltas } from './merged-cell-writes.js';
import { contributionCell, oneEventContribution, type ContributionCell } from './test-support/contribution-cells.js';
import { newSquareTotal } from './exact-value.js';
import { readCounters } from '../test-support/read-counters.js';
import { createCountersTable } from '../test-support/counter-delivery.js';

/** The writer, given each cell as its explicit contributions (test-support/contribution-cells.ts). */
const writeCellDeltas = (
  deps: Parameters<typeof writeDeltas>[0],
  shardId: string,
  cells: readonly ContributionCell[],
): ReturnType<typeof writeDeltas> => writeDeltas(deps, shardId, cells.map(contributionCell));

const SHARD = 'shardId-000000000000';
const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
const dynamo: DynamoDBClient = createDynamoClient(testConfig());
afterAll(() => dynamo.destroy());

const awsError = (name: string, fields: Record<string, unknown> = {}) =>
  Object.assign(new Error(`injected ${name}`), { name, $metadata: { httpStatusCode: 400 }, ...fields });

describe('isTransientDynamoError', () => {
  it.each([
    'ProvisionedThroughputExceededException',
    'ThrottlingException',
    'RequestLimitExceeded',
    'TooManyRequestsException',
    'InternalServerError',
    'ServiceUnavailable',
    'TimeoutError',
    'RequestTimeout',
  ])('retries %s whatever its status', (name) => {
    expect(isTransientDynamoError(awsError(name))).toBe(true);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN'])(
    'retries a dropped connection (%s)',
    (code) => {
      expect(isTransientDynamoError(Object.assign(new Error('socket'), { code }))).toBe(true);
    },
  );

  it('retries any 5xx, from 500 up', () => {
    expect(isTransientDynamoError(awsError('UnknownError', { $metadata: { httpStatusCode: 500 } }))).toBe(true);
    expect(isTransientDynamoError(awsError('UnknownError', { $metadata: { httpStatusCode: 503 } }))).toBe(true);
  });

  it('does not retry validation errors, 4xx, other codes, or things that are not errors', () => {
    expect(isTransientDynamoError(awsError('ValidationException'))).toBe(false);
    expect(isTransientDynamoError(awsError('UnknownError', { $metadata: { httpStatusCode: 499 } }))).toBe(false);
    expect(isTransientDynamoError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isTransientDynamoError(new Error('plain'))).toBe(false);
    expect(isTransientDynamoError(null)).toBe(false);
    expect(isTransientDynamoError(undefined)).toBe(false);
    expect(isTransientDynamoError('ThrottlingException')).toBe(false);
  });
});

describe('toSinkError', () => {
  it('keeps a PipelineError as it is', () => {
    const original = new PipelineError('STATE_LOST', 'lost');
    expect(toSinkError(original, 'counter update')).toBe(original);
  });

  it('reports throttling as a retriable SINK_THROTTLED, with the cause', () => {
    const cause = awsError('ThrottlingException');
    const error = toSinkError(cause, 'counter update');
    expect(error).toMatchObject({
      code: 'SINK_THROTTLED',
      retriable: true,
      message: 'counter update: throttled (ThrottlingException)',
    });
    expect(error.cause).toBe(cause);
  });

  it('reports other transient failures as a retriable SINK_FAILED', () => {
    const cause = awsError('InternalServerError', { $metadata: { httpStatusCode: 500 } });
    const error = toSinkError(cause, 'counter update');
    expect(error).toMatchObject({
      code: 'SINK_FAILED',
      retriable: true,
      message: 'counter update: InternalServerError',
    });
    expect(error.cause).toBe(cause);
  });

  it('reports everything else as a non-retriable SINK_REJECTED', () => {
    expect(toSinkError(awsError('ValidationException'), 'counter update')).toMatchObject({
      code: 'SINK_REJECTED',
      retriable: false,
      message: 'counter update: ValidationException',
    });
    expect(toSinkError(null, 'read counter watermark')).toMatchObject({
      code: 'SINK_REJECTED',
      message: 'read counter watermark: Error',
    });
  });
});

const contribution = oneEventContribution;

async function freshTable(): Promise<string> {
  const tableName = randomName('cells');
  await createCountersTable(dynamo, tableName);
  return tableName;
}

/** The real client with `before` run ahead of each command it forwards; tracks calls in flight. */
function wrapped(before: (command: object) => Promise<void> | void = () => undefined) {
  const seen = { inFlight: 0, maxInFlight: 0 };
  const client = new Proxy(dynamo, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
      return async (command: Parameters<DynamoDBClient['send']>[0]) => {
        seen.inFlight += 1;
        seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
        try {
          await before(command);
          return await target.send(command);
        } finally {
          seen.inFlight -= 1;
        }
      };
    },
  });
  return { client, seen };
}

// The protocol through both clients of the counter writes: the SDK's, and the JSON client the processors use.
const jsonItems = createDynamoItemClient(testConfig(), dynamo, { maxSockets: 4 });
afterAll(() => jsonItems.close());
describe.each([
  { client: 'the SDK client', items: {} },
  { client: 'the JSON client', items: { items: jsonItems } },
])('writeCellDeltas on dynalite, through $client', ({ items }) => {
  it('counts its requests: one per new cell; a re-cut cell adds a consistent read and a re-apply', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const deps = { dynamo, ...items, tableName, writeConcurrency: 2, retryPolicy: FAST_RETRY };
    const cell = (sequences: number[], sortKey = 'control#purchase'): ContributionCell => ({
      experimentId,
      sortKey,
      contributions: sequences.map(contribution),
    });
    expect(await writeCellDeltas(deps, SHARD, [cell([1, 2]), cell([1], 'treatment#purchase')])).toEqual({
      requests: 2,
    });
    expect(await writeCellDeltas(deps, SHARD, [cell([1, 2, 3])])).toEqual({ requests: 3 });
    // A full replay: the condition fails, the read shows nothing is missing, nothing is added.
    expect(await writeCellDeltas(deps, SHARD, [cell([1, 2, 3])])).toEqual({ requests: 2 });
    expect((await readCounters(dynamo, tableName)).get(`${experimentId}|control#purchase`)).toMatchObject({
      events: 3,
      units: 3,
    });
  });

  it('ADDs the non-zero extra sums of a delta, on the first write and on the re-apply path alike', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const deps = { dynamo, ...items, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY };
    const M = 1_000_000n;
    const withExtra = (sequence: number, extra: Contribution['extra']): Contribution => ({
      ...contribution(sequence),
      extra,
    });
    const ratioOnly = (sequence: number, crossSum: bigint): Contribution => ({
      ...contribution(sequence),
      events: 0,
      units: 0,
      sum: 0,
      sumSquares: newSquareTotal(),
      extra: { crossSum },
    });
    const cells = (sequences: number[]): ContributionCell[] => [
      {
        experimentId,
        sortKey: 'control#purchase',
        contributions: sequences.map((sequence) =>
          // 0 sums are not written: covariateCross nets to 0 in the first delta below.
          withExtra(sequence, { cappedSum: 2n * M, covariateCross: (sequence === 1 ? 3n : -3n) * M * M }),
        ),
      },
      { experimentId, sortKey: 'control#$ratio:a/b', contributions: sequences.map((s) => ratioOnly(s, 5n * M * M)) },
    ];
    await writeCellDeltas(deps, SHARD, cells([1, 2]));
    const item = async (sortKey: string) =>
      (
        await dynamo.send(
          new GetItemCommand({
            TableName: tableName,
            Key: { [COUNTER_PARTITION_KEY]: { S: experimentId }, [COUNTER_SORT_KEY]: { S: sortKey } },
            ConsistentRead: true,
          }),
        )
      ).Item ?? {};
    expect((await item('control#purchase')).capped_sum).toEqual({ N: '4' });
    expect((await item('control#purchase')).covariate_cross).toBeUndefined();
    // A re-cut batch [1, 2, 3]: the condition fails, only record 3 is re-applied, extras included.
    expect(await writeCellDeltas(deps, SHARD, cells([1, 2, 3]))).toEqual({ requests: 6 });
    const table = await readCounters(dynamo, tableName);
    expect(table.get(`${experimentId}|control#purchase`)).toEqual({
      events: 3,
      units: 3,
      sum: 3,
      sumSquares: 3,
      cappedSum: 6,
      covariateCross: -3,
    });
    expect(table.get(`${experimentId}|control#$ratio:a/b`)).toEqual({
      events: 0,
      units: 0,
      sum: 0,
      sumSquares: 0,
      crossSum: 15,
    });
    expect(Object.keys(await item('control#$ratio:a/b'))).not.toContain('events');
  });

  it('writes only the watermark for a delta of extra sums that cancel out; readCounters reads such an item as no cell', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const cross = (sequence: number, crossSum: bigint): Contribution => ({
      ...contribution(sequence),
      events: 0,
      units: 0,
      sum: 0,
      sumSquares: newSquareTotal(),
      extra: { crossSum },
    });
    const sortKey = 'control#$ratio:a/b';
    const deps = { dynamo, ...items, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY };
    await writeCellDeltas(deps, SHARD, [{ experimentId, sortKey, contributions: [cross(1, 7n), cross(2, -7n)] }]);
    const { Item } = await dynamo.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { [COUNTER_PARTITION_KEY]: { S: experimentId }, [COUNTER_SORT_KEY]: { S: sortKey } },
        ConsistentRead: true,
      }),
    );
    expect(Item?.[watermarkAttribute(SHARD)]).toEqual({ S: contribution(2).position });
    expect(Item?.cross_sum).toBeUndefined();
    expect((await readCounters(dynamo, tableName)).size).toBe(0);
  });

  it('sends nothing for a cell without contributions, and nothing at all for no cells', async () => {
    const tableName = await freshTable();
    const deps = { dynamo, ...items, tableName, writeConcurrency: 4, retryPolicy: FAST_RETRY };
    expect(
      await writeCellDeltas(deps, SHARD, [{ experimentId: randomName('e'), sortKey: 'control#x', contributions: [] }]),
    ).toEqual({ requests: 0 });
    expect(await writeCellDeltas(deps, SHARD, [])).toEqual({ requests: 0 });
  });
});

describe('writeCellDeltas on dynalite', () => {
  it('refuses after 4 rounds when the watermark keeps moving (injected: a second writer bumps it before each re-apply)', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const sortKey = 'control#purchase';
    const watermark = watermarkAttribute(SHARD);
    let bumps = 0;
    let reads = 0;
    const { client } = wrapped(async (command) => {
      if (command instanceof GetItemCommand) reads += 1;
      if (command instanceof UpdateItemCommand && command.input.ConditionExpression === '#wm = :expected') {
        bumps += 1;
        await dynamo.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: { [COUNTER_PARTITION_KEY]: { S: experimentId }, [COUNTER_SORT_KEY]: { S: sortKey } },
            UpdateExpression: 'SET #wm = :wm',
            ExpressionAttributeNames: { '#wm': watermark },
            ExpressionAttributeValues: { ':wm': { S: contribution(100 + bumps).position } },
          }),
        );
      }
    });
    const deps = { dynamo: client, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY };
    await writeCellDeltas({ ...deps, dynamo }, SHARD, [{ experimentId, sortKey, contributions: [contribution(1)] }]);
    const moving = writeCellDeltas(deps, SHARD, [
      { experimentId, sortKey, contributions: [1, 200, 201].map(contribution) },
    ]);
    await expect(moving).rejects.toMatchObject({
      code: 'SINK_FAILED',
      message: `watermark of ${experimentId}/${sortKey} kept moving: is a second writer processing this shard?`,
    });
    expect(reads).toBe(4);
    expect(bumps).toBe(4);
  });

  it('keeps at most writeConcurrency requests in flight, and at least one worker', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const cells = Array.from({ length: 6 }, (_, index) => ({
      experimentId,
      sortKey: `v${index}#m`,
      contributions: [contribution(index + 1)],
    }));
    const two = wrapped();
    await writeCellDeltas(
      { dynamo: two.client, tableName, writeConcurrency: 2, retryPolicy: FAST_RETRY },
      SHARD,
      cells,
    );
    expect(two.seen.maxInFlight).toBe(2);
    const none = wrapped();
    const fresh = await freshTable();
    expect(
      await writeCellDeltas(
        { dynamo: none.client, tableName: fresh, writeConcurrency: 0, retryPolicy: FAST_RETRY },
        SHARD,
        cells,
      ),
    ).toEqual({ requests: 6 });
    expect(none.seen.maxInFlight).toBe(1);
  });

  it('fails the batch with the first cell error, after the other cells were attempted', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const { client } = wrapped((command) => {
      if (command instanceof UpdateItemCommand && command.input.Key?.[COUNTER_SORT_KEY]?.S === 'bad#m') {
        throw awsError('ValidationException');
      }
    });
    const cells = ['bad#m', 'good#m'].map((sortKey) => ({ experimentId, sortKey, contributions: [contribution(1)] }));
    await expect(
      writeCellDeltas({ dynamo: client, tableName, writeConcurrency: 2, retryPolicy: FAST_RETRY }, SHARD, cells),
    ).rejects.toMatchObject({ code: 'SINK_REJECTED', message: 'counter update: ValidationException' });
    expect((await readCounters(dynamo, tableName)).get(`${experimentId}|good#m`)).toMatchObject({ events: 1 });
  });

  it('retries a throttled write, logging each retry (injected: the first write is throttled)', async () => {
    const tableName = await freshTable();
    const lines: string[] = [];
    const logger = createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    let throttled = false;
    const { client } = wrapped(() => {
      if (!throttled) {
        throttled = true;
        throw awsError('ThrottlingException');
      }
    });
    const cell = { experimentId: randomName('e'), sortKey: 'control#m', contributions: [contribution(1)] };
    expect(
      await writeCellDeltas(
        { dynamo: client, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY, logger },
        SHARD,
        [cell],
      ),
    ).toEqual({ requests: 2 });
    const retries = lines.filter((line) => line.includes('counter update: retrying'));
    expect(retries).toHaveLength(1);
    expect(JSON.parse(retries[0] ?? '{}')).toMatchObject({
      attempt: 1,
      err: { message: 'injected ThrottlingException' },
    });
  });

  it('retries a transient failure of the watermark read and of the re-apply too, each logged by its name (injected: each fails once)', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const cell = (sequences: number[]): ContributionCell => ({
      experimentId,
      sortKey: 'control#m',
      contributions: sequences.map(contribution),
    });
    await writeCellDeltas({ dynamo, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY }, SHARD, [cell([1])]);
    const lines: string[] = [];
    const logger = createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    });
    let readFailed = false;
    let reapplyFailed = false;
    const { client } = wrapped((command) => {
      if (command instanceof GetItemCommand && !readFailed) {
        readFailed = true;
        throw awsError('InternalServerError', { $metadata: { httpStatusCode: 500 } });
      }
      const expected = command instanceof UpdateItemCommand && command.input.ConditionExpression === '#wm = :expected';
      if (expected && !reapplyFailed) {
        reapplyFailed = true;
        throw awsError('ThrottlingException');
      }
    });
    // A re-cut batch: record 1 is in the cell, record 2 is not. Update (condition fails), read ×2, re-apply ×2.
    expect(
      await writeCellDeltas(
        { dynamo: client, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY, logger },
        SHARD,
        [cell([1, 2])],
      ),
    ).toEqual({ requests: 5 });
    expect((await readCounters(dynamo, tableName)).get(`${experimentId}|control#m`)).toMatchObject({ events: 2 });
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toEqual(['read counter watermark: retrying', 'counter re-apply: retrying']);
  });

  it("gives up after the retry policy's attempts, not the default ones (injected: every write throttled)", async () => {
    const tableName = await freshTable();
    let writes = 0;
    const { client } = wrapped((command) => {
      if (command instanceof UpdateItemCommand) {
        writes += 1;
        throw awsError('ThrottlingException');
      }
    });
    const cell = { experimentId: randomName('e'), sortKey: 'control#m', contributions: [contribution(1)] };
    await expect(
      writeCellDeltas(
        {
          dynamo: client,
          tableName,
          writeConcurrency: 1,
          retryPolicy: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
        },
        SHARD,
        [cell],
      ),
    ).rejects.toMatchObject({ code: 'SINK_THROTTLED', message: 'counter update: throttled (ThrottlingException)' });
    expect(writes).toBe(2);
  });

  it('names the step that failed for good: the watermark read, or the re-apply', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const cell = (sequences: number[]): ContributionCell => ({
      experimentId,
      sortKey: 'control#m',
      contributions: sequences.map(contribution),
    });
    await writeCellDeltas({ dynamo, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY }, SHARD, [cell([1])]);
    const failingReads = wrapped((command) => {
      if (command instanceof GetItemCommand) throw awsError('ValidationException');
    });
    await expect(
      writeCellDeltas({ dynamo: failingReads.client, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY }, SHARD, [
        cell([1, 2]),
      ]),
    ).rejects.toMatchObject({ code: 'SINK_REJECTED', message: 'read counter watermark: ValidationException' });
    const failingReapply = wrapped((command) => {
      if (command instanceof UpdateItemCommand && command.input.ConditionExpression === '#wm = :expected') {
        throw awsError('ValidationException');
      }
    });
    await expect(
      writeCellDeltas(
        { dynamo: failingReapply.client, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY },
        SHARD,
        [cell([1, 2])],
      ),
    ).rejects.toMatchObject({ code: 'SINK_REJECTED', message: 'counter re-apply: ValidationException' });
  });

  it('treats an error named ConditionalCheckFailedException from another SDK copy as the watermark condition', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    let first = true;
    const { client } = wrapped((command) => {
      if (command instanceof UpdateItemCommand && first) {
        first = false;
        throw awsError('ConditionalCheckFailedException');
      }
    });
    const deps = { dynamo: client, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY };
    // The "failed" condition leads to a read (no watermark yet) and a write of the whole delta.
    expect(
      await writeCellDeltas(deps, SHARD, [{ experimentId, sortKey: 'control#m', contributions: [contribution(1)] }]),
    ).toEqual({ requests: 3 });
    expect((await readCounters(dynamo, tableName)).get(`${experimentId}|control#m`)).toMatchObject({ events: 1 });
  });

  it('passes on a PipelineError raised by the client as it is', async () => {
    const tableName = await freshTable();
    const raised = new PipelineError('STATE_LOST', 'raised by the client');
    const { client } = wrapped(() => {
      throw raised;
    });
    const cell = { experimentId: randomName('e'), sortKey: 'control#m', contributions: [contribution(1)] };
    await expect(
      writeCellDeltas({ dynamo: client, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY }, SHARD, [cell]),
    ).rejects.toBe(raised);
  });

  it.each([
    ['the cell was deleted', 'DELETE'],
    ['the cell lost its watermark', 'REMOVE'],
  ])('writes the whole delta when, after a failed condition, %s (injected before the read)', async (_what, change) => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const sortKey = 'control#m';
    const key = { [COUNTER_PARTITION_KEY]: { S: experimentId }, [COUNTER_SORT_KEY]: { S: sortKey } };
    await writeCellDeltas({ dynamo, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY }, SHARD, [
      { experimentId, sortKey, contributions: [contribution(1)] },
    ]);
    const { client } = wrapped(async (command) => {
      if (!(command instanceof GetItemCommand)) return;
      await dynamo.send(
        change === 'DELETE'
          ? new DeleteItemCommand({ TableName: tableName, Key: key })
          : new UpdateItemCommand({
              TableName: tableName,
              Key: key,
              UpdateExpression: 'REMOVE #wm',
              ExpressionAttributeNames: { '#wm': watermarkAttribute(SHARD) },
            }),
      );
    });
    await writeCellDeltas({ dynamo: client, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY }, SHARD, [
      { experimentId, sortKey, contributions: [1, 2].map(contribution) },
    ]);
    const events = (await readCounters(dynamo, tableName)).get(`${experimentId}|${sortKey}`)?.events;
    expect(events).toBe(change === 'DELETE' ? 2 : 3);
  });
});
