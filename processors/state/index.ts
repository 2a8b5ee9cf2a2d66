/**
 * Per-event state of the exactly-once counters: a durable Redis (production), the embedded
 * LMDB store (`npm start`), or process memory (`npm start -- --in-memory`, tests).
 */
import { PipelineError } from '../../common/errors.js';
import type { Config } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import { createEmbeddedUserStateStore } from './embedded-store.js';
import { createInProcessUserStateStore } from './in-process-store.js';
import { createRedisUserStateStore } from './redis-store.js';
import type { UserStateStore } from './types.js';

export type { StateOutcome, StateRequest, UserStateStore, StateLimits } from './types.js';
export { ANSWER, StateAnswers } from './state-answers.js';
export { createInProcessUserStateStore } from './in-process-store.js';
export { createRedisUserStateStore } from './redis-store.js';
export { createEmbeddedUserStateStore } from './embedded-store.js';

/**
 * The store the configuration chose. Refuses to guess: without `PROCESSOR_STATE_STORE` and
 * without a Redis URL, a processor would count into memory and lose exactness on its first
 * restart, so this is a start-up error naming the variables. Reads `processors` (the store and
 * its limits) and `dynamodb` (the counters table names the store's keys).
 *
 * @example
 *   const state = createUserStateStoreFromConfig(loadConfig(), logger);
 */
export function createUserStateStoreFromConfig(
  config: Pick<Config, 'processors' | 'dynamodb'>,
  logger?: Logger,
): UserStateStore {
  const { state, segmentValueCap, dedupWindowSeconds } = config.processors;
  const limits = { segmentValueCap, dedupWindowSeconds };
  switch (state.kind) {
    case 'redis':
      return createRedisUserStateStore({
        ...limits,
        redisUrl: state.redisUrl!,
        cluster: state.redisCluster,
        // State belongs to the counters it feeds: shard ids repeat across streams, and a
        // Redis may serve several pipelines (and every test run) at once. The braces are a
        // hash tag: in cluster mode (MemoryDB) every key of the store sits in one slot.
        keyPrefix: `xc:{${config.dynamodb.countersTable}}:`,
        ...(logger ? { logger } : {}),
      });
    case 'embedded':
      return createEmbeddedUserStateStore({ ...limits, directory: state.directory });
    case 'in-process':
      return createInProcessUserStateStore(limits);
    default:
      throw new PipelineError(
        'CONFIG_INVALID',
        'Invalid configuration: the processors need a durable exactly-once state store. Set STATE_REDIS_URL ' +
          '(a dedicated Redis/MemoryDB with maxmemory-policy noeviction) or PROCESSOR_STATE_STORE=embedded ' +
          '(single machine, with PROCESSOR_STATE_DIR); PROCESSOR_STATE_STORE=in-process only for tests',
      );
  }
}
