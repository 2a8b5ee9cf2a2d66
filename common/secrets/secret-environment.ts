/**
 * Secrets of the Lambda functions, read from AWS Secrets Manager at cold start instead of
 * sitting in their configuration. The CDK stacks give a function the ARN of each secret it
 * needs in a `*_SECRET_ID` variable; the entry point calls `resolve()` and hands the result to
 * `loadConfig`, so nothing below it knows where a value came from:
 *
 *   EXPERIMENTATION_API_KEY_SECRET_ID → EXPERIMENTATION_API_KEY   (JSON key `keys`, its first key)
 *   PROCESSOR_DEFINITIONS_API_KEY_SECRET_ID → PROCESSOR_DEFINITIONS_API_KEY   (same shape)
 *   STATE_REDIS_PASSWORD_SECRET_ID    → the password of STATE_REDIS_URL (JSON key `password`)
 *
 * Values are cached (SECRET_MAX_AGE_SECONDS); `resolve({ refresh: true })` reads them again,
 * which an entry point does when the credential was refused (`isCredentialRefused`): a rotated
 * secret then takes effect in running containers without a redeploy.
 *
 * @example
 *   const secrets = environmentSecrets(process.env);
 *   const config = loadConfig(await secrets.resolve());
 */
import type { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { PipelineError } from '../errors.js';
import { createSecretsProvider, createSecretValue, firstListEntry, type SecretValue } from './secret-value.js';

/** ARN of the JSON secret (key `keys`) holding the key the definition lookups present to the query API. */
export const API_KEY_SECRET_ID_VARIABLE = 'EXPERIMENTATION_API_KEY_SECRET_ID';
/** ARN of the JSON secret (key `keys`) holding the key the processors' definition lookups present to the query API. */
export const DEFINITIONS_API_KEY_SECRET_ID_VARIABLE = 'PROCESSOR_DEFINITIONS_API_KEY_SECRET_ID';
/** ARN of the JSON secret (key `password`) of the processors' state-store user. */
export const STATE_PASSWORD_SECRET_ID_VARIABLE = 'STATE_REDIS_PASSWORD_SECRET_ID';
/** Endpoint override of Secrets Manager (the AWS SDK's own variable name; tests and local runs). */
export const SECRETS_MANAGER_ENDPOINT_VARIABLE = 'AWS_ENDPOINT_URL_SECRETS_MANAGER';

type Environment = Record<string, string | undefined>;

export interface EnvironmentSecrets {
  /** The API key's secret, when EXPERIMENTATION_API_KEY_SECRET_ID is set. */
  readonly apiKey?: SecretValue;
  /** The state-store password's secret, when STATE_REDIS_PASSWORD_SECRET_ID is set. */
  readonly statePassword?: SecretValue;
  /** The processors' definitions API key's secret, when PROCESSOR_DEFINITIONS_API_KEY_SECRET_ID is set. */
  readonly definitionsApiKey?: SecretValue;
  /** A copy of the environment with every configured secret read and put in place. */
  resolve(options?: { refresh?: boolean }): Promise<Environment>;
}

/**
 * Reads the `*_SECRET_ID` variables of `env` (nothing is fetched until `resolve()`).
 * `provider` defaults to one over Secrets Manager in AWS_REGION (or the endpoint override).
 */
export function environmentSecrets(env: Environment, deps: { provider?: SecretsProvider } = {}): EnvironmentSecrets {
  const apiKeyId = env[API_KEY_SECRET_ID_VARIABLE];
  const passwordId = env[STATE_PASSWORD_SECRET_ID_VARIABLE];
  const definitionsKeyId = env[DEFINITIONS_API_KEY_SECRET_ID_VARIABLE];
  let provider = deps.provider;
  const lazyProvider = (): SecretsProvider => {
    provider ??= createSecretsProvider({
      region: env.AWS_REGION ?? 'us-east-1',
      ...(env[SECRETS_MANAGER_ENDPOINT_VARIABLE] ? { endpoint: env[SECRETS_MANAGER_ENDPOINT_VARIABLE] } : {}),
    });
    return provider;
  };
  const value = (secretId: string, jsonKey: string, select?: (raw: string) => string): SecretValue => {
    let inner: SecretValue | undefined;
    const get = () => (inner ??= createSecretValue({ provider: lazyProvider(), secretId, jsonKey, select }));
    return { get: () => get().get(), refresh: () => get().refresh() };
  };
  const apiKey = apiKeyId ? value(apiKeyId, 'keys', firstListEntry) : undefined;
  const statePassword = passwordId ? value(passwordId, 'password') : undefined;
  const definitionsApiKey = definitionsKeyId ? value(definitionsKeyId, 'keys', firstListEntry) : undefined;
  return {
    ...(apiKey ? { apiKey } : {}),
    ...(statePassword ? { statePassword } : {}),
    ...(definitionsApiKey ? { definitionsApiKey } : {}),
    async resolve(options = {}) {
      const read = (secret: SecretValue) => (options.refresh ? secret.refresh() : secret.get());
      const resolved: Environment = { ...env };
      if (apiKey) resolved.EXPERIMENTATION_API_KEY = await read(apiKey);
      if (definitionsApiKey) resolved.PROCESSOR_DEFINITIONS_API_KEY = await read(definitionsApiKey);
      if (statePassword) {
        resolved.STATE_REDIS_URL = withPassword(env.STATE_REDIS_URL, await read(statePassword));
      }
      return resolved;
    },
  };
}

/** `rediss://user@host:6379` with the password put in (percent-encoded as a URL needs it). */
export function withPassword(url: string | undefined, password: string): string {
  if (url === undefined) {
    throw new PipelineError(
      'CONFIG_INVALID',
      `Invalid configuration: ${STATE_PASSWORD_SECRET_ID_VARIABLE} is set but STATE_REDIS_URL is not`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new PipelineError('CONFIG_INVALID', 'Invalid configuration: STATE_REDIS_URL is not a URL', { cause: error });
  }
  parsed.password = password;
  return parsed.toString();
}

/** Messages by which Redis, PostgreSQL and HTTP services refuse a credential. */
const REFUSED = /WRONGPASS|NOAUTH|invalid username-password|password authentication failed|PAM authentication failed/i;

/**
 * True when an error (or one of its causes) says a credential was refused: a Redis
 * `WRONGPASS`/`NOAUTH`, a PostgreSQL authentication failure, or an `UNAUTHORIZED` pipeline error.
 */
export function isCredentialRefused(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current !== undefined && depth < 8; depth++) {
    if (current instanceof PipelineError && current.code === 'UNAUTHORIZED') return true;
    if (current instanceof Error) {
      if (REFUSED.test(current.message)) return true;
      current = current.cause;
    } else return false;
  }
  return false;
}
