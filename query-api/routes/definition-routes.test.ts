import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

const post = (url: string, payload: unknown) => api.app.inject({ method: 'POST', url, payload: payload as object });

describe('experiments CRUD on PostgreSQL', () => {
  it('creates with defaults, reads back the definition, and lists it', async () => {
    const key = randomName('exp');
    const created = await post('/api/v1/experiments', experimentBody(key));
    expect(created.statusCode).toBe(201);
    expect(created.headers.etag).toBe('"v1"');
    expect(created.headers.location).toBe(`/api/v1/experiments/${key}`);
    const definition = created.json();
    expect(definition).toMatchObject({ key, status: 'draft', coverage: 1, hashSeed: key, hashVersion: 2 });
    expect(definition.metrics).toEqual([
      { key: 'signup', type: 'binomial', lowerIsBetter: false },
      { key: 'revenue', type: 'mean', lowerIsBetter: false },
    ]);

    const read = await api.app.inject({ method: 'GET', url: `/api/v1/experiments/${key}` });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(definition);

    const list = await api.app.inject({ method: 'GET', url: '/api/v1/experiments?limit=500' });
    expect(list.json().items.map((item: { key: string }) => item.key)).toContain(key);
  });

  it('paginates the list with after/nextAfter', async () => {
    const prefix = randomName('page');
    for (const suffix of ['a', 'b', 'c']) await post('/api/v1/experiments', experimentBody(`${prefix}-${suffix}`));
    const first = (await api.app.inject({ url: `/api/v1/experiments?limit=2&after=${prefix}` })).json();
    expect(first.items.map((i: { key: string }) => i.key)).toEqual([`${prefix}-a`, `${prefix}-b`]);
    expect(first.nextAfter).toBe(`${prefix}-b`);
    const second = (await api.app.inject({ url: `/api/v1/experiments?limit=2&after=${first.nextAfter}` })).json();
    expect(second.items[0].key).toBe(`${prefix}-c`);
  });

  it('answers 409 for a duplicate key and 404 for an unknown one', async () => {
    const key = randomName('dup');
    expect((await post('/api/v1/experiments', experimentBody(key))).statusCode).toBe(201);
    const duplicate = await post('/api/v1/experiments', experimentBody(key));
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().error).toMatchObject({ code: 'CONFLICT', message: `experiment "${key}" already exists` });
    const missing = await api.app.inject({ url: '/api/v1/experiments/no-such-experiment' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
    const patchMissing = await api.app.inject({
      method: 'PATCH',
      url: '/api/v1/experiments/no-such-experiment',
      payload: { name: 'x' },
    });
    expect(patchMissing.statusCode).toBe(404);
  });

  it('patches fields, bumps the version, and re-checks the rules on the merged definition', async () => {
    const key = randomName('patch');
    await post('/api/v1/experiments', experimentBody(key));
    const patched = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/experiments/${key}`,
      payload: { status: 'running', coverage: 0.5 },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.headers.etag).toBe('"v2"');
    expect(patched.json()).toMatchObject({ key, status: 'running', coverage: 0.5, name: `Experiment ${key}` });

    const broken = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/experiments/${key}`,
      payload: { controlVariantId: 'ghost' },
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().error.details).toEqual([
      expect.objectContaining({ field: 'controlVariantId', rule: 'controlAmongVariants' }),
    ]);
    const unchanged = await api.app.inject({ url: `/api/v1/experiments/${key}` });
    expect(unchanged.json().controlVariantId).toBe('control');
    expect(unchanged.headers.etag).toBe('"v2"');
  });

  it.each([
    [
      'weights that do not sum to 1',
      {
        variants: [
          { id: 'control', weight: 0.5 },
          { id: 'treatment', weight: 0.4 },
        ],
      },
      'variants',
      'weightsSumToOne',
    ],
    [
      'duplicate variant ids',
      {
        variants: [
          { id: 'control', weight: 0.5 },
          { id: 'control', weight: 0.5 },
        ],
      },
      'variants',
      'uniqueVariantIds',
    ],
    [
      'duplicate metric keys',
      {
        metrics: [
          { key: 'm', type: 'mean' },
          { key: 'm', type: 'binomial' },
        ],
      },
      'metrics',
      'uniqueMetricKeys',
    ],
    ['a control that is not a variant', { controlVariantId: 'nope' }, 'controlVariantId', 'controlAmongVariants'],
  ])('rejects %s naming the field and the rule', async (_what, overrides, field, rule) => {
    const response = await post('/api/v1/experiments', experimentBody(randomName('bad'), overrides));
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('VALIDATION_FAILED');
    expect(response.json().error.details).toContainEqual(expect.objectContaining({ field, rule }));
  });

  it.each([
    [
      'a weight above 1',
      {
        variants: [
          { id: 'a', weight: 2 },
          { id: 'b', weight: 0 },
        ],
      },
      'variants.0.weight',
      'maximum',
    ],
    ['a single variant', { variants: [{ id: 'control', weight: 1 }] }, 'variants', 'minItems'],
    ['an unknown field', { colour: 'red' }, '', 'additionalProperties'],
    ['a bad metric type', { metrics: [{ key: 'm', type: 'quantile' }] }, 'metrics.0.type', 'enum'],
    ['a key with spaces', { key: 'has space' }, 'key', 'pattern'],
  ])('rejects %s by schema, naming the field and the rule', async (_what, overrides, field, rule) => {
    const response = await post('/api/v1/experiments', experimentBody(randomName('bad'), overrides));
    expect(response.statusCode).toBe(400);
    const { error } = response.json();
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details).toContainEqual(expect.objectContaining({ rule }));
    if (field) expect(error.details.map((d: { field: string }) => d.field)).toContain(field);
  });

  it('validates targeting with the shared rule language on save', async () => {
    const valid = { attribute: 'country', op: 'in', values: ['US', 'CA'] };
    const created = await post('/api/v1/experiments', experimentBody(randomName('targeted'), { targeting: valid }));
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json().targeting).toEqual(valid);
    const unsafe = { attribute: 'userAgent', op: 'regex', pattern: '(a+)+$' };
    const rejected = await post('/api/v1/experiments', experimentBody(randomName('targeted'), { targeting: unsafe }));
    expect(rejected.statusCode).toBe(400);
    expect(rejected.json().error.details).toContainEqual(
      expect.objectContaining({ field: 'targeting.pattern', rule: 'regex-unsafe' }),
    );
  });

  it.each(['^a*a*a*a*a*a*$', '^(a|a)+$'])(
    'refuses the super-linear pattern %s with 400 naming the field and the rule (issue 11; was 201)',
    async (pattern) => {
      const targeting = {
        or: [
          { attribute: 'country', op: 'eq', value: 'US' },
          { attribute: 'userAgent', op: 'regex', pattern },
        ],
      };
      const experiment = await post('/api/v1/experiments', experimentBody(randomName('redos'), { targeting }));
      expect(experiment.statusCode, experiment.body).toBe(400);
      expect(experiment.json().error.details).toContainEqual(
        expect.objectContaining({ field: 'targeting.or[1].pattern', rule: 'regex-unsafe' }),
      );
      const flag = await post('/api/v1/flags', {
        key: randomName('redos'),
        defaultValue: false,
        value: true,
        targeting,
      });
      expect(flag.statusCode, flag.body).toBe(400);
      expect(flag.json().error.details).toContainEqual(
        expect.objectContaining({ field: 'targeting.or[1].pattern', rule: 'regex-unsafe' }),
      );
    },
  );

  it('removes a stored targeting rule with PATCH targeting: null, audited; other fields refuse null by name', async () => {
    const key = randomName('untarget');
    const rule = { attribute: 'country', op: 'in', values: ['US'] };
    await post('/api/v1/experiments', experimentBody(key, { targeting: rule, analysis: { alpha: 0.1 } }));
    const omitted = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/experiments/${key}`,
      payload: { name: 'n' },
    });
    expect(omitted.json().targeting, 'left out: kept').toEqual(rule);

    const removed = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/experiments/${key}`,
      headers: { 'if-match': '"v2"' },
      payload: { targeting: null, analysis: null },
    });
    expect(removed.statusCode, removed.body).toBe(200);
    expect(removed.headers.etag).toBe('"v3"');
    expect(removed.json()).not.toHaveProperty('targeting');
    expect(removed.json()).not.toHaveProperty('analysis');
    const read = (await api.app.inject({ url: `/api/v1/experiments/${key}` })).json();
    expect(read).not.toHaveProperty('targeting');
    expect(read.name).toBe('n');
    const history = (await api.app.inject({ url: `/api/v1/audit-events?resourceId=${key}&limit=1` })).json();
    expect(history.items[0].change.fields.targeting).toEqual({ before: rule, after: null });

    const refused = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/experiments/${key}`,
      payload: { name: null },
    });
    expect(refused.statusCode).toBe(400);
    expect(JSON.stringify(refused.json().error.details)).toContain('name');

    const flagKey = randomName('untarget-flag');
    await post('/api/v1/flags', { key: flagKey, defaultValue: null, value: true, targeting: rule });
    const flag = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/flags/${flagKey}`,
      payload: { targeting: null },
    });
    expect(flag.statusCode, flag.body).toBe(200);
    expect(flag.json()).not.toHaveProperty('targeting');
    expect(flag.json().defaultValue, 'a JSON null value is a value, not a removal').toBeNull();
  });

  it('removes a description, owners and a Slack channel with null too, each audited', async () => {
    const key = randomName('unowned');
    await post(
      '/api/v1/experiments',
      experimentBody(key, { description: 'why', owners: ['ana@example.com'], slackChannel: '#growth' }),
    );
    const removed = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/experiments/${key}`,
      payload: { description: null, owners: null, slackChannel: null },
    });
    expect(removed.statusCode, removed.body).toBe(200);
    for (const field of ['description', 'owners', 'slackChannel']) expect(removed.json()).not.toHaveProperty(field);
    const history = (await api.app.inject({ url: `/api/v1/audit-events?resourceId=${key}&limit=1` })).json();
    expect(history.items[0].change.fields).toMatchObject({
      description: { before: 'why', after: null },
      owners: { before: ['ana@example.com'], after: null },
      slackChannel: { before: '#growth', after: null },
    });
    const flagKey = randomName('undescribed-flag');
    await post('/api/v1/flags', { key: flagKey, defaultValue: false, value: true, description: 'old' });
    const flag = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/flags/${flagKey}`,
      payload: { description: null },
    });
    expect(flag.statusCode, flag.body).toBe(200);
    expect(flag.json()).not.toHaveProperty('description');
  });

  it('rejects an empty patch and bad path parameters', async () => {
    const key = randomName('empty');
    await post('/api/v1/experiments', experimentBody(key));
    const empty = await api.app.inject({ method: 'PATCH', url: `/api/v1/experiments/${key}`, payload: {} });
    expect(empty.statusCode).toBe(400);
    const badId = await api.app.inject({ url: '/api/v1/experiments/%24bad' });
    expect(badId.statusCode).toBe(400);
    expect(badId.json().error.details[0]).toMatchObject({ rule: 'pattern' });
  });
});

