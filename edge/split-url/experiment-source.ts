/**
 * Where the edge gets its experiment: `GET {experimentationApiUrl}/api/v1/experiments/{key}`
 * with the `x-api-key` header, kept in memory for 60 s. When the API fails (network error,
 * timeout, 5xx, or a response that does not parse), the last good copy keeps being served
 * and the API is not asked again for a short back-off, so an outage costs one slow request
 * per container, not one per viewer. A 404 is an answer, not a failure: no experiment.
 * The key is a string or a secret read at run time (edge-secret.ts): when the API refuses it
 * (401/403) the secret is read again and the request retried once.
 */
import { parseEdgeExperiment, type EdgeExperiment } from './edge-experiment.js';
import type { EdgeLog } from './edge-log.js';
import type { EdgeSecret } from './edge-secret.js';

/** `fresh`: fetched now; `cached`: within TTL; `stale`: the last good copy after a failure; `none`: nothing to serve. */
export type ExperimentFreshness = 'fresh' | 'cached' | 'stale' | 'none';

export interface ExperimentLookup {
  /** `null` when the API says there is no such experiment, or nothing could be fetched yet. */
  experiment: EdgeExperiment | null;
  freshness: ExperimentFreshness;
}

export interface ExperimentSource {
  get(): Promise<ExperimentLookup>;
}

export interface ExperimentSourceOptions {
  apiUrl: string;
  /** A fixed key, or the secret holding it (re-read when the API refuses the key). */
  apiKey: string | EdgeSecret;
  experimentKey: string;
  log: EdgeLog;
  fetch?: typeof globalThis.fetch;
  now?: () => number;
  /** How long a fetched copy is served without asking again. */
  ttlMs?: number;
  /** After a failure, how long the last good copy is served before the API is tried again. */
  failureBackoffMs?: number;
  /** Viewer-request functions have 5 s in all; the API gets a small share of it. */
  timeoutMs?: number;
}

export const EXPERIMENT_TTL_MS = 60_000;
export const FAILURE_BACKOFF_MS = 5_000;
export const FETCH_TIMEOUT_MS = 1_500;

interface CacheEntry {
  experiment: EdgeExperiment | null;
  fetchedAt: number;
}

/**
 * Creates the cached source. One fetch at a time per container: concurrent requests during a
 * refresh share it.
 *
 * @example
 *   const source = createExperimentSource({ apiUrl, apiKey, experimentKey: 'checkout', log });
 *   const { experiment } = await source.get();
 */
export function createExperimentSource(options: ExperimentSourceOptions): ExperimentSource {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? EXPERIMENT_TTL_MS;
  const failureBackoffMs = options.failureBackoffMs ?? FAILURE_BACKOFF_MS;
  const timeoutMs = options.timeoutMs ?? FETCH_TIMEOUT_MS;
  const url = `${options.apiUrl.replace(/\/+$/, '')}/api/v1/experiments/${encodeURIComponent(options.experimentKey)}`;
  let entry: CacheEntry | undefined;
  let lastFailureAt: number | undefined;
  let inFlight: Promise<ExperimentLookup> | undefined;

  const fallback = (): ExperimentLookup =>
    entry ? { experiment: entry.experiment, freshness: 'stale' } : { experiment: null, freshness: 'none' };

  const { apiKey } = options;
  const request = (key: string) =>
    fetchImpl(url, {
      headers: { 'x-api-key': key, accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });

  async function fetchExperiment(): Promise<EdgeExperiment | null> {
    let response = await request(typeof apiKey === 'string' ? apiKey : await apiKey.get());
    if (typeof apiKey !== 'string' && (response.status === 401 || response.status === 403)) {
      await response.body?.cancel();
      response = await request(await apiKey.refresh());
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`experiment API answered ${response.status}`);
    }
    const parsed = parseEdgeExperiment(await response.json(), options.experimentKey);
    if (typeof parsed === 'string') throw new Error(`experiment API response rejected: ${parsed}`);
    return parsed;
  }

  async function refresh(): Promise<ExperimentLookup> {
    try {
      const experiment = await fetchExperiment();
      entry = { experiment, fetchedAt: now() };
      lastFailureAt = undefined;
      return { experiment, freshness: 'fresh' };
    } catch (error) {
      lastFailureAt = now();
      options.log('warn', 'experiment fetch failed; serving the last good copy', {
        experimentKey: options.experimentKey,
        hasLastGoodCopy: entry !== undefined,
        err: error instanceof Error ? error.message : String(error),
      });
      return fallback();
    }
  }

  return {
    get(): Promise<ExperimentLookup> {
      const at = now();
      if (entry && at - entry.fetchedAt < ttlMs) {
        return Promise.resolve({ experiment: entry.experiment, freshness: 'cached' });
      }
      if (lastFailureAt !== undefined && at - lastFailureAt < failureBackoffMs) return Promise.resolve(fallback());
      inFlight ??= refresh().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    },
  };
}
