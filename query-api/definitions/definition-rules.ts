/**
 * Pure rules for experiment and flag definitions beyond what JSON Schema can say:
 * defaults on create, merging a patch, and cross-field checks (weights sum to 1, the
 * control is a variant, ids unique, targeting well-formed). Every problem names the
 * field and the rule so an API caller can fix the request without guessing.
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
  return { ...merged, metrics: merged.metrics.map((m) => ({ ...m, lowerIsBetter: m.lowerIsBetter ?? false })) };
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
