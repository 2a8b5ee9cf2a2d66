import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { COUNTER_PARTITION_KEY, COUNTER_SORT_KEY } from '../../common/counter-layout.js';
import {
  EMPTY_COUNTER_PLAN,
  counterPlanOf,
  type CounterPlan,
  type CounterPlanSource,
} from '../../common/counter-plan.js';
import { PipelineError } from '../../common/errors.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { createInProcessUserStateStore } from '../state/in-process-store.js';
import { createRedisUserStateStore } from '../state/redis-store.js';
import { StateAnswers } from '../state/state-answers.js';
import type { StateRequest, UserStateStore } from '../state/types.js';
import { createCounterSink, variantMetricOf } from './counter-sink.js';
import { computeExpectedCounters } from '../test-support/counter-ground-truth.js';
import { readCounters } from '../test-support/read-counters.js';
import { createCountersTable } from '../test-support/counter-delivery.js';
import { toShardRecords } from '../../local/test-support/counter-workload.js';

const SHARD = 'shardId-000000000000';
const FAST_RETRY = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 };
const dynamo: DynamoDBClient = createDynamoClient(testConfig());
const admin = new Redis(inject('redisUrl'), { lazyConnect: true });
const stores: { state: UserStateStore; keyPrefix?: string }[] = [];
afterAll(async () => {
  for (const { state, keyPrefix } of stores) {
    await state.close();
    const keys = keyPrefix ? await admin.keysBuffer(`${keyPrefix}*`) : [];
    if (keys.length > 0) await admin.del(...keys);
  }
  await admin.quit();
  dynamo.destroy();
});

const plan: CounterPlan = counterPlanOf({
  metrics: [
    { key: 'purchase', type: 'mean', lowerIsBetter: false, cap: 10, cuped: true },
    { key: 'click', type: 'binomial', lowerIsBetter: false, cuped: true },
    { key: 'aov', type: 'ratio', lowerIsBetter: false, numerator: 'revenue', denominator: 'orders' },
  ],
});
const planOf = (experimentId: string): CounterPlan => (experimentId === 'checkout' ? plan : EMPTY_COUNTER_PLAN);

/**
 * A state store that records every request it is asked to apply: copies, as every store keeps
 * what it needs (the sink reuses its request objects once the batch is done: UserStateStore.apply).
 */
function recording(real: UserStateStore): UserStateStore & { requests: StateRequest[] } {
  const requests: StateRequest[] = [];
  return {
    ...real,
    requests,
    apply: (shardId, epoch, batch) => {
      requests.push(...batch.map((request) => ({ ...request })));
      return real.apply(shardId, epoch, batch);
    },
  };
}

async function setUp(options: { redis?: boolean; plans?: CounterPlanSource } = {}) {
  const tableName = randomName('counters');
  await createCountersTable(dynamo, tableName);
  const limits = { segmentValueCap: 50, dedupWindowSeconds: 3600 };
  const keyPrefix = `${randomName('test-xc')}:`;
  const real = options.redis
    ? createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix, ...limits })
    : createInProcessUserStateStore(limits);
  stores.push({ state: real, keyPrefix: options.redis ? keyPrefix : undefined });
  const state = recording(real);
  const sink = createCounterSink({
    dynamo,
    tableName,
    state,
    writeConcurrency: 8,
    retryPolicy: FAST_RETRY,
    plans: options.plans ?? { planOf },
  });
  return { tableName, state, sink };
}

let nextEventNumber = 0;
function event(partial: Partial<StreamEvent> & Pick<StreamEvent, 'userId'>): StreamEvent {
  nextEventNumber++;
  return {
    version: 1,
    eventId: `00000000-0000-4000-8000-${String(nextEventNumber).padStart(12, '0')}`,
    experimentId: 'checkout',
    variantId: 'control',
    type: 'conversion',
    metric: 'purchase',
    value: 1,
    timestamp: 1_700_000_000_000,
    receivedAt: 1_700_000_000_000 + nextEventNumber,
    segments: { country: 'US' },
    ...partial,
  };
}

const impression = (userId: string, covariates: Record<string, number>) =>
  event({ userId, type: 'impression', metric: undefined, covariates });

/** The worked example of the README: cap 10, CUPED on purchase and click, ratio revenue/orders. */
const workedExample = (): StreamEvent[] => [
  impression('ann', { purchase: 2, click: 1, unused: 9 }),
  event({ userId: 'ann', value: 4 }),
  event({ userId: 'ann', value: 8 }),
  event({ userId: 'ann', value: 3 }),
  event({ userId: 'ann', metric: 'revenue', value: 10 }),
  event({ userId: 'ann', metric: 'orders', value: 2 }),
  event({ userId: 'ann', metric: 'revenue', value: 5 }),
  // Bob's first event is a conversion: his covariates are fixed (none) before his impression's arrive.
  event({ userId: 'bob', value: 20 }),
  impression('bob', { purchase: 5 }),
  // Another experiment, no plan: base sums only.
  event({ userId: 'ann', experimentId: 'other', value: 12 }),
];

