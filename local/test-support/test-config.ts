/**
 * Helpers for integration tests: configs pointing at the run's stand-ins, random
 * resource names, and waiting on conditions instead of sleeping.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../common/config.js';

/** A short random suffix for stream, table and key names, so test files never collide. */
export const randomName = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A validated config pointing at this run's kinesalite/dynalite, with random stream and table names. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_KINESIS: inject('kinesisEndpoint'),
    AWS_ENDPOINT_URL_DYNAMODB: inject('dynamodbEndpoint'),
    KINESIS_STREAM_NAME: randomName('events'),
    KINESIS_DLQ_STREAM_NAME: randomName('dlq'),
    DYNAMODB_TABLE_NAME: randomName('counters'),
    DYNAMODB_CHECKPOINT_TABLE_NAME: randomName('checkpoints'),
    LOG_LEVEL: 'silent',
    // Listeners that tests start in parallel take free ports.
    QUERY_API_METRICS_PORT: '0',
    // The query API signs its audit trail; each config gets its own key (tests override it to share one).
    AUDIT_HMAC_SECRET: randomBytes(32).toString('hex'),
    // Tests choose their state store explicitly; a Redis URL among the overrides selects Redis.
    ...(overrides.REDIS_URL || overrides.STATE_REDIS_URL ? {} : { PROCESSOR_STATE_STORE: 'in-process' }),
    ...overrides,
  });
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
