/**
 * The embedded store at its edges: the binary form where a length, a count or the scratch
 * buffer changes shape, the reader's string cache when two strings share a slot, the memos a
 * read skips, the claim window at its exact end and the sweep at its budget. Each case once
 * let a mutant of embedded-store.ts survive (`npm run mutate`).
 */
import { asBinary } from 'lmdb';
import { expect, it } from 'vitest';
import { recordPosition } from '../sequence-number.js';
import { createEmbeddedUserStateStore } from './embedded-store.js';
import { compactPosition } from './record-identity.js';
import { newDirectory, withEnvironment } from './test-support/embedded-directories.js';
import type { StateRequest, UserStateStore } from './types.js';
import { applyOutcomes } from './test-support/apply-outcomes.js';

const SHARD = 'shardId-000000000000';
const eventId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const position = (n: number) => recordPosition(String(n), 0);
/** The identity shard 0 stores for record `n` (claims, memos). */
const identity = (n: number) => `0@${compactPosition(position(n))}`;

/** Runs `work` on the store, then closes it (so the directory can be opened directly). */
async function withStore<T>(store: UserStateStore, work: (store: UserStateStore) => Promise<T>): Promise<T> {
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** Event `n` of shard 0's record `n`. */
const request = (n: number, partial: Partial<StateRequest> = {}): StateRequest => ({
  eventId: eventId(n),
  position: position(n),
  experimentId: 'exp',
  userId: 'ann',
  variantMetric: 'v#m',
  segments: [['country', 'US']],
  scaledValue: 3_000_000,
  ...partial,
});

/** What an applied outcome of a user without covariates, for a request without partners, also holds. */
const NONE = { covariates: [], partnerTotals: [] };

/**
 * Writes `segments` for a user, then reads them back in a later call (users are read from
 * LMDB at every call): the replay answers the segments as read, the next event continues the total.
 */
async function roundTripSegments(segments: readonly (readonly [string, string])[]): Promise<unknown> {
  const store = createEmbeddedUserStateStore({ directory: await newDirectory() });
  try {
    const epoch = await store.epoch();
    await applyOutcomes(store, SHARD, epoch, [request(1, { segments })]);
    return await applyOutcomes(store, SHARD, epoch, [request(1, { segments }), request(2, { segments })]);
  } finally {
    await store.close();
  }
}

it('embedded store: keeps a user larger than its 4 KiB scratch buffer, with strings of exactly 128 bytes and long ones after shorter data', async () => {
  const segments = [
    ['a', 'x'.repeat(1_500)],
    ['b', 'é'.repeat(100)], // 200 bytes, written at byte ~1,500: its bytes are moved past a two-byte length
    ['c', 'y'.repeat(128)], // the first length that takes two bytes (0x80 0x01)
    ['d', '€'.repeat(1_400)], // 4,200 bytes: runs past the first 4,096 bytes of the buffer
  ] as const;
  expect(await roundTripSegments(segments)).toEqual([
    { ...NONE, kind: 'applied', replay: true, segments, totalBefore: undefined },
    { ...NONE, kind: 'applied', replay: false, segments, totalBefore: 3_000_000 },
  ]);
});

it('embedded store: keeps a string of three-byte characters that ends just past the end of the scratch buffer', async () => {
  // 0xc1, the segment count (578: two bytes), 576 segments of 'dNNN' and 'x' (5 + 2 bytes each),
  // then 't' (2 bytes): the value starts at byte 3 + 576 × 7 + 2 = 4,037 and needs 1 + 60 bytes,
  // 2 more than the 4,096 the writer starts with. Room must be made for the worst case (3 bytes
  // per UTF-16 unit plus the length), or the value is cut at the buffer's end.
  const padding = Array.from({ length: 576 }, (_, i) => [`d${String(i).padStart(3, '0')}`, 'x'] as const);
  const segments = [...padding, ['t', '€'.repeat(20)] as const];
  expect(await roundTripSegments(segments)).toEqual([
    { ...NONE, kind: 'applied', replay: true, segments, totalBefore: undefined },
    { ...NONE, kind: 'applied', replay: false, segments, totalBefore: 3_000_000 },
  ]);
});

/**
 * The reader keeps short ASCII strings in 4,096 slots by a hash of their bytes. Strings that
 * share a slot (found by search) must never be taken for one another, and strings of other
 * characters must never be read as Latin-1.
 */
it("embedded store: reads back strings that share a slot of the reader's string cache, and short non-ASCII strings, as written", async () => {
  const segments = [
    ['k1', 'USamy'], // shares a slot with 'US' (and starts with it)
    ['k2', 'US'],
    ['k3', 'abc'], // shares a slot with 'gfq': same length, no character in common
    ['k4', 'gfq'],
    ['k5', 'b\u0003z'], // shares a slot with 'bP3', and spells the bytes before 'bP3' backwards
    ['kz', 'bP3'],
    ['k6', 'Zürich'],
    ['k7', 'ü'], // no ASCII byte at all
    ['k8', '€€'],
  ] as const;
  expect(await roundTripSegments(segments)).toEqual([
    { ...NONE, kind: 'applied', replay: true, segments, totalBefore: undefined },
    { ...NONE, kind: 'applied', replay: false, segments, totalBefore: 3_000_000 },
  ]);
});

it('embedded store: keeps a user whose first event had no segments without segments, not waiting for some', async () => {
  const store = createEmbeddedUserStateStore({ directory: await newDirectory() });
  try {
    const epoch = await store.epoch();
    await applyOutcomes(store, SHARD, epoch, [request(1, { segments: [] })]);
    // Segments are fixed at the first applied event: [] stays [], read back from LMDB.
    expect(await applyOutcomes(store, SHARD, epoch, [request(2)])).toEqual([
      { ...NONE, kind: 'applied', replay: false, segments: [], totalBefore: 3_000_000 },
    ]);
  } finally {
    await store.close();
  }
});

/** The bytes of a string in the binary form: a one-byte length (under 128 here), then UTF-8. */
const stringBytes = (value: string) => [Buffer.byteLength(value), ...Buffer.from(value)];
/** A scaled integer as this version writes it: tag 2, float64. */
const safeBytes = (value: number) => {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(value);
  return [2, ...bytes];
};
/** A scaled integer as earlier versions wrote it beyond 2^53: tag 3, its decimal digits. */
const decimalBytes = (digits: string) => [3, ...stringBytes(digits)];

it('embedded store: writes scaled integers up to ±(2^53 − 1) as float64 and reads them back exactly', async () => {
  const directory = await newDirectory();
  const covariates = [
    ['a', Number.MAX_SAFE_INTEGER],
    ['b', -Number.MAX_SAFE_INTEGER],
  ] as const;
  const store = createEmbeddedUserStateStore({ directory });
  const epoch = await store.epoch();
  await applyOutcomes(store, SHARD, epoch, [request(1, { covariates })]);
  await store.close();
  await withEnvironment(directory, (root) => {
    expect([...(root.openDB<unknown, string>({ name: 'users' }).getBinary('exp\u001fann') as Buffer)]).toEqual([
      0xc1,
      2,
      ...stringBytes('country'),
      ...stringBytes('US'),
      3,
      ...stringBytes('a'),
      ...safeBytes(Number.MAX_SAFE_INTEGER),
      ...stringBytes('b'),
      ...safeBytes(-Number.MAX_SAFE_INTEGER),
      1,
      ...stringBytes('v#m'),
      ...safeBytes(3_000_000),
      1,
      ...stringBytes(identity(1)),
      0,
      0,
    ]);
  });
  const reopened = createEmbeddedUserStateStore({ directory });
  try {
    expect(await applyOutcomes(reopened, SHARD, epoch, [request(1, { covariates: [] })])).toEqual([
      { ...NONE, kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: undefined, covariates },
    ]);
  } finally {
    await reopened.close();
  }
});

/**
 * A read skips the memos its shard has committed past without decoding them: each field of a
 * skipped memo (a total before of either form, partner totals of every form) must be stepped
 * over exactly, or what follows it is misread. Decimal digits (tag 3) come only from earlier
 * versions, so the user is written by hand in the binary form.
 */
it('embedded store: steps over committed memos with float64 and decimal totals and partner totals, and reads what follows', async () => {
  const directory = await newDirectory();
  const epoch = 'e0000000-0000-4000-8000-000000000000';
  await withEnvironment(directory, (root) => {
    const meta = root.openDB<string, string>({ name: 'meta', encoding: 'string' });
    meta.putSync('epoch', epoch);
    meta.putSync(`p:${SHARD}`, compactPosition(position(2)));
    const user = Buffer.from([
      0xc1,
      2,
      ...stringBytes('country'),
      ...stringBytes('US'),
      0, // no covariates
      2, // totals: v#m, v#z
      ...stringBytes('v#m'),
      ...safeBytes(10_000_000),
      3, // memos 1 and 2 (committed: skipped), 3 (read)
      ...stringBytes(identity(1)),
      ...decimalBytes('12345678901234567890'),
      3, // two partner totals: decimal, float64
      ...decimalBytes('98765432109876543210'),
      ...safeBytes(7),
      ...stringBytes(identity(2)),
      ...safeBytes(1_000_000),
      2, // one partner total: none
      0,
      ...stringBytes(identity(3)),
      ...safeBytes(4_000_000),
      0,
      ...stringBytes('v#z'),
      ...safeBytes(1),
      0,
    ]);
    root.openDB<unknown, string>({ name: 'users' }).putSync('exp\u001fann', asBinary(user));
  });
  const store = createEmbeddedUserStateStore({ directory });
  try {
    const outcomes = await applyOutcomes(store, SHARD, epoch, [
      request(3), // replay: its memo follows two skipped ones
      request(4, { variantMetric: 'v#z', scaledValue: 1 }), // its total follows all three memos
      request(5, { scaledValue: 1 }),
    ]);
    expect(
      outcomes.map((outcome) => (outcome.kind === 'applied' ? [outcome.replay, outcome.totalBefore] : outcome)),
    ).toEqual([
      [true, 4_000_000],
      [false, 1],
      [false, 10_000_000],
    ]);
  } finally {
    await store.close();
  }
});

it("embedded store: keeps another shard's memo whose identity is shorter than the committing shard's tag", async () => {
  const store = createEmbeddedUserStateStore({ directory: await newDirectory() });
  try {
    const epoch = await store.epoch();
    const committing = 'shardId-000123456789'; // prefix '123456789@': 10 bytes
    const fromShard0 = request(1, { variantMetric: 'v#p' }); // identity '0@0110000': 9 bytes
    expect(identity(1).length).toBeLessThan('123456789@'.length);
    await applyOutcomes(store, SHARD, epoch, [fromShard0]);
    await applyOutcomes(store, committing, epoch, [request(1, { eventId: eventId(101) })]);
    await store.markCommitted(committing, position(1));
    // The committing shard reads the user (skipping its own committed memo only) and writes it back.
    await applyOutcomes(store, committing, epoch, [request(2, { eventId: eventId(102), variantMetric: 'v#n' })]);
    expect(await applyOutcomes(store, SHARD, epoch, [fromShard0])).toEqual([
      { ...NONE, kind: 'applied', replay: true, segments: [['country', 'US']], totalBefore: undefined },
    ]);
  } finally {
    await store.close();
  }
});

/** Users as the version before the binary forms wrote them (msgpack, decimal strings), written with `open()`. */
it('embedded store: reads a user of the earlier form for a shard with nothing committed, and writes it back without its committed memos', async () => {
  const directory = await newDirectory();
  const epoch = 'e0000000-0000-4000-8000-000000000000';
  await withEnvironment(directory, (root) => {
    root.openDB<string, string>({ name: 'meta', encoding: 'string' }).putSync('epoch', epoch);
    root
      .openDB<string, string>({ name: 'meta', encoding: 'string' })
      .putSync(`p:${SHARD}`, compactPosition(position(1)));
    const users = root.openDB<unknown, string>({ name: 'users' });
    for (const userId of ['ann', 'bob']) {
      users.putSync(`exp\u001f${userId}`, {
        s: [['country', 'US']],
        t: [
          ['v#x', '1000000', [[identity(1), null]]], // committed (shard 0 is at record 1)
          ['v#m', '3000000', [[identity(2), '0']]],
        ],
      });
    }
  });
  const store = createEmbeddedUserStateStore({ directory });
  try {
    // Shard 1 has committed nothing: ann's memos are read as they are.
    expect(
      await applyOutcomes(store, 'shardId-000000000001', epoch, [request(3, { position: position(3), userId: 'ann' })]),
    ).toEqual([{ ...NONE, kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: 3_000_000 }]);
    // Shard 0 rewrites bob in the binary form, without memo 1, though the call touches v#m only.
    expect(await applyOutcomes(store, SHARD, epoch, [request(4, { userId: 'bob' })])).toEqual([
      { ...NONE, kind: 'applied', replay: false, segments: [['country', 'US']], totalBefore: 3_000_000 },
    ]);
  } finally {
    await store.close();
  }
  await withEnvironment(directory, (root) => {
    const bob = root.openDB<unknown, string>({ name: 'users' }).getBinary('exp\u001fbob') as Buffer;
    expect(bob[0]).toBe(0xc1);
    expect([bob.includes(identity(1)), bob.includes(identity(2)), bob.includes(identity(4))]).toEqual([
      false,
      true,
      true,
    ]);
  });
});

/**
 * A claim is held until its expiry, not at it: `expiresAt > now`, in every store (the
 * in-process ClaimTable drops a claim when `write time + ttl <= now`; the Redis script holds
 * a claim while `claim time + window > now`). A claim beyond the sweep's budget is still on
 * disk at its expiry and is judged by it, in either form.
 */
it('embedded store: holds a claim of the earlier form until its expiry and not at it, beyond the sweep budget', async () => {
  const directory = await newDirectory();
  const epoch = 'e0000000-0000-4000-8000-000000000000';
  const late = 'ffffffff-0000-4000-8000-000000000000'; // its expiry entry sorts after the 2,000 others
  await withEnvironment(directory, (root) => {
    root.openDB<string, string>({ name: 'meta', encoding: 'string' }).putSync('epoch', epoch);
    const claims = root.openDB<[string, number], string>({ name: 'claims' });
    const expiry = root.openDB<null, [number, string]>({ name: 'expiry' });
    root.transactionSync(() => {
      for (let n = 0; n < 2_000; n++) {
        claims.putSync(eventId(n), [identity(n), 60_000]);
        expiry.putSync([60_000, eventId(n)], null);
      }
      claims.putSync(late, [identity(1), 60_000]);
      expiry.putSync([60_000, late], null);
    });
  });
  let clock = 59_999;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  try {
    const retry = request(2, { eventId: late });
    expect(await applyOutcomes(store, SHARD, epoch, [retry])).toEqual([{ kind: 'duplicate' }]);
    clock = 60_000; // the sweep takes the 2,000 claims before it: this one is left on disk, expired
    expect(await applyOutcomes(store, SHARD, epoch, [retry])).toMatchObject([{ kind: 'applied', replay: false }]);
  } finally {
    await store.close();
  }
});

/**
 * The sweep removes at most 2,000 claims per call, over as many expiry entries as that takes
 * (one entry per call that claimed), stops there, and resumes where it stopped at the next call.
 */
it('embedded store: sweeps 2,000 claims over several expiry entries, stops within an entry, and resumes at the next call', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const event = (n: number) => request(n, { userId: `user-${n}` });
  const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => event(from + i));
  const epoch = await store.epoch();
  await applyOutcomes(store, SHARD, epoch, range(0, 1_500)); // entry at 60.000 s
  clock = 1;
  await applyOutcomes(store, SHARD, epoch, range(1_500, 1_500)); // entry at 60.001 s
  clock = 2;
  await applyOutcomes(store, SHARD, epoch, range(3_000, 10)); // entry at 60.002 s
  clock = 60_002; // all three expired: 1,500 + 500 swept, 1,000 + 10 left
  await applyOutcomes(store, SHARD, epoch, [event(5_000)]);
  await store.close();
  const onDisk = () =>
    withEnvironment(directory, (root) => ({
      claims: [...root.openDB<unknown, string>({ name: 'claims' }).getKeys()].length,
      entries: [...root.openDB<string, [number, string]>({ name: 'expiry' }).getRange()].map(({ key, value }) => [
        key[0],
        value.split('\u001f').length,
      ]),
    }));
  expect(await onDisk()).toEqual({
    claims: 1_000 + 10 + 1,
    entries: [
      [60_001, 1_000],
      [60_002, 10],
      [120_002, 1],
    ],
  });
  const reopened = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => 60_003 });
  await applyOutcomes(reopened, SHARD, epoch, [event(5_001)]);
  await reopened.close();
  expect(await onDisk()).toEqual({
    claims: 2,
    entries: [
      [120_002, 1],
      [120_003, 1],
    ],
  });
});

