/**
 * Pure: which alert conditions hold, and what changed since the last run. Two scopes:
 * `evaluateAlerts(definition, results, firing)` for one experiment (its results), and
 * `evaluatePipelineAlerts(health, firing)` once for the whole pipeline (its health is the same
 * for every experiment, so it is told once, not once per running experiment). Each gives the
 * conditions that start firing and those that clear; the caller delivers them and records the
 * new state, so each alert is sent once when it starts and once when it clears.
 *
 * Conditions (ids are stable: they key the state in PostgreSQL):
 *
 *   per experiment
 *   srm                            the results' sample-ratio check (`srm.mismatch`: p < 0.001, ≥ 8 users per variant)
 *   guardrail:<metric>:<variant>   a `guardrail: true` metric moved the wrong way with significance: the
 *                                  relative lift's interval lies wholly on the bad side of 0 (below for
 *                                  higher-is-better, above for `lowerIsBetter`) — the interval the results
 *                                  show, a confidence sequence when sequential (the experiment's settings)
 *   for the pipeline
 *   dead-letters                   dead letters added within the window > MONITOR_DEAD_LETTER_THRESHOLD
 *   processor-lag                  the processors' largest lag (MillisBehindLatest; IteratorAge in AWS) > MONITOR_LAG_THRESHOLD_MS
 *   state-lost                     the processors stopped on STATE_LOST
 *
 * A health value that could not be read (null) leaves its condition as it was: an
 * unreachable metrics endpoint neither fires nor clears an alert.
 *
 * @example
 *   const { fired, cleared } = evaluateAlerts({ definition, results, firing: [] });
 *   // results.srm.mismatch → fired = [{ condition: 'srm', kind: 'srm', … }]
 *   evaluatePipelineAlerts({ health: { deadLetterGrowth: 5, lagMs: 0, stateLost: false }, thresholds, firing: [] });
 *   // threshold 3 → fired = [{ condition: 'dead-letters', … }]
 */
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import type { ExperimentResults } from '../results/results-service.js';

export type AlertKind = 'srm' | 'guardrail' | 'dead-letters' | 'processor-lag' | 'state-lost';

/** A condition that holds now. */
export interface ActiveCondition {
  condition: string;
  kind: AlertKind;
  /** One line a person reads: what is wrong, with the numbers. */
  summary: string;
  detail: Record<string, unknown>;
}

/** An alert recorded as firing (alert state in PostgreSQL). */
export interface FiringAlert {
  condition: string;
  firedAt: Date;
  detail: Record<string, unknown>;
}

/** The pipeline's health as read this run; null = could not be read (leaves those alerts as they were). */
export interface PipelineHealth {
  /** Dead letters added within the window. */
  deadLetterGrowth: number | null;
  /** Largest lag of any shard, ms. */
  lagMs: number | null;
  stateLost: boolean | null;
}

export interface AlertThresholds {
  deadLetterThreshold: number;
  deadLetterWindowMs: number;
  lagThresholdMs: number;
}

export interface AlertEvaluation {
  fired: ActiveCondition[];
  cleared: FiringAlert[];
  /** Every condition that holds now (fired now or earlier). */
  active: ActiveCondition[];
}

const HEALTH_KINDS = ['dead-letters', 'processor-lag', 'state-lost'] as const;

/** The kind of a condition id (`guardrail:signup:treatment` → `guardrail`). */
export function kindOf(condition: string): AlertKind {
  const head = condition.split(':', 1)[0] ?? '';
  return (['srm', 'guardrail', ...HEALTH_KINDS] as const).find((kind) => kind === head) ?? 'srm';
}

