/**
 * Connection settings handed to services and functions, built in one place so the ECS
 * tasks and the Lambda functions reach the same endpoints the same way.
 */
import { STATE_PASSWORD_KEY, type StateStoreEndpoint } from './processor-state-store.js';

/**
 * `STATE_REDIS_URL` of the processors: `rediss://<user>:<password>@<cluster endpoint>:<port>`
 * with the ACL password as a CloudFormation dynamic reference: the template holds only
 * `{{resolve:secretsmanager:...}}`, CloudFormation fills it in at deploy time. For functions
 * only; an ECS task would get the password as a Secrets Manager secret instead.
 *
 * @example
 *   environment: { STATE_REDIS_URL: stateRedisUrl(database.stateStore) }
 */
export function stateRedisUrl(store: StateStoreEndpoint): string {
  const password = store.passwordSecret.secretValueFromJson(STATE_PASSWORD_KEY).unsafeUnwrap();
  return `rediss://${store.userName}:${password}@${store.host}:${store.port}`;
}
