/**
 * Signed-out tokens, refused by every instance of the query API until they expire.
 *
 * Signing out (POST /api/v1/sessions/logout) revokes the presented access token's `jti`
 * and its `origin_jti` (every token refreshed from the same sign-in shares it), each until
 * the token's own `exp`: after that the token is refused anyway, so the entry expires with
 * it. With Redis the entries are keys `<prefix>revoked:jti:<id>` and
 * `<prefix>revoked:origin:<id>` with that TTL, shared by every task and kept across
 * restarts; without Redis (local development) they live in this process.
 *
 * When Redis cannot answer, `isRevoked` and `revoke` throw DEPENDENCY_UNAVAILABLE; the
 * app then refuses (503) what changes state and serves reads (app.ts: fail closed for
 * writes, open for reads).
 *
 * @example
 *   const revocations = createRedisRevocationList({ redis, keyPrefix: 'qa:' });
 *   await revocations.revoke(principal.session, new Date());
 *   await revocations.isRevoked(principal.session); // → true
 */
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { PipelineError } from '../../common/errors.js';
import type { TokenSession } from '../auth/authenticate.js';

export interface RevocationList {
  /** Revokes the session's token and its sign-in until the token expires. */
  revoke(session: TokenSession, now: Date): Promise<void>;
  /** True when the token or its sign-in was revoked. */
  isRevoked(session: TokenSession): Promise<boolean>;
  /** `redis` when shared by every instance, else `memory`. */
  readonly kind: 'redis' | 'memory';
}

const entryKeys = (session: TokenSession): string[] => [
  `revoked:jti:${session.tokenId}`,
  ...(session.originTokenId ? [`revoked:origin:${session.originTokenId}`] : []),
];

const unavailable = (error: unknown) =>
  new PipelineError('DEPENDENCY_UNAVAILABLE', 'the session store (Redis) is unavailable: sign-outs cannot be checked', {
    cause: error,
  });

/** The revocation list shared through Redis. */
export function createRedisRevocationList(options: { redis: Redis; keyPrefix: string }): RevocationList {
  const { redis, keyPrefix } = options;
  return {
    kind: 'redis',
    async revoke(session, now) {
      const ttlMs = session.expiresAt.getTime() - now.getTime();
      if (ttlMs <= 0) return;
      const pipeline = redis.multi();
      for (const key of entryKeys(session)) pipeline.set(`${keyPrefix}${key}`, '1', 'PX', ttlMs);
      const results = await pipeline.exec().catch((error: unknown) => Promise.reject(unavailable(error)));
      const failed = results?.find(([error]) => error !== null);
      if (!results || failed) throw unavailable(failed?.[0] ?? new Error('transaction aborted'));
    },
    async isRevoked(session) {
      const found = await redis
        .exists(...entryKeys(session).map((key) => `${keyPrefix}${key}`))
        .catch((error: unknown) => Promise.reject(unavailable(error)));
      return found > 0;
    },
  };
}

/** The in-process list (no REDIS_URL): one instance only, lost on restart. */
export function createMemoryRevocationList(options: { maxEntries?: number } = {}): RevocationList {
  const revoked = new LRUCache<string, true>({ max: options.maxEntries ?? 100_000, ttlAutopurge: false });
  return {
    kind: 'memory',
    revoke(session, now) {
      const ttl = session.expiresAt.getTime() - now.getTime();
      if (ttl > 0) for (const key of entryKeys(session)) revoked.set(key, true, { ttl });
      return Promise.resolve();
    },
    isRevoked(session) {
      return Promise.resolve(entryKeys(session).some((key) => revoked.has(key)));
    },
  };
}
