/**
 * GET /api/v1/metrics/{metricKey}/totals: every experiment's per-variant totals of one
 * metric key (`$exposure` for exposures), from the `metric-totals` index of the counters
 * table in one Query per page — not a scan of every experiment. For dashboards across
 * experiments ("which experiments move `checkout`, and how much traffic do they see?");
 * per-experiment statistics stay at /api/v1/experiments/{id}/results.
 */
import Type from 'typebox';
import { EXPOSURE_METRIC } from '../../common/counter-layout.js';
import { EventKey } from '../../common/event-contract.js';
import type { QueryApiContext, QueryApiInstance } from '../context.js';
import { readMetricTotals } from '../results/read-metric-totals.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

/** Totals per page unless `limit` says otherwise, and the most a page may hold. */
export const DEFAULT_TOTALS_LIMIT = 500;
export const MAX_TOTALS_LIMIT = 1000;

const MetricTotalsParams = Type.Object({
  metricKey: Type.Union([Type.Literal(EXPOSURE_METRIC), EventKey], {
    description: 'A metric key of the event contract, or `$exposure` for exposures.',
  }),
});

const MetricTotalsQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: MAX_TOTALS_LIMIT, default: DEFAULT_TOTALS_LIMIT }),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2048, description: 'The `nextCursor` of the previous page.' }),
    ),
  },
  { additionalProperties: false },
);

const MetricTotalSchema = Type.Object({
  experimentId: Type.String(),
  variantId: Type.String(),
  events: Type.Number({ description: 'Events of this metric.' }),
  units: Type.Number({ description: 'Users with at least one event of this metric.' }),
  sum: Type.Number({ description: 'Σ of per-user values.' }),
  sumSquares: Type.Number({ description: 'Σ of squared per-user values.' }),
  mean: Type.Union([Type.Number(), Type.Null()], { description: 'sum / units; null without units.' }),
  lastEventAt: Type.Optional(Type.Number({ description: 'Latest event time counted (epoch ms).' })),
});

const MetricTotalsResponse = Type.Object({
  metricKey: Type.String(),
  totals: Type.Array(MetricTotalSchema, {
    description: 'Ordered by experiment id (the variants of one experiment in no fixed order).',
  }),
  nextCursor: Type.Optional(Type.String({ description: 'Present when more totals follow.' })),
});

/** Registers the route. */
export function registerMetricTotalsRoutes(app: QueryApiInstance, context: QueryApiContext): void {
  app.get(
    '/api/v1/metrics/:metricKey/totals',
    {
      schema: {
        tags: ['results'],
        summary: "Every experiment's per-variant totals of one metric key",
        description:
          'The total cells of every experiment counting this metric key, from the `metric-totals` index ' +
          '(one Query per page, ordered by experiment id). Page with `limit` and `cursor`.',
        security: AUTHENTICATED,
        params: MetricTotalsParams,
        querystring: MetricTotalsQuery,
        response: { 200: MetricTotalsResponse, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { metricKey } = request.params;
      const { limit, cursor } = request.query;
      const page = await readMetricTotals(context.dynamo, context.config.dynamodb.countersTable, metricKey, {
        limit,
        ...(cursor === undefined ? {} : { cursor }),
      });
      return {
        metricKey,
        totals: page.totals.map((total) => ({ ...total, mean: total.units > 0 ? total.sum / total.units : null })),
        ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
      };
    },
  );
}
