/**
 * Which extra sums the counters keep for an experiment, derived from its definition: per event
 * metric key, a cap (capped sums), CUPED (covariate sums) and the ratios it takes part in
 * (cross sums). The processors write by it (processors/counters) and the query API reads by it
 * (query-api/results); the attributes are in common/counter-layout.ts. The fields it reads
 * (`cap`, `cuped`, `numerator`, `denominator`) are fixed once an experiment is running, so
 * every cell of a running experiment is computed under one plan.
 *
 * @example
 *   counterPlanOf({ metrics: [
 *     { key: 'revenue', type: 'mean', cap: 500, cuped: true },
 *     { key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders' } ] })
 *   // → metrics: revenue { cap: 500, cuped: true, ratios: [{ cellMetricKey: '$ratio:revenue/orders', partner: 'orders' }] },
 *   //            orders  { cuped: false, ratios: [{ cellMetricKey: '$ratio:revenue/orders', partner: 'revenue' }] }
 *   //   covariateMetrics: ['revenue']
 */
import { ratioCellMetricKey } from './counter-layout.js';
import type { ExperimentDefinition } from './experiment-definition.js';

/** A ratio an event metric takes part in: the ratio's cell and the other side's metric key. */
export interface RatioMembership {
  /** The metric part of the ratio cell's sort key (`$ratio:N/D`). */
  cellMetricKey: string;
  /** The other metric of the ratio (the denominator for a numerator, and the reverse). */
  partner: string;
  /** Which side this metric is on. */
  side: 'numerator' | 'denominator';
}

/** What the counters keep beyond events, units, Σx and Σx² for one event metric key. */
export interface MetricCounterPlan {
  /** Absolute cap on a user's total (natural units); capped sums are kept when present. */
  cap?: number;
  /** Covariate sums are kept (the covariate is the impression's `covariates[<metric key>]`). */
  cuped: boolean;
  ratios: readonly RatioMembership[];
}

export interface CounterPlan {
  /** Only metric keys with something extra appear; others get the base sums alone. */
  metrics: ReadonlyMap<string, MetricCounterPlan>;
  /** Metric keys with `cuped`, sorted: the covariates a user's first event fixes, and the first impression adds to Σc, Σc². */
  covariateMetrics: readonly string[];
}

/** The plan of an experiment without extras (and of one the processors have no definition for). */
export const EMPTY_COUNTER_PLAN: CounterPlan = Object.freeze({
  metrics: new Map<string, MetricCounterPlan>(),
  covariateMetrics: Object.freeze([]),
});

/** Derives the plan from a (valid) definition; a metric listed twice in ratios gets one membership per ratio pair. */
export function counterPlanOf(definition: Pick<ExperimentDefinition, 'metrics'>): CounterPlan {
  const metrics = new Map<string, { cap?: number; cuped: boolean; ratios: RatioMembership[] }>();
  const entry = (key: string) => {
    let plan = metrics.get(key);
    if (!plan) metrics.set(key, (plan = { cuped: false, ratios: [] }));
    return plan;
  };
  const seenRatios = new Set<string>();
  for (const metric of definition.metrics) {
    if (metric.type === 'ratio') {
      if (metric.numerator === undefined || metric.denominator === undefined) continue;
      const cellMetricKey = ratioCellMetricKey(metric.numerator, metric.denominator);
      if (seenRatios.has(cellMetricKey)) continue;
      seenRatios.add(cellMetricKey);
      entry(metric.numerator).ratios.push({ cellMetricKey, partner: metric.denominator, side: 'numerator' });
      entry(metric.denominator).ratios.push({ cellMetricKey, partner: metric.numerator, side: 'denominator' });
      continue;
    }
    if (metric.cap !== undefined) entry(metric.key).cap = metric.cap;
    if (metric.cuped === true) entry(metric.key).cuped = true;
  }
  if (metrics.size === 0) return EMPTY_COUNTER_PLAN;
  const covariateMetrics = [...metrics].filter(([, plan]) => plan.cuped).map(([key]) => key);
  covariateMetrics.sort();
  return { metrics, covariateMetrics };
}

/**
 * Where the counter sink learns an experiment's plan (processors/counters/counter-sink.ts).
 * `planOf` answers synchronously when it can (a cached definition: the hot path awaits nothing)
 * and with a promise otherwise; a rejection means "not known yet": the sink fails the batch
 * (retriable) rather than count without the plan. An experiment without a definition resolves
 * to EMPTY_COUNTER_PLAN.
 *
 * @example
 *   const plans: CounterPlanSource = { planOf: (experimentId) => cache.get(experimentId) ?? fetchPlan(experimentId) };
 */
export interface CounterPlanSource {
  planOf(experimentId: string): Promise<CounterPlan> | CounterPlan;
}
