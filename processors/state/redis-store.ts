/**
 * The Redis `UserStateStore` (production: a dedicated, durable Redis-compatible store such
 * as MemoryDB, `noeviction`, cluster mode disabled, because an event's script touches its
 * claim, its user, the epoch, the committed position and its dimensions' admission sets,
 * which would sit in different slots). Scripts and key layout: redis-scripts.ts.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { PipelineError } from '../../common/errors.js';
import { fnv1a32 } from '../../common/hashing.js';
import type { Logger } from '../../common/logger.js';
import { APPLY_EVENT_LUA, APPLY_REPLY, MARK_COMMITTED_LUA } from './redis-scripts.js';
import { resolveStateLimits } from './limits.js';
import { admissionKey, compactPosition, shardTag, userStateKey } from './record-identity.js';
import { stateLost } from './state-rules.js';
import type { StateLimits, StateOutcome, StateRequest, UserStateStore } from './types.js';

export interface RedisStoreOptions extends Partial<StateLimits> {
  /** `redis://` or `rediss://` (TLS), with `user:password@` when the server has ACLs. */
  redisUrl: string;
  /**
   * Speak the cluster protocol (MemoryDB always does). Every key of the store must then sit
   * in one hash slot: the key prefix must hold a hash tag such as `xc:{ExperimentCounters}:`.
   */
  cluster?: boolean;
  /** Prefix of every key (default `xc:`; with `cluster`, it must contain a `{hash tag}`). */
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

function toOutcome(reply: unknown, expectedEpoch: string): StateOutcome {
  const [kind, segments, before] = reply as [number, string?, string?];
  switch (kind) {
    case APPLY_REPLY.epochMismatch:
      throw stateLost(expectedEpoch, segments || undefined);
    case APPLY_REPLY.duplicate:
      return { kind: 'duplicate' };
    case APPLY_REPLY.committed:
      return { kind: 'committed' };
    case APPLY_REPLY.refused:
      return { kind: 'refused', rule: 'user-total-limit' };
    default:
      return {
        kind: 'applied',
        replay: kind === APPLY_REPLY.replay,
        segments: parseSegments(segments ?? ''),
        totalBefore: before === undefined || before === '-' ? undefined : BigInt(before),
      };
  }
}

const unavailable = (error: unknown, what: string): PipelineError =>
  error instanceof PipelineError
    ? error
    : new PipelineError('DEPENDENCY_UNAVAILABLE', `Redis ${what} failed`, { cause: error });

/**
 * Refuses a Redis that may evict keys: an evicted claim counts a retry again, an evicted
 * user counts a returning user as new. `info` is the text of `INFO memory` (works on
 * ElastiCache and MemoryDB, where CONFIG is disabled).
 */
export function assertNoEviction(info: string): void {
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (policy !== undefined && policy !== 'noeviction') {
    throw new PipelineError(
      'CONFIG_INVALID',
      `the state store's Redis runs with maxmemory-policy ${policy}; exactly-once state needs noeviction ` +
        '(a dedicated store, never the results cache: see processors/README.md "State store")',
    );
  }
}

/** Bounded SCAN + UNLINK of every key matching `pattern` on every primary; returns how many were deleted. */
async function deleteMatching(client: Redis | Cluster, pattern: string): Promise<number> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  let deleted = 0;
  for (const node of nodes) {
    let cursor = '0';
    for (let round = 0; round < 1_000_000; round++) {
      const [next, keys] = await node.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const key of keys) deleted += await client.unlink(key);
      cursor = String(next);
      if (cursor === '0') break;
    }
  }
  return deleted;
}

/**
 * The client for `url`: a plain connection, or the cluster protocol (MemoryDB) with TLS and
 * ACL credentials taken from the URL. Connects lazily.
 */
function connect(url: string, cluster: boolean): Redis | Cluster {
  if (!cluster) return new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  const parsed = new URL(url);
  return new Cluster([{ host: parsed.hostname, port: Number(parsed.port || 6379) }], {
    lazyConnect: true,
    // MemoryDB's TLS certificates name the cluster endpoint, not the node addresses it redirects to.
    dnsLookup: (address, done) => done(null, address),
    redisOptions: {
      maxRetriesPerRequest: 3,
      ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    },
  });
}

/** Escapes Redis glob characters in a literal key part. */
const globLiteral = (text: string): string => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/**
 * Creates the Redis store. Connects lazily; `close()` quits the connection.
 *
 * @example
 *   const state = createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:6379', segmentValueCap: 50 });
 *   const outcomes = await state.apply(shardId, await state.epoch(), requests);
 */
