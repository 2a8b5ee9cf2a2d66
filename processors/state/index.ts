/**
 * Per-event state of the exactly-once counters: Redis when a URL is configured, in-process
 * otherwise.
 */
import { createInProcessUserStateStore, type InProcessStoreOptions } from './in-process-store.js';
import { createRedisUserStateStore } from './redis-store.js';
import type { Logger } from '../../common/logger.js';
import type { UserStateStore } from './types.js';

export type { StateOutcome, StateRequest, UserStateStore, StateLimits } from './types.js';
export { createInProcessUserStateStore } from './in-process-store.js';
export { createRedisUserStateStore } from './redis-store.js';

export interface UserStateStoreOptions extends InProcessStoreOptions {
  /** `redis://…`; without it state is kept in-process (local runs only). */
  redisUrl?: string;
  /** Prefix of every Redis key (default `xc:`), so several pipelines can share a Redis. */
  keyPrefix?: string;
  /** Where Redis connection errors are logged. */
  logger?: Logger;
}

/**
 * Chooses the store: Redis when `redisUrl` is set, in-process otherwise.
 *
 * @example
 *   const state = createUserStateStore({
 *     redisUrl: config.redis.url,
 *     segmentValueCap: config.processors.segmentValueCap,
 *     dedupWindowSeconds: config.processors.dedupWindowSeconds,
 *   });
 */
export function createUserStateStore(options: UserStateStoreOptions): UserStateStore {
  if (options.redisUrl) return createRedisUserStateStore({ ...options, redisUrl: options.redisUrl });
  return createInProcessUserStateStore(options);
}
