/**
 * Which of the configured API keys a request presented, compared in constant time per key
 * (timingSafeEqual; only a length mismatch returns early, and key lengths are not secret).
 * The collector's producer keys and the query API's keys both go through it.
 *
 * @example
 *   const keys = ['k-one', 'k-two'].map((key) => Buffer.from(key));
 *   matchingKeyIndex(keys, 'k-two');   // 1
 *   matchingKeyIndex(keys, 'unknown'); // -1
 */
import { timingSafeEqual } from 'node:crypto';

export function matchingKeyIndex(keys: readonly Buffer[], provided: string): number {
  const candidate = Buffer.from(provided);
  return keys.findIndex((key) => key.length === candidate.length && timingSafeEqual(key, candidate));
}