/**
 * Under a sustained load of calls larger than 2,000 requests the claims table must not grow: a
 * call sweeps up to two expired claims per request (at least 2,000). Before, a call swept 2,000
 * whatever its size, and every call of 3,000 left 1,000 expired claims more on disk.
 */
it('embedded store: keeps one window of claims under a sustained load of calls over 2,000 requests (the sweep grows with the call)', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const open = () => createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const epoch = await withStore(open(), (store) => store.epoch());
  const held: number[] = [];
  for (let call = 0; call < 4; call++) {
    clock = call * 60_000; // every earlier call's claims have expired
    const requests = Array.from({ length: 3_000 }, (_, i) => request(call * 3_000 + i, { userId: `user-${i % 500}` }));
    const outcomes = await withStore(open(), (store) => applyOutcomes(store, SHARD, epoch, requests));
    expect(outcomes.every((outcome) => outcome.kind === 'applied')).toBe(true);
    held.push(await withEnvironment(directory, (root) => [...root.openDB({ name: 'claims' }).getKeys()].length));
  }
  // Each call swept all 3,000 claims of the call before it (a budget of 6,000): one call's claims are held.
  expect(held).toEqual([3_000, 3_000, 3_000, 3_000]);
});

/** A call of fewer than 1,000 requests still sweeps 2,000 expired claims (the floor of the budget). */
it('embedded store: a small call sweeps 2,000 expired claims, a call of 1,500 sweeps 3,000', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const epoch = await store.epoch();
  const event = (n: number) => request(n, { userId: `user-${n % 700}` });
  const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => event(from + i));
  await applyOutcomes(store, SHARD, epoch, range(0, 7_000));
  clock = 60_000;
  await applyOutcomes(store, SHARD, epoch, range(10_000, 1)); // sweeps 2,000: 5,000 expired left
  clock = 60_001;
  await applyOutcomes(store, SHARD, epoch, range(20_000, 1_500)); // sweeps 3,000: 2,000 expired left
  await store.close();
  await withEnvironment(directory, (root) => {
    expect([...root.openDB({ name: 'claims' }).getKeys()].length).toBe(2_000 + 1 + 1_500);
  });
});

