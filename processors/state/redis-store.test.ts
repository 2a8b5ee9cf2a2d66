import { Redis } from 'ioredis';
import { afterAll, expect, inject, it } from 'vitest';
import { randomName } from '../../local/test-support.js';
import { recordPosition } from '../sequence-number.js';
import { createRedisUserStateStore } from './redis-store.js';
import { describeUserStateStoreContract } from './store-contract.js';

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

describeUserStateStoreContract('Redis store', (cap) => {
  const keyPrefix = `${randomName('test-xc')}:`;
  const store = createRedisUserStateStore({
    redisUrl: inject('redisUrl'),
    keyPrefix,
    segmentValueCap: cap,
    dedupWindowSeconds: 60,
  });
  return Promise.resolve({
    store,
    cleanUp: async () => {
      await store.close();
      await deletePrefix(keyPrefix);
    },
  });
});

it('Redis store: puts TTLs on claims and user state, and reloads its scripts after SCRIPT FLUSH', async () => {
  const keyPrefix = `${randomName('test-xc')}:`;
  const store = createRedisUserStateStore({
    redisUrl: inject('redisUrl'),
    keyPrefix,
    dedupWindowSeconds: 120,
    userStateTtlSeconds: 3600,
  });
  try {
    const request = {
      eventId: '00000000-0000-4000-8000-000000000001',
      position: recordPosition('1', 0),
      experimentId: 'exp',
      userId: 'ann',
      variantMetric: 'v#m',
      segments: [['country', 'US']] as const,
      scaledValue: 1n,
    };
    await store.apply('shardId-000000000000', undefined, [request]);
    const keys = await store.redis.keysBuffer(`${keyPrefix}*`);
    expect(keys).toHaveLength(3); // claim, user, admission set
    const ttls = await Promise.all(keys.map((key) => store.redis.ttl(key)));
    expect(ttls.every((ttl) => ttl > 0 && ttl <= 3600)).toBe(true);
    await store.redis.script('FLUSH');
    const replay = await store.apply('shardId-000000000000', undefined, [request]);
    expect(replay).toMatchObject([{ kind: 'applied', replay: true, totalBefore: undefined }]);
  } finally {
    await store.close();
    await deletePrefix(keyPrefix);
  }
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
