import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { afterAll, expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { createEmbeddedUserStateStore } from './embedded-store.js';
import { compactPosition } from './record-identity.js';
import { describeUserStateStoreContract } from './test-support/store-contract.js';

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

/** What an applied outcome of a user without covariates, for a request without partners, also holds. */
const NONE = { covariates: [], partnerTotals: [] };

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
      { ...NONE, kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: 3_000_000n },
      { kind: 'duplicate' },
      { ...NONE, kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: 6_000_000n },
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

it('embedded store: refuses a directory it cannot open with CONFIG_INVALID naming it', async () => {
  const directory = await newDirectory();
  const file = join(directory, 'not-a-directory');
  await writeFile(file, 'x');
  expect(() => createEmbeddedUserStateStore({ directory: join(file, 'state') })).toThrow(
    expect.objectContaining({
      code: 'CONFIG_INVALID',
      message: `cannot open the embedded state store in ${join(file, 'state')}`,
      cause: expect.any(Error),
    }),
  );
});

it('embedded store: a batch that fails midway is a SINK_FAILED and commits nothing', async () => {
  const store = createEmbeddedUserStateStore({ directory: await newDirectory() });
  try {
    const epoch = await store.epoch();
    // The second request is malformed (no value), so the rules throw inside the transaction.
    const broken = { ...request(2, 'bob'), scaledValue: undefined } as unknown as ReturnType<typeof request>;
    await expect(store.apply('shardId-000000000000', epoch, [request(1), broken])).rejects.toMatchObject({
      code: 'SINK_FAILED',
      message: 'embedded state store transaction failed',
      cause: expect.any(TypeError),
    });
    // Nothing of the batch was kept: event 1 is new, not a replay or a duplicate.
    expect(await store.apply('shardId-000000000000', epoch, [request(1)])).toEqual([
      { ...NONE, kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: undefined },
    ]);
    expect(await store.apply('shardId-000000000000', epoch, [])).toEqual([]);
  } finally {
    await store.close();
  }
});

it('embedded store: keeps its data in the meta, claims, expiry, users and admitted sub-databases', async () => {
  const directory = await newDirectory();
  const store = createEmbeddedUserStateStore({ directory, now: () => 1_000 });
  const epoch = await store.epoch();
  await store.apply('shardId-000000000000', epoch, [request(1)]);
  await store.markCommitted('shardId-000000000000', recordPosition('1', 0));
  await store.close();
  // A store written by this version must open under the next: the layout is part of the format.
  const root = open({ path: directory, maxDbs: 8 });
  try {
    const meta = root.openDB<string, string>({ name: 'meta', encoding: 'string' });
    expect(meta.get('epoch')).toBe(epoch);
    expect(meta.get('p:shardId-000000000000')).toBe(compactPosition(recordPosition('1', 0)));
    expect(root.openDB<[string, number], string>({ name: 'claims' }).get(request(1).eventId)?.[1]).toBe(
      1_000 + 86_400_000,
    );
    // One expiry entry per call: keyed by its expiry and first claim, holding every eventId the call claimed.
    expect([...root.openDB({ name: 'expiry' }).getRange()]).toEqual([
      { key: [1_000 + 86_400_000, request(1).eventId], value: [request(1).eventId] },
    ]);
    expect([...root.openDB<unknown, string>({ name: 'users' }).getKeys()]).toHaveLength(1);
    expect([...root.openDB<string[], string>({ name: 'admitted' }).getRange()].map(({ value }) => value)).toEqual([
      ['US'],
    ]);
  } finally {
    await root.close();
  }
});

/**
 * More expired claims than one batch sweeps (2,000): the rest stay on disk a while, and must
 * neither hold back a retry after the window nor lose a claim renewed meanwhile.
 */
it('embedded store: judges claims by their expiry beyond the sweep limit, and never sweeps a renewed claim', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const shard = 'shardId-000000000000';
  const eventId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  let sequence = 0;
  const event = (n: number) => ({
    ...request(n, `user-${n}`),
    eventId: eventId(n),
    position: recordPosition(String((sequence += 1)), 0),
  });
  try {
    const epoch = await store.epoch();
    await store.apply(
      shard,
      epoch,
      Array.from({ length: 2_100 }, (_, n) => event(n)),
    );
    // Exactly at the end of the window: the sweep reaches 2,000 claims; the last 100 remain, expired.
    clock = 60_000;
    expect(await store.apply(shard, epoch, [event(2_099)])).toMatchObject([{ kind: 'applied', replay: false }]);
    // The retry renewed claim 2,099 (until 120 s). The next sweep meets its old expiry entry and must keep it.
    clock = 61_000;
    await store.apply(shard, epoch, [event(5_000)]);
    clock = 62_000;
    expect(await store.apply(shard, epoch, [event(2_099)])).toEqual([{ kind: 'duplicate' }]);
    // The expired claims are gone from disk; the renewed one and the new one remain.
    await store.close();
    const root = open({ path: directory, maxDbs: 8 });
    try {
      // The first sweep (at 60 s) took 2,000 of the entry's 2,100 claims and kept the other 100 in it for the next.
      expect(
        [...root.openDB<string[], [number, string]>({ name: 'expiry' }).getRange()].map(({ key }) => key[0]),
      ).toEqual([120_000, 121_000]);
      expect([...root.openDB<unknown, string>({ name: 'claims' }).getKeys()].sort()).toEqual(
        [eventId(2_099), eventId(5_000)].sort(),
      );
    } finally {
      await root.close();
    }
  } catch (error) {
    await store.close();
    throw error;
  }
});

