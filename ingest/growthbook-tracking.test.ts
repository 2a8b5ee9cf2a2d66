/**
 * GrowthBook tracking callbacks: the impression mapping, and the browser callback driven by
 * the official GrowthBook SDK (`@growthbook/growthbook`) posting to the real collector
 * (kinesalite), where the impressions arrive with the SDK's experiment, variant, user and
 * segments. (The Node callback's end-to-end count is in query-api/sdk/official-growthbook-sdk.test.ts.)
 */
import { GrowthBook, type FeatureApiResponse } from '@growthbook/growthbook';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEGMENT_VALUE_MAX_LENGTH } from '../common/event-contract.js';
import { assignVariant } from '../common/assignment.js';
import type { ExperimentDefinition } from '../common/experiment-definition.js';
import { DEFAULT_EVENT_LIMITS } from '../common/config.js';
import { normalizeIncomingEvent } from '../common/validate-event.js';
import { waitFor } from '../local/test-support/test-config.js';
import { buildGrowthBookPayload } from '../query-api/sdk/growthbook-payload.js';
import {
  createBrowserTrackingCallback,
  createProducerTrackingCallback,
  impressionFromGrowthBook,
  SEGMENT_VALUE_LIMITS,
} from './growthbook-tracking.js';
import { startCollectorHarness, type CollectorHarness } from './test-support/collector-harness.js';
import type { IncomingEvent } from '../common/event-contract.js';

/** The payload as an SDK receives it: through JSON. */
const asServed = (payload: unknown): FeatureApiResponse => JSON.parse(JSON.stringify(payload)) as FeatureApiResponse;

const inExperiment = { key: 'treatment', hashValue: 'u-1', inExperiment: true };

describe('impressionFromGrowthBook', () => {
  it('maps the SDK’s experiment and result to an impression of our contract', () => {
    expect(
      impressionFromGrowthBook({ key: 'checkout' }, inExperiment, { country: 'US', plan: 'pro' }, ['country']),
    ).toEqual({
      type: 'impression',
      experimentId: 'checkout',
      variantId: 'treatment',
      userId: 'u-1',
      segments: { country: 'US' },
    });
  });

  it('tracks nothing for users outside the experiment or without an id', () => {
    expect(impressionFromGrowthBook({ key: 'e' }, { ...inExperiment, inExperiment: false })).toBeUndefined();
    expect(impressionFromGrowthBook({ key: 'e' }, { ...inExperiment, hashValue: '' })).toBeUndefined();
    expect(impressionFromGrowthBook({ key: 'e' }, { ...inExperiment, hashValue: null })).toBeUndefined();
    expect(impressionFromGrowthBook({ key: 'e' }, { ...inExperiment, hashValue: 42 })?.userId).toBe('42');
  });

  it('keeps only segment values the contract accepts, never cut or altered', () => {
    const attributes = {
      country: 'US',
      age: 34,
      beta: true,
      empty: '',
      long: 'x'.repeat(SEGMENT_VALUE_LIMITS.maxLength + 1),
      longest: 'y'.repeat(SEGMENT_VALUE_LIMITS.maxLength),
      control: 'a\u0007b',
      surrogate: 'a\uD800',
      emoji: '😀',
      list: ['a'],
      'bad name': 'x',
    };
    const event = impressionFromGrowthBook({ key: 'e' }, inExperiment, attributes, [
      ...Object.keys(attributes),
      'missing',
      'toString',
    ]);
    expect(event?.segments).toEqual({ country: 'US', age: '34', beta: 'true', longest: 'y'.repeat(64), emoji: '😀' });
    const validation = normalizeIncomingEvent(event, {
      index: 0,
      now: Date.now(),
      limits: DEFAULT_EVENT_LIMITS,
      newEventId: () => '00000000-0000-4000-8000-000000000000',
    });
    expect(validation.ok, JSON.stringify(validation)).toBe(true);
  });

  it('restates the contract’s segment value limit', () => {
    expect(SEGMENT_VALUE_LIMITS.maxLength).toBe(SEGMENT_VALUE_MAX_LENGTH);
  });

  it('the Node callback hands impressions to the producer client, with the user’s attributes', () => {
    const sent: IncomingEvent[] = [];
    const callback = createProducerTrackingCallback(
      { send: (event) => sent.push(event) > 0 },
      { segmentAttributes: ['country'] },
    );
    callback({ key: 'e' }, inExperiment, { attributes: { id: 'u-1', country: 'DE' } });
    callback({ key: 'e' }, { ...inExperiment, inExperiment: false }, { attributes: { id: 'u-1' } });
    expect(sent).toEqual([
      { type: 'impression', experimentId: 'e', variantId: 'treatment', userId: 'u-1', segments: { country: 'DE' } },
    ]);
  });
});

