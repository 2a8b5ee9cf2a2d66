/**
 * The results cache: serialized responses by key, with one computation per key at a
 * time. In-process, concurrent requests for the same key share one promise; with Redis,
 * instances also coordinate through a short lock key, so a cold key under load costs
 * one DynamoDB read and one statistics pass, not one per request.
 *
 * Bounded: values over `maxValueBytes` are served but never stored, every key has a TTL
 * (values `ttlSeconds`, locks `lockTtlMs`), and at most `maxItems` values are kept
 * (REDIS_CACHE_MAX_SIZE): the in-process variant is an LRU capped by that count and by
 * total bytes; in Redis an index (a sorted set `<prefix>cache-index`, scored by store time)
 * lists the stored values, and storing one beyond the count deletes the oldest (Lua, atomic).
 *
 * Degrades, never fails: when Redis fails (down, timing out) the Redis cache hands the
 * lookup to its `fallback` (the in-process cache) and reports the outage (store-outage.ts);
 * the computation itself is never retried because of a cache failure.
 *
 * @example
 *   const cache = createMemoryResultsCache({ ttlSeconds: 60 });
 *   const { value, hit } = await cache.getOrCompute('results:exp1:v3', () => computeJson());
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { PipelineError } from '../../common/errors.js';
import type { StoreOutage } from '../store-outage.js';

export interface CacheOutcome {
  value: string;
  /** True when the value came from the cache rather than this request's computation. */
  hit: boolean;
}

export interface ResultsCache {
  getOrCompute(key: string, compute: () => Promise<string>): Promise<CacheOutcome>;
  /** Checks the backing store (readiness); resolves for the in-process cache. */
  ping(): Promise<void>;
  readonly kind: 'redis' | 'memory';
}

export interface CacheLimits {
  ttlSeconds: number;
  /** Most values kept (REDIS_CACHE_MAX_SIZE). Default 10,000. */
  maxItems?: number;
  /** Larger values are not stored. Default 4 MiB. */
  maxValueBytes?: number;
}

const DEFAULT_MAX_VALUE_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_ITEMS = 10_000;

/**
 * Stores a value and keeps at most ARGV[3] values: SET with TTL, index it by the server's
 * time, drop index entries whose values expired, then delete the oldest beyond the count.
 * KEYS[1] value key, KEYS[2] index; ARGV[1] value, ARGV[2] TTL seconds, ARGV[3] max items.
 */
const STORE_BOUNDED_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ttlMs = tonumber(ARGV[2]) * 1000
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttlMs)
redis.call('ZADD', KEYS[2], now, KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttlMs)
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if excess > 0 then
  local evicted = redis.call('ZPOPMIN', KEYS[2], excess)
  for i = 1, #evicted, 2 do redis.call('DEL', evicted[i]) end
