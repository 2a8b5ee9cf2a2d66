/**
 * buildGrowthBookPayload: what is served, in which shape, and what is left out with which
 * reason. The official SDK's agreement on these shapes is proven in official-growthbook-sdk.test.ts.
 */
import { GrowthBook, type FeatureApiResponse } from '@growthbook/growthbook';
import { describe, expect, it } from 'vitest';
import { assignVariant, evaluateFlag } from '../../common/assignment.js';
import type { ExperimentDefinition, FlagDefinition } from '../../common/experiment-definition.js';
import { buildGrowthBookPayload } from './growthbook-payload.js';

/** The payload as an SDK receives it: through JSON. */
const asServed = (payload: unknown): FeatureApiResponse => JSON.parse(JSON.stringify(payload)) as FeatureApiResponse;

const experiment = (key: string, overrides: Partial<ExperimentDefinition> = {}): ExperimentDefinition => ({
  key,
  name: `Experiment ${key}`,
  status: 'running',
  variants: [
    { id: 'control', weight: 1 },
    { id: 'b', weight: 2 },
  ],
  controlVariantId: 'control',
  coverage: 1,
  hashSeed: key,
  hashVersion: 2,
  metrics: [],
  segmentDimensions: [],
  ...overrides,
});
const flag = (key: string, overrides: Partial<FlagDefinition> = {}): FlagDefinition => ({
  key,
  enabled: true,
  defaultValue: 'off',
  value: 'on',
  rollout: 1,
  hashSeed: key,
  ...overrides,
});
const dateUpdated = new Date('2026-03-01T10:00:00.000Z');

describe('buildGrowthBookPayload', () => {
  it('normalises relative weights exactly as assignment does', async () => {
    const definition = experiment('rel');
    const { payload } = buildGrowthBookPayload({ experiments: [definition], flags: [], dateUpdated });
    expect(payload.features.rel?.rules?.[0]).toMatchObject({ weights: [1 / 3, 2 / 3], variations: ['control', 'b'] });
    const gb = new GrowthBook();
    await gb.init({ payload: asServed(payload) });
    for (let i = 0; i < 2_000; i++) {
      await gb.setAttributes({ id: `u-${i}` });
      expect(gb.getFeatureValue('rel', 'none')).toBe(assignVariant(definition, `u-${i}`).variantId);
    }
    gb.destroy();
  });

  it('serves only running experiments, and dateUpdated as ISO 8601', () => {
    const { payload, omitted } = buildGrowthBookPayload({
      experiments: [
        experiment('on'),
        experiment('draft', { status: 'draft' }),
        experiment('done', { status: 'stopped' }),
      ],
      flags: [],
      dateUpdated,
    });
    expect(Object.keys(payload.features)).toEqual(['on']);
    expect(payload.dateUpdated).toBe('2026-03-01T10:00:00.000Z');
    expect(omitted).toEqual([]);
  });

  it('maps flags by state: off and zero rollout serve the default, full rollout forces, partial rollout is a range', async () => {
    const flags = [
      flag('off', { enabled: false }),
      flag('zero', { rollout: 0 }),
      flag('all', { targeting: { attribute: 'plan', op: 'eq', value: 'pro' } }),
      flag('part', { rollout: 0.25, value: { nested: [1] } }),
    ];
    const { payload } = buildGrowthBookPayload({ experiments: [], flags, dateUpdated });
    expect(payload.features).toEqual({
      off: { defaultValue: 'off' },
      zero: { defaultValue: 'off' },
      all: { defaultValue: 'off', rules: [{ id: 'flag:all', condition: { plan: { $in: ['pro'] } }, force: 'on' }] },
      part: {
        defaultValue: 'off',
        rules: [
          {
            id: 'flag:part',
            force: { nested: [1] },
            hashAttribute: 'id',
            hashVersion: 2,
            seed: 'part',
            range: [0, 0.25],
          },
        ],
      },
    });
    const gb = new GrowthBook();
    await gb.init({ payload: asServed(payload) });
    for (let i = 0; i < 500; i++) {
      const attributes = { plan: i % 2 === 0 ? 'pro' : 'free' };
      await gb.setAttributes({ id: `u-${i}`, ...attributes });
      for (const definition of flags)
        expect(gb.getFeatureValue(definition.key, null)).toEqual(evaluateFlag(definition, `u-${i}`, attributes).value);
    }
    gb.destroy();
  });

  it('leaves out what it cannot serve exactly, each with the reason', () => {
    const { payload, omitted } = buildGrowthBookPayload({
      experiments: [
        experiment('dotted', { targeting: { or: [{ attribute: 'device.os', op: 'eq', value: 'ios' }] } }),
        experiment('silent', {
          variants: [
            { id: 'control', weight: 0 },
            { id: 'b', weight: 0 },
          ],
        }),
        experiment('shared'),
        experiment('old-hash', { hashVersion: 1 as unknown as 2 }),
      ],
      flags: [flag('shared'), flag('by-id', { targeting: { attribute: 'id', op: 'in', values: ['u-1'] } })],
      dateUpdated,
    });
    expect(Object.keys(payload.features)).toEqual(['shared']);
    expect(payload.features.shared).toEqual({ defaultValue: 'off', rules: [{ id: 'flag:shared', force: 'on' }] });
    expect(omitted.map(({ type, key, reason, path }) => ({ type, key, reason, path }))).toEqual([
      { type: 'flag', key: 'by-id', reason: 'hash-attribute', path: 'targeting.attribute' },
      { type: 'experiment', key: 'dotted', reason: 'dotted-attribute', path: 'targeting.or[0].attribute' },
      { type: 'experiment', key: 'silent', reason: 'no-traffic', path: undefined },
      { type: 'experiment', key: 'shared', reason: 'key-taken-by-flag', path: undefined },
      { type: 'experiment', key: 'old-hash', reason: 'unsupported-hash-version', path: undefined },
    ]);
    for (const omission of omitted) expect(omission.message.length).toBeGreaterThan(10);
  });
});
