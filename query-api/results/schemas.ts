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

const comparisonFields = {
  absolute: IntervalSchema('absolute difference of means (treatment − control)'),
  relative: IntervalSchema('relative lift ((treatment − control) / control, delta method)'),
  pValue: NullableNumber('Two-sided p-value of the lift (Welch; always-valid when sequential).'),
  chanceToWin: NullableNumber('Bayesian (Gaussian posterior) probability that the treatment beats the control.'),
  riskOfLoss: NullableNumber('Bayesian expected relative loss if the treatment is shipped.'),
  warnings: Type.Array(Type.String(), {
    description:
      '`too-few-units`, `zero-variance`, `zero-baseline`, `numerical-instability`, `zero-denominator` (ratio), ' +
      '`inconsistent-counters`: why some numbers are null.',
  }),
};

const CupedComparisonSchema = Type.Object(
  {
    ...comparisonFields,
    absolute: IntervalSchema('CUPED-adjusted absolute difference (ȳ*_t − ȳ*_c, ȳ* = ȳ − θ·x̄)'),
    relative: IntervalSchema('CUPED-adjusted relative lift (divided by the unadjusted control mean)'),
    theta: NullableNumber('θ = Cov(y, x)/Var(x) pooled over both arms; null when no adjustment was possible.'),
    varianceReduction: NullableNumber(
      '1 − SE²(adjusted Δ)/SE²(unadjusted Δ): the share of the variance the covariate removed (≈ ρ²).',
    ),
  },
  {
    description:
      "CUPED metrics (`cuped: true`): gbstats' regression-adjusted comparison, beside the unadjusted one; " +
      'uncorrected (the main correction uses the unadjusted p-value).',
  },
);

const ComparisonSchema = Type.Object(
  {
    ...comparisonFields,
    adjustedPValue: Type.Optional(
      NullableNumber(
        'p-value after the multiple-comparison correction: in breakdowns the requested one, in the main results ' +
          "the definition's `analysis.correction` (goal metrics only; absent for guardrails and with `none`).",
      ),
    ),
    adjustedIntervals: Type.Optional(
      Type.Object(
        {
          alpha: NullableNumber(
            'Level of these intervals: α/m (holm, Bonferroni), R·α/m for a BH-selected comparison ' +
              '(Benjamini-Yekutieli), null where the method defines none.',
          ),
          relative: IntervalSchema('relative lift at the adjusted level'),
          absolute: IntervalSchema('absolute difference at the adjusted level'),
        },
        { description: 'Main results, goal metrics, with a correction: the intervals at the adjusted level.' },
      ),
    ),
    cuped: Type.Optional(CupedComparisonSchema),
  },
  {
    description:
      'This variant against the control: Welch on per-user values (capped with a cap), or the delta method ' +
      'for the ratio of means of a ratio metric.',
  },
);

