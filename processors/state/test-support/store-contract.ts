/**
 * The behaviour every `UserStateStore` must share, as a vitest suite each store's test
 * file runs against its own store. Not a test file itself.
 */
import { describe, expect, it } from 'vitest';
import { recordPosition } from '../../sequence-number.js';
import { compactPosition } from '../record-identity.js';
import type { StateOutcome, StateRequest, UserStateStore } from '../types.js';
import { applyOutcomes } from './apply-outcomes.js';

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
  userTotalLimit?: number;
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
    scaledValue: 1_000_000,
    ...partial,
  };
}

/** An applied outcome with US segments and (unless given) no covariates and no partners. */
type Applied = Extract<StateOutcome, { kind: 'applied' }>;
function applied(
  replay: boolean,
  totalBefore: number | undefined,
  extra: Partial<Omit<Applied, 'kind' | 'replay' | 'totalBefore'>> = {},
): Applied {
  return {
    kind: 'applied',
    replay,
    segments: [['country', 'US']],
    totalBefore,
    covariates: [],
    partnerTotals: [],
    ...extra,
  };
}

/** The ratio metrics of the partner cases: revenue per session, same user and variant. */
const N = 'control#revenue';
const D = 'control#sessions';

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
        const first = request({ scaledValue: 2_000_000 });
        const second = request({ scaledValue: 3_500_000, position: at(eventNumber + 100) });
        const otherMetric = request({ variantMetric: 'control#click', position: at(eventNumber + 200) });
        const outcomes = await applyOutcomes(store, SHARD, epoch, [first, second, otherMetric]);
        expect(outcomes).toEqual([applied(false, undefined), applied(false, 2_000_000), applied(false, undefined)]);
      }));

    it('answers a replayed record exactly as the first time, and a producer retry as a duplicate', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const first = request({ scaledValue: 5 });
        const second = request({ scaledValue: 7 });
        const retry = { ...first, position: at(eventNumber + 50) };
        const once = await applyOutcomes(store, SHARD, epoch, [first, second, retry]);
        const again = await applyOutcomes(store, SHARD, epoch, [first, second, retry]);
        expect(once[2]).toEqual({ kind: 'duplicate' });
        expect(again).toEqual(
          once.map((outcome) => (outcome.kind === 'applied' ? { ...outcome, replay: true } : outcome)),
        );
      }));

    it('fixes segments at the first event and caps values per dimension first-come', () =>
      withStore({ cap: 2 }, async (store, epoch) => {
        const users = ['u1', 'u2', 'u3', 'u1'];
        const countries = ['US', 'FR', 'DE', 'JP'];
        const outcomes = await applyOutcomes(
          store,
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

    it('keeps a value admitted before in its own cell once the cap is full, in the same call and in later ones', () =>
      withStore({ cap: 2 }, async (store, epoch) => {
        const segmentsOf = (outcomes: readonly StateOutcome[]) =>
          outcomes.map((outcome) => (outcome.kind === 'applied' ? outcome.segments : outcome));
        const first = await applyOutcomes(
          store,
          SHARD,
          epoch,
          [
            ['u1', 'US'],
            ['u2', 'FR'],
            ['u3', 'FR'], // the cap is full: FR is admitted already
            ['u4', 'DE'], // a new value: (other)
          ].map(([userId, country]) => request({ userId, segments: [['country', country as string]] })),
        );
        expect(segmentsOf(first)).toEqual([
          [['country', 'US']],
          [['country', 'FR']],
          [['country', 'FR']],
          [['country', '(other)']],
        ]);
        const later = await applyOutcomes(store, SHARD, epoch, [
          request({ userId: 'u5', segments: [['country', 'US']] }),
          request({ userId: 'u6', segments: [['country', 'JP']] }),
        ]);
        expect(segmentsOf(later)).toEqual([[['country', 'US']], [['country', '(other)']]]);
      }));

    it('lets exactly one record claim an eventId when two shards race for it', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const contested = request();
        const results = await Promise.all([
          applyOutcomes(store, SHARD, epoch, [contested]),
          applyOutcomes(store, OTHER_SHARD, epoch, [{ ...contested, position: at(1) }]),
        ]);
        expect(results.flat().filter((outcome) => outcome.kind === 'applied')).toHaveLength(1);
      }));

    it('fences: a record at or before the committed position changes nothing, even with its memo gone', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const first = request({ scaledValue: 1 });
        const second = request({ scaledValue: 2 });
        await applyOutcomes(store, SHARD, epoch, [first, second]);
        await store.markCommitted(SHARD, second.position);
        await store.markCommitted(SHARD, first.position); // never moves back
        expect(await store.readCommitted(SHARD)).toBe(compactPosition(second.position));
        const later = request({ scaledValue: 4 });
        expect(await applyOutcomes(store, SHARD, epoch, [later])).toMatchObject([{ totalBefore: 3, replay: false }]);
        // A stale writer delivering the committed records again (their memos were dropped above).
        expect(await applyOutcomes(store, SHARD, epoch, [first, second])).toEqual([
          { kind: 'committed' },
          { kind: 'committed' },
        ]);
        // The total was not advanced by the stale delivery.
        const next = request({ scaledValue: 8 });
        expect(await applyOutcomes(store, SHARD, epoch, [next])).toMatchObject([{ totalBefore: 7 }]);
        // Another shard's committed position does not fence this one.
        expect(await applyOutcomes(store, OTHER_SHARD, epoch, [request({ position: first.position })])).toMatchObject([
          { kind: 'applied' },
        ]);
      }));

    it('refuses an event that takes the user total past the limit, remembers the refusal, keeps the total', () =>
      withStore({ cap: 50, userTotalLimit: 10 }, async (store, epoch) => {
        const fits = request({ scaledValue: 6 });
        const over = request({ scaledValue: 5 });
        const negativeOver = request({ scaledValue: -17, userId: 'bob' });
        const after = request({ scaledValue: 4 });
        const outcomes = await applyOutcomes(store, SHARD, epoch, [fits, over, negativeOver, after]);
        expect(outcomes).toEqual([
          applied(false, undefined),
          { kind: 'refused', rule: 'user-total-limit' },
          { kind: 'refused', rule: 'user-total-limit' },
          applied(false, 6),
        ]);
        // A replay of the refused record is refused again: its memo answers.
        expect(await applyOutcomes(store, SHARD, epoch, [over])).toEqual([
          { kind: 'refused', rule: 'user-total-limit' },
        ]);
        // A refused first event fixes nothing: bob's first applied event decides his segments.
        expect(
          await applyOutcomes(store, SHARD, epoch, [
            request({ userId: 'bob', scaledValue: 1, segments: [['country', 'FR']] }),
          ]),
        ).toMatchObject([{ kind: 'applied', segments: [['country', 'FR']], totalBefore: undefined }]);
      }));

    it('a refused event claims nothing: the same eventId in another record (a dead-letter replay) is judged afresh', () =>
      withStore({ cap: 50, userTotalLimit: 10 }, async (store, epoch) => {
        const base = request({ scaledValue: 8 });
        const over = request({ scaledValue: 5 });
        const down = request({ scaledValue: -6 });
        expect(await applyOutcomes(store, SHARD, epoch, [base, over, down])).toMatchObject([
          { kind: 'applied' },
          { kind: 'refused' },
          { kind: 'applied' },
        ]);
        // Replayed from the dead-letter stream: same eventId, new record; the total (2) leaves room now.
        const replayed = { ...over, position: at(eventNumber + 10) };
        expect(await applyOutcomes(store, SHARD, epoch, [replayed])).toMatchObject([
          { kind: 'applied', totalBefore: 2 },
        ]);
      }));

    it('a replayed refusal claims nothing either: its eventId in a later record (a dead-letter replay) is judged afresh', () =>
      withStore({ cap: 50, userTotalLimit: 10 }, async (store, epoch) => {
        const base = request({ scaledValue: 8 });
        const over = request({ scaledValue: 5 });
        const down = request({ scaledValue: -6 });
        await applyOutcomes(store, SHARD, epoch, [base, over, down]);
        // The batch again (a retry before its commit): the memo answers the refusal, and no claim is left behind.
        expect(await applyOutcomes(store, SHARD, epoch, [over])).toEqual([
          { kind: 'refused', rule: 'user-total-limit' },
        ]);
        const replayed = { ...over, position: at(eventNumber + 10) };
        expect(await applyOutcomes(store, SHARD, epoch, [replayed])).toMatchObject([
          { kind: 'applied', totalBefore: 2 },
        ]);
      }));

    it('a refusal is memoized: replayed after the total moved, it is still refused', () =>
      withStore({ cap: 50, userTotalLimit: 10 }, async (store, epoch) => {
        const base = request({ scaledValue: 8 });
        const over = request({ scaledValue: 5 });
        const down = request({ scaledValue: -6 });
        await applyOutcomes(store, SHARD, epoch, [base, over, down]);
        // Total is 2 now: the same record would fit, but its answer must not change.
        expect(await applyOutcomes(store, SHARD, epoch, [base, over, down])).toEqual([
          applied(true, undefined),
          { kind: 'refused', rule: 'user-total-limit' },
          applied(true, 8),
        ]);
      }));

    it('fixes covariates with the segments at the first applied event and answers them on every outcome and replay', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const covariates = [
          ['revenue', 12_500_000],
          ['sessions', -3],
        ] as const;
        const impression = request({ variantMetric: 'control#$exposure', covariates });
        const conversion = request({ variantMetric: N, scaledValue: 4 });
        // A later impression's covariates (and segments) are ignored: the first applied event fixed them.
        const later = request({
          variantMetric: 'control#$exposure',
          segments: [['country', 'FR']],
          covariates: [['revenue', 1]],
        });
        const withoutSegments = request({ userId: 'cai', segments: [], covariates: [['sessions', 0]] });
        const bob = request({ userId: 'bob' });
        const batch = [impression, conversion, later, withoutSegments, bob];
        const first = await applyOutcomes(store, SHARD, epoch, batch);
        expect(first).toEqual([
          applied(false, undefined, { covariates }),
          applied(false, undefined, { covariates }),
          applied(false, 1_000_000, { covariates }),
          applied(false, undefined, { segments: [], covariates: [['sessions', 0]] }),
          applied(false, undefined),
        ]);
        expect(await applyOutcomes(store, SHARD, epoch, batch)).toEqual(
          first.map((outcome) => ({ ...outcome, replay: true })),
        );
        const next = request({ variantMetric: N, scaledValue: 1 });
        expect(await applyOutcomes(store, SHARD, epoch, [next])).toEqual([applied(false, 4, { covariates })]);
      }));

    it("a user's first event without covariates fixes none: a later impression's covariates are ignored", () =>
      withStore({ cap: 50, userTotalLimit: 10 }, async (store, epoch) => {
        const conversion = request({ variantMetric: N, scaledValue: 2 });
        const impression = request({
          variantMetric: 'control#$exposure',
          scaledValue: 1,
          covariates: [['revenue', 9]],
        });
        expect(await applyOutcomes(store, SHARD, epoch, [conversion, impression])).toEqual([
          applied(false, undefined),
          applied(false, undefined),
        ]);
        // A refused first event fixes no covariates either: bob's first applied event decides them.
        const refused = request({ userId: 'bob', scaledValue: 11, covariates: [['revenue', 1]] });
        const fits = request({ userId: 'bob', scaledValue: 1, covariates: [['revenue', 2]] });
        expect(await applyOutcomes(store, SHARD, epoch, [refused, fits])).toEqual([
          { kind: 'refused', rule: 'user-total-limit' },
          applied(false, undefined, { covariates: [['revenue', 2]] }),
        ]);
      }));

    it('answers partner totals as of each event, in record order when N and D events interleave in a batch', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const outcomes = await applyOutcomes(store, SHARD, epoch, [
          request({ variantMetric: N, scaledValue: 2_000_000, partners: [D] }),
          request({ variantMetric: D, scaledValue: 5, partners: [N] }),
          request({ variantMetric: N, scaledValue: 3, partners: [D] }),
          request({ variantMetric: D, scaledValue: -7, partners: [N] }),
          // Another user, another variant, and a partner no one has a total of: none of them mixes in.
          request({ userId: 'bob', variantMetric: N, scaledValue: 1, partners: [D] }),
          request({ variantMetric: 'treatment#sessions', scaledValue: 1, partners: ['treatment#revenue'] }),
          request({ variantMetric: N, scaledValue: 1, partners: [D, 'control#refunds', 'treatment#sessions'] }),
        ]);
        expect(outcomes).toEqual([
          applied(false, undefined, { partnerTotals: [undefined] }),
          applied(false, undefined, { partnerTotals: [2_000_000] }),
          applied(false, 2_000_000, { partnerTotals: [5] }),
          applied(false, 5, { partnerTotals: [2_000_003] }),
          applied(false, undefined, { partnerTotals: [undefined] }),
          applied(false, undefined, { partnerTotals: [undefined] }),
          applied(false, 2_000_003, { partnerTotals: [-2, undefined, 1] }),
        ]);
      }));

    it('replays the memoized partner totals, even after the partner total moved', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const session = request({ variantMetric: D, scaledValue: 5, partners: [N] });
        const purchase = request({ variantMetric: N, scaledValue: 40, partners: [D] });
        const first = await applyOutcomes(store, SHARD, epoch, [session, purchase]);
        expect(first).toEqual([
          applied(false, undefined, { partnerTotals: [undefined] }),
          applied(false, undefined, { partnerTotals: [5] }),
        ]);
        // The partner moves (a later record), then the earlier records are delivered again.
        const laterSession = request({ variantMetric: D, scaledValue: 10, partners: [N] });
        expect(await applyOutcomes(store, SHARD, epoch, [laterSession])).toEqual([
          applied(false, 5, { partnerTotals: [40] }),
        ]);
        expect(await applyOutcomes(store, SHARD, epoch, [purchase])).toEqual([
          applied(true, undefined, { partnerTotals: [5] }),
        ]);
        expect(await applyOutcomes(store, SHARD, epoch, [session, purchase, laterSession])).toEqual([
          applied(true, undefined, { partnerTotals: [undefined] }),
          applied(true, undefined, { partnerTotals: [5] }),
          applied(true, 5, { partnerTotals: [40] }),
        ]);
      }));

    it('drops the partner totals with the memo at commit: a redelivery is committed, later records read the totals anew', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const session = request({ variantMetric: D, scaledValue: 5, partners: [N] });
        const purchase = request({ variantMetric: N, scaledValue: 40, partners: [D] });
        await applyOutcomes(store, SHARD, epoch, [session, purchase]);
        await store.markCommitted(SHARD, purchase.position);
        const next = request({ variantMetric: N, scaledValue: 1, partners: [D] });
        expect(await applyOutcomes(store, SHARD, epoch, [session, purchase, next])).toEqual([
          { kind: 'committed' },
          { kind: 'committed' },
          applied(false, 40, { partnerTotals: [5] }),
        ]);
      }));

    it('answers duplicates, committed and refused records with partners as without, and a refusal moves no partner', () =>
      withStore({ cap: 50, userTotalLimit: 100 }, async (store, epoch) => {
        const purchase = request({ variantMetric: N, scaledValue: 60, partners: [D] });
        const retry = { ...purchase, position: at(eventNumber + 10) };
        const over = request({ variantMetric: N, scaledValue: 50, partners: [D] });
        const session = request({ variantMetric: D, scaledValue: 2, partners: [N] });
        expect(await applyOutcomes(store, SHARD, epoch, [purchase, retry, over, session])).toEqual([
          applied(false, undefined, { partnerTotals: [undefined] }),
          { kind: 'duplicate' },
          { kind: 'refused', rule: 'user-total-limit' },
          // The refused purchase did not count: N is still 60.
          applied(false, undefined, { partnerTotals: [60] }),
        ]);
        // Redelivered after the partner moved: the refusal is still a refusal, the retry still a duplicate.
        expect(await applyOutcomes(store, SHARD, epoch, [request({ variantMetric: D, scaledValue: 1 })])).toMatchObject(
          [{ kind: 'applied', partnerTotals: [] }],
        );
        expect(await applyOutcomes(store, SHARD, epoch, [retry, over])).toEqual([
          { kind: 'duplicate' },
          { kind: 'refused', rule: 'user-total-limit' },
        ]);
        await store.markCommitted(SHARD, session.position);
        expect(await applyOutcomes(store, SHARD, epoch, [purchase, over])).toEqual([
          { kind: 'committed' },
          { kind: 'committed' },
        ]);
      }));

    it('answers a replay with one partner total per partner named, even when the plan changed since (by position, undefined beyond)', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        const session = request({ variantMetric: D, scaledValue: 5 });
        const purchase = request({ variantMetric: N, scaledValue: 40 });
        const partnered = request({ variantMetric: N, scaledValue: 1, partners: [D] });
        await applyOutcomes(store, SHARD, epoch, [session, purchase, partnered]);
        expect(
          await applyOutcomes(store, SHARD, epoch, [
            { ...purchase, partners: [D] },
            { ...partnered, partners: [D, 'control#refunds'] },
            { ...partnered, partners: [] },
            { ...partnered, partners: undefined },
            partnered,
          ]),
        ).toEqual([
          applied(true, undefined, { partnerTotals: [undefined] }),
          applied(true, 40, { partnerTotals: [5, undefined] }),
          applied(true, 40),
          applied(true, 40),
          applied(true, 40, { partnerTotals: [5] }),
        ]);
      }));

    it('keeps one epoch, and fails with STATE_LOST when called with another, with requests or without', () =>
      withStore({ cap: 50 }, async (store, epoch) => {
        expect(await store.epoch()).toBe(epoch);
        // The details name both epochs: the one the counters were written with, and the store's.
        const lost = { code: 'STATE_LOST', retriable: false, details: { expected: 'another-epoch', actual: epoch } };
        await expect(applyOutcomes(store, SHARD, 'another-epoch', [request()])).rejects.toMatchObject(lost);
        // Before: an empty call answered [] whatever the epoch (embedded and Redis stores).
        await expect(applyOutcomes(store, SHARD, 'another-epoch', [])).rejects.toMatchObject(lost);
        expect(await applyOutcomes(store, SHARD, epoch, [])).toEqual([]);
      }));

    if (features.canLoseData)
      it('detects its own data loss: after the loss the old epoch fails with STATE_LOST', () =>
        withStore({ cap: 50 }, async (store, epoch, harness) => {
          if (!harness.loseData) throw new Error('the suite needs loseData');
          await applyOutcomes(store, SHARD, epoch, [request()]);
          await harness.loseData();
          await expect(applyOutcomes(harness.store, SHARD, epoch, [request()])).rejects.toMatchObject({
            code: 'STATE_LOST',
          });
          expect(await harness.store.epoch()).not.toBe(epoch);
        }));

    it('de-duplicates a producer retry within the de-dup window, and counts it after the window', () =>
      withStore({ cap: 50, dedupWindowSeconds: 2 }, async (store, epoch, harness) => {
        if (!harness.advanceSeconds) throw new Error('the suite needs advanceSeconds');
        const original = request();
        await applyOutcomes(store, SHARD, epoch, [original]);
        await harness.advanceSeconds(1);
        const earlyRetry = { ...original, position: at(eventNumber + 10) };
        expect(await applyOutcomes(store, SHARD, epoch, [earlyRetry])).toEqual([{ kind: 'duplicate' }]);
        await harness.advanceSeconds(1.5);
        const lateRetry = { ...original, position: at(eventNumber + 20) };
        expect(await applyOutcomes(store, SHARD, epoch, [lateRetry])).toMatchObject([
          { kind: 'applied', replay: false },
        ]);
      }));

    it('a replay after its claim expired claims nothing: a producer retry in a later record then counts', () =>
      withStore({ cap: 50, dedupWindowSeconds: 2 }, async (store, epoch, harness) => {
        if (!harness.advanceSeconds) throw new Error('the suite needs advanceSeconds');
        const original = request({ scaledValue: 3 });
        await applyOutcomes(store, SHARD, epoch, [original]);
        await harness.advanceSeconds(2.5);
        // Not committed yet: the record's memo answers its replay, whatever became of its claim.
        expect(await applyOutcomes(store, SHARD, epoch, [original])).toEqual([applied(true, undefined)]);
        const lateRetry = { ...original, position: at(eventNumber + 20) };
        expect(await applyOutcomes(store, SHARD, epoch, [lateRetry])).toEqual([applied(false, 3)]);
      }));

    it("forgets an experiment's admitted segment values with it, and keeps the others' (cap 1)", () =>
      withStore({ cap: 1 }, async (store, epoch) => {
        // exp-x and exp-z sort around exp-y: forgetting exp-y must find its keys and stop at its own.
        const experiments = ['exp-x', 'exp-y', 'exp-z'];
        await applyOutcomes(
          store,
          SHARD,
          epoch,
          experiments.map((experimentId) => request({ experimentId, userId: 'ann', segments: [['country', 'US']] })),
        );
        expect(await store.forgetExperiment('exp-y')).toBe(1);
        const outcomes = await applyOutcomes(
          store,
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
        await applyOutcomes(store, SHARD, epoch, [
          request({ experimentId: 'exp-a', userId: 'ann' }),
          request({ experimentId: 'exp-a', userId: 'bob' }),
          request({ experimentId: 'exp-b', userId: 'ann' }),
        ]);
        expect(await store.forgetExperiment('exp-a')).toBe(2);
        const [a, b] = await applyOutcomes(store, SHARD, epoch, [
          request({ experimentId: 'exp-a', userId: 'ann' }),
          request({ experimentId: 'exp-b', userId: 'ann' }),
        ]);
        expect(a).toMatchObject({ kind: 'applied', totalBefore: undefined });
        expect(b).toMatchObject({ kind: 'applied', totalBefore: 1_000_000 });
      }));
  });
}
