/**
 * A user as the Redis store keeps it (stored format 3, redis-scripts.ts): the bucket hash that
 * holds it and its stored bytes, found by a bounded SCAN of the experiment's buckets. For tests
 * that damage or inspect one user.
 */
import type { Redis } from 'ioredis';

export async function storedRedisUser(
  redis: Redis,
  keyPrefix: string,
  experimentId: string,
  userId: string,
): Promise<[key: Buffer, blob: Buffer]> {
  let cursor = '0';
  for (let round = 0; round < 10_000; round++) {
    const [next, keys] = await redis.scanBuffer(
      cursor,
      'MATCH',
      `${keyPrefix}us:${experimentId}\u001f*`,
      'COUNT',
      1000,
    );
    for (const key of keys) {
      const blob = await redis.hgetBuffer(key, userId);
      if (blob) return [key, blob];
    }
    cursor = next.toString();
    if (cursor === '0') break;
  }
  throw new Error(`user ${userId} of experiment ${experimentId} is not stored under ${keyPrefix}`);
}