export function createRedisUserStateStore(options: RedisStoreOptions): UserStateStore & { redis: Redis | Cluster } {
  const prefix = options.keyPrefix ?? 'xc:';
  if (options.cluster && !/\{[^{}]+\}/.test(prefix)) {
    throw new PipelineError(
      'CONFIG_INVALID',
      `the state key prefix ${prefix} has no {hash tag}: in cluster mode one event's keys would sit in several slots`,
    );
  }
  const limits = resolveStateLimits(options);
  const cap = String(limits.segmentValueCap);
  const dedupTtl = String(limits.dedupWindowSeconds);
  const totalLimit = limits.userTotalLimit.toString();
  const redis = connect(options.redisUrl, options.cluster ?? false);
  redis.on('error', (error: unknown) => options.logger?.warn({ err: error }, 'redis connection error'));
  const applySha = sha1(APPLY_EVENT_LUA);
  const markSha = sha1(MARK_COMMITTED_LUA);
  let scriptsLoaded: Promise<void> | undefined;
  const loadScripts = (): Promise<void> =>
    (scriptsLoaded ??= Promise.all([
      redis.script('LOAD', APPLY_EVENT_LUA),
      redis.script('LOAD', MARK_COMMITTED_LUA),
    ]).then(() => undefined));

  const epochKey = `${prefix}epoch`;
  const committedKey = (shardId: string): string => `${prefix}p:${shardId}`;

  const runBatch = async (shardId: string, epoch: string, requests: readonly StateRequest[]) => {
    const pipeline = redis.pipeline();
    const shardPrefix = `${shardTag(shardId)}@`;
    const committed = committedKey(shardId);
    for (const request of requests) {
      const position = compactPosition(request.position);
      const keys: (string | Buffer)[] = [
        Buffer.concat([Buffer.from(`${prefix}c:`), eventIdBytes(request.eventId)]),
        `${prefix}u:${userStateKey(request.experimentId, request.userId)}`,
        epochKey,
        committed,
        ...request.segments.map(([dimension]) => `${prefix}a:${admissionKey(request.experimentId, dimension)}`),
      ];
      const identity = `${shardPrefix}${position}`;
      const args = [
        claimToken(identity),
        identity,
        dedupTtl,
        cap,
        request.variantMetric,
        request.scaledValue.toString(),
        shardPrefix,
        epoch,
        position,
        totalLimit,
        ...request.segments.flat(),
      ];
      pipeline.evalsha(applySha, keys.length, ...keys, ...args);
    }
    return (await pipeline.exec()) ?? [];
  };

  let policyChecked: Promise<void> | undefined;
  const checkPolicy = (): Promise<void> =>
    (policyChecked ??= redis.info('memory').then(assertNoEviction, (error: unknown) => {
      policyChecked = undefined;
      throw error;
    }));

  return {
    redis,
    async epoch() {
      try {
        await checkPolicy();
        await redis.set(epochKey, randomUUID(), 'NX');
        const epoch = await redis.get(epochKey);
        if (epoch === null) throw new PipelineError('DEPENDENCY_UNAVAILABLE', 'the state epoch vanished as it was set');
        return epoch;
      } catch (error) {
        throw unavailable(error, 'epoch read');
      }
    },
    async apply(shardId, epoch, requests) {
      if (requests.length === 0) return [];
      try {
        await loadScripts();
        let replies = await runBatch(shardId, epoch, requests);
        if (replies.some(([error]) => error?.message.startsWith('NOSCRIPT'))) {
          // Redis restarted or failed over: reload and run again (the scripts that ran are replays now;
          // an emptied Redis fails the epoch check).
          scriptsLoaded = undefined;
          await loadScripts();
          replies = await runBatch(shardId, epoch, requests);
        }
        return replies.map(([error, reply]) => {
          if (error) throw new PipelineError('SINK_FAILED', `state script failed: ${error.message}`, { cause: error });
          return toOutcome(reply, epoch);
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
      const compact = compactPosition(position);
      try {
        await loadScripts();
        await redis.evalsha(markSha, 1, committedKey(shardId), compact);
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
          scriptsLoaded = undefined;
          await redis.eval(MARK_COMMITTED_LUA, 1, committedKey(shardId), compact);
          return;
        }
        throw unavailable(error, 'committed position write');
      }
    },
    async forgetExperiment(experimentId) {
      try {
        const users = await deleteMatching(redis, `${globLiteral(`${prefix}u:${userStateKey(experimentId, '')}`)}*`);
        await deleteMatching(redis, `${globLiteral(`${prefix}a:${admissionKey(experimentId, '')}`)}*`);
        return users;
      } catch (error) {
        throw unavailable(error, 'forget experiment');
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
