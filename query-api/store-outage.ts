/**
 * Bookkeeping of a shared store's outage (Redis behind the results cache and the rate
 * limiter): every operation served by the in-process fallback is counted
 * (`query_api_store_fallbacks_total{store}`), the state is a gauge
 * (`query_api_store_degraded{store}`), and the transitions are logged once each —
 * a warning when the store starts failing, an info line when it answers again — so an
 * outage is visible without one log line per request.
 *
 * @example
 *   const outage = createStoreOutage('results-cache', { logger, metrics });
 *   try { await redis.get(key); outage.succeeded(); } catch (error) { outage.failed(error); useFallback(); }
 */
import type { Logger } from '../common/logger.js';
import type { FallbackStore, QueryApiMetrics } from './metrics.js';

export interface StoreOutage {
  readonly store: FallbackStore;
  /** True between a failure and the next success. */
  readonly degraded: boolean;
  /** The store failed and the fallback serves this operation. */
  failed(error: unknown): void;
  /** The store answered. */
  succeeded(): void;
}

/** Creates the outage reporter of one store. */
export function createStoreOutage(
  store: FallbackStore,
  deps: { logger: Logger; metrics: QueryApiMetrics },
  /** What happens meanwhile, for the warning. Default: served from the in-process fallback. */
  meanwhile = 'serving from the in-process fallback',
): StoreOutage {
  let degraded = false;
  deps.metrics.storeDegraded.set({ store }, 0);
  return {
    store,
    get degraded() {
      return degraded;
    },
    failed(error) {
      deps.metrics.storeFallbacks.inc({ store });
      if (degraded) return;
      degraded = true;
      deps.metrics.storeDegraded.set({ store }, 1);
      deps.logger.warn({ err: error, store }, `${store} store (Redis) unavailable: ${meanwhile}`);
    },
    succeeded() {
      if (!degraded) return;
      degraded = false;
      deps.metrics.storeDegraded.set({ store }, 0);
      deps.logger.info({ store }, `${store} store (Redis) answers again: fallback ended`);
    },
  };
}
