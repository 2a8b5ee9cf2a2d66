/**
 * Per-experiment statistics settings (an experiment definition's optional `analysis`):
 * the level, the sequential tuning, the alternative, the Bayesian prior and the
 * correction across goal metrics. Every field is optional; the defaults are applied by
 * query-api/results/analysis-settings.ts (`resolveAnalysisSettings`) and echoed in every
 * results response, so a response explains itself.
 *
 * @example { "alpha": 0.1, "expectedSampleSize": 40000, "alternative": "greater", "correction": "holm" }
 */
import Type, { type Static } from 'typebox';

/** gbstats' Gaussian prior on the relative lift; GrowthBook's defaults: mean 0, sd 0.3 (variance 0.09), flat. */
export const PriorSettingsSchema = Type.Object(
  {
    proper: Type.Boolean({
      description: 'true: a proper Gaussian prior N(mean, variance) on the relative lift; false: flat (the default).',
    }),
    mean: Type.Optional(
      Type.Number({ minimum: -1e6, maximum: 1e6, description: 'Prior mean of the relative lift; default 0.' }),
    ),
    variance: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1e6,
        description: 'Prior variance of the relative lift; default 0.09 (standard deviation 0.3).',
      }),
    ),
  },
  { additionalProperties: false },
);

export const AnalysisSettingsSchema = Type.Object(
  {
    alpha: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        exclusiveMaximum: 0.5,
        description: 'Significance level of intervals and tests; default 0.05. A query `alpha` overrides it.',
      }),
    ),
    sequential: Type.Optional(
      Type.Boolean({
        description: 'Always-valid confidence sequences (default true); false for fixed-horizon Welch intervals.',
      }),
    ),
    expectedSampleSize: Type.Optional(
      Type.Integer({
        minimum: 2,
        maximum: 1e12,
        description: 'Expected total users (all variants) at the end; the default sequential tuning N*.',
      }),
    ),
    sequentialTuning: Type.Optional(
      Type.Number({
        minimum: 1,
        maximum: 1e12,
        description:
          'Sequential tuning N*: the total sample size where the confidence sequence is tightest. ' +
          'Default: expectedSampleSize when given, else 5000.',
      }),
    ),
    alternative: Type.Optional(
      Type.Enum(['two-sided', 'greater', 'less'], {
        description:
          '`two-sided` (default), or one-sided `greater` (treatment mean > control) / `less` (treatment < control).',
      }),
    ),
    prior: Type.Optional(PriorSettingsSchema),
    correction: Type.Optional(
      Type.Enum(['none', 'holm', 'bh'], {
        description:
          'Correction of the main results across goal metrics × treatment variants (guardrails excluded): ' +
          '`none` (default), `holm` (Holm-Bonferroni) or `bh` (Benjamini-Hochberg).',
      }),
    ),
  },
  { additionalProperties: false, description: 'Statistics settings of this experiment; every field optional.' },
);
export type AnalysisSettingsInput = Static<typeof AnalysisSettingsSchema>;
