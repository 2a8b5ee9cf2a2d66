import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { createQueryApi } from '../app.js';
import { resultsCacheKey } from '../cache/cache-keys.js';
import { createRedisResultsCache } from '../cache/results-cache.js';
import { createDatabase } from '../db/database.js';
import { createMetricsServer } from '../metrics-server.js';
import { createQueryApiMetrics } from '../metrics.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';

describe('operational routes and service qualities', () => {
  let api: TestApi;
  let redis: Redis;
  const metrics = createQueryApiMetrics();
  beforeAll(async () => {
    redis = new Redis(inject('redisUrl'));
    api = await startTestApi(
      {},
      { redis, redisKeyPrefix: `${randomName('qa-ops')}:`, rateLimitPerMinute: 5_000, metrics },
    );
  });
  afterAll(async () => {
    await api.close();
    redis.disconnect();
  });

  it('shares cached results between two instances through Redis', async () => {
    const prefix = `${randomName('qa-shared')}:`;
    const sharedCache = () => createRedisResultsCache({ redis, keyPrefix: prefix, ttlSeconds: 30 });
    const second = await createQueryApi(api.config, {
      database: api.database,
      dynamo: api.dynamo,
      redis,
      cache: sharedCache(),
    });
    const first = await createQueryApi(api.config, {
      database: api.database,
      dynamo: api.dynamo,
      redis,
      cache: sharedCache(),
    });
    try {
      const key = randomName('shared');
      await first.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(key) });
      const url = `/api/v1/experiments/${key}/results`;
      const computed = await first.inject({ url });
      expect(computed.headers['x-cache']).toBe('miss');
      const fromOtherInstance = await second.inject({ url });
      expect(fromOtherInstance.headers['x-cache']).toBe('hit');
      expect(fromOtherInstance.body).toBe(computed.body);
      const cacheKey = resultsCacheKey({ experimentId: key, version: 1, alpha: 0.05, sequential: true });
      expect(await redis.ttl(`${prefix}${cacheKey}`)).toBeGreaterThan(0);
    } finally {
      await Promise.all([first.close(), second.close()]);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    }
  });

  it('reports liveness and readiness of PostgreSQL, DynamoDB and Redis', async () => {
    expect((await api.app.inject({ url: '/health' })).json()).toEqual({ status: 'ok' });
    const ready = await api.app.inject({ url: '/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', dynamodb: 'ok', redis: 'ok' } });
  });

  it('echoes a valid x-request-id, makes one up otherwise, and sets security headers', async () => {
    const given = await api.app.inject({ url: '/health', headers: { 'x-request-id': 'trace-123' } });
    expect(given.headers['x-request-id']).toBe('trace-123');
    const madeUp = await api.app.inject({ url: '/health', headers: { 'x-request-id': 'bad id with spaces' } });
    expect(madeUp.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(given.headers['x-content-type-options']).toBe('nosniff');
    // HTTPS only, for a year, subdomains included (the ALB terminates TLS; browsers must never fall back).
    expect(given.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  });

  it('exposes Prometheus metrics with request latencies by route on the metrics listener only', async () => {
    await api.app.inject({ url: '/api/v1/experiments' });
    expect((await api.app.inject({ url: '/metrics' })).statusCode).toBe(404);
    const metricsServer = await createMetricsServer(metrics);
    const exposition = await metricsServer.inject({ url: '/metrics' });
    await metricsServer.close();
    expect(exposition.headers['content-type']).toContain('text/plain');
    expect(exposition.body).toMatch(
      /query_api_request_duration_seconds_count\{route="\/api\/v1\/experiments",method="GET",status="200"\} \d+/,
    );
  });

  it('documents every route and result field in the OpenAPI served at /docs', async () => {
    const document = (await api.app.inject({ url: '/docs/json' })).json();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/experiments',
        '/api/v1/experiments/{experimentId}',
        '/api/v1/experiments/{experimentId}/results',
        '/api/v1/experiments/{experimentId}/segments/{dimension}',
        '/api/v1/flags',
        '/api/v1/flags/{flagKey}',
        '/api/v1/events/search',
      ]),
    );
    const results = document.paths['/api/v1/experiments/{experimentId}/results'].get;
    const schema = results.responses['200'].content['application/json'].schema;
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['experimentId', 'controlVariantId', 'computedAt', 'lastEventAt', 'srm', 'variants']),
    );
    expect(schema.properties.srm.properties.mismatch.description).toMatch(/p < 0.001/);
    expect((await api.app.inject({ url: '/docs' })).statusCode).toBeLessThan(400);
  });

  it('limits request bodies (413) and rejects non-JSON bodies (415)', async () => {
    const huge = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ ...experimentBody(randomName('big')), description: 'x'.repeat(300 * 1024) }),
    });
    expect(huge.statusCode).toBe(413);
    const text = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(text.statusCode).toBe(415);
  });

  it('answers 503 for search when OPENSEARCH_ENDPOINT is not set', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/events/search',
      payload: {
        experimentId: 'any',
        from: '2026-11-01T00:00:00Z',
        to: '2026-11-02T00:00:00Z',
        metric: { op: 'count' },
      },
    });
    expect(response.statusCode).toBe(503);
    expect(response.json().error.message).toBe(
      'event search is not configured on this deployment: set OPENSEARCH_ENDPOINT to enable it',
    );
  });
});

describe('rate limiting and readiness failures', () => {
  it('answers 429 with retry-after past the per-caller limit', async () => {
    const api = await startTestApi({}, { rateLimitPerMinute: 3 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await api.app.inject({ url: '/api/v1/experiments' })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const limited = await api.app.inject({ url: '/api/v1/experiments' });
      expect(limited.json().error.code).toBe('RATE_LIMITED');
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect((await api.app.inject({ url: '/health' })).statusCode).toBe(200);
    } finally {
      await api.close();
    }
  });

  it('is not ready when PostgreSQL cannot be reached, and says which dependency failed', async () => {
    const api = await startTestApi();
    const unreachable = createDatabase(
      { ...api.config.database, poolTimeoutMs: 500 },
      { url: 'postgres://postgres@127.0.0.1:1/none' },
    );
    const app = await createQueryApi(api.config, { database: unreachable, dynamo: api.dynamo });
    try {
      const ready = await app.inject({ url: '/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({
        status: 'not-ready',
        checks: { postgres: 'unavailable', dynamodb: 'ok', redis: 'not-configured' },
      });
      const list = await app.inject({ url: '/api/v1/experiments' });
      expect(list.statusCode).toBe(503);
      expect(list.json().error).toEqual({
        code: 'DEPENDENCY_UNAVAILABLE',
        message: 'the definitions database (PostgreSQL) is unavailable',
      });
    } finally {
      await app.close();
      await unreachable.close();
      await api.close();
    }
  });
});