describe('browser trackingCallback with the official GrowthBook SDK and the real collector', () => {
  let collector: CollectorHarness;
  beforeAll(async () => {
    collector = await startCollectorHarness();
  });
  afterAll(async () => {
    await collector?.close();
  });

  it('posts each impression the SDK makes to the collector', async () => {
    const experiment: ExperimentDefinition = {
      key: 'browser-tracking',
      name: 'Browser tracking',
      status: 'running',
      variants: [
        { id: 'control', weight: 0.3 },
        { id: 'treatment', weight: 0.7 },
      ],
      controlVariantId: 'control',
      coverage: 0.8,
      hashSeed: 'browser-tracking',
      hashVersion: 2,
      metrics: [],
      segmentDimensions: ['country'],
    };
    const { payload } = buildGrowthBookPayload({ experiments: [experiment], flags: [], dateUpdated: new Date() });
    const errors: unknown[] = [];
    const gb: GrowthBook = new GrowthBook({
      trackingCallback: createBrowserTrackingCallback({
        collectorUrl: collector.collector.url,
        segmentAttributes: ['country'],
        attributes: () => gb.getAttributes(),
        onError: (error) => errors.push(error),
      }),
    });
    await gb.init({ payload: asServed(payload) });
    const expected: IncomingEvent[] = [];
    for (let i = 0; i < 200; i++) {
      const id = `browser-user-${i}`;
      await gb.setAttributes({ id, country: i % 2 === 0 ? 'US' : 'FR' });
      expect(gb.getFeatureValue('browser-tracking', 'none')).toBe(assignVariant(experiment, id).variantId);
      gb.getFeatureValue('browser-tracking', 'none'); // the SDK tracks a user once
      const assignment = assignVariant(experiment, id);
      if (assignment.inExperiment)
        expected.push({
          type: 'impression',
          experimentId: 'browser-tracking',
          variantId: assignment.variantId,
          userId: id,
          segments: { country: i % 2 === 0 ? 'US' : 'FR' },
        });
    }
    gb.destroy();
    expect(expected.length).toBeGreaterThan(100);
    const arrived = await waitFor(
      async () => {
        const events = await collector.streamEvents();
        return events.length >= expected.length ? events : undefined;
      },
      20_000,
      'every impression in the stream',
    );
    const pick = ({ type, experimentId, variantId, userId, segments }: IncomingEvent) => ({
      type,
      experimentId,
      variantId,
      userId,
      segments,
    });
    const byUser = (a: { userId: string }, b: { userId: string }) => a.userId.localeCompare(b.userId);
    expect(arrived.map((record) => pick(record.event as IncomingEvent)).sort(byUser)).toEqual(expected.sort(byUser));
    expect(errors).toEqual([]);
  });

  it('reports an impression the collector refused', async () => {
    const errors: unknown[] = [];
    const callback = createBrowserTrackingCallback({
      collectorUrl: `${collector.collector.url}/no-such-prefix`,
      onError: (error) => errors.push(error),
    });
    callback({ key: 'e' }, inExperiment);
    await waitFor(() => errors.length > 0, 5_000, 'the error report');
    expect(String(errors[0])).toContain('404');
  });
});
