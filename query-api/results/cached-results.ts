/**
 * The whole-experiment results JSON through the results cache: one key per (experiment,
 * definition version, resolved alpha, resolved sequential), the same for every route that
 * serves them (`GET …/results`, the list's `GET /api/v1/experiment-summaries`), so one
 * computation serves both and an edit (a new version) is never answered from the old one.
 */
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { resultsCacheKey } from '../cache/cache-keys.js';
import type { CacheOutcome, ResultsCache } from '../cache/results-cache.js';
import type { StoredDefinition } from '../definitions/definition-store.js';
import type { QueryApiMetrics } from '../metrics.js';
import { resolveAnalysisSettings, type AnalysisOptions } from './analysis-settings.js';
import { computeExperimentResults, type ExperimentResults, type ResultsServiceDeps } from './results-service.js';

export interface CachedResultsDeps {
  service: ResultsServiceDeps;
  cache: ResultsCache;
  metrics: Pick<QueryApiMetrics, 'cacheLookups'>;
}

/**
 * The serialized results of `stored` under the query `overrides` (the definition's own settings
 * apply where a query leaves them out), from the cache or computed and serialized into it.
 *
 * @example
 *   const { value, hit } = await cachedExperimentResults(deps, stored, { alpha: 0.1 }, (r) => reply.serialize(r) as string);
 */
export async function cachedExperimentResults(
  deps: CachedResultsDeps,
  stored: StoredDefinition<ExperimentDefinition>,
  overrides: AnalysisOptions,
  serialize: (results: ExperimentResults) => string,
): Promise<CacheOutcome> {
  const resolved = resolveAnalysisSettings(stored.definition, overrides);
  const key = resultsCacheKey({
    experimentId: stored.definition.key,
    version: stored.version,
    alpha: resolved.alpha,
    sequential: resolved.sequential,
  });
  const outcome = await deps.cache.getOrCompute(key, async () =>
    serialize(await computeExperimentResults(deps.service, stored, overrides)),
  );
  deps.metrics.cacheLookups.inc({ kind: 'results', outcome: outcome.hit ? 'hit' : 'miss' });
  return outcome;
}
