/**
 * Fuzz suite of the query API (issue 11): fast-check drives every route through Fastify's
 * `inject` with arbitrary JSON bodies (and mutated valid ones), arbitrary text, headers,
 * content types, path and query values, bounded sizes and any Unicode (lone surrogates
 * included). Invariants, for every request:
 * - the app answers (inject never throws) with a JSON body;
 * - never a 5xx: bad input is a 4xx naming what is wrong;
 * - the response is bounded: error bodies ≤ ERROR_BODY_LIMIT whatever the request size.
 * Real PostgreSQL (a fresh schema) and dynalite; OpenSearch cannot run here, so the search
 * adapter is a mock answering a recorded response. Bounded: a fixed number of runs per
 * property, well under a minute in all.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../local/test-support/test-config.js';
import type { EventSearch } from './search/event-search.js';
import { experimentBody, startTestApi, type TestApi } from './test-support/test-app.js';

const API_KEY = 'fuzz-key-0123456789';
/** The largest error body any request may produce (bodies are capped at 256 KiB on the way in). */
const ERROR_BODY_LIMIT = 16 * 1024;
/** The largest successful body: a page of definitions created by this file. */
const SUCCESS_BODY_LIMIT = 1024 * 1024;
const RUNS = { numRuns: 150 } as const;

const recordedSearchResponse = JSON.parse(
  readFileSync(new URL('./search/fixtures/count-only.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
/** Mock of the OpenSearch adapter (no OpenSearch server can run here): a recorded response. */
const recordedSearch: EventSearch = {
  search: () => Promise.resolve(structuredClone(recordedSearchResponse)),
  close: () => Promise.resolve(),
};

let api: TestApi;
const experimentKey = randomName('fuzz');
const flagKey = randomName('fuzz-flag');

beforeAll(async () => {
  // An admin key, so the compliance routes are fuzzed past their 403.
  api = await startTestApi(
    { API_KEYS: 'fuzz-writer-key-0123', ADMIN_API_KEYS: API_KEY },
    { search: recordedSearch, rateLimitPerMinute: 1_000_000 },
  );
  const headers = { 'x-api-key': API_KEY };
  await api.app.inject({ method: 'POST', url: '/api/v1/experiments', headers, payload: experimentBody(experimentKey) });
  await api.app.inject({
    method: 'POST',
    url: '/api/v1/flags',
    headers,
    payload: { key: flagKey, defaultValue: false, value: true },
  });
});
afterAll(async () => {
  await api.close();
});

/** Any Unicode, lone surrogates and control characters included. */
const anyText = (maxLength = 64) =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
    fc.constantFrom('', ' ', 'a:b', '..', '%', '%00', '\u0000', '\u202e', '\ud800', 'ｅｘｐ', '🙂', 'x'.repeat(65)),
  );

/** Path segments: the existing keys, plausible ones, and anything encoded. */
const pathSegment = fc.oneof(
  fc.constantFrom(experimentKey, flagKey, 'country', 'device', 'missing-key'),
  anyText().map((text) => encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '?'))),
  fc.stringMatching(/^[A-Za-z0-9._:~-]{0,80}$/),
);

const queryString = fc
  .dictionary(
    fc.constantFrom(
      'limit',
      'after',
      'alpha',
      'sequential',
      'by',
      'correction',
      'x',
      'limit[]',
      'from',
      'to',
      'format',
      'resourceId',
      'resourceType',
    ),
    fc.oneof(
      anyText(20),
      fc.integer().map(String),
      fc.constantFrom('0', '-1', '1e309', 'NaN', 'true', 'holm', 'csv', experimentKey),
      fc.constantFrom(
        '2026-11-01T00:00:00Z',
        '2026-06-30T23:59:60Z',
        '0000-01-01T00:00:00Z',
        '9999-12-31T23:59:59+14:00',
      ),
    ),
    { maxKeys: 4 },
  )
  .map((query) => {
    const pairs = Object.entries(query).map(
      ([name, value]) => `${name}=${encodeURIComponent(value.replace(/[\ud800-\udfff]/g, '?'))}`,
    );
    return pairs.length > 0 ? `?${pairs.join('&')}` : '';
  });

