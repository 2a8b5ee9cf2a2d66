import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { randomName, waitFor } from '../../local/test-support.js';
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

  it('is bounded: over-sized values are not kept and the LRU evicts by total bytes', async () => {
    const cache = createMemoryResultsCache({ ttlSeconds: 30, maxValueBytes: 100, maxTotalBytes: 150 });
    await cache.getOrCompute('huge', () => Promise.resolve('x'.repeat(101)));
    expect((await cache.getOrCompute('huge', () => Promise.resolve('again'))).hit).toBe(false);
    await cache.getOrCompute('a', () => Promise.resolve('a'.repeat(100)));
    await cache.getOrCompute('b', () => Promise.resolve('b'.repeat(100)));
    expect((await cache.getOrCompute('a', () => Promise.resolve('recomputed'))).value).toBe('recomputed');
  });
});