end
redis.call('PEXPIRE', KEYS[2], ttlMs)
return excess`;

/**
 * Wraps a cache lookup so that concurrent callers of one key in this process share the
 * first caller's work.
 */
function singleFlight(lookup: (key: string, compute: () => Promise<string>) => Promise<CacheOutcome>) {
  const inFlight = new Map<string, Promise<CacheOutcome>>();
  return (key: string, compute: () => Promise<string>): Promise<CacheOutcome> => {
    const running = inFlight.get(key);
    if (running) return running.then((outcome) => ({ value: outcome.value, hit: true }));
    const started = lookup(key, compute).finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  };
}

export interface MemoryCacheOptions extends CacheLimits {
  /** Total bytes kept. Default 64 MiB. */
  maxTotalBytes?: number;
}

/** The in-process cache, used when REDIS_URL is not set. */
export function createMemoryResultsCache(options: MemoryCacheOptions): ResultsCache {
  const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  const lru = new LRUCache<string, string>({
    max: options.maxItems ?? DEFAULT_MAX_ITEMS,
    maxSize: options.maxTotalBytes ?? 64 * 1024 * 1024,
    sizeCalculation: (value) => Math.max(1, Buffer.byteLength(value)),
    ttl: options.ttlSeconds * 1000,
  });
  return {
    kind: 'memory',
    getOrCompute: singleFlight(async (key, compute) => {
      const cached = lru.get(key);
      if (cached !== undefined) return { value: cached, hit: true };
      const value = await compute();
      if (Buffer.byteLength(value) <= maxValueBytes) lru.set(key, value);
      return { value, hit: false };
    }),
    ping: () => Promise.resolve(),
  };
}

export interface RedisCacheOptions extends CacheLimits {
  redis: Redis;
  /** Prefix of every key this cache writes (`qa:` in production; random in tests). */
  keyPrefix: string;
  /** How long a computation may hold the lock before another instance takes over. Default 10 s. */
  lockTtlMs?: number;
  /** How often a waiting instance looks for the value. Default 25 ms. */
  pollIntervalMs?: number;
  /**
   * Serves lookups while Redis fails (the in-process cache). Without one, a Redis failure
   * is a 503 DEPENDENCY_UNAVAILABLE.
   */
  fallback?: ResultsCache;
  /** Counts and logs the fallbacks; used with `fallback`. */
  outage?: StoreOutage;
}

/** The Redis-backed cache shared by every instance of the service. */
export function createRedisResultsCache(options: RedisCacheOptions): ResultsCache {
  const { redis, keyPrefix } = options;
  const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  const lockTtlMs = options.lockTtlMs ?? 10_000;
  const pollIntervalMs = options.pollIntervalMs ?? 25;
  const maxItems = options.maxItems ?? DEFAULT_MAX_ITEMS;
  const indexKey = `${keyPrefix}cache-index`;
  const { fallback, outage } = options;
  /** A Redis command that failed: a marker, so store failures are told apart from compute failures. */
  class StoreFailure extends Error {
    constructor(readonly error: unknown) {
      super('results cache store (Redis) failed', { cause: error });
    }
  }
  const store = <T>(command: Promise<T>): Promise<T> =>
    command.then(
      (result) => {
        outage?.succeeded();
        return result;
      },
      (error: unknown) => Promise.reject(new StoreFailure(error)),
    );
  const unavailable = (error: unknown) =>
    new PipelineError('DEPENDENCY_UNAVAILABLE', 'the results cache (Redis) is unavailable', { cause: error });

  async function computeAndStore(valueKey: string, lockKey: string, token: string, compute: () => Promise<string>) {
    try {
      const value = await compute();
      if (Buffer.byteLength(value) <= maxValueBytes) {
        // The answer is ready: failing to store it must not fail the request.
        await store(
          redis.eval(STORE_BOUNDED_SCRIPT, 2, valueKey, indexKey, value, String(options.ttlSeconds), String(maxItems)),
        ).catch((failure: StoreFailure) => outage?.failed(failure.error));
      }
      return value;
    } finally {
      // Release only our own lock: it may have expired and been taken by another instance.
      await redis
        .eval(
          "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
          1,
          lockKey,
          token,
        )
        .catch(() => undefined);
    }
  }

  return {
    kind: 'redis',
    getOrCompute: singleFlight(async (key, compute) => {
      const valueKey = `${keyPrefix}${key}`;
      const lockKey = `${valueKey}:lock`;
      const token = randomUUID();
      const deadline = Date.now() + lockTtlMs;
      // Bounded: at most lockTtlMs / pollIntervalMs rounds, then compute regardless.
      for (;;) {
        let cached: string | null;
        let locked: string | null;
        try {
          cached = await store(redis.get(valueKey));
          if (cached !== null) return { value: cached, hit: true };
          locked = await store(redis.set(lockKey, token, 'PX', lockTtlMs, 'NX'));
        } catch (failure) {
          const error = failure instanceof StoreFailure ? failure.error : failure;
          if (!fallback) throw unavailable(error);
          outage?.failed(error);
          return fallback.getOrCompute(key, compute);
        }
        if (locked === 'OK' || Date.now() > deadline) {
          return { value: await computeAndStore(valueKey, lockKey, token, compute), hit: false };
        }
        await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
      }
    }),
    async ping() {
      await redis.ping();
    },
  };
}
