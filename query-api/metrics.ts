/**
 * Prometheus metrics of the query API, in a registry of its own (several apps can live
 * in one process, as in tests), served at GET /metrics on the metrics port
 * (QUERY_API_METRICS_PORT, metrics-server.ts), never on the public one.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The shared stores the API degrades around (Redis): results cache and rate-limit counters
 * (served in process), and the sign-out list (`sessions`: reads go on unchecked, writes are refused).
 */
export type FallbackStore = 'results-cache' | 'rate-limit' | 'sessions';

export interface QueryApiMetrics {
  registry: Registry;
  /** Request latency by route pattern, method and status. */
  requestDuration: Histogram<'route' | 'method' | 'status'>;
  /** Results and breakdown lookups by outcome (`hit`, `miss`). */
  cacheLookups: Counter<'kind' | 'outcome'>;
  /** Operations served by the in-process fallback because the shared store (Redis) failed. */
  storeFallbacks: Counter<'store'>;
  /** 1 while a shared store is failing and the in-process fallback serves, else 0. */
  storeDegraded: Gauge<'store'>;
}

/** Creates the registry and the instruments; `defaultMetrics` adds process metrics (production). */
export function createQueryApiMetrics(options: { defaultMetrics?: boolean } = {}): QueryApiMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requestDuration: new Histogram({
      name: 'query_api_request_duration_seconds',
      help: 'HTTP request latency by route pattern',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    cacheLookups: new Counter({
      name: 'query_api_cache_lookups_total',
      help: 'Results cache lookups by kind (results, segments) and outcome (hit, miss)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    storeFallbacks: new Counter({
      name: 'query_api_store_fallbacks_total',
      help: 'Operations served in process because the shared store (Redis) failed, by store',
      labelNames: ['store'] as const,
      registers: [registry],
    }),
    storeDegraded: new Gauge({
      name: 'query_api_store_degraded',
      help: '1 while the shared store (Redis) fails and the in-process fallback serves, by store',
      labelNames: ['store'] as const,
      registers: [registry],
    }),
  };
}
