/**
 * GET /api/v1/experiments/{experimentId}/results/history?metric=&from=&to=&limit=: the
 * results history the monitor records (query-api/monitor), per variant over time. Reads
 * the reader pool; not cached (snapshots change once per interval and the answer is small).
 */
import { PipelineError } from '../../common/errors.js';
import type { QueryApiContext, QueryApiInstance } from '../context.js';
import { HistoryQuerySchema, HistoryResponseSchema } from '../monitor/history-schemas.js';
import { createSnapshotStore } from '../monitor/snapshot-store.js';
import { ExperimentIdParams } from '../results/schemas.js';
import { AUTHENTICATED, ERROR_RESPONSES } from './http-schemas.js';

const invalid = (field: string, rule: string, message: string) =>
  new PipelineError('VALIDATION_FAILED', `${field}: ${message}`, { details: [{ field, rule, message }] });

/** Registers the results history route. */
export function registerHistoryRoutes(app: QueryApiInstance, context: QueryApiContext): void {
  const snapshots = createSnapshotStore(context.database);
  app.get(
    '/api/v1/experiments/:experimentId/results/history',
    {
      schema: {
        tags: ['results'],
        summary: 'Results over time, per variant (the monitor’s snapshots)',
        description:
          'One point per snapshot interval (MONITOR_SNAPSHOT_INTERVAL, hourly by default) while the experiment ran: ' +
          'per variant the exposed users, the mean, the relative lift with its interval, the p-value and the chance ' +
          'to win. Points are oldest first; `limit` keeps the latest of the range.',
        security: AUTHENTICATED,
        params: ExperimentIdParams,
        querystring: HistoryQuerySchema,
        response: { 200: HistoryResponseSchema, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { experimentId } = request.params;
      const { metric: requested, from, to, limit } = request.query;
      const stored = await context.experiments.get(experimentId);
      if (!stored) throw new PipelineError('NOT_FOUND', `experiment "${experimentId}" does not exist`);
      const declared = stored.definition.metrics.map((metric) => metric.key);
      const metric = requested ?? declared[0];
      if (metric === undefined) {
        throw invalid('metric', 'declaredMetric', `experiment "${experimentId}" declares no metrics`);
      }
      if (!declared.includes(metric)) {
        throw invalid(
          'metric',
          'declaredMetric',
          `"${metric}" is not a metric of experiment "${experimentId}" (declared: ${declared.join(', ')})`,
        );
      }
      const fromDate = from === undefined ? undefined : new Date(from);
      const toDate = to === undefined ? undefined : new Date(to);
      if (fromDate && toDate && fromDate > toDate) throw invalid('from', 'fromNotAfterTo', 'must not be after `to`');
      const points = await snapshots.history({
        experimentId,
        metric,
        ...(fromDate ? { from: fromDate } : {}),
        ...(toDate ? { to: toDate } : {}),
        limit,
      });
      return { experimentId, metric, points };
    },
  );
}
