/**
 * Experiment and flag definitions, fetched by the Assignment and Flag Evaluation Lambdas
 * (edge/) and by the processors (processors/definitions: the counter plan of each experiment)
 * from the query API (`GET /api/v1/experiments/{key}`, `GET /api/v1/flags/{key}`) and kept
 * in an in-memory LRU cache: at most 1,000 definitions, each fresh for 60 s. When a refresh
 * fails, the stale copy keeps being served (lru-cache `allowStaleOnFetchRejection`); only a
 * definition never fetched successfully surfaces the failure. A 404 is cached like a value.
 * The API key is a string or a secret (`SecretValue`, read from Secrets Manager): when the API
 * refuses it (401/403) the secret is read again and the request retried once, so a rotated
 * key takes effect without a redeploy.
 */
import { Compile } from 'typebox/compile';
import { LRUCache } from 'lru-cache';
import { PipelineError } from './errors.js';
import type { SecretValue } from './secrets/secret-value.js';
import {
  ExperimentDefinitionSchema,
  FlagDefinitionSchema,
  type ExperimentDefinition,
  type FlagDefinition,
} from './experiment-definition.js';

export interface DefinitionClient {
  /** The experiment, or `null` when the API has none with this key. */
  experiment(key: string): Promise<ExperimentDefinition | null>;
  /**
   * The experiment as cached, synchronously, only while the cached copy is fresh (younger than
   * the TTL): the definition, `null` for a cached 404, `undefined` when there is no fresh copy
   * (never fetched, expired, or being fetched); `experiment(key)` is then the way to get it.
   * Never fetches and never drops a stale copy.
   */
  freshExperiment(key: string): ExperimentDefinition | null | undefined;
  /** The flag, or `null` when the API has none with this key. */
  flag(key: string): Promise<FlagDefinition | null>;
}

export interface DefinitionClientOptions {
  apiUrl: string;
  /** Sent as `x-api-key`: a fixed key, or a secret re-read when the API refuses the key. */
  apiKey?: string | SecretValue;
  fetch?: typeof globalThis.fetch;
  ttlMs?: number;
  maxEntries?: number;
  timeoutMs?: number;
}

export const DEFINITION_TTL_MS = 60_000;
export const DEFINITION_CACHE_MAX_ENTRIES = 1_000;
export const DEFINITION_FETCH_TIMEOUT_MS = 2_000;

/** lru-cache cannot hold `null`; a 404 is remembered as this marker. */
const NOT_FOUND = Symbol('not-found');
type Cached = ExperimentDefinition | FlagDefinition | typeof NOT_FOUND;

const experimentCheck = Compile(ExperimentDefinitionSchema);
const flagCheck = Compile(FlagDefinitionSchema);

/**
 * Creates a client with its own cache (one per Lambda container).
 *
 * @example
 *   const client = createDefinitionClient({ apiUrl: config.experimentationApiUrl, apiKey: config.experimentationApiKey });
 *   const flag = await client.flag('new-nav');
 */
export function createDefinitionClient(options: DefinitionClientOptions): DefinitionClient {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const baseUrl = options.apiUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFINITION_FETCH_TIMEOUT_MS;

  const apiKey = options.apiKey;
  const secretKey = typeof apiKey === 'object' ? apiKey : undefined;

  async function request(url: string, what: string, key: string | undefined): Promise<Response> {
    try {
      return await fetchImpl(url, {
        headers: { accept: 'application/json', ...(key ? { 'x-api-key': key } : {}) },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new PipelineError('DEPENDENCY_UNAVAILABLE', `experimentation API unreachable for ${what}`, {
        cause: error,
      });
    }
  }

  async function load(cacheKey: string): Promise<Cached> {
    const [kind = '', key = ''] = cacheKey.split('\u0000');
    const url = `${baseUrl}/api/v1/${kind}/${encodeURIComponent(key)}`;
    const what = `${kind}/${key}`;
    let response = await request(url, what, secretKey ? await secretKey.get() : (apiKey as string | undefined));
    if (secretKey && (response.status === 401 || response.status === 403)) {
      // The key was rotated (or revoked): read the secret again and try once more.
      await response.body?.cancel();
      response = await request(url, what, await secretKey.refresh());
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return NOT_FOUND;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new PipelineError(
        'DEPENDENCY_UNAVAILABLE',
        `experimentation API answered ${response.status} for ${kind}/${key}`,
      );
    }
    const body: unknown = await response.json().catch((error: unknown) => {
      throw new PipelineError('DEPENDENCY_UNAVAILABLE', `experimentation API sent invalid JSON for ${kind}/${key}`, {
        cause: error,
      });
    });
    const valid = kind === 'experiments' ? experimentCheck.Check(body) : flagCheck.Check(body);
    if (!valid)
      throw new PipelineError(
        'DEPENDENCY_UNAVAILABLE',
        `experimentation API sent an invalid definition for ${kind}/${key}`,
      );
    return body as ExperimentDefinition | FlagDefinition;
  }

  const cache = new LRUCache<string, Cached>({
    max: options.maxEntries ?? DEFINITION_CACHE_MAX_ENTRIES,
    ttl: options.ttlMs ?? DEFINITION_TTL_MS,
    allowStaleOnFetchRejection: true,
    noDeleteOnFetchRejection: true,
    fetchMethod: (cacheKey) => load(cacheKey),
  });

  async function get(kind: 'experiments' | 'flags', key: string): Promise<Cached | undefined> {
    const status: LRUCache.Status<string, Cached> = {};
    const value = await cache.fetch(`${kind}\u0000${key}`, { status });
    // With no stale copy to fall back on, lru-cache resolves undefined: surface the failure.
    if (value === undefined && status.fetchError !== undefined) throw status.fetchError;
    return value;
  }

  return {
    async experiment(key) {
      const value = await get('experiments', key);
      return value === undefined || value === NOT_FOUND ? null : (value as ExperimentDefinition);
    },
    freshExperiment(key) {
      // peek: no recency update, no fetch, and a stale entry is neither returned nor deleted.
      const value = cache.peek(`experiments\u0000${key}`, { allowStale: false });
      return value === undefined ? undefined : value === NOT_FOUND ? null : (value as ExperimentDefinition);
    },
    async flag(key) {
      const value = await get('flags', key);
      return value === undefined || value === NOT_FOUND ? null : (value as FlagDefinition);
    },
  };
}

/**
 * The client a Lambda entry point builds from its validated configuration. Throws
 * CONFIG_INVALID when EXPERIMENTATION_API_URL is missing, which the handlers turn into an
 * error object. With `apiKeySecret` (EXPERIMENTATION_API_KEY_SECRET_ID) the key comes from
 * the secret and is re-read when the API refuses it.
 */
export function definitionClientFromConfig(
  config: { experimentationApiUrl?: string; experimentationApiKey?: string },
  apiKeySecret?: SecretValue,
): DefinitionClient {
  if (config.experimentationApiUrl === undefined) {
    throw new PipelineError('CONFIG_INVALID', 'EXPERIMENTATION_API_URL is not set');
  }
  return createDefinitionClient({
    apiUrl: config.experimentationApiUrl,
    apiKey: apiKeySecret ?? config.experimentationApiKey,
  });
}
