/**
 * Recognising the Kinesis errors the consumer handles itself, by the service's error names
 * (stable across SDK versions and identical from kinesalite).
 */

const errorName = (error: unknown): string | undefined =>
  error !== null && typeof error === 'object' && 'name' in error ? String(error.name) : undefined;

/** Throttling: back off and try again. */
export function isThrottle(error: unknown): boolean {
  const name = errorName(error);
  return name === 'ProvisionedThroughputExceededException' || name === 'LimitExceededException';
}

/** The shard iterator is older than 5 minutes: get a new one from the checkpoint. */
export function isExpiredIterator(error: unknown): boolean {
  return errorName(error) === 'ExpiredIteratorException';
}