const MetricResultSchema = Type.Object({
  users: Type.Integer({
    description: 'Users with at least one event of this metric (converting users; a ratio: of its numerator).',
  }),
  events: Type.Integer({ description: 'Events of this metric (a ratio: of its numerator).' }),
  sum: Type.Number({
    description: 'Σ of per-user values (binomial: converting users; capped: Σ min(T, cap); ratio: Σ numerator).',
  }),
  sumSquares: Type.Number({ description: 'Σ of squared per-user values, as `sum`.' }),
  mean: NullableNumber(
    'sum / exposed users (binomial: conversion rate; capped: the capped mean); a ratio: Σ numerator / ' +
      'Σ denominator. Null with no exposed users (or a zero denominator).',
  ),
  capped: Type.Optional(
    Type.Object(
      {
        cap: Type.Number({ description: "The cap on each user's total (natural units)." }),
        uncappedSum: Type.Number({ description: 'Σ of uncapped per-user totals.' }),
        uncappedSumSquares: Type.Number({ description: 'Σ of squared uncapped per-user totals.' }),
        uncappedMean: NullableNumber('uncappedSum / exposed users.'),
      },
      {
        description:
          'Mean metrics with a `cap`: sum, sumSquares, mean and vsControl use min(T, cap) per user; these are raw.',
      },
    ),
  ),
  covariate: Type.Optional(
    Type.Object(
      {
        sum: Type.Number({ description: 'Σ of the pre-exposure covariate over exposed users (0 when absent).' }),
        sumSquares: Type.Number({ description: 'Σ of its squares.' }),
        sumProducts: Type.Number({ description: 'Σ over users of (capped) value × covariate.' }),
        mean: NullableNumber('sum / exposed users.'),
      },
      { description: "CUPED metrics: the covariate's sufficient statistics in this variant." },
    ),
  ),
  ratio: Type.Optional(
    Type.Object(
      {
        numerator: EventKey,
        denominator: EventKey,
        numeratorSum: Type.Number({ description: 'Σ over exposed users of their numerator total.' }),
        numeratorSumSquares: Type.Number({ description: 'Σ of squared numerator totals.' }),
        denominatorSum: Type.Number({ description: 'Σ over exposed users of their denominator total.' }),
        denominatorSumSquares: Type.Number({ description: 'Σ of squared denominator totals.' }),
        sumProducts: Type.Number({ description: 'Σ over users of numerator total × denominator total.' }),
      },
      { description: 'Ratio metrics: the sufficient statistics of the delta method.' },
    ),
  ),
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
  type: Type.String({ description: '`binomial`, `mean` or `ratio`.' }),
  lowerIsBetter: Type.Boolean(),
  guardrail: Type.Boolean({ description: "A guardrail: left out of the main results' correction." }),
  numerator: Type.Optional({ ...EventKey, description: 'Ratio metrics: the numerator event metric key.' }),
  denominator: Type.Optional({ ...EventKey, description: 'Ratio metrics: the denominator event metric key.' }),
  cap: Type.Optional(Type.Number({ description: "Mean metrics: the cap on each user's total." })),
  cuped: Type.Optional(Type.Boolean({ description: 'CUPED-adjusted comparisons are reported (`vsControl.cuped`).' })),
});

const AnalysisEchoSchema = Type.Object(
  {
    alpha: Type.Number({ description: "Significance level: query `alpha`, else the definition's, else 0.05." }),
    sequential: Type.Boolean({ description: 'Always-valid confidence sequences (else fixed-horizon Welch).' }),
    sequentialTuning: Type.Number({ description: 'Sequential tuning N* (total users); used when sequential.' }),
    sequentialTuningSource: Type.Enum(['sequentialTuning', 'expectedSampleSize', 'default'], {
      description: 'Where N* came from: set directly, the expected sample size, or the default 5000.',
    }),
    alternative: Type.Enum(['two-sided', 'greater', 'less'], {
      description: 'Alternative of the frequentist tests (treatment vs control).',
    }),
    prior: Type.Object(
      {
        proper: Type.Boolean(),
        mean: Type.Optional(Type.Number()),
        variance: Type.Optional(Type.Number()),
      },
      { description: 'Bayesian prior on the relative lift: proper N(mean, variance), or flat (`proper: false`).' },
    ),
    correction: Type.Enum(['none', 'holm', 'bh'], {
      description: 'Main results: correction across goal metrics × treatment variants.',
    }),
  },
  { description: "The statistics settings applied: the definition's `analysis` with defaults and query overrides." },
);

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
  analysis: AnalysisEchoSchema,
  metrics: Type.Array(MetricDescriptionSchema, { description: 'The analysed metrics, in definition order.' }),
};

export const ResultsResponseSchema = Type.Object({
  ...commonResultFields,
  multipleComparisons: Type.Object(
    {
      method: Type.Enum(['none', 'holm', 'bh'], { description: "The definition's `analysis.correction`." }),
      comparisons: Type.Integer({ description: 'm: goal metrics × treatment variants with a p-value.' }),
      intervals: Type.Union([Type.Enum(['bonferroni', 'false-coverage-rate']), Type.Null()], {
        description: 'How `adjustedIntervals` are defined (null without a correction).',
      }),
      goalMetrics: Type.Array(Type.String(), { description: "The corrected family's metrics." }),
      guardrailMetrics: Type.Array(Type.String(), {
        description: 'Guardrails: reported with their own, uncorrected p-values.',
      }),
    },
    { description: 'The correction across goal metrics × treatment variants (see query-api/stats/README.md).' },
  ),
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
    alpha: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 0.5,
        description: "Significance level; overrides the definition's `analysis.alpha` (default 0.05).",
      }),
    ),
    sequential: Type.Optional(
      Type.Boolean({
        description:
          'Always-valid confidence sequences (safe to peek); false for fixed-horizon Welch intervals. ' +
          "Overrides the definition's `analysis.sequential` (default true).",
      }),
    ),
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
