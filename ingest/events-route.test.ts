import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { buildCollectorApp, type CollectorApp } from './app.js';
import { createCollectorMetrics, type CollectorMetrics } from './metrics.js';
import type { EntryOutcome, StreamEntry } from './put-records-batcher.js';
import { MISSING_OUTCOME } from './stream-outcomes.js';
import { sampleEvent } from './test-support/collector-harness.js';

const written: EntryOutcome = { ok: true, shardId: 'shardId-000000000000', sequenceNumber: '1' };

interface FakeCollector {
  app: CollectorApp;
  metrics: CollectorMetrics;
  errorLines: string[];
}

/** The collector app over a fake `submit` that answers with `outcomesFor(entries)`. */
async function collectorWithFakeSubmit(
  outcomesFor: (entries: readonly StreamEntry[]) => EntryOutcome[],
  env: Record<string, string> = {},
): Promise<FakeCollector> {
  const errorLines: string[] = [];
  const metrics = createCollectorMetrics();
  const app = await buildCollectorApp(loadConfig({ AWS_REGION: 'us-east-1', ...env }), {
    logger: createLogger({ level: 'error', destination: { write: (line: string) => errorLines.push(line) } }),
    metrics,
    submit: (entries) => Promise.resolve(outcomesFor(entries)),
    checkReady: () => Promise.resolve(),
  });
  return { app, metrics, errorLines };
}

const post = (app: CollectorApp, body: unknown, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/events',
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });

const metricValue = async (metrics: CollectorMetrics, name: string, labels: string): Promise<number> => {
  const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return Number(line?.split(' ')[1] ?? 0);
};

describe('events route over a fake submit', () => {
  let collector: FakeCollector | undefined;
  afterEach(async () => {
    await collector?.app.close();
    collector = undefined;
  });

  it('asks again for an event its submit returned no outcome for, counts it failed and logs the defect', async () => {
    // One outcome too few: the last event's fate is unknown.
    collector = await collectorWithFakeSubmit((entries) => entries.slice(1).map(() => written));
    const response = await post(collector.app, [sampleEvent(), sampleEvent(), sampleEvent()]);
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({
      accepted: 2,
      rejectedTotal: 1,
      rejectedByRule: { 'stream-write-failed': 1 },
      invalidIndexes: [],
      retryIndexes: [2],
    });
    expect(await metricValue(collector.metrics, 'collector_events_failed_total', `code="${MISSING_OUTCOME}"`)).toBe(1);
    expect(await metricValue(collector.metrics, 'collector_events_rejected_total', 'rule="stream-write-failed"')).toBe(
      1,
    );
    expect(collector.errorLines.join('')).toContain('submit returned outcomes that do not match its entries');
  });

  it('answers 503 with Retry-After when the only event failed, even if submit returned an extra ok outcome', async () => {
    collector = await collectorWithFakeSubmit(() => [
      { ok: false, errorCode: 'InternalFailure', message: 'injected' },
      written,
    ]);
    const response = await post(collector.app, [sampleEvent({ type: 'not-a-type' }), sampleEvent()]);
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.json()).toMatchObject({
      accepted: 0,
      invalidIndexes: [0],
      retryIndexes: [1],
      error: { code: 'STREAM_UNAVAILABLE' },
    });
    expect(await metricValue(collector.metrics, 'collector_events_failed_total', 'code="InternalFailure"')).toBe(1);
  });

  it('is documented at /docs with its security, and authenticates before reading the body', async () => {
    let submitted = 0;
    collector = await collectorWithFakeSubmit(
      (entries) => {
        submitted += entries.length;
        return entries.map(() => written);
      },
      { INGEST_API_KEYS: 'key-one' },
    );
    const openapi = (await collector.app.inject({ method: 'GET', url: '/docs/json' })).json<{
      paths: Record<string, { post?: { security?: unknown; responses?: Record<string, unknown> } }>;
    }>();
    const route = openapi.paths['/api/v1/events']?.post;
    expect(route?.security).toEqual([{ apiKey: [] }]);
    expect(Object.keys(route?.responses ?? {})).toEqual(expect.arrayContaining(['202', '400', '503']));

    expect((await post(collector.app, [sampleEvent()])).statusCode).toBe(401);
    expect(submitted).toBe(0);
    const accepted = await post(collector.app, [sampleEvent()], { 'x-api-key': 'key-one' });
    expect(accepted.statusCode).toBe(202);
    expect(submitted).toBe(1);
  });
});
