/**
 * The monitor end to end on real services: experiments in PostgreSQL (through the query
 * API), counters in dynalite, the processors' real metrics endpoint, and local fake Slack
 * and SendGrid servers that check the requests' shapes. Time is a controlled clock.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSilentLogger } from '../../common/logger.js';
import { createProcessorMetrics, type ProcessorMetrics } from '../../processors/metrics.js';
import { startMetricsServer, type MetricsServer } from '../../processors/metrics-server.js';
import { randomName } from '../../local/test-support/test-config.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import { aggregateUsers, writeCells, type SimulatedUser } from '../test-support/simulated-counters.js';
import { alertChannelsFromConfig } from './monitor-from-config.js';
import { createMonitor, monitorSettingsFromConfig, type Monitor } from './monitor-job.js';
import { createProcessorHealthSource } from './processor-health-source.js';
import { startFakeSendGrid, startFakeSlack, type FakeService } from './test-support/fake-alert-services.js';

const START = Date.parse('2026-11-26T10:05:00.000Z');
const MINUTE = 60_000;

/** `count` users of one variant, `converting` of them signed up. */
function users(variantId: string, count: number, converting: number): SimulatedUser[] {
  return Array.from({ length: count }, (_, i) => ({
    variantId,
    impressions: 1,
    segments: {},
    conversions: { signup: i < converting ? [1] : [], revenue: [] },
  }));
}

let api: TestApi;
let slack: FakeService;
let sendgrid: FakeService;
let processorMetrics: ProcessorMetrics;
let metricsServer: MetricsServer;
let clock = START;
let monitor: Monitor;

beforeAll(async () => {
  [slack, sendgrid] = await Promise.all([startFakeSlack(), startFakeSendGrid()]);
  processorMetrics = createProcessorMetrics();
  metricsServer = await startMetricsServer(processorMetrics.registry, '127.0.0.1', 0);
  api = await startTestApi({
    SLACK_BOT_TOKEN: 'xoxb-monitor-test',
    SLACK_DEFAULT_CHANNEL: '#experiments',
    SLACK_API_URL: slack.url,
    SENDGRID_API_KEY: 'SG.monitor-test',
    SENDGRID_API_URL: sendgrid.url,
    ALERT_EMAIL_FROM: 'alerts@example.com',
    PUBLIC_BASE_URL: 'https://experiments.example.com/',
    MONITOR_DEAD_LETTER_THRESHOLD: '3',
    MONITOR_LAG_THRESHOLD_MS: '60000',
  });
  const logger = createSilentLogger();
  monitor = createMonitor(monitorSettingsFromConfig(api.config), {
    database: api.database,
    dynamo: api.dynamo,
    channels: alertChannelsFromConfig(api.config, logger),
    healthSource: createProcessorHealthSource({ urls: [`${metricsServer.url}/metrics`] }),
    logger,
    now: () => new Date(clock),
  });
});
afterAll(async () => {
  await api.close();
  await Promise.all([slack.close(), sendgrid.close(), metricsServer.close()]);
});
beforeEach(() => {
  slack.requests.length = 0;
  sendgrid.requests.length = 0;
});

async function createRunning(key: string, overrides: Record<string, unknown> = {}): Promise<void> {
  const response = await api.app.inject({
    method: 'POST',
    url: '/api/v1/experiments',
    payload: experimentBody(key, {
      status: 'running',
      owners: ['ana@example.com'],
      metrics: [
        { key: 'signup', type: 'binomial', guardrail: true },
        { key: 'revenue', type: 'mean' },
      ],
      ...overrides,
    }),
  });
  expect(response.statusCode, response.body).toBe(201);
}

const slackTexts = () => slack.requests.map((request) => (request.body as { text: string }).text);

