/**
 * The behaviour both `UserStateStore`s must share, as a vitest suite each store's test
 * file runs against its own store. Not a test file itself.
 */
import { describe, expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import type { StateRequest, UserStateStore } from './types.js';

export interface StoreUnderTest {
  store: UserStateStore;
  cleanUp: () => Promise<void>;
}

const SHARD = 'shardId-000000000001';
const OTHER_SHARD = 'shardId-000000000002';
const at = (sequence: number, sub = 0): string => recordPosition(`4959${String(sequence).padStart(52, '0')}`, sub);
let eventNumber = 0;

function request(partial: Partial<StateRequest> = {}): StateRequest {
  eventNumber++;
  return {
    eventId: `00000000-0000-4000-8000-${String(eventNumber).padStart(12, '0')}`,
    position: at(eventNumber),
    experimentId: 'exp',
    userId: 'ann',
    variantMetric: 'control#purchase',
    segments: [['country', 'US']],
    scaledValue: 1_000_000n,
    ...partial,
  };
}

/** Registers the shared suite for a store factory (called once per test, so keys never collide). */
export function describeUserStateStoreContract(name: string, create: (cap: number) => Promise<StoreUnderTest>): void {
  describe(`${name}: the user state contract`, () => {
    const withStore = async (cap: number, body: (store: UserStateStore) => Promise<void>) => {
      const { store, cleanUp } = await create(cap);
      try {
        await body(store);
      } finally {
        await cleanUp();
      }
    };

    it('keeps running totals per user and metric, and marks the first event', () =>
      withStore(50, async (store) => {
        const first = request({ scaledValue: 2_000_000n });
        const second = request({ scaledValue: 3_500_000n, position: at(eventNumber + 100) });
        const otherMetric = request({ variantMetric: 'control#click', position: at(eventNumber + 200) });
        const outcomes = await store.apply(SHARD, undefined, [first, second, otherMetric]);
        expect(outcomes).toEqual([
          { kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: undefined },
          { kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: 2_000_000n },
          { kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: undefined },
        ]);
      }));

    it('answers a replayed record exactly as the first time, and a producer retry as a duplicate', () =>
      withStore(50, async (store) => {
        const first = request({ scaledValue: 5n });
        const second = request({ scaledValue: 7n });
        const retry = { ...first, position: at(eventNumber + 50) };
        const once = await store.apply(SHARD, undefined, [first, second, retry]);
        const again = await store.apply(SHARD, undefined, [first, second, retry]);
        expect(once[2]).toEqual({ kind: 'duplicate' });
        expect(again).toEqual(
          once.map((outcome) => (outcome.kind === 'applied' ? { ...outcome, replay: true } : outcome)),
        );
      }));

    it('fixes segments at the first event and caps values per dimension first-come', () =>
      withStore(2, async (store) => {
        const users = ['u1', 'u2', 'u3', 'u1'];
        const countries = ['US', 'FR', 'DE', 'JP'];
        const outcomes = await store.apply(
          SHARD,
          undefined,
          users.map((userId, i) =>
            request({
              userId,
              segments: [
                ['country', countries[i] as string],
                ['device', 'ios'],
              ],
            }),
          ),
        );
        const segmentsOf = outcomes.map((outcome) => (outcome.kind === 'applied' ? outcome.segments : undefined));
        expect(segmentsOf).toEqual([
          [
            ['country', 'US'],
            ['device', 'ios'],
          ],
          [
            ['country', 'FR'],
            ['device', 'ios'],
          ],
          [
            ['country', '(other)'],
            ['device', 'ios'],
          ],
          [
            ['country', 'US'],
            ['device', 'ios'],
          ],
        ]);
      }));

    it('lets exactly one record claim an eventId when two shards race for it', () =>
      withStore(50, async (store) => {
        const contested = request();
        const results = await Promise.all([
          store.apply(SHARD, undefined, [contested]),
          store.apply(OTHER_SHARD, undefined, [{ ...contested, position: at(1) }]),
        ]);
        expect(results.flat().filter((outcome) => outcome.kind === 'applied')).toHaveLength(1);
      }));

    it('forgets memos once the shard committed past them, and never moves the committed position back', () =>
      withStore(50, async (store) => {
        const first = request({ scaledValue: 1n });
        await store.apply(SHARD, undefined, [first]);
        await store.markCommitted(SHARD, first.position);
        await store.markCommitted(SHARD, at(0));
        expect(await store.readCommitted(SHARD)).toBe(first.position);
        const later = request({ scaledValue: 2n });
        expect(await store.apply(SHARD, first.position, [later])).toMatchObject([{ totalBefore: 1n, replay: false }]);
        // The memo of `first` is gone: were it delivered again unfiltered, it would count anew.
        // The sink never does that (it skips records at or before the committed position).
        expect(await store.apply(SHARD, first.position, [first])).toMatchObject([{ totalBefore: 3n, replay: false }]);
      }));
  });
}
