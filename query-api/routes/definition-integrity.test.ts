/**
 * Issue 11 regressions on definitions and results, on the machine's PostgreSQL and dynalite:
 * optimistic concurrency (`If-Match`), unambiguous cache keys, and the error class of a
 * request that is bad (400 naming field and rule) versus a database that is down (503).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { segmentsCacheKey } from '../cache/cache-keys.js';
import { createQueryApi } from '../app.js';
import { createDatabase } from '../db/database.js';
import { databaseError } from '../definitions/definition-store.js';
import { MAX_FLAG_VALUE_DEPTH } from '../definitions/definition-rules.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { aggregateUsers, writeCells, type SimulatedUser } from '../test-support/simulated-counters.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

const post = (url: string, payload: unknown) => api.app.inject({ method: 'POST', url, payload: payload as object });
const patch = (url: string, payload: object, ifMatch?: string) =>
  api.app.inject({ method: 'PATCH', url, payload, headers: ifMatch === undefined ? {} : { 'if-match': ifMatch } });

/** `{"d":{"d":…1…}}` nested `depth` levels, built as text (no recursion in the test either). */
const nestedJson = (depth: number) => `${'{"d":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('If-Match on PATCH (optimistic concurrency)', () => {
  it.each([
    ['experiments', (key: string) => experimentBody(key), { name: 'Renamed' }],
    ['flags', (key: string) => ({ key, defaultValue: false, value: true }), { enabled: true }],
  ])(
    '%s: 412 with the current ETag on a stale or unknown version; 200 with the current one',
    async (resource, body, change) => {
      const key = randomName('etag');
      const url = `/api/v1/${resource}/${key}`;
      expect((await post(`/api/v1/${resource}`, body(key))).headers.etag).toBe('"v1"');
      expect((await api.app.inject({ url })).headers.etag).toBe('"v1"');

      const unknown = await patch(url, change, '"v999"');
      expect(unknown.statusCode).toBe(412);
      expect(unknown.headers.etag).toBe('"v1"');
      expect(unknown.json().error).toMatchObject({ code: 'PRECONDITION_FAILED', details: { etag: '"v1"' } });

      const updated = await patch(url, change, '"v1"');
      expect(updated.statusCode).toBe(200);
      expect(updated.headers.etag).toBe('"v2"');

      // Someone else's change since v1: the stale writer is refused and nothing is written.
      const stale = await patch(url, { description: 'stale edit' }, '"v1"');
      expect(stale.statusCode).toBe(412);
      expect(stale.headers.etag).toBe('"v2"');
      const current = await api.app.inject({ url });
      expect(current.headers.etag).toBe('"v2"');
      expect(current.json().description).toBeUndefined();

      // A weak tag never matches (strong comparison); `*` and lists do; no header is allowed.
      expect((await patch(url, change, 'W/"v2"')).statusCode).toBe(412);
      expect((await patch(url, change, '"v1", "v2"')).statusCode).toBe(200);
      expect((await patch(url, change, '*')).statusCode).toBe(200);
      expect((await patch(url, change)).statusCode).toBe(200);
      expect((await api.app.inject({ url })).headers.etag).toBe('"v5"');
    },
  );
});

describe('results cache keys', () => {
  it('never serves the breakdown of dimension "a:b" by "c" for dimension "a" by "b:c"', async () => {
    const key = randomName('colon');
    const dimensions = ['a:b', 'c', 'a', 'b:c'];
    expect((await post('/api/v1/experiments', experimentBody(key, { segmentDimensions: dimensions }))).statusCode).toBe(
      201,
    );
    const users: SimulatedUser[] = ['control', 'treatment'].flatMap((variantId) =>
      Array.from({ length: 10 }, (_, i) => ({
        variantId,
        impressions: 1,
        segments: { 'a:b': `ab${i % 2}`, c: `c${i % 3}`, a: `a${i % 2}`, 'b:c': `bc${i % 3}` },
        conversions: { signup: i % 2 ? [1] : [] },
      })),
    );
    await writeCells(api.dynamo, api.config.dynamodb.countersTable, key, aggregateUsers(users, Date.now()));

    const first = await api.app.inject({ url: `/api/v1/experiments/${key}/segments/a:b?by=c` });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({ dimension: 'a:b', by: 'c' });
    const second = await api.app.inject({ url: `/api/v1/experiments/${key}/segments/a?by=b:c` });
    expect(second.statusCode, second.body).toBe(200);
    expect(second.headers['x-cache']).toBe('miss');
    expect(second.json()).toMatchObject({ dimension: 'a', by: 'b:c' });
  });

  it('builds different keys for every different request', () => {
    const base = { experimentId: 'e', version: 1, correction: 'holm', limit: 20, alpha: 0.05, sequential: true };
    const keys = [
      segmentsCacheKey({ ...base, dimension: 'a:b', by: 'c' }),
      segmentsCacheKey({ ...base, dimension: 'a', by: 'b:c' }),
      segmentsCacheKey({ ...base, dimension: 'a' }),
      segmentsCacheKey({ ...base, dimension: 'a', by: '' }),
      segmentsCacheKey({ ...base, experimentId: 'e:1', version: 1, dimension: 'a' }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('error classes: bad requests are 400 with field and rule, only a database outage is 503', () => {
  it.each([MAX_FLAG_VALUE_DEPTH + 1, 2_000, 40_000])(
    'refuses a flag defaultValue nested %i levels with 400 maxDepth (was 503 past ~12,000)',
    async (depth) => {
      const response = await api.app.inject({
        method: 'POST',
        url: '/api/v1/flags',
        headers: { 'content-type': 'application/json' },
        payload: `{"key":"${randomName('deep')}","value":1,"defaultValue":${nestedJson(depth)}}`,
      });
      expect(response.statusCode, response.body.slice(0, 300)).toBe(400);
      expect(response.json().error.code).toBe('VALIDATION_FAILED');
      expect(response.json().error.details).toEqual([
        expect.objectContaining({ field: 'defaultValue', rule: 'maxDepth' }),
      ]);
    },
  );

  it('accepts a flag value nested exactly to the limit, and refuses a too-deep value on PATCH', async () => {
    const key = randomName('deep-ok');
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/flags',
      headers: { 'content-type': 'application/json' },
      payload: `{"key":"${key}","value":${nestedJson(MAX_FLAG_VALUE_DEPTH)},"defaultValue":null}`,
    });
    expect(created.statusCode, created.body).toBe(201);
    const patched = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/flags/${key}`,
      headers: { 'content-type': 'application/json' },
      payload: `{"value":${nestedJson(MAX_FLAG_VALUE_DEPTH + 1)}}`,
    });
    expect(patched.statusCode).toBe(400);
    expect(patched.json().error.details).toEqual([expect.objectContaining({ field: 'value', rule: 'maxDepth' })]);
  });

  it('classifies only connectivity failures as the database being unavailable', () => {
    const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
    const unavailable = [
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('the database system is shutting down', '57P03'),
      withCode('too many connections', '53300'),
      withCode('connection failure', '08006'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated unexpectedly'),
    ];
    for (const error of unavailable) expect(databaseError(error), error.message).toMatchObject({ statusCode: 503 });
    const bugs = [
      new RangeError('Maximum call stack size exceeded'),
      new TypeError("Cannot read properties of undefined (reading 'x')"),
      withCode('stack depth limit exceeded', '54001'),
      withCode('syntax error at or near "x"', '42601'),
    ];
    for (const error of bugs) expect(databaseError(error), error.message).toBe(error);
  });

  it('still answers 503 when PostgreSQL is really unreachable', async () => {
    const unreachable = createDatabase(
      { ...api.config.database, poolTimeoutMs: 500 },
      { url: 'postgres://postgres@127.0.0.1:1/none' },
    );
    const app = await createQueryApi(api.config, { database: unreachable, dynamo: api.dynamo });
    try {
      const created = await app.inject({
        method: 'POST',
        url: '/api/v1/flags',
        payload: { key: 'f', defaultValue: false, value: true },
      });
      expect(created.statusCode).toBe(503);
      expect(created.json().error.code).toBe('DEPENDENCY_UNAVAILABLE');
    } finally {
      await app.close();
      await unreachable.close();
    }
  });
});

describe('numeric query parameters', () => {
  it.each(['1e309', 'Infinity', '-1e309'])(
    'refuses ?limit=%s with 400 naming the field (found by the fuzz suite: it was a 500)',
    async (limit) => {
      const response = await api.app.inject({ method: 'GET', url: `/api/v1/experiments?limit=${limit}` });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        error: { code: 'VALIDATION_FAILED', details: [{ field: 'limit', rule: 'finite' }] },
      });
    },
  );

  it('still answers a finite limit', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/api/v1/experiments?limit=2' });
    expect(response.statusCode).toBe(200);
  });
});