it('embedded store: sweeps an expiry entry whose claim is already gone (removed by hand)', async () => {
  const directory = await newDirectory();
  const first = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => 0 });
  const epoch = await first.epoch();
  await applyOutcomes(first, SHARD, epoch, [request(1), request(2, { userId: 'bob' })]);
  await first.close();
  await withEnvironment(directory, (root) => root.openDB({ name: 'claims' }).removeSync(eventId(1)));
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => 60_000 });
  try {
    expect(await applyOutcomes(store, SHARD, epoch, [request(3, { userId: 'cid' })])).toMatchObject([
      { kind: 'applied' },
    ]);
  } finally {
    await store.close();
  }
  await withEnvironment(directory, (root) => {
    expect([...root.openDB<unknown, string>({ name: 'claims' }).getKeys()]).toEqual([eventId(3)]);
    expect([...root.openDB({ name: 'expiry' }).getKeys()]).toEqual([[120_000, eventId(3)]]);
  });
});

it('embedded store: a call without requests answers [] and writes nothing (no sweep)', async () => {
  const directory = await newDirectory();
  let clock = 0;
  const store = createEmbeddedUserStateStore({ directory, dedupWindowSeconds: 60, now: () => clock });
  const epoch = await store.epoch();
  await applyOutcomes(store, SHARD, epoch, [request(1)]);
  clock = 60_000;
  expect(await applyOutcomes(store, SHARD, epoch, [])).toEqual([]);
  await store.close();
  await withEnvironment(directory, (root) => {
    expect([...root.openDB<unknown, string>({ name: 'claims' }).getKeys()]).toEqual([eventId(1)]);
  });
});

