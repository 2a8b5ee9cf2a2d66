import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { createEmbeddedUserStateStore } from './embedded-store.js';
import { describeUserStateStoreContract } from './store-contract.js';

const directories: string[] = [];
afterAll(() => Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true }))));

async function newDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'embedded-state-'));
  directories.push(directory);
  return directory;
}

describeUserStateStoreContract(
  'embedded (LMDB) store',
  async ({ cap, dedupWindowSeconds = 60, userTotalLimit }) => {
    const directory = await newDirectory();
    let clock = 1_000_000;
    const options = {
      directory,
      segmentValueCap: cap,
      dedupWindowSeconds,
      ...(userTotalLimit === undefined ? {} : { userTotalLimit }),
      now: () => clock,
    };
    let store = createEmbeddedUserStateStore(options);
    return {
      get store() {
        return store;
      },
      advanceSeconds: (seconds: number) => {
        clock += seconds * 1000;
        return Promise.resolve();
      },
      // The data directory deleted under a running pipeline, then the store re-opened: a new, empty store.
      loseData: async () => {
        await store.close();
        await rm(directory, { recursive: true, force: true });
        store = createEmbeddedUserStateStore(options);
      },
      cleanUp: () => store.close(),
    };
  },
  { canLoseData: true },
);

const request = (n: number, userId = 'ann') => ({
  eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  position: recordPosition(String(n), 0),
  experimentId: 'exp',
  userId,
  variantMetric: 'v#m',
  segments: [['country', 'US']] as const,
  scaledValue: 3_000_000n,
});

it('embedded store: keeps claims, totals, memos, the committed position and the epoch across a reopen', async () => {
  const directory = await newDirectory();
  const first = createEmbeddedUserStateStore({ directory });
  const epoch = await first.epoch();
  await first.apply('shardId-000000000000', epoch, [request(1), request(2)]);
  await first.markCommitted('shardId-000000000000', recordPosition('1', 0));
  await first.close();

  const reopened = createEmbeddedUserStateStore({ directory });
  try {
    expect(await reopened.epoch()).toBe(epoch);
    const outcomes = await reopened.apply('shardId-000000000000', epoch, [
      request(1), // committed
      request(2), // replay: its memo survived
      { ...request(3), eventId: request(2).eventId }, // producer retry of event 2
      request(4),
    ]);
    expect(outcomes).toEqual([
      { kind: 'committed' },
      { kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: 3_000_000n },
      { kind: 'duplicate' },
      { kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: 6_000_000n },
    ]);
  } finally {
    await reopened.close();
  }
});

it('embedded store: sweeps claims whose de-dup window passed', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 1, now: () => clock });
  try {
    const epoch = await store.epoch();
    await store.apply('shardId-000000000000', epoch, [request(1), request(2, 'bob')]);
    clock = 5_000;
    // A later batch sweeps both expired claims; a retry of event 1 now counts again.
    const retry = { ...request(3), eventId: request(1).eventId };
    expect(await store.apply('shardId-000000000000', epoch, [retry])).toMatchObject([{ kind: 'applied' }]);
  } finally {
    await store.close();
  }
});
