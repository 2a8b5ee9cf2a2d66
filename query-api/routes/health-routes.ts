/**
 * Unauthenticated operational routes:
 * - GET /health — liveness, the load balancer's and ECS's probe: the process answers.
 *   It never checks shared dependencies: an outage of PostgreSQL, DynamoDB or Redis hits
 *   every task alike, and failing the probe would only make ECS replace healthy tasks
 *   (and the load balancer fail open) without fixing anything.
 * - GET /ready — dependencies, for operators, deploy smoke tests and `npm start`:
 *   `ready` (200), `degraded` (200: Redis is down, cache and rate limits run in process),
 *   `not-ready` (503: PostgreSQL or DynamoDB unreachable, so requests will answer 503).
 * Prometheus metrics are not here: metrics-server.ts serves them on their own port.
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
  status: Type.Enum(['ready', 'degraded', 'not-ready']),
  checks: Type.Object({ postgres: CheckStatus, dynamodb: CheckStatus, redis: CheckStatus }),
});

/** Registers /health and /ready. */
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
        summary: 'Readiness: PostgreSQL and DynamoDB reachable; Redis optional (degraded without it)',
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
      const ready = postgres === 'ok' && dynamodb === 'ok';
      const status = !ready ? 'not-ready' : redis === 'unavailable' ? 'degraded' : 'ready';
      return reply.code(ready ? 200 : 503).send({ status, checks: { postgres, dynamodb, redis } });
    },
  );
}
