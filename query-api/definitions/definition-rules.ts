/**
 * Pure rules for experiment and flag definitions beyond what JSON Schema can say:
 * defaults on create, merging a patch, and cross-field checks (weights sum to 1, the
 * control is a variant, ids unique, targeting well-formed, each metric's fields fit its
 * type). Every problem names the field and the rule so an API caller can fix the request
 * without guessing.
 *
 * The fields that decide what the processors count (common/counter-plan.ts: a metric's `type`,
 * `cap`, `cuped`, `numerator`, `denominator`) are locked once an experiment is `running` or
 * `stopped`: a PATCH that would change them is refused with 409 CONFLICT, rule
 * `locked-while-running` (experimentLockViolations), so every cell of a running experiment is
 * computed under one definition.
 */
import { PipelineError } from '../../common/errors.js';
import type { ExperimentDefinition, FlagDefinition } from '../../common/experiment-definition.js';
import {
  REMOVABLE_EXPERIMENT_FIELDS,
  REMOVABLE_FLAG_FIELDS,
  type CreateExperiment,
  type CreateFlag,
  type PatchExperiment,
  type PatchFlag,
} from './schemas.js';

/** One broken rule: `field` is a dotted path into the definition. */
export interface RuleViolation {
  field: string;
  rule: string;
  message: string;
}

/**
 * Checks a targeting rule; returns problems (empty when valid), `field` relative to the
 * rule. The rule language is owned by common/targeting.ts (`targetingRuleViolations`).
 */
export type TargetingValidator = (rule: unknown) => readonly RuleViolation[];

/** Accepts any rule: used until a rule language validator is injected. */
export const acceptAnyTargeting: TargetingValidator = () => [];

const WEIGHT_TOLERANCE = 1e-9;
/**
 * Deepest nesting of arrays and objects in a flag's `value` / `defaultValue`. Flag values
 * are configuration, not documents; deeper values cannot be stored (PostgreSQL's JSONB
 * and the serializers recurse) and are refused with a 400 naming the field.
 */
export const MAX_FLAG_VALUE_DEPTH = 32;

/**
 * Nesting depth of a JSON value (a scalar is 0, `[]` and `{}` are 1), computed without
 * recursion so any input is safe; stops counting past `limit`.
 *
 * @example jsonDepth({ a: [1, { b: 2 }] }, 32) // → 3
 */
export function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (item === null || typeof item !== 'object') continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (deepest > limit) return deepest;
    for (const child of Object.values(item)) pending.push([child, level]);
  }
  return deepest;
}

/** Applies the documented defaults to a create request. */
export function experimentFromCreate(body: CreateExperiment): ExperimentDefinition {
  return {
    ...body,
    status: body.status ?? 'draft',
    coverage: body.coverage ?? 1,
    hashSeed: body.hashSeed ?? body.key,
    hashVersion: 2,
    metrics: (body.metrics ?? []).map((metric) => ({ ...metric, lowerIsBetter: metric.lowerIsBetter ?? false })),
    segmentDimensions: body.segmentDimensions ?? [],
  };
}

/**
 * Merges a patch into a stored definition; the key never changes. A field left out is kept,
 * a removable field set to `null` (`targeting`, `analysis`) is removed.
 *
 * @example applyExperimentPatch({ ...stored, targeting: rule }, { targeting: null }).targeting // → undefined
 */
export function applyExperimentPatch(current: ExperimentDefinition, patch: PatchExperiment): ExperimentDefinition {
  const merged = withoutRemoved({ ...current, ...stripUndefined(patch) }, REMOVABLE_EXPERIMENT_FIELDS);
  const next = { ...merged, metrics: merged.metrics.map((m) => ({ ...m, lowerIsBetter: m.lowerIsBetter ?? false })) };
  const locked = experimentLockViolations(current, next);
  if (locked.length > 0) {
    const summary = locked.map((v) => `${v.field}: ${v.message} (${v.rule})`).join('; ');
    throw new PipelineError('CONFLICT', `experiment "${current.key}" is ${current.status}: ${summary}`, {
      details: locked,
    });
  }
  return next;
}

/** One metric of an experiment definition. */
type MetricDefinition = ExperimentDefinition['metrics'][number];

/** Statuses under which the counting fields of the metrics are locked. */
const LOCKED_STATUSES: ReadonlySet<ExperimentDefinition['status']> = new Set(['running', 'stopped']);
/** The metric fields the processors count by (common/counter-plan.ts), in the order violations list them. */
const COUNTING_FIELDS = ['type', 'numerator', 'denominator', 'cap', 'cuped'] as const;

/** What a metric field means for counting: `cuped: false` and an absent `cuped` are the same. */
const countingValue = (metric: MetricDefinition, field: (typeof COUNTING_FIELDS)[number]): unknown =>
  field === 'cuped' ? metric.cuped === true : metric[field];