describe('the monitor on real PostgreSQL and dynalite, alerts to fake Slack and SendGrid', () => {
  it('snapshots results, fires SRM and guardrail alerts once each, then clears them once', async () => {
    const key = randomName('monitored');
    await createRunning(key);
    // 600 vs 400 exposed users on a 50/50 split: χ² = 40, p ≈ 2.5e-10 (SRM); signup 30% vs 10%: guardrail.
    const lastEventAt = clock;
    await writeCells(api.dynamo, api.config.dynamodb.countersTable, key, [
      ...aggregateUsers([...users('control', 600, 180), ...users('treatment', 400, 40)], lastEventAt),
    ]);

    const first = await monitor.runOnce();
    expect(first.ran).toBe(true);
    expect(first.failures).toEqual([]);
    const mine = first.transitions.filter((t) => t.experimentId === key);
    expect(mine.map((t) => `${t.transition}:${t.condition}:${t.outcome}`).sort()).toEqual([
      'fired:guardrail:signup:treatment:delivered',
      'fired:srm:delivered',
    ]);
    const srmText = slackTexts().find((text) => text.includes('sample-ratio mismatch'));
    expect(srmText).toContain(`(${key}): Alert: sample-ratio mismatch`);
    expect(srmText).toContain('control 600, treatment 400');
    expect(JSON.stringify(slack.requests[0]!.body)).toContain(`https://experiments.example.com/ui/experiments/${key}`);
    expect(sendgrid.requests).toHaveLength(2);
    expect((sendgrid.requests[0]!.body as { personalizations: unknown }).personalizations).toEqual([
      { to: [{ email: 'ana@example.com' }] },
    ]);

    // A minute later nothing changed: nothing is sent again.
    slack.requests.length = 0;
    sendgrid.requests.length = 0;
    clock += MINUTE;
    const second = await monitor.runOnce();
    expect(second.transitions.filter((t) => t.experimentId === key)).toEqual([]);
    expect(slack.requests).toHaveLength(0);
    expect(sendgrid.requests).toHaveLength(0);

    // 200 more treatment users, 140 converting: 600 vs 600 users, 30% vs 30% — both clear.
    await writeCells(
      api.dynamo,
      api.config.dynamodb.countersTable,
      key,
      aggregateUsers(users('treatment', 200, 140), lastEventAt),
    );
    clock += MINUTE;
    const third = await monitor.runOnce();
    expect(
      third.transitions
        .filter((t) => t.experimentId === key)
        .map((t) => `${t.transition}:${t.condition}`)
        .sort(),
    ).toEqual(['cleared:guardrail:signup:treatment', 'cleared:srm']);
    expect(slackTexts().filter((text) => text.includes('Cleared: sample-ratio mismatch'))).toHaveLength(1);
    expect(sendgrid.requests.map((r) => (r.body as { subject: string }).subject).sort()).toEqual([
      expect.stringMatching(new RegExp(`^\\[${key}\\] Cleared: guardrail signup moved the wrong way in treatment`)),
      expect.stringMatching(new RegExp(`^\\[${key}\\] Cleared: sample-ratio mismatch`)),
    ]);

    clock += MINUTE;
    const fourth = await monitor.runOnce();
    expect(fourth.transitions.filter((t) => t.experimentId === key)).toEqual([]);

    // Four runs in one hour wrote one snapshot per metric; an hour later comes the second point.
    clock += 60 * MINUTE;
    await monitor.runOnce();
    const history = await api.app.inject({ url: `/api/v1/experiments/${key}/results/history?metric=signup` });
    expect(history.statusCode, history.body).toBe(200);
    const body = history.json<{
      experimentId: string;
      metric: string;
      points: { at: string; variants: { variantId: string; users: number; mean: number; lift: unknown }[] }[];
    }>();
    expect(body.experimentId).toBe(key);
    expect(body.metric).toBe('signup');
    expect(body.points.map((point) => point.at)).toEqual([
      new Date(START + 3 * MINUTE).toISOString(),
      new Date(START + 63 * MINUTE).toISOString(),
    ]);
    const [control, treatment] = body.points[0]!.variants;
    expect(treatment?.lift).not.toBeNull();
    const lift = treatment!.lift as { relative: number; interval: [number, number] };
    expect(control).toMatchObject({ variantId: 'control', users: 600, mean: 0.3, lift: null, pValue: null });
    expect(treatment!.users).toBe(600);
    expect(treatment!.mean).toBeCloseTo(0.3, 12);
    expect(lift.relative).toBeCloseTo(0, 12);
    expect(lift.interval[0]).toBeLessThan(0);
    expect(lift.interval[1]).toBeGreaterThan(0);

    const ranged = await api.app.inject({
      url: `/api/v1/experiments/${key}/results/history?metric=revenue&from=${new Date(START + 30 * MINUTE).toISOString()}`,
    });
    expect(ranged.json<{ points: unknown[] }>().points).toHaveLength(1);
  });

  it('fires and clears pipeline-health alerts once for the pipeline, not once per experiment', async () => {
    // Several running experiments (more from the tests above): one with its own channel and two owners.
    const own = randomName('health-own');
    await createRunning(own, { owners: ['bo@example.com', 'ana@example.com'], slackChannel: 'C0OWNCHANNEL' });
    await createRunning(randomName('health'), { owners: [] });
    processorMetrics.deadLetters.inc({ reason: 'schema' }, 2);
    // Past the 15-minute window of earlier samples: this run's count (2) is the baseline.
    clock += 16 * MINUTE;
    await monitor.runOnce();
    processorMetrics.deadLetters.inc({ reason: 'schema' }, 5);
    processorMetrics.stateLost.set(1);
    processorMetrics.millisBehindLatest.set({ shard: 'shardId-000000000000' }, 120_000);
    clock += MINUTE;
    slack.requests.length = 0;
    sendgrid.requests.length = 0;
    const report = await monitor.runOnce();
    expect(report.experiments).toBeGreaterThanOrEqual(2);
    expect(report.health).toEqual({ deadLetterGrowth: 5, lagMs: 120_000, stateLost: true });
    const pipeline = report.transitions.filter((t) => t.scope === 'pipeline');
    expect(pipeline.map((t) => `${t.transition}:${t.condition}:${t.outcome}`).sort()).toEqual([
      'fired:dead-letters:delivered',
      'fired:processor-lag:delivered',
      'fired:state-lost:delivered',
    ]);
    expect(pipeline.every((t) => t.experimentId === undefined)).toBe(true);
    expect(report.transitions.filter((t) => t.scope === 'experiment' && t.condition === 'dead-letters')).toEqual([]);
    // One Slack message per condition, to the default channel only (not the experiment's own).
    const deadLetterPosts = slack.requests.filter((r) => JSON.stringify(r.body).includes('dead-lettered'));
    expect(deadLetterPosts).toHaveLength(1);
    expect(deadLetterPosts[0]!.body).toMatchObject({
      channel: '#experiments',
      text: expect.stringContaining('(pipeline): Alert: 5 events were dead-lettered in the last 15 min'),
    });
    expect(JSON.stringify(deadLetterPosts[0]!.body)).toContain(
      '<https://experiments.example.com/ui/|Open the experiments>',
    );
    expect(slack.requests.filter((r) => (r.body as { channel: string }).channel === 'C0OWNCHANNEL')).toHaveLength(0);
    // One email per condition, to every running experiment's owners, each address once.
    const mails = sendgrid.requests.map(
      (r) => r.body as { subject: string; personalizations: { to: { email: string }[] }[] },
    );
    expect(mails.map((mail) => mail.subject).sort()).toEqual([
      expect.stringMatching(/^\[pipeline\] Alert: 5 events were dead-lettered/),
      expect.stringMatching(/^\[pipeline\] Alert: the processors are 120 s behind the stream/),
      expect.stringMatching(/^\[pipeline\] Alert: the processors stopped: their exactly-once state was lost/),
    ]);
    expect(mails[0]!.personalizations).toEqual([
      { to: [{ email: 'ana@example.com' }] },
      { to: [{ email: 'bo@example.com' }] },
    ]);

    // Still unhealthy a minute later: nothing is sent again.
    slack.requests.length = 0;
    sendgrid.requests.length = 0;
    clock += MINUTE;
    expect((await monitor.runOnce()).transitions.filter((t) => t.scope === 'pipeline')).toEqual([]);
    expect(slack.requests.filter((r) => JSON.stringify(r.body).includes('(pipeline)'))).toHaveLength(0);

    // The window passes without new dead letters, the processors recover: all three clear, once,
    // by email to ALERT_EMAIL_TO when it is set.
    const onCall = createMonitor(
      { ...monitorSettingsFromConfig(api.config), alertEmailTo: ['oncall@example.com'] },
      {
        database: api.database,
        dynamo: api.dynamo,
        channels: alertChannelsFromConfig(api.config, createSilentLogger()),
        healthSource: createProcessorHealthSource({ urls: [`${metricsServer.url}/metrics`] }),
        logger: createSilentLogger(),
        now: () => new Date(clock),
      },
    );
    processorMetrics.stateLost.set(0);
    processorMetrics.millisBehindLatest.set({ shard: 'shardId-000000000000' }, 200);
    clock += 16 * MINUTE;
    const recovered = await onCall.runOnce();
    expect(recovered.health).toEqual({ deadLetterGrowth: 0, lagMs: 200, stateLost: false });
    expect(
      recovered.transitions
        .filter((t) => t.scope === 'pipeline')
        .map((t) => `${t.transition}:${t.condition}`)
        .sort(),
    ).toEqual(['cleared:dead-letters', 'cleared:processor-lag', 'cleared:state-lost']);
    const cleared = sendgrid.requests.filter((r) => JSON.stringify(r.body).includes('[pipeline] Cleared'));
    expect(cleared).toHaveLength(3);
    expect(cleared.map((r) => (r.body as { personalizations: unknown }).personalizations)).toEqual(
      Array.from({ length: 3 }, () => [{ to: [{ email: 'oncall@example.com' }] }]),
    );
    expect(slack.requests.filter((r) => JSON.stringify(r.body).includes('(pipeline): Cleared'))).toHaveLength(3);
  });

  it('keeps an alert pending while Slack fails, and sends it on the next run', async () => {
    const key = randomName('pending');
    await createRunning(key, { owners: [] });
    await writeCells(
      api.dynamo,
      api.config.dynamodb.countersTable,
      key,
      aggregateUsers([...users('control', 300, 30), ...users('treatment', 100, 10)], clock),
    );
    // Every attempt of this run fails (Slack down): the transition stays pending.
    slack.script(...Array.from({ length: 40 }, () => ({ status: 503 })));
    clock += MINUTE;
    const failed = await monitor.runOnce();
    expect(failed.transitions.find((t) => t.experimentId === key)).toMatchObject({
      condition: 'srm',
      outcome: 'pending',
    });
    slack.resetScript();
    slack.requests.length = 0;
    clock += MINUTE;
    const retried = await monitor.runOnce();
    expect(retried.transitions.find((t) => t.experimentId === key)).toMatchObject({
      condition: 'srm',
      transition: 'fired',
      outcome: 'delivered',
    });
  }, 60_000);

  it("deletes an experiment's history and alert state with the experiment", async () => {
    const key = randomName('deleted');
    await createRunning(key);
    await writeCells(
      api.dynamo,
      api.config.dynamodb.countersTable,
      key,
      aggregateUsers([...users('control', 600, 60), ...users('treatment', 400, 40)], clock),
    );
    clock += MINUTE;
    await monitor.runOnce();
    const count = async (table: string) =>
      (await api.database.writer.query(`SELECT count(*)::int AS n FROM ${table} WHERE experiment_key = $1`, [key]))
        .rows[0] as { n: number };
    expect((await count('result_snapshots')).n).toBe(2);
    expect((await count('monitor_alerts')).n).toBe(1);
    await api.app.inject({ method: 'PATCH', url: `/api/v1/experiments/${key}`, payload: { status: 'stopped' } });
    expect((await api.app.inject({ method: 'DELETE', url: `/api/v1/experiments/${key}` })).statusCode).toBe(204);
    expect((await count('result_snapshots')).n).toBe(0);
    expect((await count('monitor_alerts')).n).toBe(0);
    expect((await api.app.inject({ url: `/api/v1/experiments/${key}/results/history` })).statusCode).toBe(404);
  });
});

