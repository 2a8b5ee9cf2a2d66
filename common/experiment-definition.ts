/**
 * Experiment and feature-flag definitions: stored by the query API (PostgreSQL), read by
 * the edge functions and the processors. One schema for validation, types and OpenAPI.
 *
 * An experiment's `key` is its id everywhere: events carry it as `experimentId`, counters
 * are partitioned by it, the edge cookie is `exp_{key}`.
 */
import Type, { type Static } from 'typebox';
import { EventKey } from './event-contract.js';
import { TargetingRuleSchema } from './targeting.js';

export const VariantSchema = Type.Object(
  {
    id: EventKey,
    name: Type.Optional(Type.String({ maxLength: 200 })),
    /** Relative traffic weight; weights are normalised over the variants. */
    weight: Type.Number({ minimum: 0, maximum: 1 }),
    /** Split-URL target for the edge: absolute path (`/landing-b`) or absolute https URL. */
    url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, pattern: '^(/|https://)' })),
  },
  { additionalProperties: false },
);

export const MetricDefinitionSchema = Type.Object(
  {
    key: EventKey,
    type: Type.Enum(['binomial', 'mean'], {
      description: '`binomial`: converted or not (rate). `mean`: per-user value.',
    }),
    lowerIsBetter: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

export const ExperimentStatusSchema = Type.Enum(['draft', 'running', 'stopped']);

/**
 * Targeting rule on user attributes: the language, its schema and save-time validation
 * (`validateTargetingRule`, which also checks regex safety and version formats) live in
 * common/targeting.ts; re-exported here under the name callers already use.
 */
export { TargetingRuleSchema };

export const ExperimentDefinitionSchema = Type.Object(
  {
    key: EventKey,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    status: ExperimentStatusSchema,
    variants: Type.Array(VariantSchema, { minItems: 2, maxItems: 20 }),
    controlVariantId: EventKey,
    /** Share of eligible users included, 0–1. */
    coverage: Type.Number({ minimum: 0, maximum: 1 }),
    /** Hash seed; defaults to the key. Changing it reshuffles users. */
    hashSeed: Type.String({ minLength: 1, maxLength: 128 }),
    hashVersion: Type.Literal(2),
    metrics: Type.Array(MetricDefinitionSchema, { maxItems: 50 }),
    segmentDimensions: Type.Array(EventKey, { maxItems: 10 }),
    targeting: Type.Optional(TargetingRuleSchema),
  },
  { additionalProperties: false, $id: 'ExperimentDefinition' },
);
export type ExperimentDefinition = Static<typeof ExperimentDefinitionSchema>;

export const FlagDefinitionSchema = Type.Object(
  {
    key: EventKey,
    description: Type.Optional(Type.String({ maxLength: 5000 })),
    enabled: Type.Boolean(),
    /** Served when the flag is off, the user is not targeted, or outside the rollout. */
    defaultValue: Type.Unknown(),
    /** Served to targeted users inside the rollout when the flag is on. */
    value: Type.Unknown(),
    /** Share of targeted users who get `value`, 0–1, bucketed with the same hash as experiments. */
    rollout: Type.Number({ minimum: 0, maximum: 1 }),
    hashSeed: Type.String({ minLength: 1, maxLength: 128 }),
    targeting: Type.Optional(TargetingRuleSchema),
  },
  { additionalProperties: false, $id: 'FlagDefinition' },
);
export type FlagDefinition = Static<typeof FlagDefinitionSchema>;
