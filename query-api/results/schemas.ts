/**
 * Response and query schemas of the results and segment routes: the validation, the
 * fast serializer and the OpenAPI description at /docs from one source.
 */
import Type from 'typebox';
import { EventKey } from '../../common/event-contract.js';

const NullableNumber = (description: string) => Type.Union([Type.Number(), Type.Null()], { description });

const IntervalSchema = (what: string) =>
  Type.Object(
    {
      estimate: NullableNumber(`Point estimate of the ${what}; null when undefined (see warnings).`),
      ciLow: NullableNumber('Lower bound of the (1 − alpha) interval; null when unbounded or undefined.'),
      ciHigh: NullableNumber('Upper bound of the (1 − alpha) interval; null when unbounded or undefined.'),
    },
    { description: `The ${what} with its confidence interval (a confidence sequence when sequential).` },
  );

const ComparisonSchema = Type.Object(
  {
    absolute: IntervalSchema('absolute difference of means (treatment − control)'),
    relative: IntervalSchema('relative lift ((treatment − control) / control, delta method)'),
    pValue: NullableNumber('Two-sided p-value of the lift (Welch; always-valid when sequential).'),
    adjustedPValue: Type.Optional(
      NullableNumber('Segment breakdowns only: p-value after the requested multiple-comparison correction.'),
    ),
    chanceToWin: NullableNumber('Bayesian (Gaussian posterior) probability that the treatment beats the control.'),
    riskOfLoss: NullableNumber('Bayesian expected relative loss if the treatment is shipped.'),
    warnings: Type.Array(Type.String(), {
      description: '`too-few-units`, `zero-variance`, `zero-baseline`: why some numbers are null.',
    }),
  },
  { description: 'This variant against the control.' },
);

const MetricResultSchema = Type.Object({
  users: Type.Integer({ description: 'Users with at least one event of this metric (converting users).' }),
  events: Type.Integer({ description: 'Events of this metric.' }),
  sum: Type.Number({ description: 'Σ of per-user values (binomial: converting users).' }),
  sumSquares: Type.Number({ description: 'Σ of squared per-user values (binomial: converting users).' }),
  mean: NullableNumber('sum / exposed users (binomial: conversion rate); null with no exposed users.'),
  vsControl: Type.Union([ComparisonSchema, Type.Null()], { description: 'Null for the control variant.' }),
});

export const VariantResultSchema = Type.Object({
  variantId: EventKey,
  users: Type.Integer({ description: 'Exposed users (distinct users with an impression).' }),
  impressions: Type.Integer({ description: 'Impression events.' }),
  metrics: Type.Record(Type.String(), MetricResultSchema, { description: 'Metric key → result.' }),
});

export const SrmSchema = Type.Object(
  {
    pValue: NullableNumber('Chi-square p-value of exposed users against the configured weights.'),
    mismatch: Type.Boolean({ description: 'True when p < 0.001 and every variant has at least 8 users.' }),
  },
  { description: 'Sample-ratio mismatch check.' },
);

const MetricDescriptionSchema = Type.Object({
  key: EventKey,
  type: Type.String({ description: '`binomial` or `mean`.' }),
  lowerIsBetter: Type.Boolean(),
});

const commonResultFields = {
  experimentId: EventKey,
  controlVariantId: EventKey,
  computedAt: Type.String({
    format: 'date-time',
    description: 'When these numbers were computed (cached up to REDIS_CACHE_TTL).',
  }),
  lastEventAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'Latest event counted (receive time); null before any event.',
  }),
  alpha: Type.Number({ description: 'Significance level used.' }),
  sequential: Type.Boolean({ description: 'Whether intervals are always-valid confidence sequences.' }),
  metrics: Type.Array(MetricDescriptionSchema, { description: 'The analysed metrics, in definition order.' }),
};

export const ResultsResponseSchema = Type.Object({
  ...commonResultFields,
  srm: SrmSchema,
  variants: Type.Array(VariantResultSchema, { description: 'Every variant, in definition order.' }),
});

export const SegmentsResponseSchema = Type.Object({
  ...commonResultFields,
  dimension: EventKey,
  by: Type.Union([EventKey, Type.Null()], { description: 'Second dimension, or null.' }),
  segmentDimension: Type.String({ description: 'The counter dimension read (`a+b`, names sorted, for pairs).' }),
  correction: Type.String({ description: 'Multiple-comparison correction applied to `adjustedPValue`.' }),
  cellsAddUp: Type.Boolean({ description: 'True when the segment cells add up exactly to the totals.' }),
  discrepancies: Type.Array(
    Type.Object({
      variantId: Type.String(),
      metricKey: Type.String(),
      field: Type.String(),
      total: Type.Number(),
      sumOfSegments: Type.Number(),
    }),
    { description: 'Where they do not (at most 20), e.g. while writes are in flight.' },
  ),
  segments: Type.Array(
    Type.Object({
      value: Type.String({ description: 'The segment value (`a+b` for pairs); "(other)" for the rest.' }),
      values: Type.Record(Type.String(), Type.String(), { description: 'Dimension → value.' }),
      users: Type.Integer({ description: 'Exposed users in the segment, all variants.' }),
      srm: SrmSchema,
      variants: Type.Array(VariantResultSchema),
    }),
    { description: 'Top values by exposed users, then "(other)".' },
  ),
});

export const ResultsQuerySchema = Type.Object(
  {
    alpha: Type.Number({ exclusiveMinimum: 0, maximum: 0.5, default: 0.05, description: 'Significance level.' }),
    sequential: Type.Boolean({
      default: true,
      description: 'Always-valid confidence sequences (safe to peek); false for fixed-horizon Welch intervals.',
    }),
  },
  { additionalProperties: false },
);

export const SegmentsQuerySchema = Type.Object(
  {
    ...ResultsQuerySchema.properties,
    by: Type.Optional({ ...EventKey, description: 'A second dimension: results per pair of values.' }),
    correction: Type.Enum(['holm', 'bh', 'none'], {
      default: 'holm',
      description: 'Correction across values × variants × metrics: Holm, Benjamini-Hochberg, or none.',
    }),
    limit: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 20,
      description: 'Values shown; the rest go to (other).',
    }),
  },
  { additionalProperties: false },
);

export const ExperimentIdParams = Type.Object({ experimentId: EventKey }, { additionalProperties: false });
export const SegmentParams = Type.Object(
  { experimentId: EventKey, dimension: EventKey },
  { additionalProperties: false },
);