describe('metric definitions: ratio, cap and CUPED rules, locked once running (PostgreSQL)', () => {
  const patch = (key: string, payload: unknown) =>
    api.app.inject({ method: 'PATCH', url: `/api/v1/experiments/${key}`, payload: payload as object });
  const extrasMetrics = [
    { key: 'revenue', type: 'mean', cap: 500, cuped: true },
    { key: 'orders', type: 'mean' },
    { key: 'signup', type: 'binomial', cuped: true },
    { key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders' },
  ];

  it('stores and serves ratio, cap and cuped fields as given', async () => {
    const key = randomName('extras');
    const created = await post('/api/v1/experiments', experimentBody(key, { metrics: extrasMetrics }));
    expect(created.statusCode).toBe(201);
    const read = (await api.app.inject({ url: `/api/v1/experiments/${key}` })).json();
    expect(read.metrics).toEqual(extrasMetrics.map((metric) => ({ ...metric, lowerIsBetter: false })));
  });

  it.each([
    [
      'a ratio without numerator',
      [{ key: 'r', type: 'ratio', denominator: 'orders' }],
      'metrics[0].numerator',
      'required-for-ratio',
    ],
    [
      'a ratio without denominator',
      [{ key: 'r', type: 'ratio', numerator: 'revenue' }],
      'metrics[0].denominator',
      'required-for-ratio',
    ],
    [
      'a ratio of a metric by itself',
      [{ key: 'r', type: 'ratio', numerator: 'revenue', denominator: 'revenue' }],
      'metrics[0].denominator',
      'different-from-numerator',
    ],
    [
      'a ratio over another ratio metric',
      [
        { key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders' },
        { key: 'r', type: 'ratio', numerator: 'aov', denominator: 'orders' },
      ],
      'metrics[1].numerator',
      'event-metric-only',
    ],
    [
      'a numerator on a mean metric',
      [{ key: 'm', type: 'mean', numerator: 'revenue' }],
      'metrics[0].numerator',
      'ratio-only',
    ],
    [
      'a denominator on a binomial metric',
      [{ key: 'b', type: 'binomial', denominator: 'x' }],
      'metrics[0].denominator',
      'ratio-only',
    ],
    ['a cap on a binomial metric', [{ key: 'b', type: 'binomial', cap: 3 }], 'metrics[0].cap', 'mean-only'],
    [
      'a cap on a ratio metric',
      [{ key: 'r', type: 'ratio', numerator: 'a', denominator: 'b', cap: 3 }],
      'metrics[0].cap',
      'mean-only',
    ],
    [
      'cuped on a ratio metric',
      [
        { key: 'signup', type: 'binomial' },
        { key: 'revenue', type: 'mean' },
        { key: 'r', type: 'ratio', numerator: 'a', denominator: 'b', cuped: true },
      ],
      'metrics[2].cuped',
      'cuped-on-ratio',
    ],
  ])(
    'refuses %s with 400 naming the field and the rule, on create and on patch',
    async (_name, metrics, field, rule) => {
      const key = randomName('metric-rule');
      const created = await post('/api/v1/experiments', experimentBody(key, { metrics }));
      expect(created.statusCode).toBe(400);
      expect(created.json().error.code).toBe('VALIDATION_FAILED');
      expect(created.json().error.details).toEqual([expect.objectContaining({ field, rule })]);
      expect((await post('/api/v1/experiments', experimentBody(key))).statusCode).toBe(201);
      const patched = await patch(key, { metrics });
      expect(patched.statusCode).toBe(400);
      expect(patched.json().error.details).toEqual([expect.objectContaining({ field, rule })]);
    },
  );

  it('refuses a cap of 0 or beyond MAX_USER_TOTAL and a numerator that is not a metric key, by the schema', async () => {
    for (const [metric, field] of [
      [{ key: 'm', type: 'mean', cap: 0 }, 'metrics.0.cap'],
      [{ key: 'm', type: 'mean', cap: 1e8 + 1 }, 'metrics.0.cap'],
      [{ key: 'r', type: 'ratio', numerator: 'bad key', denominator: 'b' }, 'metrics.0.numerator'],
    ] as const) {
      const answer = await post('/api/v1/experiments', experimentBody(randomName('schema'), { metrics: [metric] }));
      expect(answer.statusCode).toBe(400);
      expect(answer.json().error.details).toEqual([expect.objectContaining({ field })]);
    }
  });

  it('lets a draft change anything, then locks cap, cuped, type, numerator and denominator once running', async () => {
    const key = randomName('locked');
    await post('/api/v1/experiments', experimentBody(key, { metrics: extrasMetrics }));
    const reshaped = [
      { key: 'revenue', type: 'mean', cap: 250 },
      { key: 'orders', type: 'mean' },
      { key: 'signup', type: 'binomial', cuped: true },
      { key: 'aov', type: 'ratio', numerator: 'revenue', denominator: 'orders' },
    ];
    expect((await patch(key, { metrics: reshaped })).statusCode).toBe(200);
    expect((await patch(key, { status: 'running' })).statusCode).toBe(200);

    const capChanged = await patch(key, {
      metrics: reshaped.map((m) => (m.key === 'revenue' ? { ...m, cap: 300 } : m)),
    });
    expect(capChanged.statusCode).toBe(409);
    expect(capChanged.json().error).toMatchObject({
      code: 'CONFLICT',
      details: [
        {
          field: 'metrics[0].cap',
          rule: 'locked-while-running',
          message:
            'metric "revenue": cap cannot change (250 → 300) while the experiment is running, and its cells are counted under the definition it started with',
        },
      ],
    });
    const cases: [unknown[], string][] = [
      [reshaped.map((m) => (m.key === 'revenue' ? { key: 'revenue', type: 'mean' } : m)), 'metrics[0].cap'],
      [reshaped.map((m) => (m.key === 'orders' ? { ...m, cuped: true } : m)), 'metrics[1].cuped'],
      [reshaped.map((m) => (m.key === 'signup' ? { key: 'signup', type: 'mean', cuped: true } : m)), 'metrics[2].type'],
      [reshaped.map((m) => (m.key === 'aov' ? { ...m, denominator: 'signup' } : m)), 'metrics[3].denominator'],
      [reshaped.map((m) => (m.key === 'aov' ? { ...m, numerator: 'signup' } : m)), 'metrics[3].numerator'],
      [reshaped.filter((m) => m.key !== 'aov'), 'metrics'],
      [reshaped.filter((m) => m.key !== 'revenue'), 'metrics'],
      [[...reshaped, { key: 'clicks', type: 'mean', cap: 10 }], 'metrics[4]'],
      [[...reshaped, { key: 'cps', type: 'ratio', numerator: 'orders', denominator: 'signup' }], 'metrics[4]'],
      [[...reshaped, { key: 'visits', type: 'binomial', cuped: true }], 'metrics[4]'],
    ];
    for (const [metrics, field] of cases) {
      const refused = await patch(key, { metrics });
      expect(refused.statusCode, field).toBe(409);
      expect(refused.json().error.details, field).toEqual([
        expect.objectContaining({ field, rule: 'locked-while-running' }),
      ]);
    }
    // Plain metrics still come and go; reordering and cuped: false ≡ absent are no changes; other fields stay editable.
    const plainAdded = [
      { key: 'clicks', type: 'binomial' },
      ...[...reshaped].reverse().map((m) => (m.key === 'orders' ? { ...m, cuped: false, lowerIsBetter: true } : m)),
    ];
    const added = await patch(key, { metrics: plainAdded, name: 'still editable' });
    expect(added.statusCode).toBe(200);
    expect(added.json().metrics.map((m: { key: string }) => m.key)).toEqual([
      'clicks',
      'aov',
      'signup',
      'orders',
      'revenue',
    ]);
    // A ratio's numerator and denominator are event metric keys: a plain metric of the same key may go.
    const removed = await patch(key, { metrics: plainAdded.filter((m) => m.key !== 'clicks' && m.key !== 'orders') });
    expect(removed.statusCode).toBe(200);
    expect(removed.json().metrics.map((m: { key: string }) => m.key)).toEqual(['aov', 'signup', 'revenue']);
    // Back to draft would unlock them: refused while it has extras.
    const toDraft = await patch(key, { status: 'draft' });
    expect(toDraft.statusCode).toBe(409);
    expect(toDraft.json().error.details).toEqual([
      expect.objectContaining({ field: 'status', rule: 'locked-while-running' }),
    ]);
    // Stopped is locked too.
    expect((await patch(key, { status: 'stopped' })).statusCode).toBe(200);
    const afterStop = await patch(key, { metrics: [{ key: 'signup', type: 'binomial', cuped: true }] });
    expect(afterStop.statusCode).toBe(409);
    expect(afterStop.json().error.details).toEqual([
      expect.objectContaining({
        field: 'metrics',
        rule: 'locked-while-running',
        message: expect.stringContaining('"aov" is a ratio metric'),
      }),
      expect.objectContaining({
        field: 'metrics',
        rule: 'locked-while-running',
        message: expect.stringContaining('"revenue" is a capped metric'),
      }),
    ]);
  });
});

describe('flags CRUD on PostgreSQL', () => {
  it('creates with defaults, reads, patches, and rejects duplicates', async () => {
    const key = randomName('flag');
    const created = await post('/api/v1/flags', { key, defaultValue: false, value: { colour: 'blue' } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toEqual({
      key,
      enabled: false,
      rollout: 1,
      hashSeed: key,
      defaultValue: false,
      value: { colour: 'blue' },
    });
    const patched = await api.app.inject({
      method: 'PATCH',
      url: `/api/v1/flags/${key}`,
      payload: { enabled: true, rollout: 0.25 },
    });
    expect(patched.json()).toMatchObject({ enabled: true, rollout: 0.25 });
    const read = await api.app.inject({ url: `/api/v1/flags/${key}` });
    expect(read.json()).toEqual(patched.json());
    expect((await post('/api/v1/flags', { key, defaultValue: 1, value: 2 })).statusCode).toBe(409);
    expect((await api.app.inject({ url: '/api/v1/flags/unknown-flag' })).statusCode).toBe(404);
  });

  it('requires defaultValue and value', async () => {
    const response = await post('/api/v1/flags', { key: randomName('flag') });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.map((d: { rule: string }) => d.rule)).toContain('required');
  });
});