it('embedded store: sweeps at most 2,000 claims per call, keeping the rest of a larger entry for the next call', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const shard = 'shardId-000000000000';
  const eventId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  const event = (n: number) => ({
    ...request(n, `user-${n}`),
    eventId: eventId(n),
    position: recordPosition(String(n + 1), 0),
  });
  const epoch = await store.epoch();
  await store.apply(
    shard,
    epoch,
    Array.from({ length: 2_100 }, (_, n) => event(n)),
  );
  clock = 60_000;
  await store.apply(shard, epoch, [event(9_000)]);
  await store.close();
  const root = open({ path: directory, maxDbs: 8 });
  try {
    const left = [...root.openDB<unknown, string>({ name: 'claims' }).getKeys()];
    expect(left).toHaveLength(101);
    expect(left).toContain(eventId(2_099));
    expect(left).not.toContain(eventId(1_999));
    const entries = [...root.openDB<string[], [number, string]>({ name: 'expiry' }).getRange()];
    expect(entries.map(({ key, value }) => [key[0], value.length])).toEqual([
      [60_000, 100],
      [120_000, 1],
    ]);
  } finally {
    await root.close();
  }
});

it('embedded store: sweeps expiry entries of the earlier form (one claim per entry, value null) like its own', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const epoch = await store.epoch();
  await store.apply('shardId-000000000000', epoch, [request(1)]);
  await store.close();
  // Rewrite the index as an earlier version wrote it: [expiresAt, eventId] → null.
  const root = open({ path: directory, maxDbs: 8 });
  const expiry = root.openDB<string[] | null, [number, string]>({ name: 'expiry' });
  await expiry.remove([60_000, request(1).eventId]);
  await expiry.put([60_000, request(1).eventId], null);
  await root.close();
  const reopened = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  clock = 60_000;
  await reopened.apply('shardId-000000000000', epoch, [request(3, 'cid')]);
  await reopened.close();
  const after = open({ path: directory, maxDbs: 8 });
  try {
    expect([...after.openDB<unknown, string>({ name: 'claims' }).getKeys()]).toEqual([request(3).eventId]);
    expect([...after.openDB({ name: 'expiry' }).getKeys()]).toEqual([[120_000, request(3).eventId]]);
  } finally {
    await after.close();
  }
});

it('embedded store: sweeps a claim in the first batch at or after its expiry, not one batch later', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const epoch = await store.epoch();
  await store.apply('shardId-000000000000', epoch, [request(1), request(2, 'bob')]);
  clock = 60_000; // exactly the end of both claims' window
  await store.apply('shardId-000000000000', epoch, [request(3, 'cid')]);
  await store.close();
  const root = open({ path: directory, maxDbs: 8 });
  try {
    expect([...root.openDB<unknown, string>({ name: 'claims' }).getKeys()]).toEqual([request(3).eventId]);
  } finally {
    await root.close();
  }
});

it('embedded store: stores a user without covariates or partners as before them, and covariates and partner totals only when there are some', async () => {
  const directory = await newDirectory();
  const store = createEmbeddedUserStateStore({ directory, now: () => 1_000 });
  const shard = 'shardId-000000000000';
  const epoch = await store.epoch();
  await store.apply(shard, epoch, [
    request(1),
    { ...request(2, 'bob'), covariates: [['m', -2_500_000n]], partners: ['v#other', 'v#m'] },
  ]);
  await store.close();
  const root = open({ path: directory, maxDbs: 8 });
  try {
    const users = root.openDB<unknown, string>({ name: 'users' });
    const ann = compactPosition(recordPosition('1', 0));
    const bob = compactPosition(recordPosition('2', 0));
    expect(users.get('exp\u001fann')).toEqual({
      s: [['country', 'US']],
      t: [['v#m', '3000000', [[`0@${ann}`, null]]]],
    });
    expect(users.get('exp\u001fbob')).toEqual({
      s: [['country', 'US']],
      c: [['m', '-2500000']],
      t: [['v#m', '3000000', [[`0@${bob}`, null, [null, null]]]]],
    });
  } finally {
    await root.close();
  }
  // Read back: the covariates and the memoized partner totals answer a replay.
  const reopened = createEmbeddedUserStateStore({ directory, now: () => 1_000 });
  try {
    expect(
      await reopened.apply(shard, epoch, [
        { ...request(2, 'bob'), covariates: [['m', 1n]], partners: ['v#other', 'v#m'] },
      ]),
    ).toEqual([
      {
        kind: 'applied',
        replay: true,
        segments: [['country', 'US']],
        totalBefore: undefined,
        covariates: [['m', -2_500_000n]],
        partnerTotals: [undefined, undefined],
      },
    ]);
  } finally {
    await reopened.close();
  }
});
