/**
 * The watermark read of the cell writer must be a strongly consistent read: an eventually
 * consistent GetItem may return a watermark older than the one the failed condition saw,
 * and re-applying from it adds contributions the cell already holds. dynalite answers every
 * read consistently whatever the request says, so these tests assert the request itself,
 * captured by wrapping the real dynalite client (not a mock: every call still reaches it).
 */
import { GetItemCommand, type DynamoDBClient, type GetItemCommandInput } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { COUNTER_PARTITION_KEY, STATE_EPOCH_ITEM_KEY, watermarkAttribute } from '../../common/counter-layout.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { createInProcessUserStateStore } from '../state/in-process-store.js';
import { contributionCell, oneEventContribution, type ContributionCell } from './test-support/contribution-cells.js';
import { createCounterSink } from './counter-sink.js';
import { writeCellDeltas as writeDeltas } from './merged-cell-writes.js';
import { computeExpectedCounters } from '../test-support/counter-ground-truth.js';
import { readCounters } from '../test-support/read-counters.js';
import { createCountersTable, injectFaults, isInjectedCrash } from '../test-support/counter-delivery.js';
import { generateWorkload, toShardRecords } from '../../local/test-support/counter-workload.js';

/** The writer, given each cell as its explicit contributions (test-support/contribution-cells.ts). */
const writeCellDeltas = (
  deps: Parameters<typeof writeDeltas>[0],
  shardId: string,
  cells: readonly ContributionCell[],
): ReturnType<typeof writeDeltas> => writeDeltas(deps, shardId, cells.map(contributionCell));

const SHARD = 'shardId-000000000000';
const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 };
const dynamo: DynamoDBClient = createDynamoClient(testConfig());
afterAll(() => dynamo.destroy());

/** The real client, recording the input of every GetItem it forwards. */
function capturingGetItems(real: DynamoDBClient): { client: DynamoDBClient; getItems: GetItemCommandInput[] } {
  const getItems: GetItemCommandInput[] = [];
  const client = new Proxy(real, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
      return (command: Parameters<DynamoDBClient['send']>[0]) => {
        if (command instanceof GetItemCommand) getItems.push(structuredClone(command.input));
        return target.send(command);
      };
    },
  });
  return { client, getItems };
}

/** GetItems of counter cells (not of the state-epoch item). */
const cellReads = (getItems: readonly GetItemCommandInput[]) =>
  getItems.filter((input) => input.Key?.[COUNTER_PARTITION_KEY]?.S !== STATE_EPOCH_ITEM_KEY.partition);

const contribution = oneEventContribution;

describe('watermark read of the cell writer (real dynalite, requests captured by a client wrapper)', () => {
  it('reads the watermark with ConsistentRead: true before re-applying a re-cut batch', async () => {
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const { client, getItems } = capturingGetItems(dynamo);
    const deps = { dynamo: client, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY };
    const experimentId = randomName('e');
    const cell = (sequences: number[]): ContributionCell => ({
      experimentId,
      sortKey: 'control#purchase',
      contributions: sequences.map(contribution),
    });

    await writeCellDeltas(deps, SHARD, [cell([1, 2])]);
    expect(getItems).toEqual([]); // the first write needs no read
    // A re-cut batch that repeats records 1–2 and goes further: the condition fails, the writer
    // reads the watermark and adds only record 3.
    await writeCellDeltas(deps, SHARD, [cell([1, 2, 3])]);

    expect(getItems).toHaveLength(1);
    expect(getItems[0]).toMatchObject({
      TableName: tableName,
      Key: { [COUNTER_PARTITION_KEY]: { S: experimentId } },
      ConsistentRead: true,
    });
    expect(Object.values(getItems[0]?.ExpressionAttributeNames ?? {})).toEqual([watermarkAttribute(SHARD)]);
    expect((await readCounters(dynamo, tableName)).get(`${experimentId}|control#purchase`)).toMatchObject({
      events: 3,
      units: 3,
    });
  });

  it('reads consistently on the recovery path of a crash between the cell writes and the committed position', async () => {
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const faulty = injectFaults(dynamo);
    const { client, getItems } = capturingGetItems(faulty.client);
    const sink = createCounterSink({
      dynamo: client,
      tableName,
      state: createInProcessUserStateStore(),
      writeConcurrency: 1,
      retryPolicy: FAST_RETRY,
    });
    const events = generateWorkload({ seed: 31, events: 60, users: 10, experimentPrefix: randomName('e') });
    const records = toShardRecords(SHARD, events);

    await sink.writeBatch(SHARD, records.slice(0, 20));
    expect(cellReads(getItems)).toEqual([]);
    // Three cells of the next batch are written, then the processor "dies" before the committed position moves.
    faulty.failAfter(3);
    await expect(sink.writeBatch(SHARD, records.slice(20, 40))).rejects.toSatisfy(isInjectedCrash);
    faulty.failAfter(Infinity);
    await sink.writeBatch(SHARD, records.slice(20, 60)); // re-delivered, re-cut longer

    const reads = cellReads(getItems);
    expect(reads).toHaveLength(3);
    for (const read of reads) expect(read.ConsistentRead).toBe(true);
    expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
  });
});
