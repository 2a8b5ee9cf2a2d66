/**
 * `npm run bench -- processors-state`: memory of the counters' per-event state per million
 * users, for the Redis store (INFO used_memory delta) and the in-process store (heap delta
 * after GC), with the state-apply rate, next to a baseline measured in the same run: the
 * least state any de-duplicating consumer needs (one `SET NX` claim per eventId, one set
 * member per user), pipelined the same way.
 *
 * Workload: every user has one impression and one conversion (two metrics, three segment
 * dimensions), so a user holds segments, two running totals, two pending memos and two
 * eventId claims.
 */
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { createInProcessUserStateStore } from '../../processors/state/in-process-store.js';
import { createRedisUserStateStore } from '../../processors/state/redis-store.js';
import type { StateRequest, UserStateStore } from '../../processors/state/types.js';
import { recordPosition } from '../../processors/sequence-number.js';
import { benchEnvironment, type BenchReport, type BenchRow } from '../report.js';
import type { BenchScenario } from '../scenario.js';

const SHARD = 'shardId-000000000000';
const MILLION = 1_000_000;

function uuid(n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `${randomBytes(4).toString('hex')}-0000-4000-8000-${hex}`;
}

/** Two requests per user: an impression and a purchase. */
function requestsForUsers(from: number, to: number, runTag: string): StateRequest[] {
  const requests: StateRequest[] = [];
  for (let user = from; user < to; user++) {
    const segments = [
      ['browser', user % 2 ? 'chrome' : 'safari'],
      ['country', `C${user % 40}`],
      ['device', user % 3 ? 'ios' : 'web'],
    ] as const;
    const base = { experimentId: `bench-${runTag}`, userId: `user-${user}`, segments };
    const sequence = `49590338271490256608559692538361571095921575989136${String(user).padStart(6, '0')}`;
    requests.push(
      {
        ...base,
        eventId: uuid(user * 2),
        position: recordPosition(sequence, 0),
        variantMetric: 'control#$exposure',
        scaledValue: 1_000_000n,
      },
      {
        ...base,
        eventId: uuid(user * 2 + 1),
        position: recordPosition(sequence, 1),
        variantMetric: 'control#purchase',
        scaledValue: 19_990_000n,
      },
    );
  }
  return requests;
}

