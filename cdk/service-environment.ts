/**
 * Connection settings handed to services and functions, built in one place so the ECS
 * tasks and the Lambda functions reach the same endpoints the same way.
 */
import type { CacheEndpoint } from './database-stack.js';
import { REDIS_TOKEN_KEY } from './database-stack.js';

/**
 * `rediss://` URL with the AUTH token as a CloudFormation dynamic reference: the template
 * holds only `{{resolve:secretsmanager:...}}`, CloudFormation fills it in at deploy time.
 * For functions only; ECS tasks get the token as a Secrets Manager secret instead.
 */
export function redisUrl(cache: CacheEndpoint): string {
  const token = cache.authTokenSecret.secretValueFromJson(REDIS_TOKEN_KEY).unsafeUnwrap();
  return `rediss://:${token}@${cache.host}:${cache.port}`;
}
