/**
 * Test and bench support: a results cache that never stores, so every request computes
 * (reads the counters and runs the statistics), as on a cache miss.
 */
import type { ResultsCache } from '../cache/results-cache.js';

export const NEVER_CACHE: ResultsCache = Object.freeze({
  kind: 'memory',
  getOrCompute: async (_key: string, compute: () => Promise<string>) => ({ value: await compute(), hit: false }),
  ping: () => Promise.resolve(),
});
