/**
 * Connection settings handed to services and functions, built in one place so the ECS
 * tasks and the Lambda functions reach the same endpoints the same way.
 */
import type { StateStoreEndpoint } from './processor-state-store.js';
export {
  API_KEY_SECRET_ID_VARIABLE,
  DEFINITIONS_API_KEY_SECRET_ID_VARIABLE,
  STATE_PASSWORD_SECRET_ID_VARIABLE,
} from '../common/secrets/secret-environment.js';

/**
 * `STATE_REDIS_URL` of the processors without its password: `rediss://<user>@<cluster
 * endpoint>:<port>`. The Event Processor reads the password from the secret named by
 * `STATE_REDIS_PASSWORD_SECRET_ID` at cold start and puts it into the URL
 * (common/secrets/secret-environment.ts); an ECS task would get it as an ECS secret.
 *
 * @example
 *   environment: { STATE_REDIS_URL: stateRedisUrl(database.stateStore) }
 */
export function stateRedisUrl(store: StateStoreEndpoint): string {
  return `rediss://${store.userName}@${store.host}:${store.port}`;
}
