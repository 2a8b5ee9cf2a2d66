/**
 * A user as the Redis store keeps it (stored format 3, redis-scripts.ts): the bucket hash that
 * holds it and its stored bytes. For tests that damage or inspect one user.
 */
import type { Redis } from 'ioredis';
import { fnv1a32 } from '../../../common/hashing.js';
import { USER_BUCKETS } from '../redis-scripts.js';

/** The key of `userId`'s bucket hash (binary bucket number), as the store's Lua builds it. */
export function bucketKey(keyPrefix: string, experimentId: string, userId: string): Buffer {
  const bucket = Buffer.alloc(2);
  bucket.writeUInt16BE(fnv1a32(userId) % USER_BUCKETS);
  return Buffer.concat([Buffer.from(`${keyPrefix}us:${experimentId}\u001f`), bucket]);
}

/** The bucket key and stored bytes of `userId`; throws when the user is not stored. */
export async function storedRedisUser(
  redis: Redis,
  keyPrefix: string,
  experimentId: string,
  userId: string,
): Promise<[key: Buffer, blob: Buffer]> {
  const key = bucketKey(keyPrefix, experimentId, userId);
  const blob = await redis.hgetBuffer(key, userId);
  if (!blob) throw new Error(`user ${userId} of experiment ${experimentId} is not stored under ${keyPrefix}`);
  return [key, blob];
}
