/**
 * Proof with the official GrowthBook SDK (`@growthbook/growthbook` from npm), nothing faked:
 * the query API listens on 127.0.0.1 (PostgreSQL, dynalite); an SDK connection is created
 * through the API; `new GrowthBook({ apiHost, clientKey })` fetches `/api/features/{key}`.
 * For 20,000 visitors, across experiments with unequal weights, partial coverage and
 * targeting, the SDK's variation equals our Assignment Lambda handler's and the split-URL
 * function's for every visitor; every flag's value equals the Flag Evaluation Lambda
 * handler's. The SDK's `trackingCallback` (ingest/growthbook-tracking.ts, through the producer
 * client) sends the impressions to the real collector (kinesalite); the processors count
 * them (dynalite) and the results API reports exactly the users the Lambda assigned, per
 * variant and per country.
 */
import { GrowthBook } from '@growthbook/growthbook';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToBucket } from '../../common/hashing.js';
import { createSilentLogger } from '../../common/logger.js';
import { createAssignmentHandler } from '../../edge/assignment-handler.js';
import { createDefinitionClient } from '../../common/definition-client.js';
import { createFlagEvaluationHandler } from '../../edge/flag-evaluation-handler.js';
import { silentLog } from '../../edge/split-url/edge-log.js';
import { createExperimentSource } from '../../edge/split-url/experiment-source.js';
import { createSplitUrlHandler } from '../../edge/split-url/split-url-handler.js';
import { createProducerTrackingCallback } from '../../ingest/growthbook-tracking.js';
import { createProducer, type Producer } from '../../ingest/producer-client.js';
import { startCollectorHarness, type CollectorHarness } from '../../ingest/test-support/collector-harness.js';
import { waitFor } from '../../local/test-support/test-config.js';
import { startProcessors, type RunningProcessors } from '../../processors/main.js';
import { provisionPipeline } from '../../local/provision.js';
import { experimentBody, startTestApi, type TestApi } from '../test-support/test-app.js';
import {
  edgeAttributes,
  landingRequest,
  LANDING_PATH,
  proofVisitors,
  splitUrlVariant,
  type ProofVisitor,
} from '../test-support/growthbook-proof.js';

const VISITORS = 20_000;
const SERVICE_KEY = 'proof-service-key-0123';
const ADMIN_KEY = 'proof-admin-key-0123';
const BOUNDARY_FLAG = 'sdk-proof-boundary';

interface ExperimentSpec {
  key: string;
  variants: { id: string; weight: number; url: string }[];
  overrides: Record<string, unknown>;
}

const SPECS: ExperimentSpec[] = [
  {
    key: 'sdk-proof-checkout',
    variants: [
      { id: 'control', weight: 0.5, url: LANDING_PATH },
      { id: 'b', weight: 0.3, url: '/landing-b' },
      { id: 'c', weight: 0.2, url: '/landing-c' },
    ],
    overrides: {
      coverage: 0.7,
      targeting: { attribute: 'country', op: 'in', values: ['US', 'CA', 'DE'] },
      segmentDimensions: ['country'],
    },
  },
  {
    key: 'sdk-proof-mobile',
    variants: [
      { id: 'control', weight: 0.1, url: LANDING_PATH },
      { id: 'treatment', weight: 0.9, url: '/landing-m' },
    ],
    overrides: {
      coverage: 0.35,
      targeting: {
        and: [
          { attribute: 'deviceType', op: 'eq', value: 'mobile' },
          { not: { attribute: 'country', op: 'eq', value: 'FR' } },
        ],
      },
    },
  },
  {
    key: 'sdk-proof-browser',
    variants: [
      { id: 'control', weight: 0.4, url: LANDING_PATH },
      { id: 'v1', weight: 0.1, url: '/landing-1' },
      { id: 'v2', weight: 0.25, url: '/landing-2' },
      { id: 'v3', weight: 0.25, url: '/landing-3' },
    ],
    overrides: {
      targeting: {
        and: [
          { attribute: 'path', op: 'eq', value: LANDING_PATH },
          {
            or: [
              { attribute: 'userAgent', op: 'regex', pattern: 'chrome/1[0-9]{2}', ignoreCase: true },
              { attribute: 'userAgent', op: 'regex', pattern: 'Firefox/' },
            ],
          },
        ],
      },
    },
  },
];
const EXPERIMENTS = SPECS.map((spec) =>
  experimentBody(spec.key, { status: 'running', variants: spec.variants, ...spec.overrides }),
);
const EXPERIMENT_KEYS = SPECS.map((spec) => spec.key);
/** Targets an attribute SDKs cannot read like we do: left out of the payload. */
const DOTTED = experimentBody('sdk-proof-dotted', {
  status: 'running',
  targeting: { attribute: 'device.os', op: 'eq', value: 'ios' },
});

