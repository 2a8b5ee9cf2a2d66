import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { createAnthropicClient } from '../design/anthropic-client.js';
import { DESIGN_REQUESTS_PER_MINUTE } from './design-routes.js';
import { planSampleSize } from '../stats/power-plan.js';
import { startTestApi, type TestApi } from '../test-support/test-app.js';
import { startFakeAnthropicServer, type FakeAnthropicServer } from '../test-support/fake-anthropic-server.js';

const DESIGN_URL = '/api/v1/experiments/design';
const HYPOTHESIS = 'Showing trust badges next to the pay button raises checkout conversion';

/** A model answer that passes every rule; `key` random so tests never collide. */
function validAnswer(key = randomName('badges')) {
  return {
    experiment: {
      key,
      name: 'Trust badges at checkout',
      description: 'Badges next to the pay button.',
      variants: [
        { id: 'control', name: 'No badges', weight: 0.5 },
        { id: 'badges', name: 'Trust badges', weight: 0.5 },
      ],
      controlVariantId: 'control',
      metrics: [
        { key: 'purchase', type: 'binomial' },
        { key: 'revenue', type: 'mean' },
      ],
      segmentDimensions: ['device'],
    },
    power: { metricKey: 'purchase', baseline: 0.04, minimumDetectableEffect: 0.1, dailyTraffic: 5000 },
    rationale: 'Badges lower perceived risk at the moment of paying.',
  };
}

const asText = (answer: unknown) => JSON.stringify(answer, null, 2);
const fenced = (answer: unknown) => `Here is the draft:\n\`\`\`json\n${asText(answer)}\n\`\`\`\nLet me know.`;

describe('POST /api/v1/experiments/design without ANTHROPIC_API_KEY', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it('answers 503 naming the variable; a caller gets DESIGN_REQUESTS_PER_MINUTE answers a minute, then 429', async () => {
    const ask = () => api.app.inject({ method: 'POST', url: DESIGN_URL, payload: { hypothesis: HYPOTHESIS } });
    const response = await ask();
    expect(response.statusCode).toBe(503);
    expect(response.json().error).toMatchObject({
      code: 'FEATURE_NOT_CONFIGURED',
      message: expect.stringContaining('ANTHROPIC_API_KEY'),
    });
    for (let call = 2; call <= DESIGN_REQUESTS_PER_MINUTE; call++) expect((await ask()).statusCode).toBe(503);
    const limited = await ask();
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('RATE_LIMITED');
    const power = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments/power',
      payload: { metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1 },
    });
    expect(power.statusCode).toBe(200); // the service-wide limit is untouched
  });
});

