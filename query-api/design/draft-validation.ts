/**
 * Validates a model's draft exactly as the definitions routes would validate a create
 * request (query-api/definitions: the TypeBox create schema, then the documented defaults
 * and the cross-field rules — weights sum to 1, the control is a variant, unique ids,
 * targeting), plus the power assumptions the model attached (the primary metric is one
 * of the draft's metrics; the power calculator's own input rules). Every problem names
 * its field (`experiment.variants.1.weight`, `power.baseline`) and the rule, so the model
 * can be told precisely what to fix.
 *
 * @example
 *   const checked = validateDraftAnswer(JSON.parse(text), targetingRuleViolations);
 *   if (!checked.ok) correctionMessage(checked.errors);
 */
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import Value from 'typebox/value';
import { EventKey } from '../../common/event-contract.js';
import { MetricDefinitionSchema } from '../../common/experiment-definition.js';
import {
  experimentFromCreate,
  experimentRuleViolations,
  type RuleViolation,
  type TargetingValidator,
} from '../definitions/definition-rules.js';
import { CreateExperimentSchema, type CreateExperiment } from '../definitions/schemas.js';
import { powerInputViolations, type PowerInput } from '../stats/power-plan.js';

/** The power assumptions a draft carries: the model's estimates, for a person to check. */
export const DraftPowerSchema = Type.Object(
  {
    metricKey: EventKey,
    baseline: Type.Number(),
    variance: Type.Optional(Type.Number()),
    minimumDetectableEffect: Type.Number(),
    dailyTraffic: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);
export type DraftPower = Static<typeof DraftPowerSchema>;

/** Longest rationale kept from the model's answer. */
export const MAX_RATIONALE_LENGTH = 2000;

const experimentCheck = Compile(CreateExperimentSchema);
const powerCheck = Compile(DraftPowerSchema);

export type DraftCheck =
  | {
      ok: true;
      /** The create request, `status: "draft"`: POST it to /api/v1/experiments to save it. */
      draft: CreateExperiment;
      powerAssumptions: DraftPower;
      /** The calculator's input built from the draft (its variants, weights and metric type). */
      powerInput: PowerInput;
      rationale: string | null;
    }
  | { ok: false; errors: RuleViolation[] };

/** JSON-pointer `/variants/1/weight` under `prefix` → `prefix.variants.1.weight`. */
const fieldOf = (prefix: string, instancePath: string) =>
  [prefix, ...instancePath.split('/').filter((part) => part.length > 0)].join('.');

function schemaErrors(check: ReturnType<typeof Compile>, value: unknown, prefix: string): RuleViolation[] {
  return [...check.Errors(value)]
    .filter((error) => error.keyword !== 'boolean') // TypeBox's echo of an additionalProperties failure
    .map((error) => {
      const extra = (error.params as { additionalProperties?: unknown }).additionalProperties;
      return {
        field: fieldOf(prefix, error.instancePath),
        rule: error.keyword,
        message: Array.isArray(extra) ? `${error.message}: ${extra.join(', ')}` : error.message,
      };
    });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The schema defaults the definitions routes' validator fills in (ajv `useDefaults`), e.g. a
 * metric's `lowerIsBetter: false`. TypeBox's `Value.Default` does not descend into the create
 * schema's re-described properties, so metric items get theirs from their own schema.
 */
function withDefaults(experiment: Record<string, unknown>): Record<string, unknown> {
  const copy = Value.Default(CreateExperimentSchema, structuredClone(experiment)) as Record<string, unknown>;
  if (Array.isArray(copy.metrics)) {
    copy.metrics = copy.metrics.map((metric: unknown) =>
      isObject(metric) ? Value.Default(MetricDefinitionSchema, metric) : metric,
    );
  }
  return copy;
}

/** Where a power-calculator input came from in the answer: the experiment, its `analysis`, or `power`. */
function draftFieldOf(inputField: string): string {
  if (inputField.startsWith('variants') || inputField === 'controlVariantId') return `experiment.${inputField}`;
  if (inputField === 'alpha' || inputField === 'sequentialTuning') return `experiment.analysis.${inputField}`;
  return `power.${inputField}`;
}

/**
 * Checks a parsed answer `{ experiment, power, rationale }` (see design-prompt.ts). A draft's
 * `status` is forced to `draft`; everything else must already be valid.
 */
export function validateDraftAnswer(
  answer: Record<string, unknown>,
  validateTargeting: TargetingValidator,
): DraftCheck {
  const { experiment, power, rationale } = answer;
  if (!isObject(experiment)) {
    return { ok: false, errors: [{ field: 'experiment', rule: 'required', message: 'must be an object' }] };
  }
  const candidate = withDefaults({ ...experiment, status: 'draft' });
  const errors = schemaErrors(experimentCheck, candidate, 'experiment');
  if (errors.length === 0) {
    const definition = experimentFromCreate(candidate as CreateExperiment);
    errors.push(
      ...experimentRuleViolations(definition, validateTargeting).map((violation) => ({
        ...violation,
        field: `experiment.${violation.field}`,
      })),
    );
  }
  if (!isObject(power)) {
    errors.push({ field: 'power', rule: 'required', message: 'must be an object (the primary metric’s assumptions)' });
    return { ok: false, errors };
  }
  const powerErrors = schemaErrors(powerCheck, power, 'power');
  if (powerErrors.length > 0 || errors.length > 0) return { ok: false, errors: [...errors, ...powerErrors] };

  const draft = candidate as CreateExperiment;
  const assumptions = power as DraftPower;
  const metric = (draft.metrics ?? []).find((m) => m.key === assumptions.metricKey);
  if (!metric) {
    const keys = (draft.metrics ?? []).map((m) => m.key).join(', ') || 'none';
    return {
      ok: false,
      errors: [
        {
          field: 'power.metricKey',
          rule: 'metricOfDraft',
          message: `"${assumptions.metricKey}" is not one of the experiment's metrics (${keys})`,
        },
      ],
    };
  }
  if (metric.type === 'ratio') {
    return {
      ok: false,
      errors: [
        {
          field: 'power.metricKey',
          rule: 'metricTypePlannable',
          message: `"${metric.key}" is a ratio metric; the power calculator plans binomial and mean metrics: name one of those`,
        },
      ],
    };
  }
  // The draft's own statistics settings (`analysis`, when it has them) decide the test planned for.
  const analysis = (draft as { analysis?: { alpha?: number; sequentialTuning?: number; expectedSampleSize?: number } })
    .analysis;
  const tuning = analysis?.sequentialTuning ?? analysis?.expectedSampleSize;
  const powerInput: PowerInput = {
    metricType: metric.type,
    ...(analysis?.alpha === undefined ? {} : { alpha: analysis.alpha }),
    ...(tuning === undefined ? {} : { sequentialTuning: tuning }),
    baseline: assumptions.baseline,
    ...(assumptions.variance === undefined ? {} : { variance: assumptions.variance }),
    minimumDetectableEffect: assumptions.minimumDetectableEffect,
    variants: draft.variants.map((variant) => ({ id: variant.id, weight: variant.weight })),
    controlVariantId: draft.controlVariantId,
    ...(assumptions.dailyTraffic === undefined ? {} : { dailyTraffic: assumptions.dailyTraffic }),
  };
  const inputErrors = powerInputViolations(powerInput).map((violation) => ({
    ...violation,
    field: draftFieldOf(violation.field),
  }));
  if (inputErrors.length > 0) return { ok: false, errors: inputErrors };
  return {
    ok: true,
    draft,
    powerAssumptions: assumptions,
    powerInput,
    rationale: typeof rationale === 'string' ? rationale.slice(0, MAX_RATIONALE_LENGTH) : null,
  };
}
