/**
 * GET /api/v1/experiment-summaries?limit=&after= — one page of experiments with what the
 * experiments list (/ui/) shows per row, in one request instead of two per experiment:
 *
 *   definition fields   key, name, status, variant ids, primary (first) metric
 *   startedAt           when it last went `running`, from the audit trail (one query per page)
 *   results             users so far, the SRM check, and the primary metric's comparisons
 *                       (p-value, absolute and relative lift): the verdict's inputs. Read
 *                       through the results cache under the same key as GET …/results with
 *                       the definition's own settings, so a list and a results page share
 *                       entries; at most SUMMARY_CONCURRENCY computed at a time.
 *   resultsError        the error code when this experiment's results failed (the others
 *                       are still answered: a partial failure is a row, not a 5xx)
 *
 * @example GET /api/v1/experiment-summaries?limit=2 →
 *   { items: [{ key: 'checkout', …, startedAt: '2026-…Z', results: { users: 80, srm: {…}, … },
 *   resultsError: null }, …], nextAfter: 'pricing' }
 */
import type { FastifyReply } from 'fastify';
import Type, { type Static } from 'typebox';
import { PipelineError } from '../../common/errors.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { EventKey } from '../../common/event-contract.js';
import type { QueryApiContext, QueryApiInstance } from '../context.js';
import { databaseError, type StoredDefinition } from '../definitions/definition-store.js';
import { cachedExperimentResults } from '../results/cached-results.js';
import type { ResultsServiceDeps } from '../results/results-service.js';
import { ResultsResponseSchema } from '../results/schemas.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

/**
 * GET …/results' response schema, for fastify's serializer: the same JSON the results route
 * caches, so both routes share cache entries. One object: fastify caches the compiled serializer by it.
 */
const RESULTS_SCHEMA: Record<string, unknown> = { ...ResultsResponseSchema };

/** Results computed (or read from the cache) at a time for one page. */
export const SUMMARY_CONCURRENCY = 8;
/** Largest page: 200 summaries (the list page asks for five pages at most). */
export const SUMMARY_PAGE_MAX = 200;

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);
const LiftSchema = Type.Object({ estimate: NullableNumber, ciLow: NullableNumber, ciHigh: NullableNumber });

const SummaryResultsSchema = Type.Object(
  {
    alpha: Type.Number(),
    controlVariantId: Type.String(),
    users: Type.Integer({ description: 'Exposed users over all variants.' }),
    srm: Type.Object({ pValue: NullableNumber, mismatch: Type.Boolean() }),
    metrics: Type.Array(Type.Object({ key: Type.String(), lowerIsBetter: Type.Boolean() }), {
      description: 'The primary (first) metric only; empty when the experiment has none.',
    }),
    variants: Type.Array(
      Type.Object({
        variantId: Type.String(),
        users: Type.Integer(),
        metrics: Type.Record(
          Type.String(),
          Type.Object({
            vsControl: Type.Union([
              Type.Object({ pValue: NullableNumber, absolute: LiftSchema, relative: LiftSchema }),
              Type.Null(),
            ]),
          }),
        ),
      }),
    ),
  },
  { description: 'The verdict’s inputs, shaped like GET …/results (same field names), primary metric only.' },
);

export const ExperimentSummarySchema = Type.Object({
  key: Type.String(),
  name: Type.String(),
  status: Type.String(),
  variants: Type.Array(Type.String()),
  primaryMetric: Type.Union([Type.String(), Type.Null()]),
  startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
    description: 'When the experiment last went `running` (audit trail); null when it never did.',
  }),
  results: Type.Union([SummaryResultsSchema, Type.Null()]),
  resultsError: Type.Union([Type.String(), Type.Null()], {
    description: 'Error code when this experiment’s results could not be computed.',
  }),
});
export type ExperimentSummary = Static<typeof ExperimentSummarySchema>;
type SummaryResults = Static<typeof SummaryResultsSchema>;

const SummaryQuerySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: SUMMARY_PAGE_MAX, default: 100, description: 'Page size.' }),
    after: Type.Optional({ ...EventKey, description: 'Return keys after this one (the previous page’s `nextAfter`).' }),
  },
  { additionalProperties: false },
);

/** The parts of GET …/results a summary keeps (parsed from the cached JSON). */
interface CachedResults {
  alpha: number;
  controlVariantId: string;
  srm: { pValue: number | null; mismatch: boolean };
  metrics: { key: string; lowerIsBetter: boolean }[];
  variants: {
    variantId: string;
    users: number;
    metrics: Record<string, { vsControl: { pValue: number | null; absolute: Lift; relative: Lift } | null }>;
  }[];
}
type Lift = { estimate: number | null; ciLow: number | null; ciHigh: number | null };

/**
 * Keeps the verdict's inputs of a results answer: the primary metric's comparisons only.
 *
 * @example slimResults(results, 'purchase').variants[1].metrics.purchase.vsControl.pValue // → 0.003
 */