/** True for a metric whose cells carry extra sums: a ratio, a capped or a CUPED metric. */
const countsExtras = (metric: MetricDefinition): boolean =>
  metric.type === 'ratio' || metric.cap !== undefined || metric.cuped === true;

const extrasOf = (metric: MetricDefinition): string =>
  metric.type === 'ratio'
    ? 'a ratio metric'
    : `a ${[metric.cap !== undefined ? 'capped' : '', metric.cuped === true ? 'CUPED' : ''].filter(Boolean).join(' and ')} metric`;

/**
 * The changes from `current` to `next` that a `running` or `stopped` experiment refuses
 * (rule `locked-while-running`): any metric's type, numerator, denominator, cap or cuped, and
 * adding or removing a ratio, capped or CUPED metric, and going back to `draft` while it has
 * one. Plain metrics may still come and go. Empty when `current` is a draft.
 *
 * @example
 *   experimentLockViolations(running, { ...running, metrics: [{ ...revenue, cap: 100 }] })
 *   // → [{ field: 'metrics[0].cap', rule: 'locked-while-running', message: '…' }]
 */
export function experimentLockViolations(current: ExperimentDefinition, next: ExperimentDefinition): RuleViolation[] {
  if (!LOCKED_STATUSES.has(current.status)) return [];
  const rule = 'locked-while-running';
  const why = `the experiment is ${current.status}, and its cells are counted under the definition it started with`;
  const violations: RuleViolation[] = [];
  const before = new Map(current.metrics.map((metric) => [metric.key, metric]));
  const kept = new Set<string>();
  next.metrics.forEach((metric, i) => {
    const old = before.get(metric.key);
    if (old === undefined) {
      if (countsExtras(metric)) {
        violations.push({
          field: `metrics[${i}]`,
          rule,
          message: `metric "${metric.key}" is ${extrasOf(metric)}: it cannot be added while ${why}`,
        });
      }
      return;
    }
    kept.add(metric.key);
    for (const field of COUNTING_FIELDS) {
      const was = countingValue(old, field);
      const is = countingValue(metric, field);
      if (was === is) continue;
      violations.push({
        field: `metrics[${i}].${field}`,
        rule,
        message: `metric "${metric.key}": ${field} cannot change (${JSON.stringify(was) ?? 'absent'} → ${JSON.stringify(is) ?? 'absent'}) while ${why}`,
      });
    }
  });
  if (next.status === 'draft' && current.metrics.some(countsExtras)) {
    // A draft could change them freely: the cells already counted would then mix two definitions.
    violations.push({
      field: 'status',
      rule,
      message: `the experiment cannot go back to draft: it has ratio, capped or CUPED metrics, and ${why}`,
    });
  }
  for (const old of current.metrics) {
    if (kept.has(old.key) || !countsExtras(old)) continue;
    violations.push({
      field: 'metrics',
      rule,
      message: `metric "${old.key}" is ${extrasOf(old)}: it cannot be removed while ${why}`,
    });
  }
  return violations;
}

/**
 * The rules of each metric's fields: a ratio names a numerator and a different denominator
 * (event metric keys, not ratio metrics of this experiment); numerator and denominator only on
 * ratios; `cap` only on mean metrics; `cuped` only on binomial and mean metrics. Fields are
 * named `metrics[<index>].<field>`.
 */
export function metricRuleViolations(metrics: readonly MetricDefinition[]): RuleViolation[] {
  const violations: RuleViolation[] = [];
  const ratioKeys = new Set(metrics.filter((metric) => metric.type === 'ratio').map((metric) => metric.key));
  metrics.forEach((metric, i) => {
    const at = (field: string) => `metrics[${i}].${field}`;
    if (metric.type === 'ratio') {
      for (const side of ['numerator', 'denominator'] as const) {
        const key = metric[side];
        if (key === undefined) {
          violations.push({
            field: at(side),
            rule: 'required-for-ratio',
            message: `ratio metric "${metric.key}" needs a ${side}: the event metric key summed per user ${side === 'numerator' ? 'above' : 'below'} the line`,
          });
        } else if (ratioKeys.has(key)) {
          violations.push({
            field: at(side),
            rule: 'event-metric-only',
            message: `${side} "${key}" is a ratio metric of this experiment; a ratio's ${side} is an event metric key`,
          });
        }
      }
      if (metric.numerator !== undefined && metric.numerator === metric.denominator) {
        violations.push({
          field: at('denominator'),
          rule: 'different-from-numerator',
          message: `ratio metric "${metric.key}" divides "${metric.numerator}" by itself; the denominator must be another metric`,
        });
      }
      if (metric.cuped === true) {
        violations.push({
          field: at('cuped'),
          rule: 'cuped-on-ratio',
          message: `CUPED is not available for ratio metrics ("${metric.key}"); use it on binomial or mean metrics`,
        });
      }
    } else {
      for (const side of ['numerator', 'denominator'] as const) {
        if (metric[side] === undefined) continue;
        violations.push({
          field: at(side),
          rule: 'ratio-only',
          message: `${side} belongs to ratio metrics; "${metric.key}" is ${metric.type}`,
        });
      }
    }
    if (metric.cap !== undefined && metric.type !== 'mean') {
      violations.push({
        field: at('cap'),
        rule: 'mean-only',
        message: `cap (winsorization of each user's total) applies to mean metrics; "${metric.key}" is ${metric.type}`,
      });
    }
  });
  return violations;
}