const percent = (value: number | null): string => (value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`);

/** Conditions of the results: sample-ratio mismatch and the definition's guardrails moving the wrong way. */
export function resultConditions(definition: ExperimentDefinition, results: ExperimentResults): ActiveCondition[] {
  const active: ActiveCondition[] = [];
  if (results.srm.mismatch) {
    const users = Object.fromEntries(results.variants.map((variant) => [variant.variantId, variant.users]));
    active.push({
      condition: 'srm',
      kind: 'srm',
      summary:
        `sample-ratio mismatch (p = ${results.srm.pValue?.toExponential(2) ?? 'n/a'}): exposed users ` +
        Object.entries(users)
          .map(([variant, count]) => `${variant} ${count}`)
          .join(', '),
      detail: { pValue: results.srm.pValue, users },
    });
  }
  for (const metric of definition.metrics) {
    if (metric.guardrail !== true) continue;
    for (const variant of results.variants) {
      const comparison = variant.metrics[metric.key]?.vsControl;
      if (!comparison) continue;
      const { estimate, ciLow, ciHigh } = comparison.relative;
      const wrongWay = metric.lowerIsBetter ? ciLow !== null && ciLow > 0 : ciHigh !== null && ciHigh < 0;
      if (!wrongWay) continue;
      active.push({
        condition: `guardrail:${metric.key}:${variant.variantId}`,
        kind: 'guardrail',
        summary:
          `guardrail ${metric.key} moved the wrong way in ${variant.variantId}: ${percent(estimate)} ` +
          `[${percent(ciLow)}, ${percent(ciHigh)}] vs ${results.controlVariantId}` +
          (comparison.pValue === null ? '' : ` (p = ${comparison.pValue.toPrecision(2)})`),
        detail: {
          metric: metric.key,
          variantId: variant.variantId,
          relative: estimate,
          interval: [ciLow, ciHigh],
          pValue: comparison.pValue,
          lowerIsBetter: metric.lowerIsBetter,
        },
      });
    }
  }
  return active;
}

/** Conditions of the pipeline's health (null values: unknown, not reported). */
export function healthConditions(health: PipelineHealth, thresholds: AlertThresholds): ActiveCondition[] {
  const active: ActiveCondition[] = [];
  if (health.deadLetterGrowth !== null && health.deadLetterGrowth > thresholds.deadLetterThreshold) {
    const minutes = Math.round(thresholds.deadLetterWindowMs / 60_000);
    active.push({
      condition: 'dead-letters',
      kind: 'dead-letters',
      summary:
        `${health.deadLetterGrowth} events were dead-lettered in the last ${minutes} min ` +
        `(threshold ${thresholds.deadLetterThreshold}); see npm run dlq -- list`,
      detail: { growth: health.deadLetterGrowth, threshold: thresholds.deadLetterThreshold, windowMinutes: minutes },
    });
  }
  if (health.lagMs !== null && health.lagMs > thresholds.lagThresholdMs) {
    active.push({
      condition: 'processor-lag',
      kind: 'processor-lag',
      summary: `the processors are ${Math.round(health.lagMs / 1000)} s behind the stream (threshold ${Math.round(thresholds.lagThresholdMs / 1000)} s): results are stale`,
      detail: { lagMs: health.lagMs, thresholdMs: thresholds.lagThresholdMs },
    });
  }
  if (health.stateLost === true) {
    active.push({
      condition: 'state-lost',
      kind: 'state-lost',
      summary:
        'the processors stopped: their exactly-once state was lost (STATE_LOST); counting resumes after the runbook',
      detail: {},
    });
  }
  return active;
}

/** Health kinds whose value could not be read this run. */
function unknownHealthKinds(health: PipelineHealth): Set<AlertKind> {
  const unknown = new Set<AlertKind>();
  if (health.deadLetterGrowth === null) unknown.add('dead-letters');
  if (health.lagMs === null) unknown.add('processor-lag');
  if (health.stateLost === null) unknown.add('state-lost');
  return unknown;
}

/** Conditions that hold and were not firing fire; firing alerts whose condition no longer holds clear. */
function transitions(
  active: ActiveCondition[],
  firing: readonly FiringAlert[],
  unknown: ReadonlySet<AlertKind> = new Set(),
): AlertEvaluation {
  const activeIds = new Set(active.map((condition) => condition.condition));
  const firingIds = new Set(firing.map((alert) => alert.condition));
  return {
    fired: active.filter((condition) => !firingIds.has(condition.condition)),
    cleared: firing.filter((alert) => !activeIds.has(alert.condition) && !unknown.has(kindOf(alert.condition))),
    active,
  };
}

/** What changed for one experiment: its SRM and guardrail conditions against its firing alerts. */
export function evaluateAlerts(input: {
  definition: ExperimentDefinition;
  results: ExperimentResults;
  firing: readonly FiringAlert[];
}): AlertEvaluation {
  return transitions(resultConditions(input.definition, input.results), input.firing);
}

/**
 * What changed for the pipeline (once per run, not per experiment): its health conditions
 * against the pipeline's firing alerts; a firing alert whose health value is unknown stays.
 */
export function evaluatePipelineAlerts(input: {
  health: PipelineHealth;
  thresholds: AlertThresholds;
  firing: readonly FiringAlert[];
}): AlertEvaluation {
  return transitions(healthConditions(input.health, input.thresholds), input.firing, unknownHealthKinds(input.health));
}