it('embedded store: close releases the environment: a later call fails with SINK_FAILED', async () => {
  const store = createEmbeddedUserStateStore({ directory: await newDirectory() });
  await store.epoch();
  await store.close();
  await expect(store.epoch()).rejects.toMatchObject({ code: 'SINK_FAILED' });
});

it('embedded store: a user value cut short fails its call with STATE_CORRUPT (not retriable, naming the user) instead of being misread, and other users are still served', async () => {
  const directory = await newDirectory();
  const store = createEmbeddedUserStateStore({ directory });
  const epoch = await store.epoch();
  await applyOutcomes(store, SHARD, epoch, [request(1), request(2, { userId: 'bob' })]);
  await store.close();
  await withEnvironment(directory, (root) => {
    const users = root.openDB<unknown, string>({ name: 'users' });
    const bytes = users.getBinary('exp\u001fann') as Buffer;
    // Cut inside the totals: the last count's bytes say more follows.
    users.putSync('exp\u001fann', asBinary(Buffer.concat([bytes.subarray(0, bytes.length - 2), Buffer.from([0x80])])));
  });
  const reopened = createEmbeddedUserStateStore({ directory });
  try {
    // Before: SINK_FAILED, retriable: the call was retried forever and the shard stalled.
    await expect(applyOutcomes(reopened, SHARD, epoch, [request(3)])).rejects.toMatchObject({
      code: 'STATE_CORRUPT',
      retriable: false,
      message: expect.stringMatching(
        /^the stored state of user ann in experiment exp cannot be read \(.*\): its records are dead-lettered, the other users are counted; see processors\/README.md "Corrupt state"$/,
      ),
      details: { experimentId: 'exp', userId: 'ann' },
      cause: expect.objectContaining({ message: expect.stringContaining('corrupt state') }),
    });
    expect(await applyOutcomes(reopened, SHARD, epoch, [request(4, { userId: 'bob' })])).toMatchObject([
      { kind: 'applied', replay: false, totalBefore: 3_000_000 },
    ]);
  } finally {
    await reopened.close();
  }
});
