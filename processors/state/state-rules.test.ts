import { describe, expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { HOLDER } from './claim-table.js';
import { compactPosition, userStateKey } from './record-identity.js';
import {
  alignPartnerTotals,
  applyStateRequest,
  applyStateRequests,
  releaseCommittedMemos,
  stateLost,
  type RunningTotal,
  type StateTables,
  type UserState,
} from './state-rules.js';
import type { StateRequest } from './types.js';

/** The rules over plain maps, with every saved user kept for inspection. */
function mapTables() {
  const claims = new Map<string, string>();
  const users = new Map<string, UserState>();
  const committed = new Map<string, string>();
  const tables: StateTables = {
    holderOf(eventId, records) {
      const held = claims.get(eventId);
      if (held === undefined) return HOLDER.none;
      return held === records.identity() ? HOLDER.thisRecord : HOLDER.another;
    },
    claim: (eventId, records) => void claims.set(eventId, records.identity()),
    user: (experimentId, userId) => users.get(userStateKey(experimentId, userId)),
    saveUser: (experimentId, userId, user) => void users.set(userStateKey(experimentId, userId), structuredClone(user)),
    admit: (_experimentId, _dimension, value) => value,
    committed: (shardId) => committed.get(shardId),
  };
  return { tables, users, committed, claims };
}

const SHARD = 'shardId-000000000003';
const LIMITS = { segmentValueCap: 50, userTotalLimit: 1_000 };
const request = (n: number, partial: Partial<StateRequest> = {}): StateRequest => ({
  eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  position: recordPosition(String(n), 0),
  experimentId: 'exp',
  userId: 'ann',
  variantMetric: 'v#m',
  segments: [['country', 'US']],
  scaledValue: 10,
  ...partial,
});

describe('the state rules', () => {
  it("fix a user's segments as the request's own array when every value is admitted, and as a copy with (other) when one is capped", () => {
    const { tables } = mapTables();
    const admitOnlyUS: StateTables = { ...tables, admit: (_e, _d, value) => (value === 'US' ? value : '(other)') };
    const segments = [
      ['country', 'US'],
      ['device', 'ios'],
    ] as const;
    const admitted = applyStateRequest(tables, SHARD, request(1, { segments }), LIMITS);
    expect(admitted).toMatchObject({ kind: 'applied', segments });
    expect(admitted.kind === 'applied' && admitted.segments).toBe(segments);
    const capped = applyStateRequest(admitOnlyUS, SHARD, request(2, { userId: 'bob', segments }), LIMITS);
    expect(capped).toMatchObject({
      kind: 'applied',
      segments: [
        ['country', 'US'],
        ['device', '(other)'],
      ],
    });
    expect(segments).toEqual([
      ['country', 'US'],
      ['device', 'ios'],
    ]);
  });

  it('drop the memos of this shard that the committed position passed, and keep the others', () => {
    const { tables, users, committed } = mapTables();
    applyStateRequest(tables, SHARD, request(1), LIMITS);
    applyStateRequest(tables, 'shardId-000000000004', request(2), LIMITS);
    applyStateRequest(tables, SHARD, request(3), LIMITS);
    // Shard 3 committed up to record 1: its memo goes with the next change; record 3's (after it) stays,
    // and so does shard 4's memo at position 2, which shard 3's position says nothing about.
    committed.set(SHARD, compact(1));
    applyStateRequest(tables, SHARD, request(5), LIMITS);
    const memos = users.get('exp\u001fann')?.totals[0]?.memos.map(([identity]) => identity);
    expect(memos).toEqual(['4@' + compact(2), '3@' + compact(3), '3@' + compact(5)]);
  });

  it('keep the memo of the record exactly at the committed position only until the next change (at or before)', () => {
    const { tables, users, committed } = mapTables();
    applyStateRequest(tables, SHARD, request(1), LIMITS);
    applyStateRequest(tables, SHARD, request(2), LIMITS);
    committed.set(SHARD, compact(2));
    applyStateRequest(tables, SHARD, request(7), LIMITS);
    expect(users.get('exp\u001fann')?.totals[0]?.memos.map(([identity]) => identity)).toEqual(['3@' + compact(7)]);
  });

  it('memoize partner totals only for a request that names partners, and drop them with the memo at commit', () => {
    const { tables, users, committed } = mapTables();
    applyStateRequest(tables, SHARD, request(1, { variantMetric: 'v#d' }), LIMITS);
    applyStateRequest(tables, SHARD, request(2, { partners: ['v#d', 'v#none'] }), LIMITS);
    applyStateRequest(tables, SHARD, request(3), LIMITS);
    const memosOf = () => users.get('exp\u001fann')?.totals.find(({ variantMetric }) => variantMetric === 'v#m')?.memos;
    // A memo without partners is the two-element memo of before (no third element, not even undefined).
    expect(memosOf()).toEqual([
      ['3@' + compact(2), undefined, [10, undefined]],
      ['3@' + compact(3), 10],
    ]);
    expect(memosOf()?.[1]).toHaveLength(2);
    committed.set(SHARD, compact(3));
    applyStateRequest(tables, SHARD, request(4), LIMITS);
    expect(memosOf()).toEqual([['3@' + compact(4), 20]]);
  });

  it('keep no covariates on a user whose first event carried none (an empty list included)', () => {
    const { tables, users } = mapTables();
    applyStateRequest(tables, SHARD, request(1, { covariates: [] }), LIMITS);
    applyStateRequest(tables, SHARD, request(2, { userId: 'bob', covariates: [['m', 4]] }), LIMITS);
    expect(users.get('exp\u001fann')).not.toHaveProperty('covariates');
    expect(users.get('exp\u001fbob')?.covariates).toEqual([['m', 4]]);
  });

  it('answer a replay with one partner total per partner the request names, even after the plan changed', () => {
    const { tables } = mapTables();
    applyStateRequest(tables, SHARD, request(1, { variantMetric: 'v#d', scaledValue: 5 }), LIMITS);
    applyStateRequest(tables, SHARD, request(2), LIMITS);
    applyStateRequest(tables, SHARD, request(3, { partners: ['v#d'] }), LIMITS);
    // Written without partners, replayed with one: that partner answers undefined (every time).
    expect(applyStateRequest(tables, SHARD, request(2, { partners: ['v#d'] }), LIMITS)).toMatchObject({
      replay: true,
      partnerTotals: [undefined],
    });
    // Written with one, replayed with two, with none, with the same one.
    expect(applyStateRequest(tables, SHARD, request(3, { partners: ['v#d', 'v#e'] }), LIMITS)).toMatchObject({
      replay: true,
      partnerTotals: [5, undefined],
    });
    expect(applyStateRequest(tables, SHARD, request(3), LIMITS)).toMatchObject({ replay: true, partnerTotals: [] });
    expect(applyStateRequest(tables, SHARD, request(3, { partners: ['v#d'] }), LIMITS)).toMatchObject({
      replay: true,
      partnerTotals: [5],
    });
  });

  it('align memoized partner totals by position, reusing the memoized array when the counts match', () => {
    const memoized = [1, undefined];
    expect(alignPartnerTotals(memoized, ['a', 'b'])).toBe(memoized);
    expect(alignPartnerTotals(memoized, ['a'])).toEqual([1]);
    expect(alignPartnerTotals(memoized, ['a', 'b', 'c'])).toEqual([1, undefined, undefined]);
    expect(alignPartnerTotals(undefined, undefined)).toEqual([]);
    expect(alignPartnerTotals(undefined, ['a'])).toEqual([undefined]);
    expect(alignPartnerTotals(memoized, undefined)).toEqual([]);
  });

  it("release the memos a shard committed past from given running totals, keeping other shards' and returning those still holding the shard's", () => {
    const users = new Map<string, UserState>();
    const tables: StateTables = {
      ...mapTables().tables,
      user: (experimentId, userId) => users.get(userStateKey(experimentId, userId)),
      saveUser: (experimentId, userId, user) => void users.set(userStateKey(experimentId, userId), user),
    };
    applyStateRequests(tables, SHARD, [request(1), request(2), request(3, { userId: 'bob' })], LIMITS);
    applyStateRequests(tables, 'shardId-000000000004', [request(4, { variantMetric: 'v#n' })], LIMITS);
    applyStateRequests(tables, SHARD, [request(5, { userId: 'cy', scaledValue: 2_000 })], LIMITS); // refused: a memo too
    const running = (userId: string, variantMetric = 'v#m') =>
      users.get(`exp\u001f${userId}`)?.totals.find((total) => total.variantMetric === variantMetric) as RunningTotal;
    const holders = [running('ann'), running('bob'), running('ann', 'v#n'), running('cy')];
    expect(running('ann').memos).toHaveLength(2);
    const kept = releaseCommittedMemos(holders, SHARD, compact(2));
    expect(running('ann').memos).toEqual([]);
    expect(running('ann', 'v#n').memos).toHaveLength(1); // another shard's memo: kept, and not this shard's to track
    expect(kept).toEqual([running('bob'), running('cy')]);
    expect(releaseCommittedMemos(kept, SHARD, compact(5))).toEqual([]);
    expect([running('bob').memos, running('cy').memos]).toEqual([[], []]);
  });

  it('apply totals of exactly ±limit and refuse one unit beyond, on either side', () => {
    const { tables } = mapTables();
    const outcome = (n: number, userId: string, scaledValue: number) =>
      applyStateRequest(tables, SHARD, request(n, { userId, scaledValue }), LIMITS).kind;
    expect(outcome(1, 'up', 1_000)).toBe('applied');
    expect(outcome(2, 'up', 1)).toBe('refused');
    expect(outcome(3, 'down', -1_000)).toBe('applied');
    expect(outcome(4, 'down', -1)).toBe('refused');
    expect(outcome(5, 'down', 2_000)).toBe('applied'); // −1,000 → +1,000
  });

  it('claim the eventId only for an applied event', () => {
    const { tables, claims } = mapTables();
    applyStateRequest(tables, SHARD, request(1, { scaledValue: 2_000 }), LIMITS);
    expect(claims.size).toBe(0);
    applyStateRequest(tables, SHARD, request(2), LIMITS);
    expect([...claims.values()]).toEqual([`3@${compact(2)}`]);
  });
});

describe('a request whose value is not a safe integer', () => {
  it.each([Number.NaN, 1.5, 2 ** 53, Number.POSITIVE_INFINITY])(
    'is refused with INTERNAL before anything changes (%s)',
    (scaledValue) => {
      const { tables, users, claims } = mapTables();
      applyStateRequest(tables, SHARD, request(1), LIMITS);
      const before = structuredClone([...users.entries()]);
      expect(() => applyStateRequest(tables, SHARD, request(2, { scaledValue }), LIMITS)).toThrow(
        expect.objectContaining({ code: 'INTERNAL', message: expect.stringContaining('not a safe integer') }),
      );
      expect([...users.entries()]).toEqual(before);
      expect([...claims.keys()]).toEqual([request(1).eventId]);
      expect(applyStateRequest(tables, SHARD, request(3), LIMITS)).toMatchObject({ kind: 'applied', totalBefore: 10 });
    },
  );
});

describe('stateLost', () => {
  it('names both epochs, or (none), and carries them as details', () => {
    const error = stateLost('epoch-a', undefined);
    expect(error).toMatchObject({ name: 'PipelineError', code: 'STATE_LOST', retriable: false });
    expect(error.message).toBe(
      'state store epoch is (none), but the counters were written with epoch-a: the store lost its data ' +
        '(flushed, restarted without persistence, failed over to an empty replica, evicted, or replaced). ' +
        'Counting stopped; see processors/README.md "State loss".',
    );
    expect(error.details).toEqual({ expected: 'epoch-a', actual: undefined });
    expect(stateLost('epoch-a', 'epoch-b').message).toContain('state store epoch is epoch-b, but');
  });
});

function compact(n: number): string {
  return compactPosition(recordPosition(String(n), 0));
}