async function applyAll(
  store: UserStateStore,
  users: number,
  batchUsers: number,
  runTag: string,
  progress: (f: number) => void,
) {
  const started = process.hrtime.bigint();
  const epoch = await store.epoch();
  for (let from = 0; from < users; from += batchUsers) {
    await store.apply(SHARD, epoch, requestsForUsers(from, Math.min(users, from + batchUsers), runTag));
    progress(from / users);
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  for (let round = 0; round < 1_000_000; round++) {
    const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next.toString();
    if (cursor === '0') return;
  }
}

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

async function baselineRedis(redis: Redis, prefix: string, users: number, batchUsers: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let from = 0; from < users; from += batchUsers) {
    const pipeline = redis.pipeline();
    for (let user = from; user < Math.min(users, from + batchUsers); user++) {
      pipeline.set(`${prefix}c:${uuid(user * 2)}`, '1', 'EX', 86_400, 'NX');
      pipeline.set(`${prefix}c:${uuid(user * 2 + 1)}`, '1', 'EX', 86_400, 'NX');
      pipeline.sadd(`${prefix}users`, `user-${user}`);
    }
    await pipeline.exec();
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export const processorsStateScenario: BenchScenario = {
  name: 'processors-state',
  description:
    'Memory of the exactly-once state per million users (Redis and in-process), with a minimal-claims baseline',
  options: [
    { flags: '--users <n>', description: 'users to load (results are scaled to one million)', defaultValue: '100000' },
    {
      flags: '--redis-url <url>',
      description: 'Redis to measure (keys under a random prefix, deleted after)',
      defaultValue: 'redis://127.0.0.1:6379',
    },
    { flags: '--batch-users <n>', description: 'users per state batch (two events each)', defaultValue: '250' },
  ],
  async run({ options, progress, command }) {
    const users = Number(options.users ?? 100_000);
    const batchUsers = Number(options.batchUsers ?? 250);
    const redisUrl = String(options.redisUrl ?? 'redis://127.0.0.1:6379');
    const startedAt = new Date();
    const runTag = randomBytes(4).toString('hex');
    const prefix = `bench-xc-${runTag}:`;
    const redis = new Redis(redisUrl);
    const rows: BenchRow[] = [];
    const perMillion = (bytes: number) => (bytes / users) * MILLION;
    try {
      // Baseline: bare claims and a user set.
      const baselineBefore = await usedMemory(redis);
      const baselineSeconds = await baselineRedis(redis, `${prefix}base:`, users, batchUsers);
      const baselineBytes = (await usedMemory(redis)) - baselineBefore;
      await deletePrefix(redis, `${prefix}base:`);
      rows.push({
        name: 'baseline: SET NX claim per eventId + SADD user (Redis)',
        metrics: {
          'MiB per 1M users': perMillion(baselineBytes) / 2 ** 20,
          'bytes/user': baselineBytes / users,
          'events/s': (2 * users) / baselineSeconds,
        },
      });
      progress(0.2, 'redis store');

      const store = createRedisUserStateStore({ redisUrl, keyPrefix: prefix, segmentValueCap: 50 });
      const before = await usedMemory(redis);
      const seconds = await applyAll(store, users, batchUsers, runTag, (f) => progress(0.2 + f * 0.4, 'redis store'));
      const bytes = (await usedMemory(redis)) - before;
      await store.close();
      await deletePrefix(redis, prefix);
      rows.push({
        name: 'Redis store (claims, segments, totals, memos)',
        metrics: {
          'MiB per 1M users': perMillion(bytes) / 2 ** 20,
          'bytes/user': bytes / users,
          'events/s': (2 * users) / seconds,
        },
      });

      progress(0.6, 'in-process store');
      collectGarbage();
      const heapBefore = process.memoryUsage().heapUsed;
      const local = createInProcessUserStateStore({ segmentValueCap: 50, maxUsers: users * 2, maxClaims: users * 4 });
      const localSeconds = await applyAll(local, users, batchUsers, runTag, (f) =>
        progress(0.6 + f * 0.4, 'in-process store'),
      );
      collectGarbage();
      const heapBytes = process.memoryUsage().heapUsed - heapBefore;
      await local.close();
      rows.push({
        name: 'in-process store (heap)',
        metrics: {
          'MiB per 1M users': perMillion(heapBytes) / 2 ** 20,
          'bytes/user': heapBytes / users,
          'events/s': (2 * users) / localSeconds,
        },
      });
      const ratios = {
        'Redis store memory / baseline': bytes / baselineBytes,
        'Redis store events/s / baseline': seconds > 0 ? baselineSeconds / seconds : 0,
      };
      return {
        scenario: 'processors-state',
        title: `Exactly-once state: memory per million users (${users.toLocaleString('en-US')} users loaded, 2 events each)`,
        command,
        startedAt: startedAt.toISOString(),
        durationMs: Date.now() - startedAt.getTime(),
        environment: benchEnvironment(),
        parameters: {
          users,
          batchUsers,
          redisUrl: redisUrl.replace(/\/\/.*@/, '//***@'),
          loadAverageAtEnd: Number(loadavg()[0]?.toFixed(1)),
        },
        rows,
        ratios,
        targets: [],
        notes: [
          'Redis figures are INFO used_memory deltas (allocator overhead included); in-process is the V8 heap delta after a full GC.',
          "Per user: segments (3 dimensions), two running totals, two pending memos, two eventId claims (dedup window 24 h). Memos of a metric are dropped at the user's next event after the shard commits.",
          'Claims expire after the dedup window, so for users active in the last 24 h only; segments and totals live for the user state TTL (90 days by default).',
        ],
      } satisfies BenchReport;
    } finally {
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
  },
};