/** Applies the documented defaults to a flag create request. */
export function flagFromCreate(body: CreateFlag): FlagDefinition {
  return { ...body, enabled: body.enabled ?? false, rollout: body.rollout ?? 1, hashSeed: body.hashSeed ?? body.key };
}

/** Merges a patch into a stored flag; the key never changes; `targeting: null` removes the rule. */
export function applyFlagPatch(current: FlagDefinition, patch: PatchFlag): FlagDefinition {
  return withoutRemoved({ ...current, ...stripUndefined(patch) }, REMOVABLE_FLAG_FIELDS);
}

/**
 * Drops the removable fields a patch set to `null` (only they admit null in the patch schema;
 * a flag's `value` may itself be JSON null and is kept).
 */
function withoutRemoved<T extends object, R extends string>(
  value: T,
  removable: readonly R[],
): { [K in keyof T]: K extends R ? Exclude<T[K], null> : T[K] } {
  return Object.fromEntries(
    Object.entries(value).filter(([name, v]) => !(v === null && (removable as readonly string[]).includes(name))),
  ) as { [K in keyof T]: K extends R ? Exclude<T[K], null> : T[K] };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  return [...new Set(values.filter((value) => seen.has(value) || !seen.add(value)))];
}

/** Cross-field rules of an experiment; empty when it is valid. */
export function experimentRuleViolations(
  definition: ExperimentDefinition,
  validateTargeting: TargetingValidator = acceptAnyTargeting,
): RuleViolation[] {
  const violations: RuleViolation[] = [];
  const weightSum = definition.variants.reduce((sum, variant) => sum + variant.weight, 0);
  if (Math.abs(weightSum - 1) > WEIGHT_TOLERANCE) {
    violations.push({
      field: 'variants',
      rule: 'weightsSumToOne',
      message: `variant weights must sum to 1 (±1e-9); they sum to ${weightSum}`,
    });
  }
  const variantIds = definition.variants.map((variant) => variant.id);
  for (const id of duplicates(variantIds)) {
    violations.push({ field: 'variants', rule: 'uniqueVariantIds', message: `variant id "${id}" appears twice` });
  }
  if (!variantIds.includes(definition.controlVariantId)) {
    violations.push({
      field: 'controlVariantId',
      rule: 'controlAmongVariants',
      message: `control "${definition.controlVariantId}" is not one of the variants (${variantIds.join(', ')})`,
    });
  }
  for (const key of duplicates(definition.metrics.map((metric) => metric.key))) {
    violations.push({ field: 'metrics', rule: 'uniqueMetricKeys', message: `metric key "${key}" appears twice` });
  }
  violations.push(...metricRuleViolations(definition.metrics));
  for (const dimension of duplicates(definition.segmentDimensions)) {
    violations.push({
      field: 'segmentDimensions',
      rule: 'uniqueDimensions',
      message: `segment dimension "${dimension}" appears twice`,
    });
  }
  violations.push(...targetingViolations(definition.targeting, validateTargeting));
  return violations;
}

/** Cross-field rules of a flag; empty when it is valid. */
export function flagRuleViolations(
  definition: FlagDefinition,
  validateTargeting: TargetingValidator = acceptAnyTargeting,
): RuleViolation[] {
  const violations: RuleViolation[] = [];
  for (const field of ['defaultValue', 'value'] as const) {
    if (jsonDepth(definition[field], MAX_FLAG_VALUE_DEPTH) > MAX_FLAG_VALUE_DEPTH) {
      violations.push({
        field,
        rule: 'maxDepth',
        message: `nests arrays and objects more than ${MAX_FLAG_VALUE_DEPTH} levels deep`,
      });
    }
  }
  violations.push(...targetingViolations(definition.targeting, validateTargeting));
  return violations;
}

function targetingViolations(rule: unknown, validateTargeting: TargetingValidator): RuleViolation[] {
  if (rule === undefined) return [];
  return validateTargeting(rule).map((violation) => ({
    ...violation,
    field: violation.field ? `targeting.${violation.field}` : 'targeting',
  }));
}

/** Throws VALIDATION_FAILED listing every violation, or returns quietly. */
export function assertNoViolations(what: string, violations: readonly RuleViolation[]): void {
  if (violations.length === 0) return;
  const summary = violations.map((v) => `${v.field}: ${v.message} (${v.rule})`).join('; ');
  throw new PipelineError('VALIDATION_FAILED', `${what} is invalid: ${summary}`, { details: violations });
}
