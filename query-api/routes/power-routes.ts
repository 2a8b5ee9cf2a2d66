/**
 * POST /api/v1/experiments/power: the power calculator (stats/power-plan.ts, formulas in stats/power.ts) over HTTP. Pure
 * computation — no storage, no cache. The body schema checks types and ranges (400 naming
 * the field and the JSON-schema rule); cross-field rules (a treatment rate outside (0, 1),
 * a mean metric without a variance, a control that is not a variant) answer 400 from
 * `planSampleSize` with the field and the rule.
 *
 * @example
 *   POST /api/v1/experiments/power
 *   { "metricType": "binomial", "baseline": 0.1, "minimumDetectableEffect": 0.1, "dailyTraffic": 2000 }
 *   → 200 { fixedHorizon: { usersPerVariant: [{ variantId: "control", users: 14750 }, …], days: 15 }, sequential: …}
 */
import Type, { type Static } from 'typebox';
import { EventKey } from '../../common/event-contract.js';
import type { QueryApiInstance } from '../context.js';
import { DEFAULT_ALPHA } from '../stats/compare-settings.js';
import { DEFAULT_POWER, MAX_RELATIVE_EFFECT, MIN_DAILY_TRAFFIC, planSampleSize } from '../stats/power-plan.js';
import { MAX_TOTAL_USERS } from '../stats/power.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

const PowerVariantSchema = Type.Object(
  {
    id: EventKey,
    weight: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1e6,
      description: 'Relative traffic weight (> 0); normalised over the variants.',
    }),
  },
  { additionalProperties: false },
);

/** The calculator's request body. */
export const PowerRequestSchema = Type.Object(
  {
    metricType: Type.Enum(['binomial', 'mean'], {
      description: '`binomial`: a conversion rate. `mean`: a per-user mean (give `variance`).',
    }),
    baseline: Type.Number({
      description: "The control's conversion rate (binomial, in (0, 1)) or per-user mean (mean, non-zero).",
    }),
    variance: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Per-user variance of a mean metric (σ²); binomial: omit.' }),
    ),
    minimumDetectableEffect: Type.Number({
      exclusiveMinimum: -1,
      maximum: MAX_RELATIVE_EFFECT,
      description: 'Smallest relative change worth detecting: 0.1 = +10%, -0.05 = −5%. Non-zero.',
    }),
    alpha: Type.Number({
      exclusiveMinimum: 0,
      maximum: 0.5,
      default: DEFAULT_ALPHA,
      description: 'Two-sided significance level.',
    }),
    power: Type.Number({
      minimum: 0.5,
      exclusiveMaximum: 1,
      default: DEFAULT_POWER,
      description: 'Chance to detect the MDE when it is real.',
    }),
    variants: Type.Optional(
      Type.Array(PowerVariantSchema, {
        minItems: 2,
        maxItems: 20,
        description: 'Variants and weights; default control/treatment at 50/50.',
      }),
    ),
    controlVariantId: Type.Optional({ ...EventKey, description: 'Default: the first variant.' }),
    dailyTraffic: Type.Optional(
      Type.Number({
        minimum: MIN_DAILY_TRAFFIC,
        maximum: MAX_TOTAL_USERS,
        description: 'Users entering the experiment per day, all variants together; without it `days` is null.',
      }),
    ),
    sequentialTuning: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: MAX_TOTAL_USERS,
        description: "The confidence sequence's tuning N* (total users); default 5000, as the results.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type PowerRequest = Static<typeof PowerRequestSchema>;

const SampleSizeProperties = {
  usersPerVariant: Type.Array(
    Type.Object({ variantId: Type.String(), users: Type.Integer({ description: 'Rounded up.' }) }),
  ),
  totalUsers: Type.Integer(),
  days: Type.Union([Type.Integer(), Type.Null()], { description: '⌈totalUsers / dailyTraffic⌉; null without it.' }),
};

/** The calculator's answer (stats/power-plan.ts `PowerPlan`). */
export const PowerPlanSchema = Type.Object({
  assumptions: Type.Object({
    metricType: Type.String(),
    baseline: Type.Number(),
    treatmentMean: Type.Number({ description: 'baseline × (1 + MDE).' }),
    absoluteEffect: Type.Number({ description: 'treatmentMean − baseline.' }),
    minimumDetectableEffect: Type.Number(),
    controlVariance: Type.Number(),
    treatmentVariance: Type.Number(),
    alpha: Type.Number(),
    power: Type.Number(),
    twoSided: Type.Boolean(),
    variants: Type.Array(Type.Object({ id: Type.String(), weight: Type.Number({ description: 'Normalised.' }) })),
    controlVariantId: Type.String(),
    dailyTraffic: Type.Union([Type.Number(), Type.Null()]),
    notes: Type.Array(Type.String()),
  }),
  fixedHorizon: Type.Object(SampleSizeProperties, { description: 'Fixed-horizon Welch t-test, one look.' }),
  sequential: Type.Object(
    { ...SampleSizeProperties, tuning: Type.Number() },
    { description: "Always-valid confidence sequence at the results' tuning N*." },
  ),
  sequentialTunedToPlan: Type.Object(
    { ...SampleSizeProperties, tuning: Type.Number() },
    { description: 'The confidence sequence tuned to this plan (N* = its total users).' },
  ),
});

/** Registers POST /api/v1/experiments/power. */
export function registerPowerRoutes(app: QueryApiInstance): void {
  app.post(
    '/api/v1/experiments/power',
    {
      schema: {
        tags: ['experiments'],
        summary: 'Users and days needed to detect an effect (power calculator)',
        description:
          'Users per variant and days for the fixed-horizon Welch test and for the always-valid confidence ' +
          'sequence the results use by default, from a baseline (rate, or mean and variance), a relative minimum ' +
          'detectable effect, alpha, power, variant weights and daily traffic. Formulas: query-api/stats/README.md.',
        security: AUTHENTICATED,
        body: PowerRequestSchema,
        response: { 200: PowerPlanSchema, ...ERROR_RESPONSES },
      },
    },
    (request) => planSampleSize(request.body),
  );
}