/** A rollout exactly on some visitor's bucket: SDK coverage (`n <= c`) would include them, we do not. */
function boundaryRollout(): number {
  for (let i = 7; i < 100; i++) {
    const bucket = hashToBucket(BOUNDARY_FLAG, proofVisitors(i + 1)[i]!.id, 2)!;
    if (bucket > 0.05 && bucket < 0.95) return bucket;
  }
  throw new Error('no usable bucket');
}

const FLAGS = [
  {
    key: 'sdk-proof-layout',
    enabled: true,
    defaultValue: { layout: 'v1' },
    value: { layout: 'v2', columns: [1, 2] },
    rollout: 0.3,
    targeting: { attribute: 'country', op: 'in', values: ['US', 'DE'] },
  },
  {
    key: 'sdk-proof-mobile-nav',
    enabled: true,
    defaultValue: false,
    value: true,
    rollout: 1,
    targeting: { attribute: 'deviceType', op: 'eq', value: 'mobile' },
  },
  { key: 'sdk-proof-off', enabled: false, defaultValue: 'off', value: 'on', rollout: 1 },
  { key: BOUNDARY_FLAG, enabled: true, defaultValue: 0, value: 1, rollout: boundaryRollout() },
];

interface Mismatch {
  id: string;
  key: string;
  sdk: unknown;
  ours: unknown;
  edge?: unknown;
}