export function slimResults(results: CachedResults, primary: string | undefined): SummaryResults {
  const lift = (value: Lift): Lift => ({ estimate: value.estimate, ciLow: value.ciLow, ciHigh: value.ciHigh });
  return {
    alpha: results.alpha,
    controlVariantId: results.controlVariantId,
    users: results.variants.reduce((sum, variant) => sum + variant.users, 0),
    srm: { pValue: results.srm.pValue, mismatch: results.srm.mismatch },
    metrics: results.metrics
      .filter((metric) => metric.key === primary)
      .map((metric) => ({ key: metric.key, lowerIsBetter: metric.lowerIsBetter })),
    variants: results.variants.map((variant) => {
      const comparison = primary ? variant.metrics[primary]?.vsControl : undefined;
      return {
        variantId: variant.variantId,
        users: variant.users,
        metrics:
          primary && comparison !== undefined
            ? {
                [primary]: {
                  vsControl: comparison
                    ? {
                        pValue: comparison.pValue,
                        absolute: lift(comparison.absolute),
                        relative: lift(comparison.relative),
                      }
                    : null,
                },
              }
            : {},
      };
    }),
  };
}

/**
 * When each experiment last went `running`, from the audit trail: its creation as running,
 * or a change whose `status` became `running` (`experiment.updated` / `.status-changed`).
 */
async function startedAtOf(context: QueryApiContext, keys: readonly string[]): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const { rows } = await context.database.reader
    .query<{ resource_id: string; occurred_at: Date }>(
      `SELECT DISTINCT ON (resource_id) resource_id, occurred_at FROM audit_events
       WHERE resource_type = 'experiment' AND resource_id = ANY($1::text[])
         AND ((action LIKE '%.created' AND change->'after'->>'status' = 'running')
              OR change->'fields'->'status'->>'after' = 'running')
       ORDER BY resource_id, position DESC`,
      [keys],
    )
    .catch((error: unknown) => Promise.reject(databaseError(error)));
  return new Map(rows.map((row) => [row.resource_id, new Date(row.occurred_at).toISOString()]));
}

/** Runs `work` over `items`, at most `limit` at a time, in order of the results. */
async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Registers GET /api/v1/experiment-summaries. */
export function registerSummaryRoutes(app: QueryApiInstance, context: QueryApiContext): void {
  const service: ResultsServiceDeps = {
    dynamo: context.dynamo,
    countersTable: context.config.dynamodb.countersTable,
    now: context.now,
  };
  /** The results JSON of GET …/results (default settings), from the cache or computed into it. */
  const cachedResults = async (reply: FastifyReply, stored: StoredDefinition<ExperimentDefinition>) => {
    const { value } = await cachedExperimentResults(
      { service, cache: context.cache, metrics: context.metrics },
      stored,
      {},
      (results) => reply.serializeInput({ ...results }, RESULTS_SCHEMA),
    );
    return JSON.parse(value) as CachedResults;
  };

  app.get(
    '/api/v1/experiment-summaries',
    {
      schema: {
        tags: ['results'],
        summary: 'Experiments with their start, users and verdict inputs, one page per request',
        description:
          'What the experiments list shows per row: the definition’s key, name, status and variants, when it last ' +
          'went running (audit trail), and the users, SRM check and primary-metric comparisons of GET …/results ' +
          '(same cache). A failed results computation is reported in `resultsError` for that row only.',
        security: AUTHENTICATED,
        querystring: SummaryQuerySchema,
        response: {
          200: Type.Object({
            items: Type.Array(ExperimentSummarySchema),
            nextAfter: Type.Union([Type.String(), Type.Null()], {
              description: 'Pass as `after` for the next page; null on the last page.',
            }),
          }),
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const { limit, after } = request.query;
      const rows = await context.experiments.list({ limit: limit + 1, ...(after ? { after } : {}) });
      const page = rows.slice(0, limit);
      const started = await startedAtOf(
        context,
        page.map((stored) => stored.definition.key),
      );
      const items = await mapBounded(page, SUMMARY_CONCURRENCY, async (stored): Promise<ExperimentSummary> => {
        const { definition } = stored;
        const primary = definition.metrics[0]?.key;
        let results: SummaryResults | null = null;
        let resultsError: string | null = null;
        try {
          results = slimResults(await cachedResults(reply, stored), primary);
        } catch (error) {
          resultsError = error instanceof PipelineError ? error.code : 'INTERNAL';
          request.log.warn({ err: error, experimentId: definition.key }, 'summary: results failed');
        }
        return {
          key: definition.key,
          name: definition.name,
          status: definition.status,
          variants: definition.variants.map((variant) => variant.id),
          primaryMetric: primary ?? null,
          startedAt: started.get(definition.key) ?? null,
          results,
          resultsError,
        };
      });
      return { items, nextAfter: rows.length > limit ? (page.at(-1)?.definition.key ?? null) : null };
    },
  );
}
