/**
 * The Redis `UserStateStore` (production: a dedicated, durable Redis-compatible store such
 * as MemoryDB, `noeviction`). A batch is one pipeline of script calls, each applying up to
 * `APPLY_CHUNK` requests atomically (one round trip per batch); every key sits under the
 * store's prefix, whose `{hash tag}` puts them in one slot on a cluster. Scripts and the
 * stored format (version 3, which reads version 2 and upgrades it in place): redis-scripts.ts.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { encodeChunk, readAnswers } from './redis-batch-codec.js';
import { StateAnswers } from './state-answers.js';
import {
  APPLY_BATCH_LUA,
  APPLY_CHUNK,
  EPOCH_LUA,
  FORGET_BUCKET_LUA,
  MARK_COMMITTED_LUA,
  STATE_FORMAT_VERSION,
} from './redis-scripts.js';
import { resolveStateLimits } from './limits.js';
import { alignPartnerTotals, stateLost } from './state-rules.js';
import { compactPosition, shardTag } from './record-identity.js';
import type { StateLimits, StateRequest, UserStateStore } from './types.js';

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
 * The start-up error for a store written in stored format 1: it is never read as a later format.
 * STATE_LOST, so the processors stop and page instead of counting on an unreadable state.
 */
function formatOneRefused(prefix: string): PipelineError {
  return new PipelineError(
    'STATE_LOST',
    `the state store under "${prefix}" holds stored format 1 (key ${prefix}epoch), written by an earlier version ` +
      `of the processors; this version reads stored formats 2 and ${STATE_FORMAT_VERSION} only and will not misread it. ` +
      'Counting stopped. Either run the earlier version against this store, or start the new format empty, which ' +
      `is a state loss (processors/README.md "State loss"): delete ${prefix}epoch, then run ` +
      `\`npm run state -- accept-loss --yes\`; format-1 keys (${prefix}u:*, ${prefix}a:*, ${prefix}c:*) are no ` +
      'longer read and may be deleted.',
    { details: { storedFormat: 1, expectedFormat: STATE_FORMAT_VERSION, keyPrefix: prefix } },
  );
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

/**
 * Bounded SCAN of every key matching `pattern` on every primary, deleting each with `remove`;
 * returns the sum of what `remove` answered.
 */
async function deleteMatching(
  client: Redis | Cluster,
  pattern: string,
  remove: (key: Buffer) => Promise<number>,
): Promise<number> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  let deleted = 0;
  for (const node of nodes) {
    let cursor = '0';
    for (let round = 0; round < 1_000_000; round++) {
      const [next, keys] = await node.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const key of keys) deleted += await remove(key);
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

/**
 * The script answers a replay with the partner totals its memo holds; one per partner the
 * request names unless the plan changed since the first application: aligned as every store
 * does (`alignPartnerTotals`).
 */
function alignReplayedPartnerTotals(answers: StateAnswers, requests: readonly StateRequest[]): void {
  for (let i = 0; i < answers.length; i++) {
    if (!answers.counts(i)) continue;
    const count = requests[i]?.partners?.length ?? 0;
    const partnerTotals = answers.partnerTotals(i);
    if (partnerTotals.length !== count) {
      answers.setPartnerTotals(i, alignPartnerTotals(partnerTotals, requests[i]?.partners));
    }
  }
}

/** Escapes Redis glob characters in a literal key part. */
const globLiteral = (text: string): string => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/**
 * Creates the Redis store. Connects lazily; `close()` quits the connection.
 *
 * @example
 *   const state = createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:6379', segmentValueCap: 50 });
 *   const answers = await state.apply(shardId, await state.epoch(), requests);
 */
export function createRedisUserStateStore(options: RedisStoreOptions): UserStateStore & { redis: Redis | Cluster } {
  const prefix = options.keyPrefix ?? 'xc:';
  if (options.cluster && !/\{[^{}]+\}/.test(prefix)) {
    throw new PipelineError(
      'CONFIG_INVALID',
      `the state key prefix ${prefix} has no {hash tag}: in cluster mode one event's keys would sit in several slots`,
    );
  }
  // At most 2^52 (limits.ts): the Lua's numbers are doubles, which keep such totals and their sums exactly.
  const limits = resolveStateLimits(options);
  const fixedArgs = [
    prefix,
    String(limits.dedupWindowSeconds * 1000),
    String(limits.segmentValueCap),
    String(limits.userTotalLimit),
  ];
  const redis = connect(options.redisUrl, options.cluster ?? false);
  redis.on('error', (error: unknown) => options.logger?.warn({ err: error }, 'redis connection error'));
  const applySha = sha1(APPLY_BATCH_LUA);
  const markSha = sha1(MARK_COMMITTED_LUA);
  let scriptsLoaded: Promise<void> | undefined;
  const loadScripts = (): Promise<void> =>
    (scriptsLoaded ??= Promise.all([
      redis.script('LOAD', APPLY_BATCH_LUA),
      redis.script('LOAD', MARK_COMMITTED_LUA),
    ]).then(() => undefined));

  const epochKey = `${prefix}epoch:${STATE_FORMAT_VERSION}`;
  const formatTwoEpochKey = `${prefix}epoch:2`;
  const formatOneEpochKey = `${prefix}epoch`;
  const committedKey = (shardId: string): string => `${prefix}p:${shardId}`;
  const memoKey = (shardId: string): string => `${prefix}m:${shardId}`;

  /** One pipeline, one script call per chunk of at most APPLY_CHUNK requests. */
  const runBatch = async (shardId: string, epoch: string, requests: readonly StateRequest[]) => {
    const pipeline = redis.pipeline();
    const tag = shardTag(shardId);
    const keys = [epochKey, committedKey(shardId), memoKey(shardId)];
    for (let from = 0; from < requests.length; from += APPLY_CHUNK) {
      const chunk = encodeChunk(requests, from, Math.min(APPLY_CHUNK, requests.length - from), tag);
      pipeline.evalsha(applySha, keys.length, ...keys, epoch, ...fixedArgs, ...chunk);
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
        const epoch = (await redis.eval(EPOCH_LUA, 3, epochKey, formatTwoEpochKey, formatOneEpochKey, randomUUID())) as
          string | null;
        if (epoch === null) throw formatOneRefused(prefix);
        return epoch;
      } catch (error) {
        throw unavailable(error, 'epoch read');
      }
    },
    async apply(shardId, epoch, requests) {
      try {
        if (requests.length === 0) {
          // Nothing to apply, but the epoch is checked all the same: a caller on lost state learns it here too.
          const actual = await redis.get(epochKey);
          if (actual !== epoch) throw stateLost(epoch, actual ?? undefined);
          return new StateAnswers(0);
        }
        await loadScripts();
        let replies = await runBatch(shardId, epoch, requests);
        if (replies.some(([error]) => error?.message.startsWith('NOSCRIPT'))) {
          // Redis restarted or failed over: reload and run again (the scripts that ran are replays now;
          // an emptied Redis fails the epoch check).
          scriptsLoaded = undefined;
          await loadScripts();
          replies = await runBatch(shardId, epoch, requests);
        }
        const answers = new StateAnswers(requests.length);
        let answered = 0;
        for (const [error, reply] of replies) {
          if (error) throw new PipelineError('SINK_FAILED', `state script failed: ${error.message}`, { cause: error });
          answered = readAnswers(reply, epoch, answers, answered);
        }
        if (answered !== requests.length) {
          throw new PipelineError('INTERNAL', `state script answered ${answered} of ${requests.length} requests`);
        }
        alignReplayedPartnerTotals(answers, requests);
        return answers;
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
      const keys = [committedKey(shardId), memoKey(shardId)];
      const compact = compactPosition(position);
      try {
        await loadScripts();
        await redis.evalsha(markSha, keys.length, ...keys, compact);
      } catch (error) {
        if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) {
          throw unavailable(error, 'committed position write');
        }
        scriptsLoaded = undefined;
        try {
          await redis.eval(MARK_COMMITTED_LUA, keys.length, ...keys, compact);
        } catch (retryError) {
          throw unavailable(retryError, 'committed position write');
        }
      }
    },
    async forgetExperiment(experimentId) {
      try {
        const users = await deleteMatching(
          redis,
          `${globLiteral(`${prefix}us:${experimentId}\u001f`)}*`,
          (key) => redis.eval(FORGET_BUCKET_LUA, 1, key) as Promise<number>,
        );
        await redis.unlink(`${prefix}x:${experimentId}`);
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