describe('official GrowthBook SDK against the running query API', () => {
  const visitors = proofVisitors(VISITORS);
  let collector: CollectorHarness;
  let processors: RunningProcessors;
  let api: TestApi;
  let apiHost: string;
  let clientKey: string;
  let producer: Producer;
  let gb: GrowthBook;
  /** Per experiment, per variant: users the Assignment Lambda put in the experiment. */
  const assigned = new Map<string, Map<string, ProofVisitor[]>>();
  const mismatches: Mismatch[] = [];
  const flagTallies = new Map<string, Map<string, number>>();
  const undeliverable: string[] = [];

  beforeAll(async () => {
    collector = await startCollectorHarness();
    await provisionPipeline(collector.config);
    processors = await startProcessors(collector.config, {
      logger: createSilentLogger(),
      consumerOptions: { pollIntervalMs: 50 },
    });
    api = await startTestApi({
      DYNAMODB_TABLE_NAME: collector.config.dynamodb.countersTable,
      API_KEYS: SERVICE_KEY,
      ADMIN_API_KEYS: ADMIN_KEY,
    });
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    apiHost = `http://127.0.0.1:${(api.app.server.address() as AddressInfo).port}`;
    const admin = { 'x-api-key': ADMIN_KEY };
    for (const payload of [...EXPERIMENTS, DOTTED]) {
      const created = await api.app.inject({ method: 'POST', url: '/api/v1/experiments', headers: admin, payload });
      expect(created.statusCode, created.body).toBe(201);
    }
    for (const payload of FLAGS) {
      const created = await api.app.inject({ method: 'POST', url: '/api/v1/flags', headers: admin, payload });
      expect(created.statusCode, created.body).toBe(201);
    }
    const connection = await fetch(`${apiHost}/api/v1/sdk-connections`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ environment: 'production', name: 'proof' }),
    });
    expect(connection.status).toBe(201);
    clientKey = ((await connection.json()) as { clientKey: string }).clientKey;
    producer = createProducer({
      endpoint: collector.collector.url,
      // The whole proof's impressions may be queued at once (the loop outpaces the collector).
      maxBufferedEvents: 4 * VISITORS,
      onUndeliverable: (report) => {
        undeliverable.push(
          `${report.events.length} ${report.reason} ${report.detail ?? ''} ${JSON.stringify(report.rejections?.[0] ?? '')}`,
        );
      },
    });
  }, 120_000);

  afterAll(async () => {
    gb?.destroy();
    await producer?.close();
    await processors?.stop();
    await collector?.close();
    await api?.close();
  });

  it('the SDK assigns every one of 20,000 visitors as the Assignment Lambda and the split-URL function do, and evaluates every flag as the Flag Evaluation Lambda does', async () => {
    gb = new GrowthBook({
      apiHost,
      clientKey,
      trackingCallback: createProducerTrackingCallback(producer, { segmentAttributes: ['country'] }),
    });
    const init = await gb.init({ timeout: 5_000 });
    expect(init).toMatchObject({ success: true, source: 'network' });
    expect(Object.keys(gb.getFeatures()).sort()).toEqual([...EXPERIMENT_KEYS, ...FLAGS.map((flag) => flag.key)].sort());

    const definitions = createDefinitionClient({ apiUrl: apiHost, apiKey: SERVICE_KEY });
    const assign = createAssignmentHandler({ client: definitions });
    const evaluateFlag = createFlagEvaluationHandler({ client: definitions });
    const splitUrl = new Map(
      EXPERIMENT_KEYS.map((experimentKey) => [
        experimentKey,
        createSplitUrlHandler(
          { experimentKey, experimentationApiUrl: apiHost, experimentationApiKey: SERVICE_KEY },
          {
            source: createExperimentSource({ apiUrl: apiHost, apiKey: SERVICE_KEY, experimentKey, log: silentLog }),
            log: silentLog,
          },
        ),
      ]),
    );

    for (const visitor of visitors) {
      const attributes = edgeAttributes(visitor);
      await gb.setAttributes({ id: visitor.id, ...attributes });
      for (const key of EXPERIMENT_KEYS) {
        const sdk = gb.evalFeature(key);
        const ours = await assign({ experimentKey: key, userId: visitor.id, attributes });
        if ('error' in ours) throw new Error(JSON.stringify(ours.error));
        const edge = splitUrlVariant(await splitUrl.get(key)!(landingRequest(visitor)), key);
        const sdkIn = sdk.experimentResult?.inExperiment === true;
        if (
          sdk.value !== ours.variantId ||
          sdkIn !== ours.inExperiment ||
          (ours.inExperiment ? edge !== ours.variantId : edge !== undefined)
        ) {
          mismatches.push({
            id: visitor.id,
            key,
            sdk: [sdk.value, sdkIn],
            ours: [ours.variantId, ours.inExperiment],
            edge,
          });
        }
        if (ours.inExperiment) {
          const variants = assigned.get(key) ?? new Map<string, ProofVisitor[]>();
          assigned.set(key, variants);
          const users = variants.get(ours.variantId) ?? [];
          users.push(visitor);
          variants.set(ours.variantId, users);
        }
      }
      for (const flag of FLAGS) {
        const sdk = gb.evalFeature(flag.key).value;
        const ours = await evaluateFlag({ flagKey: flag.key, userId: visitor.id, attributes });
        if ('error' in ours) throw new Error(JSON.stringify(ours.error));
        if (JSON.stringify(sdk) !== JSON.stringify(ours.value))
          mismatches.push({ id: visitor.id, key: flag.key, sdk, ours: ours.value });
        const tally = flagTallies.get(flag.key) ?? new Map<string, number>();
        flagTallies.set(flag.key, tally);
        tally.set(ours.reason, (tally.get(ours.reason) ?? 0) + 1);
      }
      expect(gb.evalFeature(DOTTED.key as string).source).toBe('unknownFeature');
    }

    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(mismatches.length).toBe(0);
    // The populations are not trivial: every variant of every experiment has users, in unequal
    // shares, and targeting and coverage leave visitors out.
    for (const spec of SPECS) {
      const variants = assigned.get(spec.key)!;
      const sizes = spec.variants.map((variant) => variants.get(variant.id)?.length ?? 0);
      expect(Math.min(...sizes), spec.key).toBeGreaterThan(50);
      const inExperiment = sizes.reduce((a, b) => a + b, 0);
      expect(inExperiment).toBeLessThan(VISITORS);
    }
    const checkout = assigned.get('sdk-proof-checkout')!;
    expect(checkout.get('control')!.length).toBeGreaterThan(2 * checkout.get('c')!.length);
    for (const flag of FLAGS.filter((f) => f.enabled && f.rollout < 1)) {
      const reasons = flagTallies.get(flag.key)!;
      expect(reasons.get('in-rollout'), flag.key).toBeGreaterThan(0);
      expect(reasons.get('outside-rollout'), flag.key).toBeGreaterThan(0);
    }
    // The boundary flag's rollout is some visitor's exact bucket: the SDK agreed on them too.
    const boundary = FLAGS.find((flag) => flag.key === BOUNDARY_FLAG)!;
    expect(visitors.some((visitor) => hashToBucket(BOUNDARY_FLAG, visitor.id, 2) === boundary.rollout)).toBe(true);
  }, 600_000);

  it('the tracking callback’s impressions go through the collector and processors and are counted exactly', async () => {
    await producer.flush();
    expect(undeliverable).toEqual([]);
    const expectedImpressions = [...assigned.values()]
      .flatMap((variants) => [...variants.values()])
      .reduce((n, users) => n + users.length, 0);
    expect(producer.stats().accepted).toBe(expectedImpressions);
    await waitFor(
      async () => {
        const out = await processors.metrics.eventsOut.get();
        return (
          out.values.filter((v) => v.labels.outcome === 'counted').reduce((a, v) => a + v.value, 0) >=
          expectedImpressions
        );
      },
      240_000,
      'the processors to count every impression',
    );
    const headers = { 'x-api-key': SERVICE_KEY };
    for (const key of EXPERIMENT_KEYS) {
      const response = await api.app.inject({
        method: 'GET',
        url: `/api/v1/experiments/${key}/results?sequential=false`,
        headers,
      });
      expect(response.statusCode, response.body).toBe(200);
      const served = Object.fromEntries(
        response
          .json()
          .variants.map((v: { variantId: string; users: number; impressions: number }) => [v.variantId, v]),
      );
      for (const [variantId, users] of assigned.get(key)!) {
        expect(served[variantId], `${key}/${variantId}`).toMatchObject({
          users: users.length,
          impressions: users.length,
        });
      }
    }
    const breakdown = await api.app.inject({
      method: 'GET',
      url: '/api/v1/experiments/sdk-proof-checkout/segments/country?sequential=false',
      headers,
    });
    expect(breakdown.statusCode, breakdown.body).toBe(200);
    const body = breakdown.json();
    expect(body.cellsAddUp).toBe(true);
    for (const segment of body.segments as { value: string; variants: { variantId: string; users: number }[] }[]) {
      for (const variant of segment.variants) {
        const expected = (assigned.get('sdk-proof-checkout')!.get(variant.variantId) ?? []).filter(
          (v) => v.country === segment.value,
        );
        expect(variant.users, `${segment.value}/${variant.variantId}`).toBe(expected.length);
      }
    }
  }, 300_000);
});
