import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { randomName, waitFor } from '../../local/test-support/test-config.js';
import { createSilentLogger } from '../../common/logger.js';
import { freePort } from '../../local/stand-ins.js';
import { connectQueryApiRedis } from '../start-query-api.js';
import { experimentBody, startTestApi } from '../test-support/test-app.js';
import { createMemoryResultsCache, createRedisResultsCache } from './results-cache.js';

/** A computation that counts its calls and finishes only when released. */
function gatedComputation(value: string) {
  let calls = 0;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  return {
    compute: async () => {
      calls++;
      await gate;
      return value;
    },
    calls: () => calls,
    release: () => release(),
  };
}

describe('Redis results cache (real Redis, random key prefix)', () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'));
    prefix = `${randomName('qa-test')}:`;
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('computes once for concurrent requests across two service instances, then serves hits with a TTL', async () => {
    const instanceA = createRedisResultsCache({ redis, keyPrefix: prefix, ttlSeconds: 30, pollIntervalMs: 5 });
    const instanceB = createRedisResultsCache({ redis, keyPrefix: prefix, ttlSeconds: 30, pollIntervalMs: 5 });
    const work = gatedComputation('{"answer":42}');
    const requests = [
      ...Array.from({ length: 5 }, () => instanceA.getOrCompute('k1', work.compute)),
      ...Array.from({ length: 5 }, () => instanceB.getOrCompute('k1', work.compute)),
    ];
    await waitFor(() => work.calls() === 1, 5_000, 'the first computation to start');
    work.release();
    const outcomes = await Promise.all(requests);
    expect(work.calls()).toBe(1);
    expect(outcomes.every((outcome) => outcome.value === '{"answer":42}')).toBe(true);
    expect(outcomes.filter((outcome) => !outcome.hit)).toHaveLength(1);
    const ttl = await redis.ttl(`${prefix}k1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);
    expect(await redis.exists(`${prefix}k1:lock`)).toBe(0);
    expect(await instanceB.getOrCompute('k1', () => Promise.reject(new Error('must not run')))).toEqual({
      value: '{"answer":42}',
      hit: true,
    });
  });

  it('serves but never stores values over the size cap', async () => {
    const cache = createRedisResultsCache({ redis, keyPrefix: prefix, ttlSeconds: 30, maxValueBytes: 10 });
    const big = 'x'.repeat(11);
    expect(await cache.getOrCompute('big', () => Promise.resolve(big))).toEqual({ value: big, hit: false });
    expect(await redis.exists(`${prefix}big`)).toBe(0);
  });

  it('keeps at most maxItems values (REDIS_CACHE_MAX_SIZE): storing one more deletes the oldest', async () => {
    const bounded = `${randomName('qa-bounded')}:`;
    const cache = createRedisResultsCache({ redis, keyPrefix: bounded, ttlSeconds: 30, maxItems: 3 });
    try {
      for (const key of ['k1', 'k2', 'k3', 'k4', 'k5']) {
        await cache.getOrCompute(key, () => Promise.resolve(`value of ${key}`));
      }
      expect((await redis.keys(`${bounded}k*`)).sort()).toEqual([`${bounded}k3`, `${bounded}k4`, `${bounded}k5`]);
      expect(await redis.zcard(`${bounded}cache-index`)).toBe(3);
      expect(await redis.ttl(`${bounded}cache-index`)).toBeGreaterThan(0);
      expect(await cache.getOrCompute('k5', () => Promise.resolve('recomputed'))).toEqual({
        value: 'value of k5',
        hit: true,
      });
      expect(await cache.getOrCompute('k1', () => Promise.resolve('recomputed'))).toEqual({
        value: 'recomputed',
        hit: false,
      });
      expect(await redis.exists(`${bounded}k3`)).toBe(0);
      expect(await redis.zcard(`${bounded}cache-index`)).toBe(3);
    } finally {
      const keys = await redis.keys(`${bounded}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  });

  it('does not cache failures, releases the lock, and lets the next request retry', async () => {
    const cache = createRedisResultsCache({ redis, keyPrefix: prefix, ttlSeconds: 30 });
    await expect(cache.getOrCompute('fails', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await redis.exists(`${prefix}fails:lock`)).toBe(0);
    expect(await cache.getOrCompute('fails', () => Promise.resolve('ok'))).toEqual({ value: 'ok', hit: false });
  });
});

describe('in-process results cache (no Redis)', () => {
  it('shares one computation among concurrent requests and then hits', async () => {
    const cache = createMemoryResultsCache({ ttlSeconds: 30 });
    const work = gatedComputation('v');
    const requests = Array.from({ length: 10 }, () => cache.getOrCompute('k', work.compute));
    work.release();
    const outcomes = await Promise.all(requests);
    expect(work.calls()).toBe(1);
    expect(outcomes.filter((outcome) => outcome.hit)).toHaveLength(9);
    expect((await cache.getOrCompute('k', work.compute)).hit).toBe(true);
  });

  it('keeps at most maxItems values (REDIS_CACHE_MAX_SIZE), least recently used out first', async () => {
    const cache = createMemoryResultsCache({ ttlSeconds: 30, maxItems: 2 });
    await cache.getOrCompute('a', () => Promise.resolve('a'));
    await cache.getOrCompute('b', () => Promise.resolve('b'));
    await cache.getOrCompute('c', () => Promise.resolve('c'));
    expect(await cache.getOrCompute('c', () => Promise.resolve('again'))).toEqual({ value: 'c', hit: true });
    expect(await cache.getOrCompute('b', () => Promise.resolve('again'))).toEqual({ value: 'b', hit: true });
    expect(await cache.getOrCompute('a', () => Promise.resolve('recomputed'))).toEqual({
      value: 'recomputed',
      hit: false,
    });
  });

  it('is bounded: over-sized values are not kept and the LRU evicts by total bytes', async () => {
    const cache = createMemoryResultsCache({ ttlSeconds: 30, maxValueBytes: 100, maxTotalBytes: 150 });
    await cache.getOrCompute('huge', () => Promise.resolve('x'.repeat(101)));
    expect((await cache.getOrCompute('huge', () => Promise.resolve('again'))).hit).toBe(false);
    await cache.getOrCompute('a', () => Promise.resolve('a'.repeat(100)));
    await cache.getOrCompute('b', () => Promise.resolve('b'.repeat(100)));
    expect((await cache.getOrCompute('a', () => Promise.resolve('recomputed'))).value).toBe('recomputed');
  });
});

describe('REDIS_CACHE_MAX_SIZE through the app (real Redis, random key prefix)', () => {
  it('bounds the Redis cache by the configured count', async () => {
    const redis = new Redis(inject('redisUrl'));
    const prefix = `${randomName('qa-max')}:`;
    const api = await startTestApi({ REDIS_CACHE_MAX_SIZE: '2' }, { redis, redisKeyPrefix: prefix });
    try {
      expect(api.config.redis.cacheMaxItems).toBe(2);
      for (const key of [randomName('max-a'), randomName('max-b'), randomName('max-c')]) {
        await api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(key) });
        expect((await api.app.inject({ url: `/api/v1/experiments/${key}/results` })).statusCode).toBe(200);
      }
      expect(await redis.zcard(`${prefix}cache-index`)).toBe(2);
      expect(await redis.keys(`${prefix}[[]*`)).toHaveLength(2);
    } finally {
      await api.close();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('bounds the in-process fallback (Redis unreachable) by the same count', async () => {
    const deadRedis = connectQueryApiRedis(`redis://127.0.0.1:${await freePort()}`, createSilentLogger());
    const api = await startTestApi({ REDIS_CACHE_MAX_SIZE: '2' }, { redis: deadRedis });
    try {
      const keys = [randomName('fb-a'), randomName('fb-b'), randomName('fb-c')];
      const results = (key: string) => api.app.inject({ url: `/api/v1/experiments/${key}/results` });
      for (const key of keys) {
        await api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(key) });
        expect((await results(key)).headers['x-cache']).toBe('miss');
      }
      expect((await results(keys[2]!)).headers['x-cache']).toBe('hit');
      expect((await results(keys[0]!)).headers['x-cache']).toBe('miss');
    } finally {
      await api.close();
      deadRedis.disconnect();
    }
  });
});
