/**
 * Request and response schemas of `GET /api/v1/experiments/{experimentId}/results/history`
 * (validation, serialization and the OpenAPI description from one source).
 */
import Type, { type Static } from 'typebox';
import { EventKey } from '../../common/event-contract.js';

const NullableNumber = (description: string) => Type.Union([Type.Number(), Type.Null()], { description });

/** Most points one answer carries (hourly snapshots: about 208 days). */
export const MAX_HISTORY_POINTS = 5000;

export const HistoryQuerySchema = Type.Object(
  {
    metric: Type.Optional({ ...EventKey, description: 'Metric key; default: the first declared metric.' }),
    from: Type.Optional(
      Type.String({ format: 'date-time', description: 'Earliest snapshot (inclusive), ISO 8601 with a time zone.' }),
    ),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Latest snapshot (inclusive).' })),
    limit: Type.Integer({
      minimum: 1,
      maximum: MAX_HISTORY_POINTS,
      default: 1000,
      description: 'Most points: the latest `limit` snapshots of the range, oldest first.',
    }),
  },
  { additionalProperties: false },
);
export type HistoryQueryParams = Static<typeof HistoryQuerySchema>;

const HistoryVariantSchema = Type.Object(
  {
    variantId: Type.String(),
    users: Type.Number({ description: 'Exposed users.' }),
    mean: NullableNumber('Mean per exposed user (the conversion rate for a binomial metric).'),
    lift: Type.Union(
      [
        Type.Object({
          relative: NullableNumber('Relative lift against the control.'),
          interval: Type.Array(Type.Union([Type.Number(), Type.Null()]), {
            minItems: 2,
            maxItems: 2,
            description: '[low, high] of the relative lift (a confidence sequence: the results are sequential).',
          }),
        }),
        Type.Null(),
      ],
      { description: 'Null for the control.' },
    ),
    pValue: NullableNumber('p-value of the lift; null for the control.'),
    chanceToWin: NullableNumber('Bayesian chance to beat the control; null for the control.'),
  },
  { additionalProperties: false },
);

export const HistoryResponseSchema = Type.Object(
  {
    experimentId: Type.String(),
    metric: Type.String(),
    points: Type.Array(
      Type.Object(
        {
          at: Type.String({ description: 'When the snapshot was taken (one per MONITOR_SNAPSHOT_INTERVAL).' }),
          variants: Type.Array(HistoryVariantSchema),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, $id: 'ResultsHistory' },
);
