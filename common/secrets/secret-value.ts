/**
 * One value inside a JSON secret of AWS Secrets Manager, read through Powertools for AWS
 * Lambda's `SecretsProvider` (`@aws-lambda-powertools/parameters`): fetched on first use,
 * cached for `maxAgeSeconds` (the provider's cache, shared by every value of the container),
 * and re-read on demand with `refresh()` when the credential it holds was refused (rotated).
 *
 * A secret is JSON (`{"keys":"k1,k2"}`, `{"password":"…"}`); the value is the string under
 * `jsonKey`. Failures are `PipelineError('DEPENDENCY_UNAVAILABLE')` (retriable) or, for a
 * secret without that key, `CONFIG_INVALID`; neither message contains a secret.
 *
 * @example
 *   const provider = createSecretsProvider({ region: 'eu-west-1' });
 *   const apiKey = createSecretValue({ provider, secretId: arn, jsonKey: 'keys' });
 *   await apiKey.get();      // cached
 *   await apiKey.refresh();  // after a 401: read again, bypassing the cache
 */
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PipelineError } from '../errors.js';

/** How long a read secret is served from the cache before Secrets Manager is asked again. */
export const SECRET_MAX_AGE_SECONDS = 300;

export interface SecretValue {
  /** The cached value (fetched when absent or older than the max age). */
  get(): Promise<string>;
  /** Reads the secret again, bypassing the cache (after the credential was refused). */
  refresh(): Promise<string>;
}

export interface SecretValueOptions {
  provider: SecretsProvider;
  /** Name or ARN of the secret. */
  secretId: string;
  /** Key of the value inside the secret's JSON. */
  jsonKey: string;
  maxAgeSeconds?: number;
  /** Turns the raw value into the one callers use (e.g. the first key of a comma-separated list). */
  select?: (raw: string) => string;
}

export interface SecretsProviderOptions {
  region: string;
  /** Endpoint override (tests: a local fake Secrets Manager); credentials then are local ones. */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The provider over a Secrets Manager client of `region` (one per container: it holds the cache). */
export function createSecretsProvider(options: SecretsProviderOptions): SecretsProvider {
  const client = new SecretsManagerClient({
    region: options.region,
    maxAttempts: 2,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
  return new SecretsProvider({ awsSdkV3Client: client });
}

/** The first entry of a comma-separated key list (API-key secrets hold `keys`). */
export const firstListEntry = (raw: string): string => raw.split(',')[0]?.trim() ?? '';

/** A value of a JSON secret with caching and forced refresh. One read at a time. */
export function createSecretValue(options: SecretValueOptions): SecretValue {
  const maxAge = options.maxAgeSeconds ?? SECRET_MAX_AGE_SECONDS;
  let inFlight: Promise<string> | undefined;

  async function read(forceFetch: boolean): Promise<string> {
    let secret: unknown;
    try {
      secret = await options.provider.get(options.secretId, { maxAge, forceFetch, transform: 'json' });
    } catch (error) {
      throw new PipelineError('DEPENDENCY_UNAVAILABLE', `secret ${options.secretId} could not be read`, {
        cause: error,
      });
    }
    const raw =
      secret !== null && typeof secret === 'object' ? (secret as Record<string, unknown>)[options.jsonKey] : undefined;
    const value = typeof raw === 'string' ? (options.select ?? ((text: string) => text))(raw) : '';
    if (value === '') {
      throw new PipelineError(
        'CONFIG_INVALID',
        `secret ${options.secretId} has no string value under "${options.jsonKey}"`,
      );
    }
    return value;
  }

  const once = (forceFetch: boolean): Promise<string> => {
    if (inFlight !== undefined && !forceFetch) return inFlight;
    const current = read(forceFetch).finally(() => {
      if (inFlight === current) inFlight = undefined;
    });
    inFlight = current;
    return current;
  };

  return { get: () => once(false), refresh: () => once(true) };
}