describe('POST /api/v1/experiments/design against a local fake Messages API (configured by ANTHROPIC_* variables)', () => {
  let fake: FakeAnthropicServer;
  let api: TestApi;
  let calls = 0;
  // A caller per call: these tests make more than DESIGN_REQUESTS_PER_MINUTE calls a minute.
  const design = (payload: Record<string, unknown>) =>
    api.app.inject({ method: 'POST', url: DESIGN_URL, payload, remoteAddress: `10.0.0.${++calls}` });

  beforeAll(async () => {
    fake = await startFakeAnthropicServer();
    api = await startTestApi({
      ANTHROPIC_API_KEY: fake.apiKey,
      ANTHROPIC_API_URL: fake.url,
      ANTHROPIC_MODEL: 'claude-test-model',
    });
  });
  afterAll(async () => {
    await api.close();
    await fake.close();
  });
  beforeEach(() => fake.script([]));

  it('a valid first answer: 200 with the unsaved draft, validation, power and model; the request has the real shape', async () => {
    const answer = validAnswer();
    fake.script([{ text: asText(answer), model: 'claude-test-model-20261101' }]);
    const response = await design({ hypothesis: HYPOTHESIS, page: '/checkout' });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.draft).toEqual({
      ...answer.experiment,
      status: 'draft',
      metrics: answer.experiment.metrics.map((metric) => ({ ...metric, lowerIsBetter: false })), // the route's default
    });
    expect(body.validation).toEqual({ valid: true, attempts: 1, correctedErrors: [], warnings: [] });
    expect(body.model).toBe('claude-test-model-20261101');
    expect(body.rationale).toBe(answer.rationale);
    expect(body.power.assumptions).toEqual({ ...answer.power, source: 'model-estimate' });
    const expected = planSampleSize({
      metricType: 'binomial',
      baseline: 0.04,
      minimumDetectableEffect: 0.1,
      variants: [
        { id: 'control', weight: 0.5 },
        { id: 'badges', weight: 0.5 },
      ],
      controlVariantId: 'control',
      dailyTraffic: 5000,
    });
    expect(body.power.plan.fixedHorizon).toEqual(expected.fixedHorizon);
    expect(body.power.plan.sequential).toEqual(expected.sequential);

    expect(fake.shapeProblems).toEqual([]);
    expect(fake.requests).toHaveLength(1);
    const sent = fake.requests[0]!;
    expect(sent.headers['x-api-key']).toBe(fake.apiKey);
    expect(sent.body.model).toBe('claude-test-model');
    expect(sent.body.system).toEqual(expect.stringContaining('"controlVariantId"'));
    expect(sent.body.messages).toEqual([
      { role: 'user', content: expect.stringContaining(`Hypothesis: ${HYPOTHESIS}`) },
    ]);
    expect(sent.body.messages![0]!.content).toContain('Page: /checkout');

    const saved = await api.app.inject({ url: `/api/v1/experiments/${answer.experiment.key}` });
    expect(saved.statusCode).toBe(404); // returned for review, never stored
  });

  it("sends an existing flag's description along", async () => {
    const flagKey = randomName('trust-badges');
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/flags',
      payload: { key: flagKey, description: 'Shows payment trust badges', defaultValue: false, value: true },
    });
    expect(created.statusCode).toBe(201);
    fake.script([{ text: fenced(validAnswer()) }]);
    const response = await design({ hypothesis: HYPOTHESIS, flag: flagKey });
    expect(response.statusCode).toBe(200);
    expect(fake.requests[0]!.body.messages![0]!.content).toContain(
      `Feature flag: ${flagKey} (Shows payment trust badges)`,
    );
  });

  it('no JSON in the first answer: one retry with the problem, then 200 (attempts 2)', async () => {
    fake.script([{ text: 'I would test trust badges against no badges.' }, { text: fenced(validAnswer()) }]);
    const response = await design({ hypothesis: HYPOTHESIS });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.validation.attempts).toBe(2);
    expect(body.validation.correctedErrors).toEqual([expect.objectContaining({ field: '(answer)', rule: 'no-json' })]);
    expect(fake.shapeProblems).toEqual([]);
    const retry = fake.requests[1]!.body.messages!;
    expect(retry).toHaveLength(3);
    expect(retry[1]).toEqual({ role: 'assistant', content: 'I would test trust badges against no badges.' });
    expect(retry[2]!.role).toBe('user');
    expect(retry[2]!.content).toContain('(answer): the answer contains no JSON object');
  });

  it('invalid JSON twice: 422 MODEL_OUTPUT_INVALID listing the problem, exactly two model calls', async () => {
    const broken = asText(validAnswer()).replace(/}\s*$/, ',}');
    fake.script([{ text: broken }, { text: broken }, { text: asText(validAnswer()) }]);
    const response = await design({ hypothesis: HYPOTHESIS });
    expect(response.statusCode).toBe(422);
    const { error } = response.json();
    expect(error.code).toBe('MODEL_OUTPUT_INVALID');
    expect(error.details).toEqual({
      attempts: 2,
      errors: [expect.objectContaining({ field: '(answer)', rule: 'invalid-json' })],
      unlisted: 0,
    });
    expect(fake.requests).toHaveLength(2);
  });

  it('schema-invalid, then fixed on the retry: the problems are sent back by field and rule', async () => {
    const wrong = validAnswer();
    wrong.experiment.variants[1]!.weight = 0.6; // weights sum to 1.1
    const withExtra = { ...wrong, experiment: { ...wrong.experiment, owner: 'growth team' } };
    fake.script([{ text: asText(withExtra) }, { text: asText(validAnswer()) }]);
    const response = await design({ hypothesis: HYPOTHESIS });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.validation.attempts).toBe(2);
    expect(body.validation.correctedErrors).toEqual([
      expect.objectContaining({
        field: 'experiment',
        rule: 'additionalProperties',
        message: expect.stringContaining('owner'),
      }),
    ]);
    const correction = fake.requests[1]!.body.messages![2]!.content as string;
    expect(correction).toContain('experiment: must not have additional properties: owner (additionalProperties)');

    // Without the extra field the cross-field rule is what the model hears about.
    fake.script([{ text: asText(wrong) }, { text: asText(validAnswer()) }]);
    const second = await design({ hypothesis: HYPOTHESIS });
    expect(second.json().validation.correctedErrors).toEqual([
      expect.objectContaining({ field: 'experiment.variants', rule: 'weightsSumToOne' }),
    ]);
  });

  it('schema-invalid twice: 422 with every problem (experiment and power assumptions)', async () => {
    const wrong = validAnswer();
    wrong.experiment.controlVariantId = 'baseline';
    const wrongPower = { ...wrong, power: { ...wrong.power, metricKey: 'clicks' } };
    const wrongRate = { ...validAnswer(), power: { ...wrong.power, baseline: 1.5 } };
    fake.script([{ text: asText(wrongPower) }, { text: asText(wrongRate) }]);
    const response = await design({ hypothesis: HYPOTHESIS });
    expect(response.statusCode).toBe(422);
    const { error } = response.json();
    expect(error.details.attempts).toBe(2);
    expect(error.details.errors).toEqual([
      expect.objectContaining({ field: 'power.baseline', rule: 'rateBetweenZeroAndOne' }),
    ]);
    const correction = fake.requests[1]!.body.messages![2]!.content as string;
    expect(correction).toContain('experiment.controlVariantId');
    expect(fake.shapeProblems).toEqual([]);
  });

  it("the plan follows the draft's own statistics settings (analysis.alpha, expectedSampleSize as N*)", async () => {
    const answer = validAnswer();
    const withSettings = {
      ...answer,
      experiment: { ...answer.experiment, analysis: { alpha: 0.1, expectedSampleSize: 20_000 } },
    };
    fake.script([{ text: asText(withSettings) }]);
    const response = await design({ hypothesis: HYPOTHESIS });
    expect(response.statusCode).toBe(200);
    const { plan } = response.json().power;
    expect(plan.assumptions.alpha).toBe(0.1);
    expect(plan.sequential.tuning).toBe(20_000);
  });

  it('a draft whose key is taken comes back with a warning', async () => {
    const answer = validAnswer();
    const created = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      payload: { ...answer.experiment },
    });
    expect(created.statusCode).toBe(201);
    fake.script([{ text: asText(answer) }]);
    const response = await design({ hypothesis: HYPOTHESIS });
    expect(response.json().validation.warnings).toEqual([
      expect.stringContaining(`"${answer.experiment.key}" already exists`),
    ]);
  });

  it('upstream 401: 502 UPSTREAM_FAILED, clear and without internals', async () => {
    fake.script([{ status: 401 }]);
    const response = await design({ hypothesis: HYPOTHESIS });
    expect(response.statusCode).toBe(502);
    const { error } = response.json();
    expect(error.code).toBe('UPSTREAM_FAILED');
    expect(error.message).toContain('check ANTHROPIC_API_KEY');
    expect(response.body).not.toContain(fake.apiKey);
    expect(response.body).not.toContain(fake.url);
    expect(error.details).toBeUndefined();
  });

  it('a bad request body: 400 naming the field and the rule, no model call', async () => {
    const short = await design({ hypothesis: 'short' });
    expect(short.statusCode).toBe(400);
    expect(short.json().error.details).toEqual([expect.objectContaining({ field: 'hypothesis', rule: 'minLength' })]);
    const unknown = await design({ hypothesis: HYPOTHESIS, audience: 'everyone' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().error.details).toEqual([expect.objectContaining({ rule: 'additionalProperties' })]);
    const badFlag = await design({ hypothesis: HYPOTHESIS, flag: 'no spaces allowed' });
    expect(badFlag.statusCode).toBe(400);
    expect(badFlag.json().error.details).toEqual([expect.objectContaining({ field: 'flag', rule: 'pattern' })]);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('POST /api/v1/experiments/design retries against a local fake Messages API', () => {
  let fake: FakeAnthropicServer;
  let api: TestApi;
  const design = () => api.app.inject({ method: 'POST', url: DESIGN_URL, payload: { hypothesis: HYPOTHESIS } });

  beforeAll(async () => {
    fake = await startFakeAnthropicServer();
    const designClient = createAnthropicClient({
      apiKey: fake.apiKey,
      apiUrl: fake.url,
      model: 'claude-test-model',
      retryPolicy: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2_000 },
    });
    api = await startTestApi({}, { designClient });
  });
  afterAll(async () => {
    await api.close();
    await fake.close();
  });

  it('429 (retry-after 0) and 529 are retried, then 200', async () => {
    fake.script([{ status: 429, retryAfter: '0' }, { status: 529 }, { text: asText(validAnswer()) }]);
    const response = await design();
    expect(response.statusCode).toBe(200);
    expect(fake.requests).toHaveLength(3);
    expect(fake.shapeProblems).toEqual([]);
  });

  it('5xx on every attempt: 502 after the bounded attempts', async () => {
    fake.script([{ status: 500 }, { status: 502 }, { status: 503 }, { text: asText(validAnswer()) }]);
    const response = await design();
    expect(response.statusCode).toBe(502);
    expect(response.json().error).toEqual({
      code: 'UPSTREAM_FAILED',
      message: 'the Anthropic Messages API was unavailable (HTTP 503)',
    });
    expect(fake.requests).toHaveLength(3);
  });
});