/** JSON values, deep and wide but bounded; valid bodies with fields replaced by anything. */
const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }),
  fc.record({ key: fc.constantFrom(randomName('fz'), 'a'), defaultValue: fc.jsonValue(), value: fc.jsonValue() }),
  fc
    .tuple(
      fc.constantFrom(...Object.keys(experimentBody('x')), 'targeting', 'status', 'coverage', 'unknownField'),
      fc.oneof(fc.jsonValue({ maxDepth: 4 }), anyText(100)),
    )
    .map(([field, value]) => experimentBody(randomName('fz'), { [field]: value })),
  fc.record({
    experimentId: fc.constantFrom(experimentKey, 'missing'),
    from: fc.oneof(fc.constant('2026-11-01T00:00:00Z'), anyText(30)),
    to: fc.oneof(fc.constant('2026-11-02T00:00:00Z'), anyText(30)),
    metric: fc.oneof(fc.constant({ op: 'count' }), fc.jsonValue({ maxDepth: 3 })),
    groupBy: fc.oneof(fc.constant(['variantId']), fc.jsonValue({ maxDepth: 2 })),
    filters: fc.jsonValue({ maxDepth: 3 }),
  }),
  // A wide array (many items, each invalid): the error answer must stay small.
  fc.integer({ min: 1_000, max: 30_000 }).map((count) => ({
    ...experimentBody(randomName('wide')),
    variants: Array.from({ length: count }, (_, i) => ({ id: i, weight: 'x' })),
  })),
  // Deeply nested values.
  fc.integer({ min: 10, max: 30_000 }).map((depth) => ({ raw: `${'['.repeat(depth)}${']'.repeat(depth)}` })),
);

const payload = fc.oneof(
  jsonBody.map((value) =>
    typeof value === 'object' && value !== null && 'raw' in value && typeof value.raw === 'string'
      ? value.raw
      : JSON.stringify(value),
  ),
  anyText(200),
  fc.integer({ min: 200_000, max: 300_000 }).map((size) => `{"description":"${'x'.repeat(size)}"}`),
);

const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=utf-16',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
    '*/*',
    '',
  ),
  fc.stringMatching(/^[a-z]{1,10}\/[a-z+.-]{1,20}(; ?[a-z]{1,8}=[a-z0-9-]{1,10})?$/),
);

/** Header values Node accepts (visible Latin-1 and tabs): anything else never reaches the app. */
const headerValue = fc.oneof(
  fc.stringMatching(/^[\t\x20-\x7e\x80-\xff]{0,200}$/),
  fc.constantFrom('Bearer x', 'bearer  a.b.c', 'Basic dXNlcjpwYXNz', '"v1"', 'W/"v1"', '*', '"v999", "v1"'),
);

const headers = fc
  .record({
    credentials: fc.oneof(
      { weight: 6, arbitrary: fc.constant({ 'x-api-key': API_KEY }) },
      { weight: 1, arbitrary: headerValue.map((value) => ({ 'x-api-key': value })) },
      { weight: 1, arbitrary: headerValue.map((value) => ({ authorization: value })) },
      { weight: 1, arbitrary: fc.constant({}) },
    ),
    contentType,
    extra: fc.dictionary(
      fc.constantFrom('if-match', 'x-request-id', 'accept', 'accept-encoding', 'x-forwarded-for', 'x-fuzz'),
      headerValue,
      { maxKeys: 3 },
    ),
  })
  .map(({ credentials, contentType: type, extra }) => ({
    ...extra,
    ...credentials,
    ...(type ? { 'content-type': type } : {}),
  }));

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE' | 'OPTIONS' | 'HEAD';
const ROUTES: { method: Method; path: (segment: string, other: string) => string }[] = [
  { method: 'POST', path: () => '/api/v1/experiments' },
  { method: 'GET', path: () => '/api/v1/experiments' },
  { method: 'GET', path: (segment) => `/api/v1/experiments/${segment}` },
  { method: 'PATCH', path: (segment) => `/api/v1/experiments/${segment}` },
  { method: 'GET', path: (segment) => `/api/v1/experiments/${segment}/results` },
  { method: 'GET', path: (segment, other) => `/api/v1/experiments/${segment}/segments/${other}` },
  { method: 'POST', path: () => '/api/v1/flags' },
  { method: 'GET', path: () => '/api/v1/flags' },
  { method: 'GET', path: (segment) => `/api/v1/flags/${segment}` },
  { method: 'PATCH', path: (segment) => `/api/v1/flags/${segment}` },
  { method: 'POST', path: () => '/api/v1/events/search' },
  { method: 'GET', path: () => '/health' },
  { method: 'GET', path: () => '/ready' },
  { method: 'GET', path: () => '/docs/json' },
  { method: 'DELETE', path: (segment) => `/api/v1/experiments/${segment}` },
  { method: 'PUT', path: (segment) => `/api/v1/flags/${segment}` },
  { method: 'DELETE', path: (segment) => `/api/v1/flags/${segment}` },
  { method: 'GET', path: () => '/api/v1/compliance/export' },
  { method: 'GET', path: () => '/api/v1/compliance/verify' },
  { method: 'GET', path: () => '/api/v1/audit-events' },
  { method: 'POST', path: () => '/api/v1/sessions/logout' },
  { method: 'POST', path: () => '/api/v1/sdk-connections' },
  { method: 'GET', path: (segment) => `/api/v1/sdk-connections/${segment}/payload-report` },
  { method: 'POST', path: (segment) => `/api/v1/sdk-connections/${segment}/rotate` },
  { method: 'DELETE', path: (segment) => `/api/v1/sdk-connections/${segment}` },
  { method: 'GET', path: (segment) => `/api/features/${segment}` },
  { method: 'OPTIONS', path: (segment) => `/api/features/${segment}` },
];

