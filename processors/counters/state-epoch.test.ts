/**
 * The state epoch binds the counters table to one copy of the exactly-once state: recorded
 * on the first run, checked on every start, refused (STATE_LOST) when the store is another
 * one. On dynalite, with faults and a competing processor injected by wrapping the real
 * client (every call still reaches dynalite).
 */
import {
  GetItemCommand,
  PutItemCommand,
  type DynamoDBClient,
  type GetItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY, STATE_EPOCH_ITEM_KEY } from '../../common/counter-layout.js';
import { PipelineError } from '../../common/errors.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { createInProcessUserStateStore } from '../state/in-process-store.js';
import { establishStateEpoch, readRecordedEpoch, recordEpoch } from './state-epoch.js';
import { createCountersTable } from '../test-support/counter-delivery.js';

const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 };
const dynamo: DynamoDBClient = createDynamoClient(testConfig());
afterAll(() => dynamo.destroy());

async function freshTable(): Promise<string> {
  const tableName = randomName('epoch');
  await createCountersTable(dynamo, tableName);
  return tableName;
}

/** The real client with `before` run ahead of each command it forwards (a fault or a competing write). */
function wrapped(before: (command: object, call: number) => Promise<void> | void): DynamoDBClient {
  let calls = 0;
  return new Proxy(dynamo, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
      return async (command: Parameters<DynamoDBClient['send']>[0]) => {
        await before(command, calls++);
        return target.send(command);
      };
    },
  });
}

describe('establishStateEpoch', () => {
  it("records the store's epoch on the first run, then counts under it on every later start", async () => {
    const tableName = await freshTable();
    const store = createInProcessUserStateStore();
    expect(await readRecordedEpoch(dynamo, tableName)).toBeUndefined();
    const epoch = await establishStateEpoch(dynamo, tableName, store, FAST_RETRY);
    expect(epoch).toBe(await store.epoch());
    expect(await readRecordedEpoch(dynamo, tableName)).toBe(epoch);
    expect(await establishStateEpoch(dynamo, tableName, store, FAST_RETRY)).toBe(epoch);
  });

  it('stops with STATE_LOST, naming both epochs, when the store is not the one the counters were written with', async () => {
    const tableName = await freshTable();
    const original = createInProcessUserStateStore();
    const replacement = createInProcessUserStateStore();
    await establishStateEpoch(dynamo, tableName, original, FAST_RETRY);
    const refusal = establishStateEpoch(dynamo, tableName, replacement, FAST_RETRY);
    await expect(refusal).rejects.toBeInstanceOf(PipelineError);
    await expect(refusal).rejects.toMatchObject({
      code: 'STATE_LOST',
      details: { expected: await original.epoch(), actual: await replacement.epoch() },
    });
    // Nothing was overwritten: the recorded epoch is still the original one.
    expect(await readRecordedEpoch(dynamo, tableName)).toBe(await original.epoch());
  });

  it('counts under the recorded epoch again after the operator accepted the loss (recordEpoch)', async () => {
    const tableName = await freshTable();
    const original = createInProcessUserStateStore();
    const replacement = createInProcessUserStateStore();
    await establishStateEpoch(dynamo, tableName, original, FAST_RETRY);
    await recordEpoch(dynamo, tableName, await replacement.epoch());
    expect(await establishStateEpoch(dynamo, tableName, replacement, FAST_RETRY)).toBe(await replacement.epoch());
  });

  it('accepts the epoch another processor with the same store recorded first (injected: a competing write just before ours)', async () => {
    const tableName = await freshTable();
    const store = createInProcessUserStateStore();
    const epoch = await store.epoch();
    const racing = wrapped(async (command) => {
      if (command instanceof PutItemCommand) await recordEpoch(dynamo, tableName, epoch);
    });
    expect(await establishStateEpoch(racing, tableName, store, FAST_RETRY)).toBe(epoch);
  });

  it('stops with STATE_LOST when a processor with another store recorded first (injected: a competing write)', async () => {
    const tableName = await freshTable();
    const store = createInProcessUserStateStore();
    const racing = wrapped(async (command) => {
      if (command instanceof PutItemCommand) await recordEpoch(dynamo, tableName, 'the-other-store');
    });
    await expect(establishStateEpoch(racing, tableName, store, FAST_RETRY)).rejects.toMatchObject({
      code: 'STATE_LOST',
      details: { expected: 'the-other-store', actual: await store.epoch() },
    });
    expect(await readRecordedEpoch(dynamo, tableName)).toBe('the-other-store');
  });

  it('retries throttled reads and writes (injected: the wrapper throttles the first try of each)', async () => {
    const tableName = await freshTable();
    const store = createInProcessUserStateStore();
    const throttling = wrapped((_command, call) => {
      if (call % 2 === 0) {
        throw Object.assign(new Error('throttled'), {
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
        });
      }
    });
    expect(await establishStateEpoch(throttling, tableName, store, FAST_RETRY)).toBe(await store.epoch());
    expect(await readRecordedEpoch(dynamo, tableName)).toBe(await store.epoch());
  });

  it('reports what it was doing when DynamoDB refuses for good', async () => {
    const store = createInProcessUserStateStore();
    const missingTable = randomName('no-such-table');
    await expect(establishStateEpoch(dynamo, missingTable, store, FAST_RETRY)).rejects.toMatchObject({
      code: 'SINK_REJECTED',
      message: 'read the state epoch: ResourceNotFoundException',
    });
    const tableName = await freshTable();
    const refusingWrites = wrapped((command) => {
      if (command instanceof PutItemCommand) {
        throw Object.assign(new Error('denied'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
      }
    });
    await expect(establishStateEpoch(refusingWrites, tableName, store, FAST_RETRY)).rejects.toMatchObject({
      code: 'SINK_REJECTED',
      message: 'record the state epoch: AccessDeniedException',
    });
  });

  it('checks an epoch already recorded with one read and no write', async () => {
    const tableName = await freshTable();
    const store = createInProcessUserStateStore();
    await establishStateEpoch(dynamo, tableName, store, FAST_RETRY);
    const commands: string[] = [];
    const counting = wrapped((command) => {
      commands.push(command.constructor.name);
    });
    await establishStateEpoch(counting, tableName, store, FAST_RETRY);
    expect(commands).toEqual(['GetItemCommand']);
  });

  it('stops with STATE_LOST naming (none) when the epoch item exists but holds no epoch (damaged)', async () => {
    const tableName = await freshTable();
    await dynamo.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          [COUNTER_PARTITION_KEY]: { S: STATE_EPOCH_ITEM_KEY.partition },
          [COUNTER_SORT_KEY]: { S: STATE_EPOCH_ITEM_KEY.sort },
        },
      }),
    );
    const store = createInProcessUserStateStore();
    expect(await readRecordedEpoch(dynamo, tableName)).toBeUndefined();
    await expect(establishStateEpoch(dynamo, tableName, store, FAST_RETRY)).rejects.toMatchObject({
      code: 'STATE_LOST',
      details: { expected: '(none)', actual: await store.epoch() },
    });
  });

  it('reads the recorded epoch with a strongly consistent read (dynalite ignores it: the request is asserted)', async () => {
    const tableName = await freshTable();
    const reads: GetItemCommandInput[] = [];
    const capturing = wrapped((command) => {
      if (command instanceof GetItemCommand) reads.push(command.input);
    });
    await establishStateEpoch(capturing, tableName, createInProcessUserStateStore(), FAST_RETRY);
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.every((input) => input.ConsistentRead === true)).toBe(true);
  });
});
