import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { EMPTY_COUNTER_PLAN, type CounterPlan, type CounterPlanSource } from '../../common/counter-plan.js';
import type { StreamEvent } from '../../common/event-contract.js';
import { randomName, testConfig } from '../../local/test-support/test-config.js';
import { createInProcessUserStateStore } from '../state/in-process-store.js';
import { createRedisUserStateStore } from '../state/redis-store.js';
import type { UserStateStore } from '../state/types.js';
import type { CounterSink } from '../types.js';
import { createCounterSink } from './counter-sink.js';
import { computeExpectedCounters, type CounterTable } from '../test-support/counter-ground-truth.js';
import { readCounters } from '../test-support/read-counters.js';
import { createCountersTable, deliverWithRecuts, injectFaults } from '../test-support/counter-delivery.js';
import {
  STATISTICS_WORKLOAD,
  generateWorkload,
  seededRandom,
  statisticsTestPlan,
  toShardRecords,
} from '../../local/test-support/counter-workload.js';

const dynamo = createDynamoClient(testConfig());
const admin = new Redis(inject('redisUrl'), { lazyConnect: true });
const keyPrefixes: string[] = [];

afterAll(async () => {
  for (const prefix of keyPrefixes) {
    const keys = await admin.keysBuffer(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  }
  await admin.quit();
  dynamo.destroy();
});

const onlyExperiments = (table: CounterTable, prefix: string): CounterTable =>
  new Map([...table].filter(([key]) => key.startsWith(prefix)));

/** Users map to shards by name, as a userId partition key would. */
const shardOfUser = (userId: string, shards: number): string =>
  `shardId-${String(Number(userId.slice(1)) % shards).padStart(12, '0')}`;

async function runScenario(input: {
  workloadSeed: number;
  deliverySeed: number;
  shards: number;
  cap: number;
  crashRate: number;
  redis: boolean;
  /**
   * One sink per shard, or one sink reading every shard (as the processors run it): the shards'
   * batches then meet in the sink and write the cells they share together (merged-cell-writes.ts).
   */
  sinks: 'per shard' | 'shared';
  /** How the plan source answers: from its cache (sync) or with a promise (a fetch). */
  plans: 'sync' | 'async';
}): Promise<void> {
  const experimentPrefix = randomName('p');
  const events: StreamEvent[] = generateWorkload({
    seed: input.workloadSeed,
    events: 120,
    users: 25,
    countries: 6,
    duplicateRate: 0.1,
    experimentPrefix,
    metrics: STATISTICS_WORKLOAD.metrics,
    covariateKeys: STATISTICS_WORKLOAD.covariateKeys,
  });
  // Experiment 0 keeps every extra sum (a cap, CUPED metrics, two ratios); experiment 1 none.
  const plan = statisticsTestPlan();
  const planOf = (experimentId: string): CounterPlan =>
    experimentId === `${experimentPrefix}-0` ? plan : EMPTY_COUNTER_PLAN;
  const plans: CounterPlanSource = {
    planOf: input.plans === 'sync' ? planOf : (experimentId) => Promise.resolve(planOf(experimentId)),
  };
  // One counters table per state store: a table is bound to the state it was counted with (its epoch).
  const tableName = randomName('counters');
  await createCountersTable(dynamo, tableName);
  const keyPrefix = `${randomName('test-xc')}:`;
  keyPrefixes.push(keyPrefix);
  const state: UserStateStore = input.redis
    ? createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix, segmentValueCap: input.cap })
    : createInProcessUserStateStore({ segmentValueCap: input.cap });
  const random = seededRandom(input.deliverySeed);
  try {
    const shards = Array.from({ length: input.shards }, (_, i) => `shardId-${String(i).padStart(12, '0')}`);
    const newSink = () => {
      const faulty = injectFaults(dynamo);
      const sink = createCounterSink({
        dynamo: faulty.client,
        tableName,
        state,
        writeConcurrency: 4,
        retryPolicy: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
        plans,
      });
      return { faulty, sink };
    };
    const shared = input.sinks === 'shared' ? newSink() : undefined;
    await Promise.all(
      shards.map((shardId, i) => {
        const { faulty, sink: own } = shared ?? newSink();
        // A shared sink's batches sometimes arrive apart (a cell then holds one shard's part and not the other's).
        const sink: CounterSink =
          shared === undefined
            ? own
            : {
                writeBatch: async (shardId, batch) => {
                  if (random() < 0.5) await new Promise((resolve) => setTimeout(resolve, random() * 3));
                  return own.writeBatch(shardId, batch);
                },
              };
        const ownEvents = events.filter((event) => shardOfUser(event.userId, input.shards) === shardId);
        return deliverWithRecuts(sink, shardId, toShardRecords(shardId, ownEvents, i + 1), {
          random,
          maxBatch: 50,
          maxDeliveries: 500,
          beforeDelivery: () => faulty.failAfter(random() < input.crashRate ? Math.floor(random() * 30) : Infinity),
        });
      }),
    );
  } finally {
    await state.close();
  }
  // Ground truth in stream order per user: a user's events all sit in one shard, in list order.
  const expected = computeExpectedCounters(events, { segmentValueCap: input.cap, planOf });
  // The extra sums are really there to compare (a plan-less sink would leave them all out).
  const extras = [...expected.values()].filter(
    (cell) => cell.crossSum !== undefined || cell.covariateSum !== undefined,
  );
  expect(extras.length).toBeGreaterThan(0);
  expect(onlyExperiments(await readCounters(dynamo, tableName), experimentPrefix)).toEqual(expected);
}

describe('exactly-once counters: any delivery of a workload yields the ground truth', () => {
  it('holds for re-cut, re-delivered, crashed and duplicated deliveries, on one or two shards, with a sink per shard or one for both, capped, CUPED and ratio sums included (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          workloadSeed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          deliverySeed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          twoShards: fc.boolean(),
          smallCap: fc.boolean(),
          crashRate: fc.constantFrom(0, 0.3, 0.7),
          redis: fc.boolean(),
          plans: fc.constantFrom('sync' as const, 'async' as const),
          sinks: fc.constantFrom('per shard' as const, 'shared' as const),
        }),
        async ({ twoShards, smallCap, ...rest }) => {
          // With a small cap, first-come admission is only list order on a single shard.
          const shards = smallCap ? 1 : twoShards ? 2 : 1;
          await runScenario({ ...rest, shards, cap: smallCap ? 3 : 50 });
        },
      ),
      {
        numRuns: 8,
        // Failed once (2026-11-26) while the stores and the sink were being changed side by side: kept as a case.
        examples: [
          [
            {
              workloadSeed: 143906039,
              deliverySeed: 1,
              twoShards: false,
              smallCap: false,
              crashRate: 0.7,
              redis: false,
              plans: 'sync' as const,
              sinks: 'per shard' as const,
            },
          ],
          // Two shards' batches meeting in one sink, crashing often: merged cell writes and their fallbacks.
          [
            {
              workloadSeed: 7,
              deliverySeed: 11,
              twoShards: true,
              smallCap: false,
              crashRate: 0.7,
              redis: false,
              plans: 'sync' as const,
              sinks: 'shared' as const,
            },
          ],
        ],
      },
    );
  }, 240_000);
});