const request = fc
  .record({
    route: fc.constantFrom(...ROUTES),
    segment: pathSegment,
    other: pathSegment,
    query: fc.oneof(fc.constant(''), queryString),
    headers,
    payload: fc.option(payload, { nil: undefined }),
  })
  .map(({ route, segment, other, query, headers: requestHeaders, payload: body }): InjectOptions => ({
    method: route.method,
    url: `${route.path(segment, other)}${query}`,
    headers: requestHeaders,
    ...(body === undefined || route.method === 'GET' ? {} : { payload: body }),
  }));

async function checkInvariants(options: InjectOptions): Promise<void> {
  const response = await api.app.inject(options);
  const what = `${options.method} ${(typeof options.url === 'string' ? options.url : '').slice(0, 200)} → ${response.statusCode} ${response.body.slice(0, 300)}`;
  expect(response.statusCode, what).toBeLessThan(500);
  const limit = response.statusCode >= 400 ? ERROR_BODY_LIMIT : SUCCESS_BODY_LIMIT;
  expect(response.rawPayload.length, what).toBeLessThanOrEqual(limit);
  if (response.statusCode >= 400) {
    const body = response.json<{ error?: { code?: unknown; message?: unknown } }>();
    expect(typeof body.error?.code, what).toBe('string');
    expect(typeof body.error?.message, what).toBe('string');
  }
}

describe('query API fuzz (fast-check through inject; OpenSearch search adapter mocked with a recorded response)', () => {
  it('answers every route with < 500, a bounded body and a typed error for arbitrary requests', async () => {
    await fc.assert(fc.asyncProperty(request, checkInvariants), RUNS);
  }, 60_000);

  it('answers arbitrary JSON bodies on every write route with < 500 and a bounded body', async () => {
    const writes = ROUTES.filter((route) => route.method === 'POST' || route.method === 'PATCH');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...writes), jsonBody, async (route, body) => {
        const raw =
          typeof body === 'object' && body !== null && 'raw' in body && typeof body.raw === 'string'
            ? body.raw
            : JSON.stringify(body);
        await checkInvariants({
          method: route.method,
          url: route.path(route.path === ROUTES[3]!.path ? experimentKey : flagKey, 'country'),
          headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
          payload: raw,
        });
      }),
      RUNS,
    );
  }, 60_000);

  it('answers arbitrary Unicode in every path and query position with < 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES.filter((route) => route.method === 'GET')),
        pathSegment,
        pathSegment,
        queryString,
        async (route, segment, other, query) => {
          await checkInvariants({
            method: 'GET',
            url: `${route.path(segment, other)}${query}`,
            headers: { 'x-api-key': API_KEY },
          });
        },
      ),
      RUNS,
    );
  }, 60_000);
});
