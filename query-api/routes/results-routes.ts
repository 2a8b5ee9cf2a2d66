/**
 * GET /api/v1/experiments/{experimentId}/results and …/segments/{dimension}: cached,
 * single-flight computations of results and breakdowns. The cache holds the serialized
 * response, so a hit costs one definition lookup, one cache read and a write to the socket.
 * Cache keys (cache/cache-keys.ts) are unambiguous and include the definition version: a
 * PATCH is visible at once.
 */
import type { FastifyReply } from 'fastify';
import { PipelineError } from '../../common/errors.js';
import type { ExperimentDefinition } from '../../common/experiment-definition.js';
import { segmentsCacheKey } from '../cache/cache-keys.js';
import type { QueryApiContext, QueryApiInstance } from '../context.js';
import type { StoredDefinition } from '../definitions/definition-store.js';
import { resolveAnalysisSettings } from '../results/analysis-settings.js';
import { cachedExperimentResults } from '../results/cached-results.js';
import { computeSegmentBreakdown, type ResultsServiceDeps } from '../results/results-service.js';
import {
  ExperimentIdParams,
  ResultsQuerySchema,
  ResultsResponseSchema,
  SegmentParams,
  SegmentsQuerySchema,
  SegmentsResponseSchema,
} from '../results/schemas.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

/** Sends an already serialized JSON body (a cached one or one just made by the route's serializer). */
function sendSerialized(reply: FastifyReply, body: string, hit: boolean): FastifyReply {
  return reply
    .header('x-cache', hit ? 'hit' : 'miss')
    .type('application/json; charset=utf-8')
    .send(body);
}

/** Registers the results and segment breakdown routes. */
export function registerResultsRoutes(app: QueryApiInstance, context: QueryApiContext): void {
  const service: ResultsServiceDeps = {
    dynamo: context.dynamo,
    countersTable: context.config.dynamodb.countersTable,
    now: context.now,
  };
  const loadExperiment = async (experimentId: string): Promise<StoredDefinition<ExperimentDefinition>> => {
    const stored = await context.experiments.get(experimentId);
    if (!stored) throw new PipelineError('NOT_FOUND', `experiment "${experimentId}" does not exist`);
    return stored;
  };

  app.get(
    '/api/v1/experiments/:experimentId/results',
    {
      schema: {
        tags: ['results'],
        summary: 'Per-variant results with statistics',
        description:
          'Exposed users and impressions per variant; per metric the sufficient statistics, the mean per exposed user, ' +
          'and each treatment against the control (Welch test with delta-method relative lift; always-valid confidence ' +
          'sequences unless `sequential=false`; Gaussian Bayesian chance to win). Cached for REDIS_CACHE_TTL seconds ' +
          '(`x-cache: hit|miss`).',
        security: AUTHENTICATED,
        params: ExperimentIdParams,
        querystring: ResultsQuerySchema,
        response: { 200: ResultsResponseSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { experimentId } = request.params;
      const { alpha, sequential } = request.query;
      const stored = await loadExperiment(experimentId);
      const { value, hit } = await cachedExperimentResults(
        { service, cache: context.cache, metrics: context.metrics },
        stored,
        { alpha, sequential },
        (results) => reply.serialize(results) as string,
      );
      return sendSerialized(reply, value, hit);
    },
  );

  app.get(
    '/api/v1/experiments/:experimentId/segments/:dimension',
    {
      schema: {
        tags: ['results'],
        summary: 'Per-variant results for each value of a segment dimension (or a pair with `by`)',
        description:
          'The same results per segment value: the top `limit` values by exposed users, the rest summed into ' +
          '"(other)". `by` breaks down by pairs of values of two dimensions. `adjustedPValue` applies the correction ' +
          'across values × variants × metrics. `cellsAddUp` checks the segment cells against the totals.',
        security: AUTHENTICATED,
        params: SegmentParams,
        querystring: SegmentsQuerySchema,
        response: { 200: SegmentsResponseSchema, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { experimentId, dimension } = request.params;
      const { alpha, sequential, by, correction, limit } = request.query;
      const stored = await loadExperiment(experimentId);
      const resolved = resolveAnalysisSettings(stored.definition, { alpha, sequential });
      const key = segmentsCacheKey({
        experimentId,
        version: stored.version,
        dimension,
        by,
        correction,
        limit,
        alpha: resolved.alpha,
        sequential: resolved.sequential,
      });
      const { value, hit } = await context.cache.getOrCompute(
        key,
        async () =>
          reply.serialize(
            await computeSegmentBreakdown(service, stored, {
              dimension,
              ...(by ? { by } : {}),
              correction,
              limit,
              analysis: { alpha, sequential },
            }),
          ) as string,
      );
      context.metrics.cacheLookups.inc({ kind: 'segments', outcome: hit ? 'hit' : 'miss' });
      return sendSerialized(reply, value, hit);
    },
  );
}
