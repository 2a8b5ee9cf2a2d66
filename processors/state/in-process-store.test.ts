import { expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { createInProcessUserStateStore } from './in-process-store.js';
import { describeUserStateStoreContract } from './store-contract.js';

describeUserStateStoreContract('in-process store', (cap) =>
  Promise.resolve({
    store: createInProcessUserStateStore({ segmentValueCap: cap, dedupWindowSeconds: 60 }),
    cleanUp: () => Promise.resolve(),
  }),
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
  await store.apply('shardId-000000000000', undefined, requests);
  expect(store.evictions()).toBe(1);
});
