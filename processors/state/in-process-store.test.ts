import { expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { createInProcessUserStateStore } from './in-process-store.js';
import { describeUserStateStoreContract } from './test-support/store-contract.js';
import { applyOutcomes } from './test-support/apply-outcomes.js';

describeUserStateStoreContract(
  'in-process store',
  ({ cap, dedupWindowSeconds = 60, userTotalLimit }) => {
    let clock = 1_000_000;
    const store = createInProcessUserStateStore({
      segmentValueCap: cap,
      dedupWindowSeconds,
      ...(userTotalLimit === undefined ? {} : { userTotalLimit }),
      now: () => clock,
    });
    return Promise.resolve({
      store,
      advanceSeconds: (seconds) => {
        clock += seconds * 1000;
        return Promise.resolve();
      },
      cleanUp: () => store.close(),
    });
  },
  { canLoseData: false },
);

it('in-process store: counts evictions when more users arrive than it may keep', async () => {
  const store = createInProcessUserStateStore({ maxUsers: 2 });
  const requests = ['a', 'b', 'c'].map((userId, i) => ({
    eventId: `00000000-0000-4000-8000-00000000000${i}`,
    position: recordPosition(String(i + 1), 0),
    experimentId: 'exp',
    userId,
    variantMetric: 'v#m',
    segments: [],
    scaledValue: 1,
  }));
  await applyOutcomes(store, 'shardId-000000000000', await store.epoch(), requests);
  expect(store.evictions()).toBe(1);
});

it("in-process store: drops the memos of a shard as soon as it commits past them, not at the users' next events", async () => {
  const store = createInProcessUserStateStore();
  const epoch = await store.epoch();
  const request = (shard: number, record: number, userId: string) => ({
    eventId: `00000000-0000-4000-8000-0000000${shard}0${String(record).padStart(3, '0')}`,
    position: recordPosition(String(record), 0),
    experimentId: 'exp',
    userId,
    variantMetric: 'v#m',
    segments: [],
    scaledValue: 1,
  });
  await applyOutcomes(store, 'shardId-000000000001', epoch, [request(1, 1, 'a'), request(1, 2, 'b')]);
  await applyOutcomes(store, 'shardId-000000000001', epoch, [request(1, 3, 'c')]); // a second call before the commit
  await applyOutcomes(store, 'shardId-000000000002', epoch, [request(2, 1, 'd'), request(2, 2, 'e')]);
  expect(store.memosHeld()).toBe(5);
  // Shard 1 commits past its first two records: their memos go now; record 3 and shard 2 keep theirs.
  await store.markCommitted('shardId-000000000001', recordPosition('2', 0));
  expect(store.memosHeld()).toBe(3);
  await store.markCommitted('shardId-000000000001', recordPosition('3', 0));
  await store.markCommitted('shardId-000000000002', recordPosition('2', 0));
  expect(store.memosHeld()).toBe(0);
  // A later call tracks its own memos again.
  await applyOutcomes(store, 'shardId-000000000001', epoch, [request(1, 4, 'a')]);
  expect(store.memosHeld()).toBe(1);
});

it('in-process store: every store is a new epoch (a restart loses the state, and says so)', async () => {
  const before = createInProcessUserStateStore();
  const after = createInProcessUserStateStore();
  expect(await before.epoch()).not.toBe(await after.epoch());
});

it('in-process store: keeps at most maxClaims eventId claims, counting what it forgets', async () => {
  const store = createInProcessUserStateStore({ maxClaims: 2 });
  const requests = ['a', 'b', 'c'].map((userId, i) => ({
    eventId: `00000000-0000-4000-8000-00000000001${i}`,
    position: recordPosition(String(i + 1), 0),
    experimentId: 'exp',
    userId,
    variantMetric: 'v#m',
    segments: [],
    scaledValue: 1,
  }));
  await applyOutcomes(store, 'shardId-000000000000', await store.epoch(), requests);
  expect(store.evictions()).toBe(1);
});

it('in-process store: forgets the least recently written user over all experiments; a read alone keeps no user', async () => {
  const store = createInProcessUserStateStore({ maxUsers: 2 });
  const epoch = await store.epoch();
  let n = 0;
  const event = (experimentId: string, userId: string) => {
    n++;
    return {
      eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
      position: recordPosition(String(n), 0),
      experimentId,
      userId,
      variantMetric: 'v#m',
      segments: [],
      scaledValue: 1,
    };
  };
  const shard = 'shardId-000000000000';
  // The same user id in two experiments is two users; exp-a/ann is written first.
  const first = event('exp-a', 'ann');
  await applyOutcomes(store, shard, epoch, [first, event('exp-b', 'ann')]);
  // A replay of exp-a/ann's record reads the user and writes nothing: it stays the least recently written.
  expect(await applyOutcomes(store, shard, epoch, [first])).toMatchObject([{ kind: 'applied', replay: true }]);
  await applyOutcomes(store, shard, epoch, [event('exp-a', 'bob')]); // a third user: exp-a/ann goes
  expect(store.evictions()).toBe(1);
  expect(await applyOutcomes(store, shard, epoch, [event('exp-b', 'ann')])).toMatchObject([{ totalBefore: 1 }]);
  expect(await applyOutcomes(store, shard, epoch, [event('exp-a', 'ann')])).toMatchObject([{ totalBefore: undefined }]);
  expect(store.evictions()).toBe(2); // exp-a/ann came back in the place of exp-a/bob
});