describe('definition fields and history parameters', () => {
  it('refuses bad owners, slackChannel and guardrail values with a 400 naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ owners: ['not-an-email'] }, '/owners/0'],
      [{ slackChannel: 'has spaces' }, '/slackChannel'],
      [{ metrics: [{ key: 'signup', type: 'binomial', guardrail: 'yes' }] }, '/metrics/0/guardrail'],
    ];
    for (const [overrides, field] of cases) {
      const response = await api.app.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        payload: experimentBody(randomName('bad'), overrides),
      });
      expect(response.statusCode, response.body).toBe(400);
      expect(response.body).toContain(field.split('/').filter(Boolean)[0]);
    }
  });

  it('answers 400 for an undeclared metric or a reversed range, naming the field', async () => {
    const key = randomName('params');
    await createRunning(key);
    const unknownMetric = await api.app.inject({ url: `/api/v1/experiments/${key}/results/history?metric=nope` });
    expect(unknownMetric.statusCode).toBe(400);
    expect(unknownMetric.json<{ error: { details: unknown } }>().error.details).toEqual([
      expect.objectContaining({ field: 'metric', rule: 'declaredMetric' }),
    ]);
    const reversed = await api.app.inject({
      url: `/api/v1/experiments/${key}/results/history?from=2026-11-26T12:00:00Z&to=2026-11-26T10:00:00Z`,
    });
    expect(reversed.statusCode).toBe(400);
    expect(reversed.body).toContain('from');
    const badDate = await api.app.inject({ url: `/api/v1/experiments/${key}/results/history?from=yesterday` });
    expect(badDate.statusCode).toBe(400);
    expect(badDate.body).toContain('from');
    const empty = await api.app.inject({ url: `/api/v1/experiments/${key}/results/history` });
    expect(empty.json()).toEqual({ experimentId: key, metric: 'signup', points: [] });
  });
});
