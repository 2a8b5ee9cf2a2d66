/**
 * Experiment and feature-flag definitions: stored by the query API (PostgreSQL), read by
 * the edge functions and the processors. One schema for validation, types and OpenAPI.
 *
 * An experiment's `key` is its id everywhere: events carry it as `experimentId`, counters
 * are partitioned by it, the edge cookie is `exp_{key}`.
 */
import Type, { type Static } from 'typebox';
import { AnalysisSettingsSchema } from './analysis-settings.js';
import { EventKey, MAX_USER_TOTAL } from './event-contract.js';
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
    type: Type.Enum(['binomial', 'mean', 'ratio'], {
      description:
        '`binomial`: converted or not (rate). `mean`: per-user value. `ratio`: Σ numerator / Σ denominator over users (delta method).',
    }),
    lowerIsBetter: Type.Boolean({ default: false }),
    /** Ratio metrics only (and required there): the event metric key summed per user above the line. */
    numerator: Type.Optional({ ...EventKey, description: 'Ratio metrics: event metric key of the numerator.' }),
    /** Ratio metrics only (and required there): the event metric key summed per user below the line. */
    denominator: Type.Optional({ ...EventKey, description: 'Ratio metrics: event metric key of the denominator.' }),
    /**
     * Mean metrics only: winsorization with an absolute cap on each user's total, i.e. the
     * results use min(T, cap) per user. Fixed once the experiment is running.
     */
    cap: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: MAX_USER_TOTAL,
        description: "Mean metrics: each user's total counts as min(total, cap) in the results.",
      }),
    ),
    /**
     * Binomial and mean metrics: CUPED variance reduction with the pre-exposure value the
     * impression carries in `covariates[<metric key>]` (0 when absent). Fixed once running.
     */
    cuped: Type.Optional(
      Type.Boolean({ description: "CUPED: adjust with the impression's `covariates[<metric key>]`." }),
    ),
    /**
     * A guardrail: the monitor alerts when a treatment moves it the wrong way with
     * significance (query-api/monitor). Absent means false.
     */
    guardrail: Type.Optional(
      Type.Boolean({ description: 'Alert when a treatment moves this metric the wrong way significantly.' }),
    ),
  },
  { additionalProperties: false },
);

export const ExperimentStatusSchema = Type.Enum(['draft', 'running', 'stopped']);

/** An owner's email address: one `@`, a dot in the domain, no spaces (what SendGrid accepts). */
export const OwnerEmail = Type.String({
  minLength: 3,
  maxLength: 254,
  pattern: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$',
  description: 'Email address, e.g. `ana@example.com`.',
});

/** A Slack channel name (`#growth-alerts` or `growth-alerts`) or id (`C0123456789`). */
export const SlackChannel = Type.String({
  minLength: 1,
  maxLength: 81,
  pattern: '^#?[A-Za-z0-9._-]{1,80}$',
  description: 'Slack channel name or id, e.g. `#growth-alerts`.',
});

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
    /** Who gets the monitor's alert emails (SendGrid). */
    owners: Type.Optional(
      Type.Array(OwnerEmail, {
        maxItems: 20,
        uniqueItems: true,
        description: "Owners' email addresses: they get the monitor's alert emails.",
      }),
    ),
    /** Slack channel of the monitor's alerts; SLACK_DEFAULT_CHANNEL when absent. */
    slackChannel: Type.Optional(SlackChannel),
    /** Statistics settings (common/analysis-settings.ts); defaults applied when results are computed. */
    analysis: Type.Optional(AnalysisSettingsSchema),
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
