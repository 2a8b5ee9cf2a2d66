import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomName } from '../../local/test-support.js';
import { recordPosition } from '../sequence-number.js';
import { assertNoEviction, createRedisUserStateStore } from './redis-store.js';
import { describeUserStateStoreContract } from './store-contract.js';
import type { UserStateStore } from './types.js';
import { startPrivateRedis, type PrivateRedis } from './test-support/private-redis.js';

const admin = new Redis(inject('redisUrl'), { lazyConnect: true });
afterAll(() => admin.quit());

/** Deletes every key under a test's random prefix (bounded SCAN). */
async function deletePrefix(prefix: string): Promise<void> {
  let cursor = '0';
  for (let round = 0; round < 10_000; round++) {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
    if (cursor === '0') return;
  }
}

describeUserStateStoreContract(
  'Redis store',
  ({ cap, dedupWindowSeconds = 60, userTotalLimit }) => {
    const keyPrefix = `${randomName('test-xc')}:`;
    const store = createRedisUserStateStore({
      redisUrl: inject('redisUrl'),
      keyPrefix,
      segmentValueCap: cap,
      dedupWindowSeconds,
      ...(userTotalLimit === undefined ? {} : { userTotalLimit }),
    });
    return Promise.resolve({
      store,
      // Claims expire by Redis TTL: real time has to pass (the suite waits at most ~2.5 s).
      advanceSeconds: (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000)),
      // What a FLUSHALL, a restart without persistence or a failover to an empty replica leaves behind.
      loseData: () => deletePrefix(keyPrefix),
      cleanUp: async () => {
        await store.close();
        await deletePrefix(keyPrefix);
      },
    });
  },
  { canLoseData: true },
);

describe('Redis store in cluster mode (its own one-node redis-server cluster, like a one-shard MemoryDB)', () => {
  let server: PrivateRedis | undefined;
  const stores: UserStateStore[] = [];
  afterAll(async () => {
    for (const store of stores) await store.close();
    await server?.stop();
  });
  describeUserStateStoreContract(
    'Redis cluster store',
    async ({ cap, dedupWindowSeconds = 60, userTotalLimit }) => {
      server ??= await startPrivateRedis([], true);
      const running = server;
      const keyPrefix = `xc:{${randomName('t')}}:`;
      const store = createRedisUserStateStore({
        redisUrl: running.url,
        cluster: true,
        keyPrefix,
        segmentValueCap: cap,
        dedupWindowSeconds,
        ...(userTotalLimit === undefined ? {} : { userTotalLimit }),
      });
      stores.push(store);
      return {
        store,
        advanceSeconds: (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000)),
        loseData: async () => {
          await running.restartEmpty();
        },
        cleanUp: () => Promise.resolve(),
      };
    },
    { canLoseData: true },
  );

  it('refuses a key prefix without a hash tag in cluster mode', () => {
    expect(() =>
      createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1', cluster: true, keyPrefix: 'xc:table:' }),
    ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

const request = {
  eventId: '00000000-0000-4000-8000-000000000001',
  position: recordPosition('1', 0),
  experimentId: 'exp',
  userId: 'ann',
  variantMetric: 'v#m',
  segments: [['country', 'US']] as const,
  scaledValue: 1n,
};

it('Redis store: claims expire after the de-dup window; user state, admissions and the epoch never expire', async () => {
  const keyPrefix = `${randomName('test-xc')}:`;
  const store = createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix, dedupWindowSeconds: 120 });
  try {
    await store.apply('shardId-000000000000', await store.epoch(), [request]);
    const ttlOf = async (suffix: string | Buffer) =>
      store.redis.ttl(typeof suffix === 'string' ? `${keyPrefix}${suffix}` : suffix);
    const claimKey = Buffer.concat([
      Buffer.from(`${keyPrefix}c:`),
      Buffer.from(request.eventId.replace(/-/g, ''), 'hex'),
    ]);
    const claimTtl = await ttlOf(claimKey);
    expect(claimTtl).toBeGreaterThan(110);
    expect(claimTtl).toBeLessThanOrEqual(120);
    expect(await ttlOf('u:exp\u001fann')).toBe(-1); // exists, no TTL
    expect(await ttlOf('a:exp\u001fcountry')).toBe(-1);
    expect(await ttlOf('epoch')).toBe(-1);
  } finally {
    await store.close();
    await deletePrefix(keyPrefix);
  }
});

describe('Redis store against its own redis-server', () => {
  let server: PrivateRedis;
  beforeAll(async () => {
    server = await startPrivateRedis();
  });
  afterAll(() => server.stop());

  it('reloads its scripts after SCRIPT FLUSH and answers a replay the same way', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'flush:' });
    try {
      const epoch = await store.epoch();
      const first = await store.apply('shardId-000000000000', epoch, [request]);
      await store.redis.script('FLUSH');
      const replay = await store.apply('shardId-000000000000', epoch, [request]);
      expect(replay).toEqual([{ ...first[0], replay: true }]);
    } finally {
      await store.close();
    }
  });

  it('a restart without persistence is STATE_LOST, never a fresh start', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'restart:' });
    try {
      const epoch = await store.epoch();
      await store.apply('shardId-000000000000', epoch, [request]);
      await server.restartEmpty();
      await expect(store.apply('shardId-000000000000', epoch, [request])).rejects.toMatchObject({
        code: 'STATE_LOST',
      });
      expect(await store.epoch()).not.toBe(epoch);
    } finally {
      await store.close();
    }
  });
});

it('Redis store: will not start on a Redis that may evict (its own redis-server with volatile-lru)', async () => {
  const evicting = await startPrivateRedis(['--maxmemory-policy', 'volatile-lru']);
  const store = createRedisUserStateStore({ redisUrl: evicting.url });
  try {
    await expect(store.epoch()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: /volatile-lru/ });
  } finally {
    await store.close();
    await evicting.stop();
  }
});

it('Redis store: refuses a Redis that may evict keys, naming the policy', () => {
  expect(() => assertNoEviction('# Memory\r\nmaxmemory_policy:volatile-lru\r\n')).toThrow(/volatile-lru.*noeviction/);
  expect(() => assertNoEviction('# Memory\r\nmaxmemory_policy:allkeys-lru\r\n')).toThrow(
    expect.objectContaining({ code: 'CONFIG_INVALID' }),
  );
  expect(() => assertNoEviction('# Memory\r\nmaxmemory_policy:noeviction\r\n')).not.toThrow();
});

it('Redis store: reports an unreachable Redis as a retriable DEPENDENCY_UNAVAILABLE', async () => {
  // Port 1 on loopback: nothing listens there, so every connection attempt is refused.
  const store = createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1', keyPrefix: `${randomName('test-xc')}:` });
  try {
    await expect(store.readCommitted('shardId-000000000000')).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
      retriable: true,
    });
  } finally {
    await store.close();
  }
});
