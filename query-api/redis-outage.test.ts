/**
 * A Redis outage degrades the query API, never fails it (issue 11: with Redis stopped,
 * `/api/v1/experiments` and `/api/v1/flags/x` answered 500 because the rate limiter's
 * store failed). A private `redis-server` is started, killed and started again; the
 * client is the one production uses (`connectQueryApiRedis`).
 */
import type { Redis } from 'ioredis';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../common/logger.js';
import { randomName, waitFor } from '../local/test-support/test-config.js';
import { startPrivateRedis, type PrivateRedis } from '../processors/state/test-support/private-redis.js';
import { createMetricsServer } from './metrics-server.js';
import { createQueryApiMetrics } from './metrics.js';
import { connectQueryApiRedis } from './start-query-api.js';
import { experimentBody, startTestApi, type TestApi } from './test-support/test-app.js';

const API_KEY = 'outage-test-key';
const headers = { 'x-api-key': API_KEY };

let privateRedis: PrivateRedis;
let redis: Redis;
let api: TestApi;
const metrics = createQueryApiMetrics();
const logLines: { level: string; msg: string; store?: string }[] = [];
const prefix = `${randomName('qa-outage')}:`;
const experiment = randomName('outage');
const flag = randomName('outage-flag');

beforeAll(async () => {
  privateRedis = await startPrivateRedis();
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(JSON.parse(chunk.toString()) as { level: string; msg: string });
        done();
      },
    }),
  });
  redis = connectQueryApiRedis(privateRedis.url, logger);
  api = await startTestApi({ API_KEYS: API_KEY }, { redis, redisKeyPrefix: prefix, metrics, logger });
  const created = await api.app.inject({
    method: 'POST',
    url: '/api/v1/experiments',
    headers,
    payload: experimentBody(experiment),
  });
  expect(created.statusCode).toBe(201);
  const flagged = await api.app.inject({
    method: 'POST',
    url: '/api/v1/flags',
    headers,
    payload: { key: flag, defaultValue: false, value: true },
  });
  expect(flagged.statusCode).toBe(201);
}, 30_000);
afterAll(async () => {
  await api.close();
  redis.disconnect();
  await privateRedis.stop();
});

const get = (url: string) => api.app.inject({ url, headers });
const metricValue = async (name: string, store: string) => {
  const values = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.find((value) => value.labels.store === store)?.value ?? 0;
};

describe('Redis outage (private redis-server, killed and restarted)', () => {
  it('serves from Redis while it is up: shared rate-limit counters and cached results', async () => {
    expect((await get('/api/v1/experiments')).statusCode).toBe(200);
    expect((await get(`/api/v1/experiments/${experiment}/results`)).headers['x-cache']).toBe('miss');
    expect((await get(`/api/v1/experiments/${experiment}/results`)).headers['x-cache']).toBe('hit');
    expect(await redis.keys(`${prefix}ratelimit:*`)).not.toHaveLength(0);
    expect((await api.app.inject({ url: '/ready' })).json().status).toBe('ready');
  });

  it('keeps answering every route with Redis down, counts the fallbacks, logs the outage once', async () => {
    // Kill the server (SHUTDOWN NOSAVE: it exits at once, like a crash); restarted in the next test.
    await redis.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
    await waitFor(() => redis.status !== 'ready', 5_000, 'the client to notice');
    const list = await get('/api/v1/experiments');
    expect(list.statusCode, list.body).toBe(200);
    const flagResponse = await get(`/api/v1/flags/${flag}`);
    expect(flagResponse.statusCode, flagResponse.body).toBe(200);
    expect((await get('/api/v1/flags/x')).statusCode).toBe(404);
    const results = await get(`/api/v1/experiments/${experiment}/results`);
    expect(results.statusCode, results.body).toBe(200);
    expect(results.json().experimentId).toBe(experiment);
    // The in-process fallback cache takes over: the second read is a hit again.
    expect((await get(`/api/v1/experiments/${experiment}/results`)).headers['x-cache']).toBe('hit');
    const segments = await get(`/api/v1/experiments/${experiment}/segments/country`);
    expect(segments.statusCode, segments.body).toBe(200);

    expect(await metricValue('query_api_store_fallbacks_total', 'rate-limit')).toBeGreaterThanOrEqual(5);
    expect(await metricValue('query_api_store_fallbacks_total', 'results-cache')).toBeGreaterThanOrEqual(1);
    expect(await metricValue('query_api_store_degraded', 'rate-limit')).toBe(1);
    const warnings = logLines.filter((line) => line.level === 'warn' && line.store === 'rate-limit');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/unavailable: serving from the in-process fallback/);

    // Readiness says degraded (200): a shared-store outage must not take tasks out of service.
    const ready = await api.app.inject({ url: '/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({
      status: 'degraded',
      checks: { postgres: 'ok', dynamodb: 'ok', redis: 'unavailable' },
    });
    expect((await api.app.inject({ url: '/health' })).statusCode).toBe(200);
    const exposition = await (await createMetricsServer(metrics)).inject({ url: '/metrics' });
    expect(exposition.body).toMatch(/query_api_store_fallbacks_total\{store="rate-limit"\} \d+/);
  }, 30_000);

  it('goes back to Redis when it answers again, and says so', async () => {
    await privateRedis.restartEmpty();
    await waitFor(() => redis.status === 'ready', 10_000, 'the client to reconnect');
    expect((await get('/api/v1/experiments')).statusCode).toBe(200);
    expect(await redis.keys(`${prefix}ratelimit:*`)).not.toHaveLength(0);
    expect(await metricValue('query_api_store_degraded', 'rate-limit')).toBe(0);
    expect(logLines.some((line) => line.store === 'rate-limit' && /answers again/.test(line.msg))).toBe(true);
    expect((await api.app.inject({ url: '/ready' })).json().status).toBe('ready');
  }, 30_000);
});