describe('counter sink with a counter plan (dynalite)', () => {
  for (const redis of [false, true]) {
    it(`keeps capped, CUPED and ratio sums exactly once through a re-cut and a full replay (${redis ? 'Redis' : 'in-process'} state)`, async () => {
      const { tableName, sink } = await setUp({ redis });
      const events = workedExample();
      const records = toShardRecords(SHARD, events);
      await sink.writeBatch(SHARD, records.slice(0, 5));
      await sink.writeBatch(SHARD, records.slice(3)); // overlapping re-cut
      await sink.writeBatch(SHARD, records); // full replay
      const table = await readCounters(dynamo, tableName);
      expect(table.get('checkout|control#purchase')).toEqual({
        events: 4,
        units: 2,
        sum: 35,
        sumSquares: 15 * 15 + 20 * 20,
        cappedSum: 10 + 10, // min(15,10) + min(20,10)
        cappedSumSquares: 100 + 100,
        covariateSum: 2, // exposed users: ann 2, bob 0 (fixed at his first event)
        covariateSumSquares: 4,
        covariateCross: 15 * 2,
        cappedCovariateCross: 10 * 2,
        converterCovariateSum: 2, // converting users: ann 2, bob 0
      });
      expect(table.get('checkout|control#click')).toEqual({
        events: 0,
        units: 0,
        sum: 0,
        sumSquares: 0,
        covariateSum: 1,
        covariateSumSquares: 1,
      });
      expect(table.get('checkout|control#$ratio:revenue/orders')).toEqual({
        events: 0,
        units: 0,
        sum: 0,
        sumSquares: 0,
        crossSum: 15 * 2,
      });
      expect(table.get('checkout|seg#country=US#control#$ratio:revenue/orders')).toMatchObject({ crossSum: 30 });
      expect(table.get('other|control#purchase')).toEqual({ events: 1, units: 1, sum: 12, sumSquares: 144 });
      expect(table).toEqual(computeExpectedCounters(events, { segmentValueCap: 50, planOf }));
    });
  }

  it('sends covariates (impressions, CUPED metrics only, scaled, sorted) and ratio partners (conversions) to the state store', async () => {
    const { state, sink } = await setUp();
    const events = [
      impression('ann', { purchase: 2.5, click: 1, unused: 9 }),
      event({ userId: 'ann', metric: 'revenue', value: 10 }),
      event({ userId: 'ann', metric: 'orders', value: 1 }),
      event({ userId: 'ann', value: 4 }),
      event({
        userId: 'ann',
        experimentId: 'other',
        type: 'impression',
        metric: undefined,
        covariates: { purchase: 1 },
      }),
    ];
    await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    expect(state.requests.map((r) => [r.variantMetric, r.covariates, r.partners])).toEqual([
      [
        'control#$exposure',
        [
          ['click', 1_000_000],
          ['purchase', 2_500_000],
        ],
        undefined,
      ],
      ['control#revenue', undefined, ['control#orders']],
      ['control#orders', undefined, ['control#revenue']],
      ['control#purchase', undefined, undefined],
      ['control#$exposure', undefined, undefined],
    ]);
  });

  it('writes a ratio cell with its extra attribute alone: no zero events, units, sum or sum_squares', async () => {
    const { tableName, sink } = await setUp();
    await sink.writeBatch(
      SHARD,
      toShardRecords(SHARD, [
        event({ userId: 'ann', metric: 'orders', value: 3 }),
        event({ userId: 'ann', metric: 'revenue', value: 7 }),
      ]),
    );
    const { Item } = await dynamo.send(
      new GetItemCommand({
        TableName: tableName,
        Key: {
          [COUNTER_PARTITION_KEY]: { S: 'checkout' },
          [COUNTER_SORT_KEY]: { S: 'control#$ratio:revenue/orders' },
        },
        ConsistentRead: true,
      }),
    );
    expect(Object.keys(Item ?? {}).sort()).toEqual([
      'cross_sum',
      'experiment_id',
      'last_event_at',
      'metric_key',
      'variant_metric',
      `wm_${SHARD.replace(/-/g, '_')}`,
    ]);
    expect(Item?.cross_sum).toEqual({ N: '21' });
  });

  it('asks each experiment of a batch for its plan once, before the state step', async () => {
    const asked: string[] = [];
    const { sink } = await setUp({ plans: { planOf: (id) => (asked.push(id), planOf(id)) } });
    const events = [
      event({ userId: 'ann' }),
      event({ userId: 'bob', experimentId: 'other' }),
      event({ userId: 'cat' }),
      event({ userId: 'dan', experimentId: 'other' }),
    ];
    await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    expect(asked).toEqual(['checkout', 'other']);
  });

  for (const failure of ['rejects', 'throws'] as const) {
    it(`fails the batch retriably and counts nothing when the plan source ${failure}; the retry counts once`, async () => {
      let healthy = false;
      const plans: CounterPlanSource = {
        planOf: (id) => {
          if (healthy) return Promise.resolve(planOf(id));
          const error = new Error('definitions API unreachable');
          if (failure === 'throws') throw error;
          return Promise.reject(error);
        },
      };
      const { tableName, state, sink } = await setUp({ plans });
      const events = workedExample();
      const records = toShardRecords(SHARD, events);
      const outcome = sink.writeBatch(SHARD, records);
      await expect(outcome).rejects.toBeInstanceOf(PipelineError);
      await expect(outcome).rejects.toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        retriable: true,
        message: expect.stringContaining('counter plan of experiment checkout unavailable') as unknown,
        cause: { message: 'definitions API unreachable' },
      });
      expect(state.requests).toHaveLength(0); // the state step never ran: nothing claimed, nothing fixed
      expect((await readCounters(dynamo, tableName)).size).toBe(0);
      healthy = true;
      await sink.writeBatch(SHARD, records);
      expect(await readCounters(dynamo, tableName)).toEqual(
        computeExpectedCounters(events, { segmentValueCap: 50, planOf }),
      );
    });
  }

  it('passes a retriable PipelineError of the plan source through unchanged', async () => {
    const unavailable = new PipelineError('DEPENDENCY_UNAVAILABLE', 'query API answered 503');
    const { sink } = await setUp({ plans: { planOf: () => Promise.reject(unavailable) } });
    await expect(sink.writeBatch(SHARD, toShardRecords(SHARD, [event({ userId: 'ann' })]))).rejects.toBe(unavailable);
  });

  it('wraps a non-retriable PipelineError of the plan source as a retriable DEPENDENCY_UNAVAILABLE with it as the cause', async () => {
    const refused = new PipelineError('SINK_REJECTED', 'query API answered 400');
    const { sink } = await setUp({ plans: { planOf: () => Promise.reject(refused) } });
    await expect(sink.writeBatch(SHARD, toShardRecords(SHARD, [event({ userId: 'ann' })]))).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
      retriable: true,
      cause: refused,
    });
  });

  it('counts a conversion of a metric the plan does not name with base sums only (no partners asked)', async () => {
    const { tableName, state, sink } = await setUp();
    const events = [event({ userId: 'ann', metric: 'signup', value: 1 })];
    await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    expect(state.requests.map((r) => [r.variantMetric, r.covariates, r.partners])).toEqual([
      ['control#signup', undefined, undefined],
    ]);
    expect((await readCounters(dynamo, tableName)).get('checkout|control#signup')).toEqual({
      events: 1,
      units: 1,
      sum: 1,
      sumSquares: 1,
    });
  });

  it('fails the batch with INTERNAL when the state store answers fewer partner totals than the request named', async () => {
    const real = createInProcessUserStateStore();
    stores.push({ state: real });
    const short: UserStateStore = {
      ...real,
      apply: async (shardId, epoch, batch) =>
        StateAnswers.of(
          (await real.apply(shardId, epoch, batch))
            .outcomes()
            .map((outcome) => (outcome.kind === 'applied' ? { ...outcome, partnerTotals: [] } : outcome)),
        ),
    };
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const sink = createCounterSink({ dynamo, tableName, state: short, writeConcurrency: 2, plans: { planOf } });
    await expect(
      sink.writeBatch(SHARD, toShardRecords(SHARD, [event({ userId: 'ann', metric: 'revenue', value: 3 })])),
    ).rejects.toMatchObject({ code: 'INTERNAL', message: 'state store answered 0 of 1 partner totals' });
    expect((await readCounters(dynamo, tableName)).size).toBe(0);
  });

  it('without a plan source, counts base sums only (EMPTY_COUNTER_PLAN for every experiment)', async () => {
    const tableName = randomName('counters');
    await createCountersTable(dynamo, tableName);
    const state = recording(createInProcessUserStateStore());
    stores.push({ state });
    const sink = createCounterSink({ dynamo, tableName, state, writeConcurrency: 4, retryPolicy: FAST_RETRY });
    const events = workedExample();
    await sink.writeBatch(SHARD, toShardRecords(SHARD, events));
    expect(state.requests.every((r) => r.covariates === undefined && r.partners === undefined)).toBe(true);
    expect(await readCounters(dynamo, tableName)).toEqual(computeExpectedCounters(events, { segmentValueCap: 50 }));
  });
});

describe('variantMetricOf', () => {
  it('joins variant and metric key with # and answers the same string object for the same pair', () => {
    const first = variantMetricOf('control', 'purchase');
    expect(first).toBe('control#purchase');
    expect(variantMetricOf('control', 'purchase')).toBe(first);
    expect(variantMetricOf('control', 'click')).toBe('control#click');
    expect(variantMetricOf('treatment', 'purchase')).toBe('treatment#purchase');
  });

  it('stays bounded: past 100,000 pairs it starts over and still joins correctly', () => {
    for (let i = 0; i < 100_001; i++) expect(variantMetricOf(`v${i}`, 'm')).toBe(`v${i}#m`);
    expect(variantMetricOf('v0', 'm')).toBe('v0#m');
  });
});
