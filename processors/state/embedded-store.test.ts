import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asBinary, open } from 'lmdb';
import { expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { createEmbeddedUserStateStore } from './embedded-store.js';
import { compactPosition } from './record-identity.js';
import { newDirectory, withEnvironment as inspectEnvironment } from './test-support/embedded-directories.js';
import { describeUserStateStoreContract } from './test-support/store-contract.js';
import { applyOutcomes } from './test-support/apply-outcomes.js';

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
  scaledValue: 3_000_000,
});

it('embedded store: keeps claims, totals, memos, the committed position and the epoch across a reopen', async () => {
  const directory = await newDirectory();
  const first = createEmbeddedUserStateStore({ directory });
  const epoch = await first.epoch();
  await applyOutcomes(first, 'shardId-000000000000', epoch, [request(1), request(2)]);
  await first.markCommitted('shardId-000000000000', recordPosition('1', 0));
  await first.close();

  const reopened = createEmbeddedUserStateStore({ directory });
  try {
    expect(await reopened.epoch()).toBe(epoch);
    const outcomes = await applyOutcomes(reopened, 'shardId-000000000000', epoch, [
      request(1), // committed
      request(2), // replay: its memo survived
      { ...request(3), eventId: request(2).eventId }, // producer retry of event 2
      request(4),
    ]);
    expect(outcomes).toEqual([
      { kind: 'committed' },
      { ...NONE, kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: 3_000_000 },
      { kind: 'duplicate' },
      { ...NONE, kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: 6_000_000 },
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
    await applyOutcomes(store, 'shardId-000000000000', epoch, [request(1), request(2, 'bob')]);
    clock = 5_000;
    // A later batch sweeps both expired claims; a retry of event 1 now counts again.
    const retry = { ...request(3), eventId: request(1).eventId };
    expect(await applyOutcomes(store, 'shardId-000000000000', epoch, [retry])).toMatchObject([{ kind: 'applied' }]);
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
    // The second request is malformed (no segments), so the rules throw inside the transaction.
    const broken = { ...request(2, 'bob'), segments: undefined } as unknown as ReturnType<typeof request>;
    await expect(applyOutcomes(store, 'shardId-000000000000', epoch, [request(1), broken])).rejects.toMatchObject({
      code: 'SINK_FAILED',
      message: 'embedded state store transaction failed',
      cause: expect.any(TypeError),
    });
    // Nothing of the batch was kept: event 1 is new, not a replay or a duplicate.
    expect(await applyOutcomes(store, 'shardId-000000000000', epoch, [request(1)])).toEqual([
      { ...NONE, kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: undefined },
    ]);
    expect(await applyOutcomes(store, 'shardId-000000000000', epoch, [])).toEqual([]);
  } finally {
    await store.close();
  }
});

it('embedded store: keeps its data in the meta, claims, expiry, users and admitted sub-databases', async () => {
  const directory = await newDirectory();
  const store = createEmbeddedUserStateStore({ directory, now: () => 1_000 });
  const epoch = await store.epoch();
  await applyOutcomes(store, 'shardId-000000000000', epoch, [request(1)]);
  await store.markCommitted('shardId-000000000000', recordPosition('1', 0));
  await store.close();
  // A store written by this version must open under the next: the layout is part of the format.
  const root = open({ path: directory, maxDbs: 8 });
  try {
    const meta = root.openDB<string, string>({ name: 'meta', encoding: 'string' });
    expect(meta.get('epoch')).toBe(epoch);
    expect(meta.get('p:shardId-000000000000')).toBe(compactPosition(recordPosition('1', 0)));
    // A claim in the binary form: 0xc1, expiresAt (float64), the holder's identity.
    const claim = root.openDB({ name: 'claims' }).getBinary(request(1).eventId) as Buffer;
    expect([claim[0], claim.readDoubleLE(1), claim.toString('utf8', 9)]).toEqual([
      0xc1,
      1_000 + 86_400_000,
      `0@${compactPosition(recordPosition('1', 0))}`,
    ]);
    // One expiry entry per call: keyed by its expiry and first claim, holding every eventId the call claimed.
    expect([...root.openDB({ name: 'expiry' }).getRange()]).toEqual([
      { key: [1_000 + 86_400_000, request(1).eventId], value: request(1).eventId },
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
    await applyOutcomes(
      store,
      shard,
      epoch,
      Array.from({ length: 2_100 }, (_, n) => event(n)),
    );
    // Exactly at the end of the window: the sweep reaches 2,000 claims; the last 100 remain, expired.
    clock = 60_000;
    expect(await applyOutcomes(store, shard, epoch, [event(2_099)])).toMatchObject([
      { kind: 'applied', replay: false },
    ]);
    // The retry renewed claim 2,099 (until 120 s). The next sweep meets its old expiry entry and must keep it.
    clock = 61_000;
    await applyOutcomes(store, shard, epoch, [event(5_000)]);
    clock = 62_000;
    expect(await applyOutcomes(store, shard, epoch, [event(2_099)])).toEqual([{ kind: 'duplicate' }]);
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
  await applyOutcomes(
    store,
    shard,
    epoch,
    Array.from({ length: 2_100 }, (_, n) => event(n)),
  );
  clock = 60_000;
  await applyOutcomes(store, shard, epoch, [event(9_000)]);
  await store.close();
  await inspectEnvironment(directory, (root) => {
    const left = [...root.openDB<unknown, string>({ name: 'claims' }).getKeys()];
    expect(left).toHaveLength(101);
    expect(left).toContain(eventId(2_099));
    expect(left).not.toContain(eventId(1_999));
    const entries = [...root.openDB<string, [number, string]>({ name: 'expiry' }).getRange()];
    expect(entries.map(({ key, value }) => [key[0], value.split('\u001f').length])).toEqual([
      [60_000, 100],
      [120_000, 1],
    ]);
  });
});

it.each([
  ['one claim per entry, value null', 'null'],
  ['one entry per call, an array of its eventIds', 'array'],
] as const)('embedded store: sweeps expiry entries of an earlier form (%s) like its own', async (_name, form) => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const epoch = await store.epoch();
  await applyOutcomes(store, 'shardId-000000000000', epoch, [request(1), request(2, 'bob')]);
  await store.close();
  // Rewrite the index as an earlier version wrote it.
  const [first, second] = [request(1).eventId, request(2).eventId];
  const root = open({ path: directory, maxDbs: 8 });
  const expiry = root.openDB<string[] | null, [number, string]>({ name: 'expiry' });
  await expiry.remove([60_000, first]);
  if (form === 'null') {
    await expiry.put([60_000, first], null);
    await expiry.put([60_000, second], null);
  } else {
    await expiry.put([60_000, first], [first, second]);
  }
  await root.close();
  const reopened = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  clock = 60_000;
  await applyOutcomes(reopened, 'shardId-000000000000', epoch, [request(3, 'cid')]);
  await reopened.close();
  await inspectEnvironment(directory, (root) => {
    expect([...root.openDB<unknown, string>({ name: 'claims' }).getKeys()]).toEqual([request(3).eventId]);
    expect([...root.openDB({ name: 'expiry' }).getKeys()]).toEqual([[120_000, request(3).eventId]]);
  });
});

it('embedded store: sweeps a claim in the first batch at or after its expiry, not one batch later', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const epoch = await store.epoch();
  await applyOutcomes(store, 'shardId-000000000000', epoch, [request(1), request(2, 'bob')]);
  clock = 60_000; // exactly the end of both claims' window
  await applyOutcomes(store, 'shardId-000000000000', epoch, [request(3, 'cid')]);
  await store.close();
  const root = open({ path: directory, maxDbs: 8 });
  try {
    expect([...root.openDB<unknown, string>({ name: 'claims' }).getKeys()]).toEqual([request(3).eventId]);
  } finally {
    await root.close();
  }
});

it('embedded store: writes users in the binary form, covariates and partner totals only when there are some', async () => {
  const directory = await newDirectory();
  const store = createEmbeddedUserStateStore({ directory, now: () => 1_000 });
  const shard = 'shardId-000000000000';
  const epoch = await store.epoch();
  await applyOutcomes(store, shard, epoch, [
    request(1),
    { ...request(2, 'bob'), covariates: [['m', -2_500_000]], partners: ['v#other', 'v#m'] },
  ]);
  await store.close();
  const root = open({ path: directory, maxDbs: 8 });
  try {
    const users = root.openDB<unknown, string>({ name: 'users' });
    const ann = `0@${compactPosition(recordPosition('1', 0))}`;
    const bob = `0@${compactPosition(recordPosition('2', 0))}`;
    const string = (value: string) => [value.length, ...Buffer.from(value)];
    const safe = (value: number) => {
      const bytes = Buffer.alloc(8);
      bytes.writeDoubleLE(value);
      return [2, ...bytes];
    };
    // 0xc1; one segment (count + 1); no covariates (0); one total, its memo with no partner totals (0).
    expect([...(users.getBinary('exp\u001fann') as Buffer)]).toEqual([
      0xc1,
      2,
      ...string('country'),
      ...string('US'),
      0,
      1,
      ...string('v#m'),
      ...safe(3_000_000),
      1,
      ...string(ann),
      0,
      0,
    ]);
    // One covariate; the memo holds two partner totals, both none yet.
    expect([...(users.getBinary('exp\u001fbob') as Buffer)]).toEqual([
      0xc1,
      2,
      ...string('country'),
      ...string('US'),
      2,
      ...string('m'),
      ...safe(-2_500_000),
      1,
      ...string('v#m'),
      ...safe(3_000_000),
      1,
      ...string(bob),
      0,
      3,
      0,
      0,
    ]);
  } finally {
    await root.close();
  }
  // Read back: the covariates and the memoized partner totals answer a replay.
  const reopened = createEmbeddedUserStateStore({ directory, now: () => 1_000 });
  try {
    expect(
      await applyOutcomes(reopened, shard, epoch, [
        { ...request(2, 'bob'), covariates: [['m', 1]], partners: ['v#other', 'v#m'] },
      ]),
    ).toEqual([
      {
        kind: 'applied',
        replay: true,
        segments: [['country', 'US']],
        totalBefore: undefined,
        covariates: [['m', -2_500_000]],
        partnerTotals: [undefined, undefined],
      },
    ]);
  } finally {
    await reopened.close();
  }
});

it('embedded store: refuses a user-total limit beyond 2^52, and keeps totals at that limit exact across a reopen', async () => {
  const directory = await newDirectory();
  expect(() => createEmbeddedUserStateStore({ directory, userTotalLimit: 2 ** 52 + 1 })).toThrow(
    expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('userTotalLimit') }),
  );
  const shard = 'shardId-000000000000';
  const huge = 2 ** 52 - 3;
  const limits = { directory, userTotalLimit: 2 ** 52 };
  const store = createEmbeddedUserStateStore(limits);
  const epoch = await store.epoch();
  await applyOutcomes(store, shard, epoch, [{ ...request(1), scaledValue: huge, covariates: [['m', -huge]] }]);
  await store.close();
  const reopened = createEmbeddedUserStateStore(limits);
  try {
    expect(
      await applyOutcomes(reopened, shard, epoch, [
        { ...request(1), scaledValue: huge, covariates: [['m', -huge]] }, // replay
        { ...request(2), scaledValue: 3 },
        { ...request(3), scaledValue: 1 }, // would pass the limit
      ]),
    ).toEqual([
      {
        kind: 'applied',
        replay: true,
        segments: [['country', 'US']],
        totalBefore: undefined,
        covariates: [['m', -huge]],
        partnerTotals: [],
      },
      {
        kind: 'applied',
        replay: false,
        segments: [['country', 'US']],
        totalBefore: huge,
        covariates: [['m', -huge]],
        partnerTotals: [],
      },
      { kind: 'refused', rule: 'user-total-limit' },
    ]);
  } finally {
    await reopened.close();
  }
});

it('embedded store: reads a total an earlier version wrote as decimal digits (tag 3)', async () => {
  const directory = await newDirectory();
  const shard = 'shardId-000000000000';
  const store = createEmbeddedUserStateStore({ directory });
  const epoch = await store.epoch();
  await applyOutcomes(store, shard, epoch, [{ ...request(1), scaledValue: 5 }]);
  await store.markCommitted(shard, request(1).position);
  await store.close();
  // The user as this version wrote it, its total 5 (tag 2, a float64) rewritten as tag 3, the digits "123".
  const root = open({ path: directory, maxDbs: 8 });
  const users = root.openDB<unknown, string>({ name: 'users' });
  const [key] = [...users.getKeys()] as string[];
  const bytes = users.getBinary(key as string) as Buffer;
  const float = Buffer.alloc(8);
  float.writeDoubleLE(5);
  const at = bytes.indexOf(Buffer.concat([Buffer.from([2]), float]));
  expect(at).toBeGreaterThan(0);
  const rewritten = Buffer.concat([
    bytes.subarray(0, at),
    Buffer.from([3, 3]),
    Buffer.from('123'),
    bytes.subarray(at + 9),
  ]);
  await users.put(key as string, asBinary(rewritten));
  await root.close();
  const reopened = createEmbeddedUserStateStore({ directory });
  try {
    expect(await applyOutcomes(reopened, shard, epoch, [{ ...request(2), scaledValue: 1 }])).toMatchObject([
      { kind: 'applied', replay: false, totalBefore: 123 },
    ]);
  } finally {
    await reopened.close();
  }
});

it('embedded store: reads and writes a user without the memos its shard has committed past, keeping every other memo', async () => {
  const directory = await newDirectory();
  const shard = 'shardId-000000000000';
  const other = 'shardId-000000000001';
  const identity = (tag: string, n: number) => `${tag}@${compactPosition(recordPosition(String(n), 0))}`;
  const store = createEmbeddedUserStateStore({ directory });
  const epoch = await store.epoch();
  await applyOutcomes(store, shard, epoch, [request(1), { ...request(2), variantMetric: 'v#o' }]);
  // Shard 1's record at an earlier position than shard 0 commits: another shard's memo, kept.
  const fromOther = { ...request(9), position: recordPosition('1', 0), variantMetric: 'v#p' };
  await applyOutcomes(store, other, epoch, [fromOther]);
  await store.markCommitted(shard, recordPosition('1', 0));
  // Another metric of the same user: the memo of record 1 (v#m) is committed and is not written back.
  await applyOutcomes(store, shard, epoch, [{ ...request(3), variantMetric: 'v#n' }]);
  await store.close();
  const root = open({ path: directory, maxDbs: 8 });
  try {
    const blob = root.openDB<unknown, string>({ name: 'users' }).getBinary('exp\u001fann') as Buffer;
    expect([1, 2, 3].map((n) => blob.includes(identity('0', n)))).toEqual([false, true, true]);
    expect(blob.includes(identity('1', 1))).toBe(true);
  } finally {
    await root.close();
  }
  const reopened = createEmbeddedUserStateStore({ directory });
  try {
    expect(
      await applyOutcomes(reopened, shard, epoch, [
        request(1), // committed
        { ...request(2), variantMetric: 'v#o' }, // replay: its memo is kept
        { ...request(3), variantMetric: 'v#n' }, // replay
        request(4),
      ]),
    ).toEqual([
      { kind: 'committed' },
      { ...NONE, kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: undefined },
      { ...NONE, kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: undefined },
      { ...NONE, kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: 3_000_000 },
    ]);
    expect(await applyOutcomes(reopened, other, epoch, [fromOther])).toEqual([
      { ...NONE, kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: undefined },
    ]);
  } finally {
    await reopened.close();
  }
});

it("embedded store: keeps the memo of a shard whose tag sorts before the committing shard's", async () => {
  const directory = await newDirectory();
  const store = createEmbeddedUserStateStore({ directory });
  try {
    const epoch = await store.epoch();
    const earlier = 'shardId-000000000000'; // tag '0': its identities sort before those of shard 1
    const committing = 'shardId-000000000001';
    const fromEarlier = { ...request(9), position: recordPosition('5', 0), variantMetric: 'v#p' };
    await applyOutcomes(store, earlier, epoch, [fromEarlier]);
    await applyOutcomes(store, committing, epoch, [request(1)]);
    await store.markCommitted(committing, recordPosition('1', 0));
    // Shard 1 reads and writes the user back without its own committed memos only.
    await applyOutcomes(store, committing, epoch, [{ ...request(3), variantMetric: 'v#n' }]);
    expect(await applyOutcomes(store, earlier, epoch, [fromEarlier])).toEqual([
      { ...NONE, kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: undefined },
    ]);
  } finally {
    await store.close();
  }
});

it('embedded store: keeps strings of 128 UTF-8 bytes and more (a two-byte length) across a reopen', async () => {
  const directory = await newDirectory();
  const long = '€'.repeat(64); // 192 bytes
  const segments = [
    ['country', long],
    [`d${'x'.repeat(63)}`, `${'ü'.repeat(63)}!`],
  ] as const;
  const first = createEmbeddedUserStateStore({ directory });
  const epoch = await first.epoch();
  const withLong = { ...request(1), segments, variantMetric: `v#${'m'.repeat(60)}` };
  await applyOutcomes(first, 'shardId-000000000000', epoch, [withLong]);
  await first.close();
  const reopened = createEmbeddedUserStateStore({ directory });
  try {
    expect(
      await applyOutcomes(reopened, 'shardId-000000000000', epoch, [
        withLong,
        { ...withLong, ...{ eventId: request(2).eventId, position: recordPosition('2', 0) } },
      ]),
    ).toEqual([
      { ...NONE, kind: 'applied', replay: true, segments, totalBefore: undefined },
      { ...NONE, kind: 'applied', replay: false, segments, totalBefore: 3_000_000 },
    ]);
  } finally {
    await reopened.close();
  }
});

/**
 * Every value as the version before the binary forms wrote it (msgpack: claims `[identity, expiresAt]`,
 * users with decimal strings, `'!'` for a refused memo), written with `open()` directly: this
 * version must read each as that version would have.
 */
it('embedded store: reads claims, users, expiry, meta and admitted values in the forms earlier versions wrote', async () => {
  const directory = await newDirectory();
  const shard = 'shardId-000000000000';
  const identity = (n: number) => `0@${compactPosition(recordPosition(String(n), 0))}`;
  const epoch = 'e0000000-0000-4000-8000-000000000000';
  const root = open({ path: directory, maxDbs: 8 });
  await root.openDB<string, string>({ name: 'meta', encoding: 'string' }).put('epoch', epoch);
  await root
    .openDB<string, string>({ name: 'meta', encoding: 'string' })
    .put(`p:${shard}`, compactPosition(recordPosition('1', 0)));
  const claims = root.openDB<[string, number], string>({ name: 'claims' });
  await claims.put(request(2).eventId, [identity(2), 60_000]); // claimed by record 2, until 60 s
  await claims.put(request(7).eventId, [identity(7), 30_000]); // expires at 30 s
  await root.openDB<string[] | null, [number, string]>({ name: 'expiry' }).put([30_000, request(7).eventId], null);
  await root
    .openDB<string[] | null, [number, string]>({ name: 'expiry' })
    .put([60_000, request(2).eventId], [request(2).eventId]);
  const users = root.openDB<unknown, string>({ name: 'users' });
  await users.put('exp\u001fann', {
    s: [['country', 'US']],
    c: [['m', '-2500000']],
    t: [
      [
        'v#m',
        '6000000',
        [
          [identity(1), '1000000'], // committed: dropped when ann is written
          [identity(2), '3000000', ['5', null]],
        ],
      ],
      ['v#r', null, [[identity(3), '!']]],
    ],
  });
  await users.put('exp\u001fbob', { s: null, t: [] });
  await root.openDB<string[], string>({ name: 'admitted' }).put('exp\u001fcountry', ['US']);
  await root.close();

  const store = createEmbeddedUserStateStore({ directory, segmentValueCap: 1, now: () => 10_000 });
  try {
    expect(await store.epoch()).toBe(epoch);
    expect(await store.readCommitted(shard)).toBe(compactPosition(recordPosition('1', 0)));
    const covariates = [['m', -2_500_000]];
    expect(
      await applyOutcomes(store, shard, epoch, [
        request(1), // committed
        { ...request(2), partners: ['v#a', 'v#b'] }, // replay of its memo: total before, partner totals
        { ...request(4), eventId: request(2).eventId }, // claimed by record 2: duplicate
        { ...request(3), variantMetric: 'v#r' }, // refused memo
        request(5), // continues the stored total
        { ...request(6, 'bob'), segments: [['country', 'FR']] }, // cap 1, US admitted: FR reads (other)
        request(7), // its claim is held by this very record (until 30 s) and it has no memo: applied, claim kept
      ]),
    ).toEqual([
      { kind: 'committed' },
      {
        kind: 'applied',
        replay: true,
        segments: [['country', 'US']],
        totalBefore: 3_000_000,
        covariates,
        partnerTotals: [5, undefined],
      },
      { kind: 'duplicate' },
      { kind: 'refused', rule: 'user-total-limit' },
      {
        kind: 'applied',
        replay: false,
        segments: [['country', 'US']],
        totalBefore: 6_000_000,
        covariates,
        partnerTotals: [],
      },
      { ...NONE, kind: 'applied', replay: false, segments: [['country', '(other)']], totalBefore: undefined },
      {
        kind: 'applied',
        replay: false,
        segments: [['country', 'US']],
        totalBefore: 9_000_000,
        covariates,
        partnerTotals: [],
      },
    ]);
  } finally {
    await store.close();
  }
  // At 61 s the sweep reads the expiry of claims in the earlier form: claims 2 and 7 (never renewed) are gone.
  const later = createEmbeddedUserStateStore({ directory, now: () => 61_000 });
  try {
    expect(await applyOutcomes(later, shard, epoch, [{ ...request(8), eventId: request(2).eventId }])).toMatchObject([
      { kind: 'applied', replay: false },
    ]);
  } finally {
    await later.close();
  }
  const after = open({ path: directory, maxDbs: 8 });
  try {
    expect([...after.openDB<unknown, string>({ name: 'claims' }).getKeys()].sort()).toEqual(
      [request(2).eventId, request(5).eventId, request(6).eventId].sort(), // 2: claimed again by record 8
    );
  } finally {
    await after.close();
  }
});

it('embedded store: users read with equal segments share one array (what the cell directory finds cells by); others keep their own, exactly', async () => {
  const store = createEmbeddedUserStateStore({ directory: await newDirectory() });
  try {
    const epoch = await store.epoch();
    const shard = 'shardId-000000000000';
    const usZurich = [
      ['city', 'Zürich'],
      ['country', 'CH'],
    ] as const;
    const usZug = [
      ['city', 'Zug'],
      ['country', 'CH'],
    ] as const;
    const first = [
      { ...request(1, 'ann'), segments: usZurich },
      { ...request(2, 'bob'), segments: usZurich },
      { ...request(3, 'cid'), segments: usZug },
      { ...request(4, 'dan'), segments: [] },
    ];
    await applyOutcomes(store, shard, epoch, first);
    await store.markCommitted(shard, request(4).position);
    // Each user is read back from LMDB by the next call: their fixed segments come from the reader.
    const outcomes = await applyOutcomes(store, shard, epoch, [
      { ...request(5, 'ann'), segments: [] },
      { ...request(6, 'bob'), segments: [] },
      { ...request(7, 'cid'), segments: [] },
      { ...request(8, 'dan'), segments: usZug },
    ]);
    const segments = outcomes.map((outcome) => (outcome.kind === 'applied' ? outcome.segments : undefined));
    expect(segments).toEqual([usZurich, usZurich, usZug, []]);
    expect(segments[0]).toBe(segments[1]);
    expect(segments[2]).not.toBe(segments[0]);
  } finally {
    await store.close();
  }
});
