/**
 * The behaviour every `UserStateStore` must share, as a vitest suite each store's test
 * file runs against its own store. Not a test file itself.
 */
import { describe, expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { compactPosition } from './record-identity.js';
import type { StateRequest, UserStateStore } from './types.js';

export interface StoreUnderTest {
  store: UserStateStore;
  /** Lets time pass for the store's claims (a fake clock, or real waiting for Redis TTLs). */
  advanceSeconds?: (seconds: number) => Promise<void>;
  /** Makes the store lose its data the way its backend can (FLUSH, restart empty, deleted files). */
  loseData?: () => Promise<void>;
  cleanUp: () => Promise<void>;
}

/** How a suite creates a store. `dedupWindowSeconds` defaults to 60. */
export interface StoreFactoryOptions {
  cap: number;
  dedupWindowSeconds?: number;
  userTotalLimit?: bigint;
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
export function describeUserStateStoreContract(
  name: string,
  create: (options: StoreFactoryOptions) => Promise<StoreUnderTest>,
  features: { canLoseData: boolean },
): void {
  describe(`${name}: the user state contract`, () => {
    const withStore = async (
      options: StoreFactoryOptions,
      body: (store: UserStateStore, epoch: string, harness: StoreUnderTest) => Promise<void>,
    ) => {
      const harness = await create(options);
      try {
        await body(harness.store, await harness.store.epoch(), harness);
      } finally {
        await harness.cleanUp();
      }
    };

    it('keeps running totals per user and metric, and marks the first event', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const first = request({ scaledValue: 2_000_000n });
        const second = request({ scaledValue: 3_500_000n, position: at(eventNumber + 100) });
        const otherMetric = request({ variantMetric: 'control#click', position: at(eventNumber + 200) });
        const outcomes = await store.apply(SHARD, epoch, [first, second, otherMetric]);
        expect(outcomes).toEqual([
          { kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: undefined },
          { kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: 2_000_000n },
          { kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: undefined },
        ]);
      }));

    it('answers a replayed record exactly as the first time, and a producer retry as a duplicate', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const first = request({ scaledValue: 5n });
        const second = request({ scaledValue: 7n });
        const retry = { ...first, position: at(eventNumber + 50) };
        const once = await store.apply(SHARD, epoch, [first, second, retry]);
        const again = await store.apply(SHARD, epoch, [first, second, retry]);
        expect(once[2]).toEqual({ kind: 'duplicate' });
        expect(again).toEqual(
          once.map((outcome) => (outcome.kind === 'applied' ? { ...outcome, replay: true } : outcome)),
        );
      }));

    it('fixes segments at the first event and caps values per dimension first-come', () =>
      withStore({ cap: 2 }, async (store, epoch) => {
        const users = ['u1', 'u2', 'u3', 'u1'];
        const countries = ['US', 'FR', 'DE', 'JP'];
        const outcomes = await store.apply(
          SHARD,
          epoch,
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
      withStore({ cap: 50 }, async (store, epoch) => {
        const contested = request();
        const results = await Promise.all([
          store.apply(SHARD, epoch, [contested]),
          store.apply(OTHER_SHARD, epoch, [{ ...contested, position: at(1) }]),
        ]);
        expect(results.flat().filter((outcome) => outcome.kind === 'applied')).toHaveLength(1);
      }));

    it('fences: a record at or before the committed position changes nothing, even with its memo gone', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const first = request({ scaledValue: 1n });
        const second = request({ scaledValue: 2n });
        await store.apply(SHARD, epoch, [first, second]);
        await store.markCommitted(SHARD, second.position);
        await store.markCommitted(SHARD, first.position); // never moves back
        expect(await store.readCommitted(SHARD)).toBe(compactPosition(second.position));
        const later = request({ scaledValue: 4n });
        expect(await store.apply(SHARD, epoch, [later])).toMatchObject([{ totalBefore: 3n, replay: false }]);
        // A stale writer delivering the committed records again (their memos were dropped above).
        expect(await store.apply(SHARD, epoch, [first, second])).toEqual([
          { kind: 'committed' },
          { kind: 'committed' },
        ]);
        // The total was not advanced by the stale delivery.
        const next = request({ scaledValue: 8n });
        expect(await store.apply(SHARD, epoch, [next])).toMatchObject([{ totalBefore: 7n }]);
        // Another shard's committed position does not fence this one.
        expect(await store.apply(OTHER_SHARD, epoch, [request({ position: first.position })])).toMatchObject([
          { kind: 'applied' },
        ]);
      }));

    it('refuses an event that takes the user total past the limit, remembers the refusal, keeps the total', () =>
      withStore({ cap: 50, userTotalLimit: 10n }, async (store, epoch) => {
        const fits = request({ scaledValue: 6n });
        const over = request({ scaledValue: 5n });
        const negativeOver = request({ scaledValue: -17n, userId: 'bob' });
        const after = request({ scaledValue: 4n });
        const outcomes = await store.apply(SHARD, epoch, [fits, over, negativeOver, after]);
        expect(outcomes).toEqual([
          { kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: undefined },
          { kind: 'refused', rule: 'user-total-limit' },
          { kind: 'refused', rule: 'user-total-limit' },
          { kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: 6n },
        ]);
        // A replay of the refused record is refused again: its memo answers.
        expect(await store.apply(SHARD, epoch, [over])).toEqual([{ kind: 'refused', rule: 'user-total-limit' }]);
        // A refused first event fixes nothing: bob's first applied event decides his segments.
        expect(
          await store.apply(SHARD, epoch, [request({ userId: 'bob', scaledValue: 1n, segments: [['country', 'FR']] })]),
        ).toMatchObject([{ kind: 'applied', segments: [['country', 'FR']], totalBefore: undefined }]);
      }));

    it('a refused event claims nothing: the same eventId in another record (a dead-letter replay) is judged afresh', () =>
      withStore({ cap: 50, userTotalLimit: 10n }, async (store, epoch) => {
        const base = request({ scaledValue: 8n });
        const over = request({ scaledValue: 5n });
        const down = request({ scaledValue: -6n });
        expect(await store.apply(SHARD, epoch, [base, over, down])).toMatchObject([
          { kind: 'applied' },
          { kind: 'refused' },
          { kind: 'applied' },
        ]);
        // Replayed from the dead-letter stream: same eventId, new record; the total (2) leaves room now.
        const replayed = { ...over, position: at(eventNumber + 10) };
        expect(await store.apply(SHARD, epoch, [replayed])).toMatchObject([{ kind: 'applied', totalBefore: 2n }]);
      }));

    it('a refusal is memoized: replayed after the total moved, it is still refused', () =>
      withStore({ cap: 50, userTotalLimit: 10n }, async (store, epoch) => {
        const base = request({ scaledValue: 8n });
        const over = request({ scaledValue: 5n });
        const down = request({ scaledValue: -6n });
        await store.apply(SHARD, epoch, [base, over, down]);
        // Total is 2 now: the same record would fit, but its answer must not change.
        expect(await store.apply(SHARD, epoch, [base, over, down])).toEqual([
          { kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: undefined },
          { kind: 'refused', rule: 'user-total-limit' },
          { kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: 8n },
        ]);
      }));

    it('keeps one epoch, and fails with STATE_LOST when called with another', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        expect(await store.epoch()).toBe(epoch);
        await expect(store.apply(SHARD, 'another-epoch', [request()])).rejects.toMatchObject({
          code: 'STATE_LOST',
          retriable: false,
        });
      }));

    if (features.canLoseData)
      it('detects its own data loss: after the loss the old epoch fails with STATE_LOST', () =>
        withStore({ cap: 50 }, async (store, epoch, harness) => {
          if (!harness.loseData) throw new Error('the suite needs loseData');
          await store.apply(SHARD, epoch, [request()]);
          await harness.loseData();
          await expect(harness.store.apply(SHARD, epoch, [request()])).rejects.toMatchObject({ code: 'STATE_LOST' });
          expect(await harness.store.epoch()).not.toBe(epoch);
        }));

    it('de-duplicates a producer retry within the de-dup window, and counts it after the window', () =>
      withStore({ cap: 50, dedupWindowSeconds: 2 }, async (store, epoch, harness) => {
        if (!harness.advanceSeconds) throw new Error('the suite needs advanceSeconds');
        const original = request();
        await store.apply(SHARD, epoch, [original]);
        await harness.advanceSeconds(1);
        const earlyRetry = { ...original, position: at(eventNumber + 10) };
        expect(await store.apply(SHARD, epoch, [earlyRetry])).toEqual([{ kind: 'duplicate' }]);
        await harness.advanceSeconds(1.5);
        const lateRetry = { ...original, position: at(eventNumber + 20) };
        expect(await store.apply(SHARD, epoch, [lateRetry])).toMatchObject([{ kind: 'applied', replay: false }]);
      }));

    it("forgets an experiment's admitted segment values with it, and keeps the others' (cap 1)", () =>
      withStore({ cap: 1 }, async (store, epoch) => {
        // exp-x and exp-z sort around exp-y: forgetting exp-y must find its keys and stop at its own.
        const experiments = ['exp-x', 'exp-y', 'exp-z'];
        await store.apply(
          SHARD,
          epoch,
          experiments.map((experimentId) => request({ experimentId, userId: 'ann', segments: [['country', 'US']] })),
        );
        expect(await store.forgetExperiment('exp-y')).toBe(1);
        const outcomes = await store.apply(
          SHARD,
          epoch,
          experiments.map((experimentId) => request({ experimentId, userId: 'bob', segments: [['country', 'FR']] })),
        );
        expect(outcomes.map((outcome) => (outcome.kind === 'applied' ? outcome.segments : outcome))).toEqual([
          [['country', '(other)']],
          [['country', 'FR']],
          [['country', '(other)']],
        ]);
      }));

    it('moves the committed position only forward', () =>
      withStore({ cap: 50 }, async (store) => {
        expect(await store.readCommitted(SHARD)).toBeUndefined();
        await store.markCommitted(SHARD, at(10));
        await store.markCommitted(SHARD, at(5));
        expect(await store.readCommitted(SHARD)).toBe(compactPosition(at(10)));
        await store.markCommitted(SHARD, at(12));
        expect(await store.readCommitted(SHARD)).toBe(compactPosition(at(12)));
        expect(await store.readCommitted(OTHER_SHARD)).toBeUndefined();
      }));

    it('forgets one experiment and nothing else', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        await store.apply(SHARD, epoch, [
          request({ experimentId: 'exp-a', userId: 'ann' }),
          request({ experimentId: 'exp-a', userId: 'bob' }),
          request({ experimentId: 'exp-b', userId: 'ann' }),
        ]);
        expect(await store.forgetExperiment('exp-a')).toBe(2);
        const [a, b] = await store.apply(SHARD, epoch, [
          request({ experimentId: 'exp-a', userId: 'ann' }),
          request({ experimentId: 'exp-b', userId: 'ann' }),
        ]);
        expect(a).toMatchObject({ kind: 'applied', totalBefore: undefined });
        expect(b).toMatchObject({ kind: 'applied', totalBefore: 1_000_000n });
      }));
  });
}
