/**
 * Merged cell writes on dynalite: the cells two shards' batches share are written with one
 * UpdateItem each, exactly; a part the cell already holds, a part DynamoDB refuses, and a
 * failing DynamoDB each take the path the protocol prescribes. Faults are injected by wrapping
 * the real item client.
 */
import { GetItemCommand, type DynamoDBClient, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import {
  COUNTER_ATTRIBUTES,
  COUNTER_PARTITION_KEY,
  COUNTER_SORT_KEY,
  watermarkAttribute,
} from '../../common/counter-layout.js';
import { sdkItemClient, type DynamoItemClient } from '../../common/dynamo-item-client.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { recordPosition } from '../sequence-number.js';
import { writeCellDeltas, writeShardCells } from './merged-cell-writes.js';
import { contributionCell, oneEventContribution, type ContributionCell } from './test-support/contribution-cells.js';
import { readCounters } from '../test-support/read-counters.js';
import { createCountersTable } from '../test-support/counter-delivery.js';
import { newSquareTotal } from './exact-value.js';

const A = 'shardId-000000000000';
const B = 'shardId-000000000001';
const FAST_RETRY = { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 };
const dynamo: DynamoDBClient = createDynamoClient(testConfig());
afterAll(() => dynamo.destroy());

async function freshTable(): Promise<string> {
  const tableName = randomName('merged');
  await createCountersTable(dynamo, tableName);
  return tableName;
}

/** The item client, counting UpdateItems and failing those `refuse` picks with the error it returns. */
function itemsWith(refuse: (input: UpdateItemCommandInput) => Error | undefined = () => undefined) {
  const real = sdkItemClient(dynamo);
  const seen = { updates: 0, conditions: [] as string[] };
  const items: DynamoItemClient = {
    updateItem: (input) => {
      seen.updates++;
      seen.conditions.push(input.ConditionExpression ?? '');
      const error = refuse(input);
      return error ? Promise.reject(error) : real.updateItem(input);
    },
    getItem: (input) => real.getItem(input),
    close: () => undefined,
  };
  return { items, seen };
}

/** A fresh table and experiment, and the writer's deps over the recording item client (refusing what `refuse` says). */
async function setUp(writeConcurrency: number, refuse?: (input: UpdateItemCommandInput) => Error | undefined) {
  const tableName = await freshTable();
  const { items, seen } = itemsWith(refuse);
  const deps = { dynamo, items, tableName, writeConcurrency, retryPolicy: FAST_RETRY };
  return { tableName, experimentId: randomName('e'), seen, deps };
}

const awsError = (name: string, status: number) =>
  Object.assign(new Error(`injected ${name}`), { name, $metadata: { httpStatusCode: status } });

/** Refuses (for good) every UpdateItem that names `shardId`'s watermark: a stand-in for a request DynamoDB rejects. */
const refusing =
  (shardId: string) =>
  (input: UpdateItemCommandInput): Error | undefined =>
    Object.values(input.ExpressionAttributeNames ?? {}).includes(watermarkAttribute(shardId))
      ? awsError('ValidationException', 400)
      : undefined;

/** Cells of `experimentId` fed by records `sequences` of one shard (one first event of value 1 each). */
const cellsOf = (experimentId: string, sortKeys: string[], sequences: number[]): ContributionCell[] =>
  sortKeys.map((sortKey) => ({ experimentId, sortKey, contributions: sequences.map(oneEventContribution) }));

async function watermarksOf(tableName: string, experimentId: string, sortKey: string) {
  const { Item } = await dynamo.send(
    new GetItemCommand({
      TableName: tableName,
      Key: { [COUNTER_PARTITION_KEY]: { S: experimentId }, [COUNTER_SORT_KEY]: { S: sortKey } },
      ConsistentRead: true,
    }),
  );
  return { a: Item?.[watermarkAttribute(A)]?.S, b: Item?.[watermarkAttribute(B)]?.S };
}

const position = (sequence: number) => recordPosition(`4959${String(sequence).padStart(52, '0')}`, 0);

describe('writeShardCells on dynalite (merged cell writes)', () => {
  it('writes each cell two batches share with one UpdateItem holding both parts, and a cell of one batch alone', async () => {
    const { tableName, experimentId, seen, deps } = await setUp(2);
    const settled = await writeShardCells(deps, [
      { shardId: A, cells: cellsOf(experimentId, ['control#m', 'control#n'], [1, 2]).map(contributionCell) },
      { shardId: B, cells: cellsOf(experimentId, ['control#m', 'treatment#m'], [5, 6, 7]).map(contributionCell) },
    ]);
    // Three cells, three requests: the shared one counts for the first batch that carries it.
    expect(settled).toEqual([
      { status: 'fulfilled', value: { requests: 2 } },
      { status: 'fulfilled', value: { requests: 1 } },
    ]);
    expect(seen.updates).toBe(3);
    const counters = await readCounters(dynamo, tableName);
    expect(counters.get(`${experimentId}|control#m`)).toMatchObject({ events: 5, units: 5, sum: 5 });
    expect(counters.get(`${experimentId}|control#n`)).toMatchObject({ events: 2 });
    expect(counters.get(`${experimentId}|treatment#m`)).toMatchObject({ events: 3 });
    expect(await watermarksOf(tableName, experimentId, 'control#m')).toEqual({ a: position(2), b: position(7) });
  });

  it('writes the parts apart when the cell already holds part of one batch: that shard adds only what it lacks', async () => {
    const { tableName, experimentId, seen, deps } = await setUp(1);
    // Shard A's records 1–2 were written before a crash; its batch is delivered again, re-cut to 1–3.
    await writeCellDeltas(deps, A, cellsOf(experimentId, ['control#m'], [1, 2]).map(contributionCell));
    seen.updates = 0;
    seen.conditions.length = 0;
    const settled = await writeShardCells(deps, [
      { shardId: A, cells: cellsOf(experimentId, ['control#m'], [1, 2, 3]).map(contributionCell) },
      { shardId: B, cells: cellsOf(experimentId, ['control#m'], [8]).map(contributionCell) },
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled']);
    // The merged write (refused by A's condition), then A's own write (refused), its watermark read and re-apply, then B's.
    expect(seen.updates).toBe(4);
    expect(seen.conditions[0]).toContain(' AND ');
    expect((await readCounters(dynamo, tableName)).get(`${experimentId}|control#m`)).toMatchObject({ events: 4 });
    expect(await watermarksOf(tableName, experimentId, 'control#m')).toEqual({ a: position(3), b: position(8) });
  });

  it('fails only the batch whose part DynamoDB refuses for good; the other batch is written', async () => {
    const { tableName, experimentId, deps } = await setUp(1, refusing(B));
    const settled = await writeShardCells(deps, [
      { shardId: A, cells: cellsOf(experimentId, ['control#m'], [1]).map(contributionCell) },
      { shardId: B, cells: cellsOf(experimentId, ['control#m'], [4]).map(contributionCell) },
    ]);
    expect(settled[0]).toEqual({ status: 'fulfilled', value: { requests: 2 } });
    expect(settled[1]).toMatchObject({
      status: 'rejected',
      reason: { code: 'SINK_REJECTED', message: 'counter update: ValidationException' },
    });
    expect((await readCounters(dynamo, tableName)).get(`${experimentId}|control#m`)).toMatchObject({ events: 1 });
    expect(await watermarksOf(tableName, experimentId, 'control#m')).toEqual({ a: position(1), b: undefined });
  });

  it('fails every batch of a merged write that stays throttled (retriably), and writes nothing of it', async () => {
    const { tableName, experimentId, seen, deps } = await setUp(1, (input) =>
      input.ConditionExpression?.includes(' AND ') ? awsError('ThrottlingException', 400) : undefined,
    );
    const settled = await writeShardCells(deps, [
      { shardId: A, cells: cellsOf(experimentId, ['control#m'], [1]).map(contributionCell) },
      { shardId: B, cells: cellsOf(experimentId, ['control#m'], [4]).map(contributionCell) },
    ]);
    for (const outcome of settled) {
      expect(outcome).toMatchObject({
        status: 'rejected',
        reason: { code: 'SINK_THROTTLED', retriable: true },
      });
    }
    expect(seen.updates).toBe(FAST_RETRY.maxAttempts); // the merged write and its retry, no write apart
    expect((await readCounters(dynamo, tableName)).get(`${experimentId}|control#m`)).toBeUndefined();
  });

  it('skips the cells of a batch that already failed, and still writes the other batch’s', async () => {
    const { tableName, experimentId, seen, deps } = await setUp(1, refusing(B));
    const settled = await writeShardCells(deps, [
      { shardId: B, cells: cellsOf(experimentId, ['b#1', 'b#2', 'b#3'], [4]).map(contributionCell) },
      { shardId: A, cells: cellsOf(experimentId, ['a#1'], [1]).map(contributionCell) },
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(['rejected', 'fulfilled']);
    // B's first cell failed (its write apart is refused too); its other two cells were not tried.
    expect(seen.updates).toBe(2);
    expect([...(await readCounters(dynamo, tableName)).keys()]).toEqual([`${experimentId}|a#1`]);
  });
});

describe('writeShardCells: cells that are not plain', () => {
  it('leaves out a cell without a delta, also where another batch shares it', async () => {
    const { tableName, experimentId, seen, deps } = await setUp(1);
    const empty = contributionCell({ experimentId, sortKey: 'control#m', contributions: [] });
    const settled = await writeShardCells(deps, [
      { shardId: A, cells: [empty] },
      { shardId: B, cells: cellsOf(experimentId, ['control#m'], [3]).map(contributionCell) },
    ]);
    expect(settled).toEqual([
      { status: 'fulfilled', value: { requests: 0 } },
      { status: 'fulfilled', value: { requests: 1 } },
    ]);
    expect(seen.conditions).toEqual(['attribute_not_exists(#wm) OR #wm < :first']);
    expect(await watermarksOf(tableName, experimentId, 'control#m')).toEqual({ a: undefined, b: position(3) });
  });

  it('sets last_event_at to the latest event of the parts, whichever batch holds it', async () => {
    const tableName = await freshTable();
    const experimentId = randomName('e');
    const deps = { dynamo, tableName, writeConcurrency: 1, retryPolicy: FAST_RETRY };
    await writeShardCells(deps, [
      { shardId: A, cells: cellsOf(experimentId, ['control#m'], [9]).map(contributionCell) },
      { shardId: B, cells: cellsOf(experimentId, ['control#m'], [2]).map(contributionCell) },
      { shardId: 'shardId-000000000002', cells: cellsOf(experimentId, ['control#m'], [4]).map(contributionCell) },
    ]);
    const { Item } = await dynamo.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { [COUNTER_PARTITION_KEY]: { S: experimentId }, [COUNTER_SORT_KEY]: { S: 'control#m' } },
        ConsistentRead: true,
      }),
    );
    expect(Item?.[COUNTER_ATTRIBUTES.lastEventAt]).toEqual({ N: String(oneEventContribution(9).receivedAt) });
  });

  it('moves both watermarks and adds nothing when the parts’ sums cancel out', async () => {
    const { tableName, experimentId, seen, deps } = await setUp(1);
    // A ratio cell fed by extra sums alone: +5 on one shard, −5 on the other (both ≠ 0, their sum 0).
    const crossOnly = (sequence: number, crossSum: bigint): ContributionCell => ({
      experimentId,
      sortKey: 'control#$ratio:a/b',
      contributions: [
        {
          ...oneEventContribution(sequence),
          events: 0,
          units: 0,
          sum: 0,
          sumSquares: newSquareTotal(),
          extra: { crossSum },
        },
      ],
    });
    const settled = await writeShardCells(deps, [
      { shardId: A, cells: [contributionCell(crossOnly(1, 5n))] },
      { shardId: B, cells: [contributionCell(crossOnly(2, -5n))] },
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(seen.updates).toBe(1);
    expect(await watermarksOf(tableName, experimentId, 'control#$ratio:a/b')).toEqual({
      a: position(1),
      b: position(2),
    });
  });

  it('reports the first error of a batch whose cells fail one after another', async () => {
    const { experimentId, deps } = await setUp(2, (input) =>
      input.Key?.[COUNTER_SORT_KEY]?.S === 'b#1'
        ? awsError('ValidationException', 400)
        : input.Key?.[COUNTER_SORT_KEY]?.S === 'b#2'
          ? awsError('ResourceNotFoundException', 400)
          : undefined,
    );
    const [settled] = await writeShardCells(deps, [
      { shardId: B, cells: cellsOf(experimentId, ['b#1', 'b#2'], [4]).map(contributionCell) },
    ]);
    expect(settled).toMatchObject({
      status: 'rejected',
      reason: { code: 'SINK_REJECTED', message: 'counter update: ValidationException' },
    });
  });

  it('writes two batches of one shard in one group apart, each merged with the other shard at most once', async () => {
    const { tableName, experimentId, seen, deps } = await setUp(1);
    // Never with one batch in hand per shard, but not assumed: A's records 1–2, B's 9, then A's 3.
    const settled = await writeShardCells(deps, [
      { shardId: A, cells: cellsOf(experimentId, ['control#m'], [1, 2]).map(contributionCell) },
      { shardId: B, cells: cellsOf(experimentId, ['control#m'], [9]).map(contributionCell) },
      {
        shardId: A,
        cells: [contributionCell({ experimentId, sortKey: 'control#m', contributions: [oneEventContribution(3)] })],
      },
    ]);
    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    // A's first batch merged with B's, then A's second alone: two writes, no refusal.
    expect(seen.conditions).toHaveLength(2);
    expect(seen.conditions[0]).toContain(' AND ');
    expect((await readCounters(dynamo, tableName)).get(`${experimentId}|control#m`)).toMatchObject({ events: 4 });
    expect(await watermarksOf(tableName, experimentId, 'control#m')).toEqual({ a: position(3), b: position(9) });
  });
});

describe('writeShardCells: any mix of what the cells already hold (fast-check, dynalite)', () => {
  it('leaves every cell holding each shard’s records exactly once', async () => {
    const tableName = await freshTable();
    const shards = [A, B, 'shardId-000000000002'];
    const deps = { dynamo, tableName, writeConcurrency: 3, retryPolicy: FAST_RETRY };
    await fc.assert(
      fc.asyncProperty(
        // Per cell and shard: the batch's records (1..n, none when 0) and how many of them a crashed
        // delivery already wrote to the cell (alone, before this group).
        fc.array(fc.array(fc.record({ records: fc.nat(4), held: fc.nat(4) }), { minLength: 3, maxLength: 3 }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (cellPlans) => {
          const experimentId = randomName('e');
          const sortKeys = cellPlans.map((_, index) => `control#m${index}`);
          const range = (count: number) => Array.from({ length: count }, (_, index) => index + 1);
          for (const [cellIndex, plan] of cellPlans.entries()) {
            for (const [shardIndex, { records, held }] of plan.entries()) {
              const before = Math.min(held, records);
              if (before === 0) continue;
              const sortKey = sortKeys[cellIndex] as string;
              await writeCellDeltas(deps, shards[shardIndex] as string, [
                contributionCell({ experimentId, sortKey, contributions: range(before).map(oneEventContribution) }),
              ]);
            }
          }
          const batches = shards.map((shardId, shardIndex) => ({
            shardId,
            cells: cellPlans.flatMap((plan, cellIndex) => {
              const records = plan[shardIndex]?.records ?? 0;
              if (records === 0) return [];
              const sortKey = sortKeys[cellIndex] as string;
              return [
                contributionCell({ experimentId, sortKey, contributions: range(records).map(oneEventContribution) }),
              ];
            }),
          }));
          const settled = await writeShardCells(deps, batches);
          expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
          const counters = await readCounters(dynamo, tableName);
          cellPlans.forEach((plan, cellIndex) => {
            const events = plan.reduce((sum, { records }) => sum + records, 0);
            const cell = counters.get(`${experimentId}|${sortKeys[cellIndex] as string}`);
            if (events === 0) expect(cell).toBeUndefined();
            else expect(cell).toMatchObject({ events, units: events, sum: events });
          });
        },
      ),
      { numRuns: 15 },
    );
  }, 60_000);
});
