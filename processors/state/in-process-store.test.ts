import { expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { createInProcessUserStateStore } from './in-process-store.js';
import { describeUserStateStoreContract } from './test-support/store-contract.js';

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
    scaledValue: 1n,
  }));
  await store.apply('shardId-000000000000', await store.epoch(), requests);
  expect(store.evictions()).toBe(1);
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
    scaledValue: 1n,
  }));
  await store.apply('shardId-000000000000', await store.epoch(), requests);
  expect(store.evictions()).toBe(1);
});
