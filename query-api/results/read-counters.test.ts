import { QueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { COUNTER_PARTITION_KEY, EXPOSURE_METRIC, encodeCellKey, type CellKey } from '../../common/counter-layout.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { randomName } from '../../local/test-support/test-config.js';
import { buildBreakdown } from './segment-breakdown.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { aggregateUsers, seededRandom, writeCells, type SimulatedUser } from '../test-support/simulated-counters.js';
import { recordDynamoReads, type DynamoReadRecorder } from '../test-support/dynamo-read-recorder.js';
import { NEVER_CACHE } from '../test-support/never-cache.js';
import { assembleVariants } from './assemble-results.js';
import { buildCellTable, type CellTable } from './cell-table.js';
import { MAX_PARALLEL_READS, decodeCounterItem, type CounterCell } from './read-counters.js';

const LAST_EVENT_AT = Date.parse('2026-11-20T12:00:00.000Z');
const COUNTRIES = ['US', 'DE', 'FR', 'JP'];
const DEVICES = ['mobile', 'desktop'];
/**
 * Declared: control (sorts below `seg#`) and treatment (above `seg$`). Undeclared, still
 * counted by the processors: `sef` just below the segment range, `seg-b` just above it.
 */
const VARIANTS = ['control', 'treatment', 'sef', 'seg-b'];

/** Users of declared and undeclared variants, with declared metrics and an undeclared one (`legacy`). */
function simulateUsers(count: number, seed: number): SimulatedUser[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  return Array.from({ length: count }, () => ({
    variantId: pick(VARIANTS),
    impressions: 1 + Math.floor(random() * 3),
    segments: { country: pick(COUNTRIES), device: pick(DEVICES) },
    conversions: {
      signup: random() < 0.2 ? [1] : [],
      revenue: random() < 0.3 ? [Math.round(random() * 10_000) / 100] : [],
      legacy: random() < 0.1 ? [2] : [],
    },
  }));
}

/** Every item of the experiment's partition: what the API read before it read narrowly. */
async function readWholePartition(api: TestApi, experimentId: string): Promise<CounterCell[]> {
  const cells: CounterCell[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const out = await api.dynamo.send(
      new QueryCommand({
        TableName: api.config.dynamodb.countersTable,
        KeyConditionExpression: '#pk = :id',
        ExpressionAttributeNames: { '#pk': COUNTER_PARTITION_KEY },
        ExpressionAttributeValues: { ':id': { S: experimentId } },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of out.Items ?? []) cells.push(decodeCounterItem(item)!);
    startKey = out.LastEvaluatedKey;
  } while (startKey);
  return cells;
}

const sortKeyOf = (cell: CellKey) => encodeCellKey(cell);
const sorted = (keys: Iterable<string>) => [...keys].sort();
/** Fields that depend on the clock, not on the counters. */
const withoutClock = ({ computedAt: _computedAt, ...rest }: Record<string, unknown>) => rest;

let api: TestApi;
let experimentId: string;
let definition: ExperimentDefinition;
let allCells: CounterCell[];
let fullTable: CellTable;
let recorder: DynamoReadRecorder | undefined;

beforeAll(async () => {
  api = await startTestApi({}, { cache: NEVER_CACHE }); // every request reads the counters
  experimentId = randomName('narrow');
  const created = await api.app.inject({
    method: 'POST',
    url: '/api/v1/experiments',
    payload: experimentBody(experimentId),
  });
  expect(created.statusCode, created.body).toBe(201);
  definition = (await api.app.inject({ url: `/api/v1/experiments/${experimentId}` })).json();
  const cells = aggregateUsers(simulateUsers(1500, 11), LAST_EVENT_AT);
  await writeCells(api.dynamo, api.config.dynamodb.countersTable, experimentId, cells);
  allCells = await readWholePartition(api, experimentId);
  expect(allCells).toHaveLength(cells.length);
  fullTable = buildCellTable(allCells);
});
afterEach(() => {
  recorder?.remove();
  recorder = undefined;
});
afterAll(async () => {
  await api.close();
});

const getJson = async (url: string) => {
  const response = await api.app.inject({ url });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

const totalKeys = () => allCells.filter((cell) => !cell.segment).map(sortKeyOf);
const keysOfDimension = (dimension: string) =>
  allCells.filter((cell) => cell.segment?.dimension === dimension).map(sortKeyOf);

describe('results read only the cells the answer needs (real dynalite)', () => {
  it('a results request reads only the declared total cells, with one BatchGetItem', async () => {
    recorder = recordDynamoReads(api.dynamo);
    const body = await getJson(`/api/v1/experiments/${experimentId}/results?sequential=false`);

    expect(recorder.reads.map((read) => read.command)).toEqual(['BatchGetItemCommand']);
    const declared = ['control', 'treatment'].flatMap((variantId) =>
      [EXPOSURE_METRIC, 'signup', 'revenue'].map((metricKey) => encodeCellKey({ variantId, metricKey })),
    );
    expect(sorted(recorder.sortKeys())).toEqual(sorted(declared));
    // The table holds far more: undeclared variants and metrics, and every segment and pair cell.
    expect(allCells.length).toBeGreaterThan(20 * declared.length);

    // Identical to the results computed from every cell of the experiment.
    const reference = assembleVariants(definition, fullTable.totals, { alpha: 0.05, sequential: false });
    expect(body).toMatchObject(JSON.parse(JSON.stringify(reference)));
    expect(body.lastEventAt).toBe(new Date(LAST_EVENT_AT).toISOString());
  });

  it('a breakdown reads every total cell and only the cells of its dimension', async () => {
    recorder = recordDynamoReads(api.dynamo);
    const url = `/api/v1/experiments/${experimentId}/segments/country?limit=100&correction=holm`;
    const body = await getJson(url);

    expect(recorder.reads.map((read) => read.command)).toEqual(['QueryCommand', 'QueryCommand', 'QueryCommand']);
    const read = recorder.sortKeys();
    expect(sorted(read)).toEqual(sorted([...totalKeys(), ...keysOfDimension('country')]));
    expect(new Set(read).size).toBe(read.length);
    expect(read.some((key) => key.startsWith('seg#device=') || key.startsWith('seg#country+device='))).toBe(false);

    const reference = buildBreakdown(definition, fullTable, {
      dimension: 'country',
      limit: 100,
      correction: 'holm',
      analysis: { alpha: 0.05, sequential: true },
    });
    expect(body).toMatchObject(JSON.parse(JSON.stringify(reference)));
    expect(body.cellsAddUp).toBe(true);
  });

  it('a breakdown with `by` reads every total cell and only the pair cells', async () => {
    recorder = recordDynamoReads(api.dynamo);
    const body = await getJson(`/api/v1/experiments/${experimentId}/segments/device?by=country&limit=100`);

    const read = recorder.sortKeys();
    expect(sorted(read)).toEqual(sorted([...totalKeys(), ...keysOfDimension('country+device')]));
    expect(keysOfDimension('country+device').length).toBeGreaterThan(VARIANTS.length * COUNTRIES.length);
    const reference = buildBreakdown(definition, fullTable, {
      dimension: 'device',
      by: 'country',
      limit: 100,
      correction: 'holm',
      analysis: { alpha: 0.05, sequential: true },
    });
    expect(body).toMatchObject(JSON.parse(JSON.stringify(reference)));
  });

  it('follows Query pages: the same breakdown when every page holds 7 items', async () => {
    const whole = await getJson(`/api/v1/experiments/${experimentId}/segments/country?limit=2`);
    recorder = recordDynamoReads(api.dynamo, { queryPageLimit: 7 });
    const paged = await getJson(`/api/v1/experiments/${experimentId}/segments/country?limit=2`);

    const expectedCells = totalKeys().length + keysOfDimension('country').length;
    expect(recorder.reads.length).toBeGreaterThanOrEqual(Math.ceil(expectedCells / 7));
    expect(sorted(recorder.sortKeys())).toEqual(sorted([...totalKeys(), ...keysOfDimension('country')]));
    expect(withoutClock(paged)).toEqual(withoutClock(whole));
  });

  it('asks again for the keys BatchGetItem leaves unprocessed (fake throttling)', async () => {
    const url = `/api/v1/experiments/${experimentId}/results`;
    const expected = await getJson(url);
    recorder = recordDynamoReads(api.dynamo, { withholdBatchKeys: (call) => (call === 0 ? [1, 4] : []) });
    const body = await getJson(url);

    expect(recorder.reads.map((read) => read.command)).toEqual(['BatchGetItemCommand', 'BatchGetItemCommand']);
    const retry = recorder.reads[1]!.input as {
      RequestItems: Record<string, { Keys: Record<string, AttributeValue>[]; ProjectionExpression?: string }>;
    };
    const request = retry.RequestItems[api.config.dynamodb.countersTable]!;
    expect(request.Keys).toHaveLength(2);
    expect(request.ProjectionExpression).toBeTruthy();
    expect(withoutClock(body)).toEqual(withoutClock(expected));
  });

  it('reads more than 100 declared cells in BatchGetItem chunks, at most MAX_PARALLEL_READS at a time', async () => {
    const id = randomName('wide');
    const variants = Array.from({ length: 20 }, (_, i) => ({ id: `v${String(i).padStart(2, '0')}`, weight: 0.05 }));
    const metrics = Array.from({ length: 50 }, (_, i) => ({ key: `m${i}`, type: 'binomial' }));
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      payload: experimentBody(id, { variants, controlVariantId: 'v00', metrics }),
    });
    expect(created.statusCode, created.body).toBe(201);
    await writeCells(
      api.dynamo,
      api.config.dynamodb.countersTable,
      id,
      variants.flatMap((variant, i) => [
        { variantId: variant.id, metricKey: EXPOSURE_METRIC, events: 100 + i, units: 100 + i, sum: 0, sumSquares: 0 },
        { variantId: variant.id, metricKey: 'm49', events: 10 + i, units: 10 + i, sum: 0, sumSquares: 0 },
      ]),
    );
    recorder = recordDynamoReads(api.dynamo);
    const body = await getJson(`/api/v1/experiments/${id}/results`);

    const requested = recorder.reads.map(
      (read) => Object.values((read.input as { RequestItems: Record<string, { Keys: unknown[] }> }).RequestItems)[0]!,
    );
    // Chunks of at most 100 keys; with reads in flight together the SDK may send them in another order.
    expect(requested.map((request) => request.Keys.length).sort((a, b) => b - a)).toEqual([...Array(10).fill(100), 20]);
    expect(recorder.maxInFlight).toBe(MAX_PARALLEL_READS);
    expect(recorder.sortKeys()).toHaveLength(40);
    body.variants.forEach((variant: { users: number; metrics: Record<string, { users: number }> }, i: number) => {
      expect(variant.users).toBe(100 + i);
      expect(variant.metrics.m49!.users).toBe(10 + i);
      expect(variant.metrics.m0!.users).toBe(0);
    });
  });
});

describe('decodeCounterItem', () => {
  const statistics = {
    events: { N: '12' },
    units: { N: '5' },
    sum: { N: '7.25' },
    sum_squares: { N: '20.5' },
    last_event_at: { N: String(LAST_EVENT_AT) },
  };

  it('decodes a total cell: exactly these fields, in this order, no `segment`', () => {
    const cell = decodeCounterItem({ variant_metric: { S: 'control#revenue' }, ...statistics });
    expect(cell).toStrictEqual({
      variantId: 'control',
      metricKey: 'revenue',
      events: 12,
      units: 5,
      sum: 7.25,
      sumSquares: 20.5,
      lastEventAt: LAST_EVENT_AT,
    });
    expect(Object.keys(cell!)).toEqual([
      'variantId',
      'metricKey',
      'events',
      'units',
      'sum',
      'sumSquares',
      'lastEventAt',
    ]);
  });

  it('decodes segment and pair cells with their segment after the key fields; extras only when the item has them', () => {
    const segment = decodeCounterItem({
      variant_metric: {
        S: encodeCellKey({ variantId: 'v1', metricKey: 'aov', segment: { dimension: 'country', value: 'US' } }),
      },
      ...statistics,
      cross_sum: { N: '3.5' },
    });
    expect(Object.keys(segment!)).toEqual([
      'variantId',
      'metricKey',
      'segment',
      'events',
      'units',
      'sum',
      'sumSquares',
      'lastEventAt',
      'crossSum',
    ]);
    expect(segment).toMatchObject({
      variantId: 'v1',
      metricKey: 'aov',
      segment: { dimension: 'country', value: 'US' },
    });
    expect(segment!.crossSum).toBe(3.5);
    const pair = decodeCounterItem({
      variant_metric: {
        S: encodeCellKey({
          variantId: 'v1',
          metricKey: EXPOSURE_METRIC,
          segment: { dimension: 'country+device', value: 'US+ios' },
        }),
      },
      events: { N: '1' },
    });
    expect(pair).toStrictEqual({
      variantId: 'v1',
      metricKey: EXPOSURE_METRIC,
      segment: { dimension: 'country+device', value: 'US+ios' },
      events: 1,
      units: 0,
      sum: 0,
      sumSquares: 0,
    });
  });

  it('skips items this layout did not write', () => {
    expect(decodeCounterItem({ ...statistics })).toBeUndefined();
    expect(decodeCounterItem({ variant_metric: { S: 'no-separator' }, ...statistics })).toBeUndefined();
  });
});
