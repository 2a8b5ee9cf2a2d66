/**
 * Event search against recorded OpenSearch responses, served by a real HTTP server on
 * 127.0.0.1 (no OpenSearch can run here): asserts the request the API builds and the
 * rows it reads back. A live test runs when OPENSEARCH_URL is set.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { createEventSearch } from './event-search.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8');

interface Recorded {
  method: string;
  url: string;
  body: Record<string, unknown>;
}

let server: Server;
let recorded: Recorded[] = [];
let reply: { status: number; body: string } = { status: 200, body: fixture('count-only') };
let api: TestApi;
let experimentId: string;

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      recorded.push({ method: request.method ?? '', url: request.url ?? '', body: body ? JSON.parse(body) : {} });
      response.writeHead(reply.status, { 'content-type': 'application/json' }).end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const env = { OPENSEARCH_ENDPOINT: endpoint, OPENSEARCH_INDEX_PREFIX: 'experimentation-events' };
  const search = createEventSearch({
    opensearch: { endpoint, indexPrefix: 'experimentation-events' },
    aws: { region: 'us-east-1' },
  });
  api = await startTestApi(env, { ...(search ? { search } : {}) });
  experimentId = randomName('search');
  await api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload: experimentBody(experimentId) });
});
afterAll(async () => {
  await api.close();
  await new Promise((resolve) => server.close(resolve));
});

const searchRequest = (body: Record<string, unknown>) =>
  api.app.inject({
    method: 'POST',
    url: '/api/v1/events/search',
    payload: { experimentId, from: '2026-11-01T00:00:00Z', to: '2026-11-21T00:00:00Z', ...body },
  });

describe('POST /api/v1/events/search (recorded OpenSearch responses on a local HTTP server)', () => {
  it('builds a grouped unique-users aggregation from allow-listed fields and flattens the buckets', async () => {
    recorded = [];
    reply = { status: 200, body: fixture('grouped-unique-users') };
    const response = await searchRequest({
      eventType: 'conversion',
      filters: [{ field: 'segments.device', values: ['mobile', 'tablet'] }],
      groupBy: ['variantId', 'segments.country'],
      metric: { op: 'uniqueUsers', metricKey: 'signup' },
      size: 2,
    });
    expect(response.statusCode, response.body).toBe(200);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.method).toBe('POST');
    expect(recorded[0]!.url).toMatch(/^\/experimentation-events-\*\/_search\?/);
    expect(recorded[0]!.url).toContain('ignore_unavailable=true');
    expect(recorded[0]!.body).toEqual({
      size: 0,
      track_total_hits: true,
      query: {
        bool: {
          filter: [
            { term: { experimentId } },
            {
              range: {
                timestamp: {
                  gte: Date.parse('2026-11-01T00:00:00Z'),
                  lt: Date.parse('2026-11-21T00:00:00Z'),
                  format: 'epoch_millis',
                },
              },
            },
            { term: { type: 'conversion' } },
            { term: { metric: 'signup' } },
            { terms: { 'segments.device': ['mobile', 'tablet'] } },
          ],
        },
      },
      aggs: {
        value: { cardinality: { field: 'userId', precision_threshold: 40_000 } },
        group0: {
          terms: { field: 'variantId', size: 2 },
          aggs: {
            group1: {
              terms: { field: 'segments.country', size: 2 },
              aggs: { value: { cardinality: { field: 'userId', precision_threshold: 40_000 } } },
            },
          },
        },
      },
    });
    expect(response.json()).toEqual({
      experimentId,
      totalEvents: 18342,
      value: 5120,
      tookMs: 14,
      groups: [
        { keys: { variantId: 'treatment', 'segments.country': 'US' }, events: 5120, value: 1402 },
        { keys: { variantId: 'treatment', 'segments.country': 'DE' }, events: 3879, value: 1077 },
        { keys: { variantId: 'control', 'segments.country': 'US' }, events: 4902, value: 1371 },
        { keys: { variantId: 'control', 'segments.country': 'DE' }, events: 3649, value: 1010 },
      ],
    });
  });

  it('counts without aggregations when nothing is grouped', async () => {
    recorded = [];
    reply = { status: 200, body: fixture('count-only') };
    const response = await searchRequest({ metric: { op: 'count' } });
    expect(response.json()).toEqual({ experimentId, totalEvents: 742, value: 742, groups: [], tookMs: 3 });
    expect(recorded[0]!.body.aggs).toEqual({});
  });

  it.each([
    ['a field outside the allow-list', { groupBy: ['userId'] }, 'groupBy.0'],
    ['an undeclared segment dimension', { filters: [{ field: 'segments.browser', values: ['x'] }] }, 'filters.0.field'],
    ['three groupings', { groupBy: ['variantId', 'type', 'metric'] }, 'groupBy'],
    ['a script-like field name', { groupBy: ["doc['x']"] }, 'groupBy.0'],
    ['an empty time range', { to: '2026-11-01T00:00:00Z' }, 'to'],
  ])('rejects %s with 400 naming the field, without calling OpenSearch', async (_what, body, field) => {
    recorded = [];
    const response = await searchRequest({ metric: { op: 'count' }, ...body });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.map((d: { field: string }) => d.field)).toContain(field);
    expect(recorded).toHaveLength(0);
  });

  it('answers 404 for an unknown experiment', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/events/search',
      payload: {
        experimentId: 'unknown-exp',
        from: '2026-11-01T00:00:00Z',
        to: '2026-11-02T00:00:00Z',
        metric: { op: 'count' },
      },
    });
    expect(response.statusCode).toBe(404);
  });

  it('answers 503 without leaking the OpenSearch error when the search fails', async () => {
    reply = { status: 400, body: fixture('search-phase-exception') };
    const response = await searchRequest({ metric: { op: 'count' }, groupBy: ['segments.country'] });
    expect(response.statusCode).toBe(503);
    expect(response.json().error).toEqual({
      code: 'DEPENDENCY_UNAVAILABLE',
      message: 'the event search (OpenSearch) failed',
    });
  });
});

const liveUrl = process.env.OPENSEARCH_URL;

describe('live OpenSearch', () => {
  it.runIf(liveUrl)('runs a grouped search against the OpenSearch at OPENSEARCH_URL (live)', async () => {
    const search = createEventSearch({
      opensearch: { endpoint: liveUrl!, indexPrefix: randomName('qa-live') },
      aws: { region: 'us-east-1' },
    })!;
    try {
      const body = await search.search({ size: 0, track_total_hits: true, query: { match_all: {} } });
      expect(body).toHaveProperty('hits');
    } finally {
      await search.close();
    }
  });
});
