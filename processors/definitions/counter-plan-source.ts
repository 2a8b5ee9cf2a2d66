/**
 * The processors' `CounterPlanSource` (common/counter-plan.ts): each experiment's counter plan
 * (capped, CUPED and ratio sums), derived from its definition as the query API serves it
 * (`GET /api/v1/experiments/{key}`), through the one definitions client the edge uses too
 * (common/definition-client.ts: LRU cache, fresh for the TTL, the stale copy served when a
 * refresh fails, a 404 cached like a value).
 *
 * - A fresh cached definition answers synchronously: the counter sink's hot path awaits nothing.
 *   Plans are memoized per definition object, so a plan is derived once per fetch.
 * - An experiment the API does not know (404) gets EMPTY_COUNTER_PLAN: base sums only.
 * - An experiment never fetched while the API is down (or answering errors) rejects with a
 *   retriable DEPENDENCY_UNAVAILABLE: the commit step classifies it `retry`
 *   (processors/commit/classify-error.ts) and the shard waits; nothing is counted without its plan.
 *
 * The plan's fields (a metric's type, cap, cuped, numerator, denominator) cannot change once an
 * experiment is running (query-api/definitions/definition-rules.ts), so a cached plan is the
 * plan every cell of a running experiment was counted under.
 *
 * @example
 *   const plans = createDefinitionsPlanSource(createDefinitionClient({ apiUrl, apiKey }));
 *   const plan = await plans.planOf('checkout'); // → counterPlanOf(definition of checkout)
 */
import {
  counterPlanOf,
  EMPTY_COUNTER_PLAN,
  type CounterPlan,
  type CounterPlanSource,
} from '../../common/counter-plan.js';
import { createDefinitionClient, type DefinitionClient } from '../../common/definition-client.js';
import { PipelineError } from '../../common/errors.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { Logger } from '../../common/logger.js';
import type { SecretValue } from '../../common/secrets/secret-value.js';

/** The part of the definitions client the plan source uses. */
export type ExperimentDefinitions = Pick<DefinitionClient, 'experiment' | 'freshExperiment'>;

/**
 * A plan source over a definitions client.
 *
 * @example
 *   const sink = createCounterSink({ ..., plans: createDefinitionsPlanSource(client) });
 */
export function createDefinitionsPlanSource(definitions: ExperimentDefinitions): CounterPlanSource {
  // Keyed by the cached definition object: bounded by the client's LRU, re-derived after each refresh.
  const memo = new WeakMap<ExperimentDefinition, CounterPlan>();
  const planFor = (definition: ExperimentDefinition | null): CounterPlan => {
    if (definition === null) return EMPTY_COUNTER_PLAN;
    let plan = memo.get(definition);
    if (plan === undefined) memo.set(definition, (plan = counterPlanOf(definition)));
    return plan;
  };
  return {
    planOf(experimentId) {
      const fresh = definitions.freshExperiment(experimentId);
      if (fresh !== undefined) return planFor(fresh);
      return definitions.experiment(experimentId).then(planFor, (error: unknown) => {
        throw new PipelineError(
          'DEPENDENCY_UNAVAILABLE',
          `definition of experiment ${experimentId} unavailable (never fetched): its counter plan is unknown, ` +
            'the batch waits',
          { cause: error, retriable: true },
        );
      });
    },
  };
}

/** The processors' definitions settings (common/config.ts `processors.definitions`). */
export interface DefinitionsSourceConfig {
  /** PROCESSOR_DEFINITIONS_API_URL: the query API's base URL; absent: no plan source. */
  readonly apiUrl?: string;
  /** PROCESSOR_DEFINITIONS_API_KEY: a key with read access (or from its secret, see below). */
  readonly apiKey?: string;
  /** PROCESSOR_DEFINITIONS_TTL_MS: how long a fetched definition is fresh. */
  readonly ttlMs: number;
}

/**
 * The plan source the config asks for, or undefined (and a log line saying what is lost) when
 * PROCESSOR_DEFINITIONS_API_URL is not set. With `apiKeySecret`
 * (PROCESSOR_DEFINITIONS_API_KEY_SECRET_ID) the key is re-read when the API refuses it.
 * Logs once, at start-up.
 */
export function counterPlanSourceFromConfig(
  config: DefinitionsSourceConfig,
  logger: Pick<Logger, 'info' | 'warn'>,
  apiKeySecret?: SecretValue,
): CounterPlanSource | undefined {
  if (config.apiUrl === undefined) {
    logger.warn(
      { setting: 'PROCESSOR_DEFINITIONS_API_URL' },
      'no experiment definitions source: ratio, capped and CUPED sums are not kept',
    );
    return undefined;
  }
  const apiKey = apiKeySecret ?? config.apiKey;
  logger.info(
    { apiUrl: config.apiUrl, ttlMs: config.ttlMs, apiKey: apiKey === undefined ? 'none' : 'set' },
    'counter plans from the experiment definitions (query API)',
  );
  return createDefinitionsPlanSource(
    createDefinitionClient({ apiUrl: config.apiUrl, ttlMs: config.ttlMs, ...(apiKey ? { apiKey } : {}) }),
  );
}
