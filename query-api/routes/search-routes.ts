/**
 * POST /api/v1/events/search: ad-hoc aggregations over the raw events in OpenSearch.
 * 503 with a clear message when OPENSEARCH_ENDPOINT is not configured.
 */
import { PipelineError } from '../../common/errors.js';
import type { QueryApiContext, QueryApiInstance } from '../context.js';
import {
  buildSearchBody,
  readSearchResponse,
  SearchRequestSchema,
  SearchResponseSchema,
} from '../search/search-request.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

/** Registers the event search route. */
export function registerSearchRoutes(app: QueryApiInstance, context: QueryApiContext): void {
  app.post(
    '/api/v1/events/search',
    {
      schema: {
        tags: ['search'],
        summary: 'Aggregate raw events (OpenSearch)',
        description:
          'Filters on allow-listed fields, groups by up to two of them, and computes a metric. ' +
          'Answers 503 when the deployment has no OpenSearch (OPENSEARCH_ENDPOINT unset).',
        security: AUTHENTICATED,
        body: SearchRequestSchema,
        response: { 200: SearchResponseSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      if (!context.search) {
        throw new PipelineError(
          'DEPENDENCY_UNAVAILABLE',
          'event search is not configured on this deployment: set OPENSEARCH_ENDPOINT to enable it',
          { retriable: false },
        );
      }
      const stored = await context.experiments.get(request.body.experimentId);
      if (!stored) throw new PipelineError('NOT_FOUND', `experiment "${request.body.experimentId}" does not exist`);
      const body = buildSearchBody(request.body, stored.definition.segmentDimensions);
      return readSearchResponse(request.body, await context.search.search(body));
    },
  );
}
