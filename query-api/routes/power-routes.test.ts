import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../test-support/test-app.js';

describe('POST /api/v1/experiments/power', () => {
  let api: TestApi;
  const power = (payload: Record<string, unknown>) =>
    api.app.inject({ method: 'POST', url: '/api/v1/experiments/power', payload });

  beforeAll(async () => {
    api = await startTestApi({ API_KEYS: 'analyst-key' });
  });
  afterAll(() => api.close());

  it('baseline 10%, MDE +10%: 14,750 users per arm fixed-horizon, more for the sequential test, days from traffic', async () => {
    const response = await api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments/power',
      headers: { 'x-api-key': 'analyst-key' },
      payload: { metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1, dailyTraffic: 2000 },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.fixedHorizon).toEqual({
      usersPerVariant: [
        { variantId: 'control', users: 14_750 },
        { variantId: 'treatment', users: 14_750 },
      ],
      totalUsers: 29_500,
      days: 15,
    });
    expect(body.sequential.tuning).toBe(5000);
    expect(body.sequential.totalUsers).toBeGreaterThan(body.sequentialTunedToPlan.totalUsers);
    expect(body.sequentialTunedToPlan.totalUsers).toBeGreaterThan(body.fixedHorizon.totalUsers);
    expect(body.assumptions).toMatchObject({ alpha: 0.05, power: 0.8, twoSided: true, controlVariantId: 'control' });
  });

  it('needs a credential like every /api route', async () => {
    const response = await power({ metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1 });
    expect(response.statusCode).toBe(401);
  });

  const authorized = (payload: Record<string, unknown>) =>
    api.app.inject({
      method: 'POST',
      url: '/api/v1/experiments/power',
      headers: { 'x-api-key': 'analyst-key' },
      payload,
    });

  it('a mean metric with unequal weights and a custom tuning', async () => {
    const response = await authorized({
      metricType: 'mean',
      baseline: 25,
      variance: 900,
      minimumDetectableEffect: -0.05,
      alpha: 0.01,
      power: 0.9,
      variants: [
        { id: 'old-price', weight: 2 },
        { id: 'new-price', weight: 1 },
      ],
      controlVariantId: 'old-price',
      sequentialTuning: 20_000,
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    const [control, treatment] = body.fixedHorizon.usersPerVariant;
    expect(control.variantId).toBe('old-price');
    expect(control.users / treatment.users).toBeCloseTo(2, 2);
    expect(body.fixedHorizon.days).toBeNull();
    expect(body.sequential.tuning).toBe(20_000);
    expect(body.assumptions.notes.join(' ')).toContain('variance is assumed equal');
  });

  it.each([
    [{ metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1, alpha: 0.7 }, 'alpha', 'maximum'],
    [{ metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1, power: 1 }, 'power', 'exclusiveMaximum'],
    [{ metricType: 'binomial', baseline: 0.1 }, 'minimumDetectableEffect', 'required'],
    [{ metricType: 'ratio', baseline: 0.1, minimumDetectableEffect: 0.1 }, 'metricType', 'enum'],
    [
      { metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1, dailyTraffic: 0 },
      'dailyTraffic',
      'minimum',
    ],
    [
      { metricType: 'binomial', baseline: 0.1, minimumDetectableEffect: 0.1, colour: 'red' },
      '(request)',
      'additionalProperties',
    ],
  ])('schema: %o → 400 naming %s (%s)', async (payload, field, rule) => {
    const response = await authorized(payload);
    expect(response.statusCode).toBe(400);
    const { error } = response.json();
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toContainEqual(expect.objectContaining({ field, rule }));
  });

  it.each([
    [
      { metricType: 'binomial', baseline: 0.95, minimumDetectableEffect: 0.1 },
      'minimumDetectableEffect',
      'treatmentRateBetweenZeroAndOne',
    ],
    [{ metricType: 'mean', baseline: 3, minimumDetectableEffect: 0.1 }, 'variance', 'requiredForMeanMetrics'],
    [
      {
        metricType: 'binomial',
        baseline: 0.1,
        minimumDetectableEffect: 0.1,
        variants: [
          { id: 'a', weight: 1 },
          { id: 'b', weight: 1 },
        ],
        controlVariantId: 'control',
      },
      'controlVariantId',
      'controlAmongVariants',
    ],
  ])('cross-field rule: %o → 400 naming %s (%s)', async (payload, field, rule) => {
    const response = await authorized(payload);
    expect(response.statusCode).toBe(400);
    const { error } = response.json();
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.message).toContain(field);
    expect(error.details).toContainEqual(expect.objectContaining({ field, rule }));
  });
});
