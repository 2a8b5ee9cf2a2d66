/**
 * The Redis `UserStateStore` (production: ElastiCache, cluster mode disabled, because an
 * event's script touches its claim, its user and its dimensions' admission sets, which
 * would sit in different slots). Scripts and key layout: redis-scripts.ts.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { PipelineError } from '../../common/errors.js';
import { fnv1a32 } from '../../common/hashing.js';
import type { Logger } from '../../common/logger.js';
import { APPLY_EVENT_LUA, MARK_COMMITTED_LUA } from './redis-scripts.js';
import { admissionKey, compactPosition, shardTag, storedIdentity, userStateKey } from './record-identity.js';
import {
  DEFAULT_USER_STATE_TTL_SECONDS,
  type StateLimits,
  type StateOutcome,
  type StateRequest,
  type UserStateStore,
} from './types.js';

export interface RedisStoreOptions extends Partial<StateLimits> {
  redisUrl: string;
  /** Prefix of every key (default `xc:`). */
  keyPrefix?: string;
  /** Connection errors are logged here (ioredis reconnects by itself; calls fail with DEPENDENCY_UNAVAILABLE). */
  logger?: Logger;
}

const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');

/**
 * The claim token of a record: two FNV-1a 32-bit hashes of its identity, the second
 * started from another state (64 bits, ~13 characters). A claim is only ever compared for
 * equality, and identities are assigned by Kinesis, not chosen by an adversary: a false
 * "replay" needs two records of one eventId to collide on 64 bits. Far cheaper than SHA-1.
 */
const claimToken = (identity: string): string =>
  `${fnv1a32(identity).toString(36)}.${fnv1a32(`#${identity}`).toString(36)}`;

/** A UUID as its 16 bytes: claim keys are a third shorter than the text form. */
const eventIdBytes = (eventId: string): Buffer => Buffer.from(eventId.replace(/-/g, ''), 'hex');

function parseSegments(encoded: string): [string, string][] {
  if (encoded === '') return [];
  return encoded.split('\u001e').map((part) => {
    const equals = part.indexOf('=');
    return [part.slice(0, equals), part.slice(equals + 1)];
  });
}

function toOutcome(reply: unknown): StateOutcome {
  const [kind, segments, before] = reply as [number, string?, string?];
  if (kind === 0) return { kind: 'duplicate' };
  return {
    kind: 'applied',
    replay: kind === 2,
    segments: parseSegments(segments ?? ''),
    totalBefore: before === undefined || before === '-' ? undefined : BigInt(before),
  };
}

const unavailable = (error: unknown, what: string): PipelineError =>
  error instanceof PipelineError
    ? error
    : new PipelineError('DEPENDENCY_UNAVAILABLE', `Redis ${what} failed`, { cause: error });

/**
 * Creates the Redis store. Connects lazily; `close()` quits the connection.
 *
 * @example const state = createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:6379', segmentValueCap: 50 });
 */
export function createRedisUserStateStore(options: RedisStoreOptions): UserStateStore & { redis: Redis } {
  const prefix = options.keyPrefix ?? 'xc:';
  const cap = String(options.segmentValueCap ?? 50);
  const dedupTtl = String(options.dedupWindowSeconds ?? 86_400);
  const userTtl = String(options.userStateTtlSeconds ?? DEFAULT_USER_STATE_TTL_SECONDS);
  const redis = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
  redis.on('error', (error: unknown) => options.logger?.warn({ err: error }, 'redis connection error'));
  const applySha = sha1(APPLY_EVENT_LUA);
  const markSha = sha1(MARK_COMMITTED_LUA);
  let scriptsLoaded: Promise<void> | undefined;
  const loadScripts = (): Promise<void> =>
    (scriptsLoaded ??= Promise.all([
      redis.script('LOAD', APPLY_EVENT_LUA),
      redis.script('LOAD', MARK_COMMITTED_LUA),
    ]).then(() => undefined));

  const committedKey = (shardId: string): string => `${prefix}p:${shardId}`;

  const runBatch = async (shardId: string, committed: string | undefined, requests: readonly StateRequest[]) => {
    const pipeline = redis.pipeline();
    const shardPrefix = `${shardTag(shardId)}@`;
    const committedCompact = committed === undefined ? '' : compactPosition(committed);
    for (const request of requests) {
      const identity = storedIdentity(shardId, request.position);
      const keys: (string | Buffer)[] = [
        Buffer.concat([Buffer.from(`${prefix}c:`), eventIdBytes(request.eventId)]),
        `${prefix}u:${userStateKey(request.experimentId, request.userId)}`,
        ...request.segments.map(([dimension]) => `${prefix}a:${admissionKey(request.experimentId, dimension)}`),
      ];
      const args = [
        claimToken(identity),
        identity,
        dedupTtl,
        userTtl,
        cap,
        request.variantMetric,
        request.scaledValue.toString(),
        shardPrefix,
        committedCompact,
        ...request.segments.flat(),
      ];
      pipeline.evalsha(applySha, keys.length, ...keys, ...args);
    }
    return (await pipeline.exec()) ?? [];
  };

  return {
    redis,
    async apply(shardId, committed, requests) {
      if (requests.length === 0) return [];
      try {
        await loadScripts();
        let replies = await runBatch(shardId, committed, requests);
        if (replies.some(([error]) => error?.message.startsWith('NOSCRIPT'))) {
          // Redis restarted or failed over: reload and run again (the scripts that ran are replays now).
          scriptsLoaded = undefined;
          await loadScripts();
          replies = await runBatch(shardId, committed, requests);
        }
        return replies.map(([error, reply]) => {
          if (error) throw new PipelineError('SINK_FAILED', `state script failed: ${error.message}`, { cause: error });
          return toOutcome(reply);
        });
      } catch (error) {
        throw unavailable(error, 'state update');
      }
    },
    async readCommitted(shardId) {
      try {
        return (await redis.get(committedKey(shardId))) ?? undefined;
      } catch (error) {
        throw unavailable(error, 'committed position read');
      }
    },
    async markCommitted(shardId, position) {
      try {
        await loadScripts();
        await redis.evalsha(markSha, 1, committedKey(shardId), position);
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
          await redis.eval(MARK_COMMITTED_LUA, 1, committedKey(shardId), position);
          return;
        }
        throw unavailable(error, 'committed position write');
      }
    },
    async close() {
      if (redis.status === 'wait' || redis.status === 'end') {
        redis.disconnect();
        return;
      }
      await redis.quit();
    },
  };
}
