import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { aggregateUsers, writeCells, type SimulatedUser } from '../test-support/simulated-counters.js';

let api: TestApi;
const prefix = randomName('summary');
/** Keys sort in this order: a (running, events, SRM), b (draft → running by PATCH), c (draft, no metric). */
const [running, patched, plain] = ['a', 'b', 'c'].map((suffix) => `${prefix}-${suffix}`) as [string, string, string];

/** control 900 users (90 sign up), treatment 300 (60 sign up): a sample ratio mismatch at 50/50. */
function users(): SimulatedUser[] {
  const make = (variantId: string, count: number, converting: number) =>
    Array.from({ length: count }, (_, i): SimulatedUser => ({
      variantId,
      impressions: 1,
      segments: {},
      conversions: i < converting ? { signup: [1] } : {},
    }));
  return [...make('control', 900, 90), ...make('treatment', 300, 60)];
}

beforeAll(async () => {
  api = await startTestApi();
  const post = (payload: Record<string, unknown>) =>
    api.app.inject({ method: 'POST', url: '/api/v1/experiments', payload });
  expect((await post(experimentBody(running, { status: 'running' }))).statusCode).toBe(201);
  expect((await post(experimentBody(patched))).statusCode).toBe(201);
  expect((await post(experimentBody(plain, { metrics: [] }))).statusCode).toBe(201);
  const started = await api.app.inject({
    method: 'PATCH',
    url: `/api/v1/experiments/${patched}`,
    payload: { status: 'running' },
  });
  expect(started.statusCode, started.body).toBe(200);
  await writeCells(api.dynamo, api.config.dynamodb.countersTable, running, aggregateUsers(users(), Date.now()));
});
afterAll(async () => {
  await api?.close();
});

const getJson = async (url: string) => {
  const response = await api.app.inject({ url });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
};

describe('GET /api/v1/experiment-summaries (real dynalite and PostgreSQL)', () => {
  it('answers a page of list rows in one request: definition, start, users and the verdict inputs of …/results', async () => {
    const first = await getJson(`/api/v1/experiment-summaries?limit=2&after=${prefix}`);
    expect(first.items.map((item: { key: string }) => item.key)).toEqual([running, patched]);
    expect(first.nextAfter).toBe(patched);

    const [a, b] = first.items;
    expect(a).toMatchObject({
      key: running,
      name: `Experiment ${running}`,
      status: 'running',
      variants: ['control', 'treatment'],
      primaryMetric: 'signup',
      resultsError: null,
    });
    // The same numbers as GET …/results, which is now a cache hit (one computation for both).
    const resultsAnswer = await api.app.inject({ url: `/api/v1/experiments/${running}/results` });
    expect(resultsAnswer.headers['x-cache']).toBe('hit');
    const results = resultsAnswer.json();
    expect(a.results).toEqual({
      alpha: results.alpha,
      controlVariantId: 'control',
      users: 1200,
      srm: results.srm,
      metrics: [{ key: 'signup', lowerIsBetter: false }],
      variants: results.variants.map((v: any) => ({
        variantId: v.variantId,
        users: v.users,
        metrics: {
          signup: {
            vsControl: v.metrics.signup.vsControl && {
              pValue: v.metrics.signup.vsControl.pValue,
              absolute: v.metrics.signup.vsControl.absolute,
              relative: v.metrics.signup.vsControl.relative,
            },
          },
        },
      })),
    });
    expect(a.results.srm.mismatch).toBe(true);
    expect(a.results.variants[1].metrics.signup.vsControl.absolute.estimate).toBeCloseTo(0.2 - 0.1, 12);

    // Started: at creation for a; at the PATCH that set `running` (experiment.status-changed) for b.
    const history = await getJson(`/api/v1/audit-events?resourceId=${patched}&limit=1`);
    expect(history.items[0].change.fields.status).toEqual({ before: 'draft', after: 'running' });
    expect(b.startedAt).toBe(history.items[0].time);
    expect(Date.parse(a.startedAt)).toBeLessThanOrEqual(Date.parse(b.startedAt));
    expect(b.results.users).toBe(0);

    const second = await getJson(`/api/v1/experiment-summaries?limit=2&after=${first.nextAfter}`);
    expect(second.nextAfter).toBeNull();
    expect(second.items).toEqual([
      expect.objectContaining({ key: plain, status: 'draft', startedAt: null, primaryMetric: null }),
    ]);
    expect(second.items[0].results.metrics).toEqual([]);
  });

  it('refuses a page over 200 naming the field', async () => {
    const response = await api.app.inject({ url: '/api/v1/experiment-summaries?limit=201' });
    expect(response.statusCode).toBe(400);
    expect(JSON.stringify(response.json().error)).toContain('limit');
  });
});
