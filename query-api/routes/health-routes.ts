/**
 * Unauthenticated operational routes: GET /health (the process answers; for the load
 * balancer), GET /ready (PostgreSQL, DynamoDB and Redis reachable), GET /metrics
 * (Prometheus).
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import Type from 'typebox';
import type { QueryApiContext, QueryApiInstance } from '../context.js';

const CHECK_TIMEOUT_MS = 2_000;

async function timed(check: () => Promise<unknown>): Promise<'ok' | 'unavailable'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch {
    return 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

const CheckStatus = Type.Enum(['ok', 'unavailable', 'not-configured']);
const ReadySchema = Type.Object({
  status: Type.Enum(['ready', 'not-ready']),
  checks: Type.Object({ postgres: CheckStatus, dynamodb: CheckStatus, redis: CheckStatus }),
});

/** Registers /health, /ready and /metrics. */
export function registerHealthRoutes(app: QueryApiInstance, context: QueryApiContext): void {
  const publicRoute = { access: 'public' as const, rateLimit: false as const };
  app.get(
    '/health',
    {
      config: publicRoute,
      schema: {
        tags: ['operations'],
        summary: 'Liveness',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      config: publicRoute,
      schema: {
        tags: ['operations'],
        summary: 'Readiness: PostgreSQL, DynamoDB and Redis reachable',
        response: { 200: ReadySchema, 503: ReadySchema },
      },
    },
    async (_request, reply) => {
      const [postgres, dynamodb, redis] = await Promise.all([
        timed(() => context.database.reader.query('SELECT 1')),
        timed(() =>
          context.dynamo.send(new DescribeTableCommand({ TableName: context.config.dynamodb.countersTable })),
        ),
        context.redis ? timed(() => context.redis!.ping()) : Promise.resolve('not-configured' as const),
      ]);
      const ready = postgres === 'ok' && dynamodb === 'ok' && redis !== 'unavailable';
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not-ready', checks: { postgres, dynamodb, redis } });
    },
  );

  app.get('/metrics', { config: publicRoute, schema: { hide: true } }, async (_request, reply) => {
    return reply.type(context.metrics.registry.contentType).send(await context.metrics.registry.metrics());
  });
}
