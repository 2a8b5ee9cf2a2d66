/**
 * The rate limiter's counters (a store for @fastify/rate-limit): fixed windows in Redis,
 * shared by every task, with an in-process fallback. When Redis fails (down, timing out,
 * refusing writes) the same key is counted in this process instead and the request goes
 * on: a cache outage never fails a request, and limits still hold per task (each task
 * allows up to `max` per window while Redis is away). The outage is counted and logged by
 * `StoreOutage` (store-outage.ts).
 *
 * @example
 *   await app.register(fastifyRateLimit, {
 *     store: createRateLimitStore({ redis, keyPrefix: 'qa-ratelimit:', outage }),
 *   });
 */
import type { FastifyRateLimitOptions, FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { StoreOutage } from '../store-outage.js';

type Window = { current: number; ttl: number };
type Callback = (error: Error | null, result?: Window) => void;

export interface RateLimitStoreOptions {
  /** Shared counters; without it, counting is in-process only. */
  redis?: Redis;
  /** Prefix of the Redis keys (`qa-ratelimit:` in production; random in tests). */
  keyPrefix: string;
  /** Reports fallbacks; required with `redis`. */
  outage?: StoreOutage;
  /** Keys kept in process (least recently used go first). Default 10,000. */
  maxLocalKeys?: number;
}

/** INCR and start the window on the first hit (or on a key that somehow lost its TTL). */
const INCREMENT_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}`;

interface LocalWindow {
  current: number;
  startedAt: number;
}

/** Fixed-window counting in this process. */
function createLocalCounter(maxKeys: number) {
  const windows = new LRUCache<string, LocalWindow>({ max: maxKeys });
  return (key: string, timeWindow: number): Window => {
    const now = Date.now();
    const window = windows.get(key);
    if (!window || window.startedAt + timeWindow <= now) {
      windows.set(key, { current: 1, startedAt: now });
      return { current: 1, ttl: timeWindow };
    }
    window.current++;
    return { current: window.current, ttl: window.startedAt + timeWindow - now };
  };
}

/** Builds the store class @fastify/rate-limit instantiates. */
export function createRateLimitStore(options: RateLimitStoreOptions): FastifyRateLimitStoreCtor {
  const countLocally = createLocalCounter(options.maxLocalKeys ?? 10_000);
  const { redis, outage } = options;

  class FallbackRateLimitStore implements FastifyRateLimitStore {
    private readonly prefix: string;

    constructor(_settings?: FastifyRateLimitOptions, prefix: string = options.keyPrefix) {
      this.prefix = prefix;
    }

    incr(key: string, callback: Callback, timeWindow: number): void {
      const fullKey = `${this.prefix}${key}`;
      if (!redis) {
        callback(null, countLocally(fullKey, timeWindow));
        return;
      }
      redis.eval(INCREMENT_SCRIPT, 1, fullKey, String(timeWindow)).then(
        (result) => {
          const [current, ttl] = result as [number, number];
          outage?.succeeded();
          callback(null, { current, ttl });
        },
        (error: unknown) => {
          outage?.failed(error);
          callback(null, countLocally(fullKey, timeWindow));
        },
      );
    }

    /** A route with its own limit counts in its own keys (the plugin passes the route as `routeInfo`). */
    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): FastifyRateLimitStore {
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo;
      return new FallbackRateLimitStore(undefined, `${this.prefix}${route?.method ?? ''}${route?.url ?? ''}:`);
    }
  }
  return FallbackRateLimitStore;
}
