import { createHash } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { isRetriable } from '../../common/errors.js';
import { fnv1a32 } from '../../common/hashing.js';
import { randomName, waitFor } from '../../local/test-support/test-config.js';
import { recordPosition } from '../sequence-number.js';
import type { Logger } from '../../common/logger.js';
import { createInProcessUserStateStore } from './in-process-store.js';
import { compactPosition } from './record-identity.js';
import { APPLY_BATCH_LUA, MARK_COMMITTED_LUA } from './redis-scripts.js';
import { assertNoEviction, createRedisUserStateStore } from './redis-store.js';
import { describeUserStateStoreContract } from './test-support/store-contract.js';
import type { StateRequest, UserStateStore } from './types.js';
import { startPrivateRedis, type PrivateRedis } from './test-support/private-redis.js';
import { bucketKey, storedRedisUser } from './test-support/redis-users.js';
import { stateRequestStream } from './test-support/state-requests.js';
import { applyOutcomes } from './test-support/apply-outcomes.js';

const admin = new Redis(inject('redisUrl'), { lazyConnect: true });
const sha1 = (text: string): string => createHash('sha1').update(text).digest('hex');
afterAll(() => admin.quit());

/** Deletes every key under a test's random prefix (bounded SCAN). */
async function deletePrefix(prefix: string): Promise<void> {
  let cursor = '0';
  for (let round = 0; round < 10_000; round++) {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
    if (cursor === '0') return;
  }
}

describeUserStateStoreContract(
  'Redis store',
  ({ cap, dedupWindowSeconds = 60, userTotalLimit }) => {
    const keyPrefix = `${randomName('test-xc')}:`;
    const store = createRedisUserStateStore({
      redisUrl: inject('redisUrl'),
      keyPrefix,
      segmentValueCap: cap,
      dedupWindowSeconds,
      ...(userTotalLimit === undefined ? {} : { userTotalLimit }),
    });
    return Promise.resolve({
      store,
      // Claims expire by Redis TTL: real time has to pass (the suite waits at most ~2.5 s).
      advanceSeconds: (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000)),
      // What a FLUSHALL, a restart without persistence or a failover to an empty replica leaves behind.
      loseData: () => deletePrefix(keyPrefix),
      cleanUp: async () => {
        await store.close();
        await deletePrefix(keyPrefix);
      },
    });
  },
  { canLoseData: true },
);

describe('Redis store in cluster mode (its own one-node redis-server cluster, like a one-shard MemoryDB)', () => {
  let server: PrivateRedis | undefined;
  const stores: UserStateStore[] = [];
  afterAll(async () => {
    for (const store of stores) await store.close();
    await server?.stop();
  });
  describeUserStateStoreContract(
    'Redis cluster store',
    async ({ cap, dedupWindowSeconds = 60, userTotalLimit }) => {
      server ??= await startPrivateRedis([], true);
      const running = server;
      const keyPrefix = `xc:{${randomName('t')}}:`;
      const store = createRedisUserStateStore({
        redisUrl: running.url,
        cluster: true,
        keyPrefix,
        segmentValueCap: cap,
        dedupWindowSeconds,
        ...(userTotalLimit === undefined ? {} : { userTotalLimit }),
      });
      stores.push(store);
      return {
        store,
        advanceSeconds: (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000)),
        loseData: async () => {
          await running.restartEmpty();
        },
        cleanUp: () => Promise.resolve(),
      };
    },
    { canLoseData: true },
  );

  it('refuses a key prefix without a hash tag in cluster mode', () => {
    expect(() =>
      createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1', cluster: true, keyPrefix: 'xc:table:' }),
    ).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

const request = {
  eventId: '00000000-0000-4000-8000-000000000001',
  position: recordPosition('1', 0),
  experimentId: 'exp',
  userId: 'ann',
  variantMetric: 'v#m',
  segments: [['country', 'US']] as const,
  scaledValue: 1,
};

/** Every key under `prefix`, by name (binary parts as latin1), with its TTL in ms and its encoding. */
async function keysUnder(prefix: string) {
  const found = new Map<string, { pttl: number; encoding: string; key: Buffer }>();
  let cursor = '0';
  do {
    const [next, keys] = await admin.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next.toString();
    for (const key of keys) {
      const encoding = String(await admin.call('OBJECT', 'ENCODING', key));
      found.set(key.toString('latin1').slice(prefix.length), { pttl: await admin.pttl(key), encoding, key });
    }
  } while (cursor !== '0');
  return found;
}

/** Every key under `prefix` with its value (DUMP), to tell that a call wrote nothing. */
async function snapshotUnder(prefix: string): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  for (const [name, { key }] of await keysUnder(prefix))
    values.set(name, (await admin.dumpBuffer(key)).toString('hex'));
  return values;
}

it('Redis store (stored format 3): claims sit in generation partitions that expire; users, catalog and epoch never expire; memos go at commit', async () => {
  const keyPrefix = `${randomName('test-xc')}:`;
  const store = createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix, dedupWindowSeconds: 120 });
  try {
    await applyOutcomes(store, 'shardId-000000000000', await store.epoch(), [request]);
    const keys = await keysUnder(keyPrefix);
    const named = (start: string) => [...keys].filter(([name]) => name.startsWith(start)).map(([, key]) => key);
    expect(named('epoch:3')).toMatchObject([{ pttl: -1 }]);
    expect(named('x:exp')).toMatchObject([{ pttl: -1 }]);
    const [users] = named('us:exp\u001f');
    expect(users).toMatchObject({ pttl: -1, encoding: 'listpack' });
    expect(await admin.hlen(users!.key)).toBe(1);
    // One claim partition and its generation's counter: they expire after one to two windows (+1 s).
    const [claims, generation] = [named('cl:'), named('cg:')];
    expect(claims).toHaveLength(1);
    expect(claims[0]!.encoding).toBe('listpack');
    for (const key of [...claims, ...generation]) {
      expect(key.pttl).toBeGreaterThan(120_000);
      expect(key.pttl).toBeLessThanOrEqual(241_000);
    }
    expect(named('m:shardId-000000000000')).toHaveLength(1); // the memo of the uncommitted record
    await store.markCommitted('shardId-000000000000', request.position);
    const afterCommit = await keysUnder(keyPrefix);
    expect(afterCommit.get('p:shardId-000000000000')).toMatchObject({ pttl: -1 });
    expect(afterCommit.has('m:shardId-000000000000')).toBe(false);
  } finally {
    await store.close();
    await deletePrefix(keyPrefix);
  }
});

it('Redis store: refuses a store written in stored format 1 at start-up, naming the format, and never reads it', async () => {
  const keyPrefix = `${randomName('test-xc')}:`;
  const oldEpoch = '6f1c1f7e-0000-4000-8000-000000000001';
  // What the format-1 store (one script call per event) left: its epoch, a user hash, a claim.
  await admin.set(`${keyPrefix}epoch`, oldEpoch);
  await admin.hset(`${keyPrefix}u:exp\u001fann`, { s: 'country=US', 't:v#m': '1000000', 'm:v#m': '0@1f9l=-' });
  await admin.set(`${keyPrefix}c:claim`, 'token', 'EX', 600);
  const store = createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix });
  try {
    await expect(store.epoch()).rejects.toMatchObject({
      code: 'STATE_LOST',
      retriable: false,
      message: expect.stringMatching(/stored format 1 .*reads stored formats 2 and 3 only/),
      details: { storedFormat: 1, expectedFormat: 3, keyPrefix },
    });
    // The message is the runbook: what to delete, the command that accepts the loss, the keys left behind.
    const refusal = await store.epoch().then(
      () => '',
      (error: Error) => error.message,
    );
    for (const step of [
      `(key ${keyPrefix}epoch)`,
      'Counting stopped. Either run the earlier version against this store, or start the new format empty',
      `delete ${keyPrefix}epoch, then run`,
      '`npm run state -- accept-loss --yes`',
      `format-1 keys (${keyPrefix}u:*, ${keyPrefix}a:*, ${keyPrefix}c:*) are no longer read`,
      'processors/README.md "State loss"',
    ]) {
      expect(refusal).toContain(step);
    }
    // A processor that still holds the old epoch is stopped by every batch, and nothing is written.
    await expect(applyOutcomes(store, 'shardId-000000000000', oldEpoch, [request])).rejects.toMatchObject({
      code: 'STATE_LOST',
    });
    expect([...(await keysUnder(keyPrefix)).keys()].sort()).toEqual(['c:claim', 'epoch', 'u:exp\u001fann']);
    // The runbook's way out (a state loss): delete the format-1 epoch, and the store starts format 2 empty.
    await admin.del(`${keyPrefix}epoch`);
    const fresh = await store.epoch();
    expect(fresh).not.toBe(oldEpoch);
    expect(await applyOutcomes(store, 'shardId-000000000000', fresh, [request])).toMatchObject([
      { kind: 'applied', replay: false, totalBefore: undefined },
    ]);
  } finally {
    await store.close();
    await deletePrefix(keyPrefix);
  }
});

it('Redis store (stored format 3): a user without covariates costs the very bytes of format 2; covariates and partner totals are stored only when there are some', async () => {
  const keyPrefix = `${randomName('test-xc')}:`;
  const store = createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix });
  const shard = 'shardId-000000000000';
  try {
    const epoch = await store.epoch();
    const bob = {
      ...request,
      eventId: '00000000-0000-4000-8000-000000000002',
      position: recordPosition('2', 0),
      userId: 'bob',
      covariates: [['m', -2_500_000]] as const,
      partners: ['v#other', 'v#m'],
    };
    const partnered = {
      ...request,
      eventId: '00000000-0000-4000-8000-000000000003',
      position: recordPosition('3', 0),
      variantMetric: 'v#n',
      scaledValue: 5,
      partners: ['v#m'],
    };
    expect(await applyOutcomes(store, shard, epoch, [request, bob, partnered])).toMatchObject([
      { covariates: [], partnerTotals: [] },
      { covariates: [['m', -2_500_000]], partnerTotals: [undefined, undefined] },
      { covariates: [], partnerTotals: [1], totalBefore: undefined },
    ]);
    // ann: 1 segment (dimension 1, value 1), total of metric 1 = 1 (zig-zag 2), then metric 2 (v#n) = 5: format 2's bytes.
    expect((await admin.hgetBuffer(bucketKey(keyPrefix, 'exp', 'ann'), 'ann'))?.toString('hex')).toBe('0101010102020a');
    // bob: the same segment, a 0 byte, one covariate (id 1, zig-zag 4,999,999), then his total.
    expect((await admin.hgetBuffer(bucketKey(keyPrefix, 'exp', 'bob'), 'bob'))?.toString('hex')).toBe(
      '010101' + '00' + '01' + '01' + 'bf96b102' + '0102',
    );
    const catalog = await admin.hgetall(`${keyPrefix}x:exp`);
    expect(catalog).toMatchObject({ cm: '1', C1: 'm', '#c': '1' });
    // Memos: the total before, then ":<total>" per partner ("-": none) only when the request named partners.
    const memos = Object.values(await admin.hgetall(`${keyPrefix}m:${shard}`));
    const position = (record: StateRequest) => compactPosition(record.position);
    expect(memos).toEqual([`${position(request)}|-,${position(bob)}|-:-:-,${position(partnered)}|-:1`]);
  } finally {
    await store.close();
    await deletePrefix(keyPrefix);
  }
});

it('Redis store: upgrades a stored-format-2 store in place, keeping its epoch, users and memos (an earlier processor then finds no format-2 epoch)', async () => {
  const keyPrefix = `${randomName('test-xc')}:`;
  const shard = 'shardId-000000000000';
  const oldEpoch = '6f1c1f7e-0000-4000-8000-000000000002';
  const position = compactPosition(request.position);
  // What format 2 left after ann's first event (3 units of v#m, not yet committed): written by hand.
  await admin.set(`${keyPrefix}epoch:2`, oldEpoch);
  await admin.hset(`${keyPrefix}x:exp`, {
    'kv#m': '1',
    '#k': '1',
    dcountry: '1',
    D1: 'country',
    '#d': '1',
    'v1:US': '1',
    'V1:1': 'US',
    '#v1': '1',
  });
  await admin.hset(bucketKey(keyPrefix, 'exp', 'ann'), 'ann', Buffer.from('01010101809bee02', 'hex'));
  await admin.hset(`${keyPrefix}m:${shard}`, `${position} ${position}`, `${position}|-`);
  const store = createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix });
  try {
    expect(await store.epoch()).toBe(oldEpoch);
    expect(await admin.get(`${keyPrefix}epoch:3`)).toBe(oldEpoch);
    expect(await admin.exists(`${keyPrefix}epoch:2`)).toBe(0);
    expect(await store.epoch()).toBe(oldEpoch);
    const next = {
      ...request,
      eventId: '00000000-0000-4000-8000-000000000002',
      position: recordPosition('2', 0),
      variantMetric: 'v#n',
      covariates: [['m', 7]] as const,
      partners: ['v#m'],
    };
    expect(await applyOutcomes(store, shard, oldEpoch, [{ ...request, partners: ['v#n'] }, next])).toEqual([
      // The format-2 memo answers the replay; it holds no partner totals, so the partner named now has none.
      {
        kind: 'applied',
        replay: true,
        segments: [['country', 'US']],
        totalBefore: undefined,
        covariates: [],
        partnerTotals: [undefined],
      },
      // ann's segments were fixed by her first event, without covariates: these are ignored.
      {
        kind: 'applied',
        replay: false,
        segments: [['country', 'US']],
        totalBefore: undefined,
        covariates: [],
        partnerTotals: [3_000_000],
      },
    ]);
  } finally {
    await store.close();
    await deletePrefix(keyPrefix);
  }
});

/** The server's clock in ms (claims are timed by it). */
const serverMs = async (): Promise<number> => {
  const [seconds, micros] = (await admin.call('TIME')) as [string, string];
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
};

it('Redis store: a claim made in the previous generation still de-duplicates within the window', async () => {
  const keyPrefix = `${randomName('test-xc')}:`;
  const windowMs = 2000;
  const store = createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix, dedupWindowSeconds: 2 });
  try {
    const epoch = await store.epoch();
    const claimedAt = await serverMs();
    await applyOutcomes(store, 'shardId-000000000000', epoch, [request]);
    // Wait (polling the server clock) until the next generation begins: less than one window after the claim.
    await waitFor(
      async () => Math.floor((await serverMs()) / windowMs) > Math.floor(claimedAt / windowMs),
      5000,
      'the next claim generation',
    );
    const retry = { ...request, position: recordPosition('2', 0) };
    expect(await applyOutcomes(store, 'shardId-000000000000', epoch, [retry])).toEqual([{ kind: 'duplicate' }]);
    expect((await serverMs()) - claimedAt).toBeLessThan(windowMs);
  } finally {
    await store.close();
    await deletePrefix(keyPrefix);
  }
});

it("Redis store: sizes a claim generation's partitions from the previous generation's claim count", async () => {
  const keyPrefix = `${randomName('test-xc')}:`;
  const windowMs = 3_600_000;
  const store = createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix, dedupWindowSeconds: 3600 });
  try {
    const epoch = await store.epoch();
    // 5 M claims in the previous generation (seeded for this one and the one before: a boundary may pass).
    const generation = Math.floor((await serverMs()) / windowMs);
    for (const g of [generation - 1, generation]) await admin.hset(`${keyPrefix}cg:${g}`, 'n', 5_000_000);
    await applyOutcomes(store, 'shardId-000000000000', epoch, [request]);
    const current = Math.floor((await serverMs()) / windowMs);
    // 2^15 partitions of ≤ 256 claims hold 5 M; the first generation of a store gets 2^12.
    expect(await admin.hget(`${keyPrefix}cg:${current}`, 'b')).toBe('15');
    const retry = { ...request, position: recordPosition('2', 0) };
    expect(await applyOutcomes(store, 'shardId-000000000000', epoch, [retry])).toEqual([{ kind: 'duplicate' }]);
  } finally {
    await store.close();
    await deletePrefix(keyPrefix);
  }
});

it('Redis store: refuses a user-total limit its Lua cannot keep exactly', () => {
  expect(() => createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1', userTotalLimit: 2 ** 53 })).toThrow(
    expect.objectContaining({ code: 'CONFIG_INVALID' }),
  );
});

describe('Redis store against its own redis-server', () => {
  let server: PrivateRedis;
  beforeAll(async () => {
    server = await startPrivateRedis();
  });
  afterAll(() => server.stop());

  it('reloads its scripts after SCRIPT FLUSH and answers a replay the same way', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'flush:' });
    try {
      const epoch = await store.epoch();
      const first = await applyOutcomes(store, 'shardId-000000000000', epoch, [request]);
      await store.redis.script('FLUSH');
      const replay = await applyOutcomes(store, 'shardId-000000000000', epoch, [request]);
      expect(replay).toEqual([{ ...first[0], replay: true }]);
    } finally {
      await store.close();
    }
  });

  it('writes the committed position after SCRIPT FLUSH (falls back to EVAL, reloads for the next batch)', async () => {
    // Its own redis-server: SCRIPT FLUSH on the shared Redis would pull the scripts from under other test files.
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'flush-mark:' });
    try {
      const epoch = await store.epoch();
      await applyOutcomes(store, 'shardId-000000000000', epoch, [request]);
      await store.redis.script('FLUSH');
      await store.markCommitted('shardId-000000000000', request.position);
      expect(await store.readCommitted('shardId-000000000000')).toBe(compactPosition(request.position));
      const next = { ...request, eventId: '00000000-0000-4000-8000-000000000002', position: recordPosition('2', 0) };
      expect(await applyOutcomes(store, 'shardId-000000000000', epoch, [next])).toMatchObject([
        { kind: 'applied', replay: false },
      ]);
      const loaded = (await store.redis.script('EXISTS', sha1(MARK_COMMITTED_LUA), sha1(APPLY_BATCH_LUA))) as number[];
      expect(loaded).toEqual([1, 1]);
    } finally {
      await store.close();
    }
  });

  it('sends a 1,200-request batch as 3 script calls in one pipeline, answering exactly as the in-process store', async () => {
    const limits = { segmentValueCap: 5, userTotalLimit: 30_000_000 };
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'chunks:', ...limits });
    const reference = createInProcessUserStateStore(limits);
    const shard = 'shardId-000000000007';
    const requests = stateRequestStream(20, 90);
    const both = async (batch: StateRequest[]) => {
      const [actual, expected] = await Promise.all([
        applyOutcomes(store, shard, await store.epoch(), batch),
        applyOutcomes(reference, shard, await reference.epoch(), batch),
      ]);
      expect(actual).toEqual(expected);
      return actual;
    };
    const scriptCalls = async () =>
      Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(String(await store.redis.call('INFO', 'commandstats')))?.[1] ?? 0);
    try {
      const batch = requests.next(1200);
      await store.epoch();
      const callsBefore = await scriptCalls();
      const first = await both(batch);
      expect(await scriptCalls()).toBe(callsBefore + 3);
      // The workload reaches every outcome, across the chunk boundaries.
      const kinds = new Set(first.map((outcome) => outcome.kind));
      expect([...kinds].sort()).toEqual(['applied', 'duplicate', 'refused']);
      expect(first.some((outcome) => outcome.kind === 'applied' && outcome.segments[0]?.[1] === '(other)')).toBe(true);
      // Redelivered whole: every answer is the memoized one.
      await both(batch);
      // Committed up to the middle of the second chunk, then redelivered: fenced, then replays.
      const middle = batch[700] as StateRequest;
      await Promise.all([store.markCommitted(shard, middle.position), reference.markCommitted(shard, middle.position)]);
      const afterCommit = await both(batch);
      expect(afterCommit.slice(0, 701).every((outcome) => outcome.kind === 'committed')).toBe(true);
      // Everything committed; the next records continue the users' totals and claims.
      const last = batch[batch.length - 1] as StateRequest;
      await Promise.all([store.markCommitted(shard, last.position), reference.markCommitted(shard, last.position)]);
      expect(await store.redis.exists('chunks:m:shardId-000000000007')).toBe(0);
      await both(requests.next(700));
    } finally {
      await store.close();
      await reference.close();
    }
  });

  it('answers a 1,200-request batch with covariates and ratio partners exactly as the in-process store, redelivered and committed midway', async () => {
    const limits = { segmentValueCap: 5, userTotalLimit: 30_000_000 };
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'ratio:', ...limits });
    const reference = createInProcessUserStateStore(limits);
    const shard = 'shardId-000000000008';
    const requests = stateRequestStream(21, 90, { ratio: true });
    const both = async (batch: StateRequest[]) => {
      const [actual, expected] = await Promise.all([
        applyOutcomes(store, shard, await store.epoch(), batch),
        applyOutcomes(reference, shard, await reference.epoch(), batch),
      ]);
      expect(actual).toEqual(expected);
      return actual;
    };
    try {
      const batch = requests.next(1200);
      const first = await both(batch);
      const appliedOutcomes = first.filter((outcome) => outcome.kind === 'applied');
      // The workload reaches users with and without covariates, and partners with and without totals.
      expect(appliedOutcomes.some((outcome) => outcome.covariates.length === 2)).toBe(true);
      expect(appliedOutcomes.some((outcome) => outcome.covariates.length === 0)).toBe(true);
      const partnerTotals = appliedOutcomes.flatMap((outcome) => outcome.partnerTotals);
      expect(partnerTotals.some((total) => total === undefined)).toBe(true);
      expect(partnerTotals.some((total) => total !== undefined && total < 0)).toBe(true);
      expect(partnerTotals.some((total) => total !== undefined && total > 0)).toBe(true);
      // Later records move the partners; the redelivered batch still answers with its memos.
      await both(requests.next(300));
      await both(batch);
      const middle = batch[700] as StateRequest;
      await Promise.all([store.markCommitted(shard, middle.position), reference.markCommitted(shard, middle.position)]);
      await both(batch);
      await both(requests.next(500));
    } finally {
      await store.close();
      await reference.close();
    }
  });

  it('a restart without persistence is STATE_LOST, never a fresh start', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'restart:' });
    try {
      const epoch = await store.epoch();
      await applyOutcomes(store, 'shardId-000000000000', epoch, [request]);
      await server.restartEmpty();
      await expect(applyOutcomes(store, 'shardId-000000000000', epoch, [request])).rejects.toMatchObject({
        code: 'STATE_LOST',
      });
      expect(await store.epoch()).not.toBe(epoch);
    } finally {
      await store.close();
    }
  });

  /** Calls of `command` the server has answered so far (INFO commandstats). */
  const commandCalls = async (redis: Redis | Cluster, command: string): Promise<number> =>
    Number(
      new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(String(await redis.call('INFO', 'commandstats')))?.[1] ??
        0,
    );

  it('keys its state under xc: when given no prefix', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url });
    try {
      const epoch = await store.epoch();
      await applyOutcomes(store, 'shardId-000000000000', epoch, [request]);
      expect(await store.redis.get('xc:epoch:3')).toBe(epoch);
      expect(await store.redis.exists('xc:m:shardId-000000000000')).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('sends a batch of exactly two chunks (1,000 requests) as two script calls', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'two-chunks:' });
    try {
      const epoch = await store.epoch();
      const batch = stateRequestStream(23, 90).next(1000);
      const callsBefore = await commandCalls(store.redis, 'evalsha');
      expect(await applyOutcomes(store, 'shardId-000000000000', epoch, batch)).toHaveLength(1000);
      expect(await commandCalls(store.redis, 'evalsha')).toBe(callsBefore + 2);
    } finally {
      await store.close();
    }
  });

  it('runs the whole batch again when its scripts vanish between two chunks (SCRIPT FLUSH mid-pipeline): the chunk that ran answers with replays', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'flush-midway:' });
    const reference = createInProcessUserStateStore({});
    const shard = 'shardId-000000000000';
    const batch = stateRequestStream(24, 90).next(1000);
    // The first pipeline gets a real SCRIPT FLUSH between its two script calls (its reply is taken out).
    const realPipeline = store.redis.pipeline.bind(store.redis);
    let injected = false;
    (store.redis as { pipeline: () => ReturnType<typeof realPipeline> }).pipeline = () => {
      const pipeline = realPipeline();
      if (injected) return pipeline;
      injected = true;
      const loose = pipeline as unknown as { evalsha: (...args: unknown[]) => unknown };
      const evalsha = loose.evalsha.bind(pipeline);
      let calls = 0;
      loose.evalsha = (...args: unknown[]) => {
        if (++calls === 2) pipeline.script('FLUSH');
        return evalsha(...args);
      };
      const exec = pipeline.exec.bind(pipeline);
      pipeline.exec = async () => {
        const replies = (await exec()) ?? [];
        expect(replies[1]).toEqual([null, 'OK']);
        expect((replies[2]?.[0] as Error | null)?.message).toMatch(/^NOSCRIPT/);
        return [replies[0], ...replies.slice(2)] as Awaited<ReturnType<typeof exec>>;
      };
      return pipeline;
    };
    try {
      const [actual, expected] = await Promise.all([
        applyOutcomes(store, shard, await store.epoch(), batch),
        applyOutcomes(reference, shard, await reference.epoch(), batch),
      ]);
      expect(injected).toBe(true);
      expect(actual).toEqual(
        expected.map((outcome, i) => (i < 500 && outcome.kind === 'applied' ? { ...outcome, replay: true } : outcome)),
      );
      expect(actual.slice(500).some((outcome) => outcome.kind === 'applied' && !outcome.replay)).toBe(true);
    } finally {
      await store.close();
      await reference.close();
    }
  });

  it('fails a batch at once on a script error other than NOSCRIPT: no reload, no second run', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'script-error:' });
    try {
      const epoch = await store.epoch();
      await applyOutcomes(store, 'shardId-000000000000', epoch, [request]); // scripts loaded
      await store.redis.del('script-error:epoch:3');
      await store.redis.rpush('script-error:epoch:3', epoch); // its read fails inside the script
      const [runs, loads] = [
        await commandCalls(store.redis, 'evalsha'),
        await commandCalls(store.redis, 'script\\|load'),
      ];
      await expect(applyOutcomes(store, 'shardId-000000000000', epoch, [request])).rejects.toMatchObject({
        code: 'SINK_FAILED',
        message: expect.stringMatching(/^state script failed: .*WRONGTYPE/),
      });
      expect(await commandCalls(store.redis, 'evalsha')).toBe(runs + 1);
      expect(await commandCalls(store.redis, 'script\\|load')).toBe(loads);
    } finally {
      await store.close();
    }
  });

  it('reports a committed-position write that fails: at once for an error other than NOSCRIPT, and when its EVAL after NOSCRIPT fails', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'mark-fails:' });
    const shard = 'shardId-000000000000';
    try {
      await store.markCommitted(shard, request.position); // scripts loaded
      // The committed position of another type: the script's read of it fails inside Redis.
      await store.redis.del(`mark-fails:p:${shard}`);
      await store.redis.rpush(`mark-fails:p:${shard}`, 'x');
      const evals = await commandCalls(store.redis, 'eval');
      const failure = (): Promise<unknown> =>
        store.markCommitted(shard, recordPosition('2', 0)).then(
          () => undefined,
          (error: unknown) => error,
        );
      const direct = await failure();
      expect(direct).toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        message: 'Redis committed position write failed',
      });
      expect(String((direct as Error).cause)).toMatch(/WRONGTYPE/);
      expect(await commandCalls(store.redis, 'eval')).toBe(evals); // not tried again by EVAL
      await store.redis.script('FLUSH');
      const afterFallback = await failure();
      expect(afterFallback).toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        message: 'Redis committed position write failed',
      });
      expect(String((afterFallback as Error).cause)).toMatch(/WRONGTYPE/);
      expect(await commandCalls(store.redis, 'eval')).toBe(evals + 1);
    } finally {
      await store.close();
    }
  });

  it('fences and replays a batch whose records are out of order exactly as the in-process store', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'out-of-order:' });
    const reference = createInProcessUserStateStore({});
    const shard = 'shardId-000000000000';
    const at = (sequence: string, eventId: string): StateRequest => ({
      ...request,
      eventId,
      position: recordPosition(sequence, 0),
    });
    const [two, five, nine] = [
      at('2', '00000000-0000-4000-8000-000000000002'),
      at('5', '00000000-0000-4000-8000-000000000005'),
      at('9', '00000000-0000-4000-8000-000000000009'),
    ];
    const both = async (batch: StateRequest[]) => {
      const [actual, expected] = await Promise.all([
        applyOutcomes(store, shard, await store.epoch(), batch),
        applyOutcomes(reference, shard, await reference.epoch(), batch),
      ]);
      expect(actual).toEqual(expected);
      return actual;
    };
    try {
      await both([two]);
      await Promise.all([store.markCommitted(shard, two.position), reference.markCommitted(shard, two.position)]);
      // The committed record comes back between two new ones, neither first nor last: fenced, never counted again.
      expect(await both([nine, two, five])).toMatchObject([
        { kind: 'applied', replay: false, totalBefore: 1 },
        { kind: 'committed' },
        { kind: 'applied', replay: false, totalBefore: 2 },
      ]);
      // Redelivered, the batch's largest record (its first) still answers from its memo, as does the last.
      expect(await both([nine])).toMatchObject([{ kind: 'applied', replay: true, totalBefore: 1 }]);
      expect(await both([five])).toMatchObject([{ kind: 'applied', replay: true, totalBefore: 2 }]);
    } finally {
      await store.close();
      await reference.close();
    }
  });

  it('tells a producer retry in another record from a redelivery even when the two claim tokens share their first 32 bits', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'token-collision:' });
    const shard = 'shardId-000000000000';
    // Two records of shard 0 whose identities ("0@<compact position>") collide in FNV-1a 32 (found by search).
    const first = recordPosition('49590338271490256608559692538361571095921575989436687322', 0);
    const second = recordPosition('49590338271490256608559692538361571095921575989607325934', 0);
    expect(fnv1a32(`0@${compactPosition(first)}`)).toBe(fnv1a32(`0@${compactPosition(second)}`));
    try {
      const epoch = await store.epoch();
      expect(await applyOutcomes(store, shard, epoch, [{ ...request, position: first }])).toMatchObject([
        { kind: 'applied', replay: false },
      ]);
      // The same event sent again by its producer, in the other record: a duplicate, not counted twice.
      expect(await applyOutcomes(store, shard, epoch, [{ ...request, position: second }])).toEqual([
        { kind: 'duplicate' },
      ]);
      expect(await applyOutcomes(store, shard, epoch, [{ ...request, position: first }])).toMatchObject([
        { kind: 'applied', replay: true },
      ]);
    } finally {
      await store.close();
    }
  });

  it('forgets an experiment whose users fill more than one SCAN page, every one of them', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'forget-many:' });
    const shard = 'shardId-000000000000';
    const users = 3000; // over 2,000 of the 4,096 user buckets: several pages of SCAN COUNT 1000
    const batch = (sequence: string) =>
      Array.from({ length: users }, (_, i) => ({
        ...request,
        experimentId: 'crowd',
        userId: `user-${i}`,
        eventId: `00000000-0000-4000-8${sequence.padStart(3, '0')}-${String(i).padStart(12, '0')}`,
        position: recordPosition(sequence, i),
      }));
    try {
      const epoch = await store.epoch();
      await applyOutcomes(store, shard, epoch, batch('1'));
      expect(await store.forgetExperiment('crowd')).toBe(users);
      expect(await store.redis.keys('forget-many:us:crowd*')).toEqual([]);
      const again = await applyOutcomes(store, shard, epoch, batch('2'));
      expect(again.every((outcome) => outcome.kind === 'applied' && outcome.totalBefore === undefined)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('closes gracefully: work in flight when close() is called still gets its answer', async () => {
    const store = createRedisUserStateStore({ redisUrl: server.url, keyPrefix: 'close-in-flight:' });
    const pauser = new Redis(server.url, { lazyConnect: true });
    try {
      const epoch = await store.epoch();
      await applyOutcomes(store, 'shardId-000000000000', epoch, [request]); // scripts loaded
      // Redis holds every other client's commands for 300 ms: the batch is sent, its answer pending.
      await pauser.call('CLIENT', 'PAUSE', '300', 'ALL');
      const next = { ...request, eventId: '00000000-0000-4000-8000-000000000002', position: recordPosition('2', 0) };
      const inFlight = applyOutcomes(store, 'shardId-000000000000', epoch, [next]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await store.close();
      await expect(inFlight).resolves.toMatchObject([{ kind: 'applied', replay: false, totalBefore: 1 }]);
    } finally {
      await pauser.quit();
    }
  });
});

it('Redis store: will not start on a Redis that may evict (its own redis-server with volatile-lru)', async () => {
  const evicting = await startPrivateRedis(['--maxmemory-policy', 'volatile-lru']);
  const store = createRedisUserStateStore({ redisUrl: evicting.url });
  try {
    await expect(store.epoch()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: /volatile-lru/ });
  } finally {
    await store.close();
    await evicting.stop();
  }
});

it('Redis store: refuses a Redis that may evict keys, naming the policy', () => {
  expect(() => assertNoEviction('# Memory\r\nmaxmemory_policy:volatile-lru\r\n')).toThrow(/volatile-lru.*noeviction/);
  expect(() => assertNoEviction('# Memory\r\nmaxmemory_policy:allkeys-lru\r\n')).toThrow(
    expect.objectContaining({ code: 'CONFIG_INVALID' }),
  );
  expect(() => assertNoEviction('# Memory\r\nmaxmemory_policy:noeviction\r\n')).not.toThrow();
  expect(() => assertNoEviction('# Memory\r\nmaxmemory_policy:allkeys-lfu\r\n')).toThrow(
    `the state store's Redis runs with maxmemory-policy allkeys-lfu; exactly-once state needs noeviction ` +
      '(a dedicated store, never the results cache: see processors/README.md "State store")',
  );
  // A server that does not report a policy (no such line) is taken: nothing says it evicts.
  expect(() => assertNoEviction('# Memory\r\nused_memory:1048576\r\nmaxmemory:0\r\n')).not.toThrow();
});

it('Redis store: reports an unreachable Redis as a retriable DEPENDENCY_UNAVAILABLE', async () => {
  // Port 1 on loopback: nothing listens there, so every connection attempt is refused.
  const store = createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1', keyPrefix: `${randomName('test-xc')}:` });
  try {
    await expect(store.readCommitted('shardId-000000000000')).rejects.toMatchObject({
      code: 'DEPENDENCY_UNAVAILABLE',
      retriable: true,
    });
  } finally {
    await store.close();
  }
});

describe('Redis store: configuration, failures and lifecycle (real Redis; faults injected on the real client)', () => {
  const SHARD = 'shardId-000000000000';
  const prefixes: string[] = [];
  const newStore = (options: Partial<Parameters<typeof createRedisUserStateStore>[0]> = {}) => {
    const keyPrefix = `${randomName('test-xc')}:`;
    prefixes.push(keyPrefix);
    return createRedisUserStateStore({ redisUrl: inject('redisUrl'), keyPrefix, ...options });
  };
  afterAll(async () => {
    for (const prefix of prefixes) await deletePrefix(prefix);
  });

  it('connects lazily with bounded retries, and in cluster mode takes TLS and ACL credentials from the URL', async () => {
    const plain = createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1' });
    expect(plain.redis).toBeInstanceOf(Redis);
    expect((plain.redis as Redis).options).toMatchObject({ lazyConnect: true, maxRetriesPerRequest: 3 });
    await plain.close();

    const tls = createRedisUserStateStore({
      redisUrl: 'rediss://app%3Auser:p%40ss@memorydb.example:7000',
      cluster: true,
      keyPrefix: 'xc:{t}:',
    });
    expect(tls.redis).toBeInstanceOf(Cluster);
    const cluster = tls.redis as Cluster;
    expect(cluster.options.lazyConnect).toBe(true);
    expect(cluster.options.redisOptions).toEqual({
      maxRetriesPerRequest: 3,
      tls: {},
      username: 'app:user',
      password: 'p@ss',
    });
    expect((cluster as unknown as { startupNodes: unknown }).startupNodes).toEqual([
      { host: 'memorydb.example', port: 7000 },
    ]);
    // Node addresses are used as given (MemoryDB's certificates name the cluster endpoint).
    const looked = await new Promise((resolve) =>
      cluster.options.dnsLookup?.('10.0.0.7', (_error, address) => resolve(address)),
    );
    expect(looked).toBe('10.0.0.7');
    await tls.close();

    const bare = createRedisUserStateStore({
      redisUrl: 'redis://memorydb.example',
      cluster: true,
      keyPrefix: 'xc:{t}:',
    });
    expect((bare.redis as Cluster).options.redisOptions).toEqual({ maxRetriesPerRequest: 3 });
    expect((bare.redis as unknown as { startupNodes: unknown }).startupNodes).toEqual([
      { host: 'memorydb.example', port: 6379 },
    ]);
    await bare.close();
  });

  it('names the prefix in the cluster hash-tag refusal, and keeps totals exactly up to 2^52 (scaled) only', () => {
    expect(() =>
      createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1', cluster: true, keyPrefix: 'xc:table:' }),
    ).toThrow('the state key prefix xc:table: has no {hash tag}');
    const largest = 2 ** 52;
    const store = createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1', userTotalLimit: largest });
    void store.close();
    expect(() => createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1', userTotalLimit: largest + 1 })).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: `userTotalLimit must be an integer from 0 to 2^52 (${largest}, scaled), so running totals stay exact; got ${largest + 1}`,
      }),
    );
  });

  it('logs connection errors to its logger', async () => {
    const warnings: string[] = [];
    const fields: unknown[] = [];
    const logger = {
      warn: (logged: unknown, message: string) => {
        fields.push(logged);
        warnings.push(message);
      },
    } as unknown as Logger;
    const store = createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1', logger });
    try {
      await expect(store.readCommitted(SHARD)).rejects.toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE' });
      expect(warnings).toContain('redis connection error');
      // The error itself, for the operator: what refused the connection.
      expect(fields).toContainEqual({ err: expect.objectContaining({ code: 'ECONNREFUSED' }) });
    } finally {
      store.redis.disconnect();
    }
  });

  it('names the operation that failed, with the cause, on a closed connection; an empty batch too (its epoch is checked)', async () => {
    const store = newStore();
    const epoch = await store.epoch();
    await store.close();
    const failures: [string, () => Promise<unknown>][] = [
      ['Redis epoch read failed', () => store.epoch()],
      ['Redis state update failed', () => applyOutcomes(store, SHARD, epoch, [request])],
      ['Redis state update failed', () => applyOutcomes(store, SHARD, epoch, [])],
      ['Redis committed position read failed', () => store.readCommitted(SHARD)],
      ['Redis committed position write failed', () => store.markCommitted(SHARD, request.position)],
      ['Redis forget experiment failed', () => store.forgetExperiment('exp')],
    ];
    for (const [message, call] of failures) {
      const error = await call().then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toMatchObject({ code: 'DEPENDENCY_UNAVAILABLE', retriable: true, message });
      expect((error as Error).cause).toBeInstanceOf(Error);
    }
    // Closing again is harmless.
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('closes a store that never connected at once, even when its Redis is unreachable', async () => {
    const store = createRedisUserStateStore({ redisUrl: 'redis://127.0.0.1:1' });
    await store.close();
    expect(store.redis.status).toBe('end');
  });

  it('checks the eviction policy again after a failed check', async () => {
    const store = newStore();
    // Connected first: ioredis's own ready check also sends INFO.
    await store.readCommitted(SHARD);
    const realInfo = store.redis.info.bind(store.redis);
    let calls = 0;
    (store.redis as { info: (...args: unknown[]) => Promise<string> }).info = (...args: unknown[]) =>
      ++calls === 1
        ? Promise.reject(new Error('injected INFO failure'))
        : (realInfo as (...a: unknown[]) => Promise<string>)(...args);
    try {
      await expect(store.epoch()).rejects.toMatchObject({
        code: 'DEPENDENCY_UNAVAILABLE',
        message: 'Redis epoch read failed',
      });
      expect(await store.epoch()).toMatch(/^[0-9a-f-]{36}$/);
      expect(calls).toBe(2);
      await store.epoch();
      expect(calls).toBe(2);
    } finally {
      await store.close();
    }
  });

  it('turns a script error into SINK_FAILED naming it', async () => {
    const store = newStore();
    const keyPrefix = prefixes[prefixes.length - 1] as string;
    try {
      const epoch = await store.epoch();
      // The epoch key of another type: the script's read of it fails inside Redis.
      await admin.del(`${keyPrefix}epoch:3`);
      await admin.rpush(`${keyPrefix}epoch:3`, epoch);
      const error = await applyOutcomes(store, SHARD, epoch, [request]).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toMatchObject({
        code: 'SINK_FAILED',
        message: expect.stringMatching(/^state script failed: .*WRONGTYPE/),
      });
      expect((error as Error).cause).toBeInstanceOf(Error);
    } finally {
      await store.close();
    }
  });

  it('refuses a chunk whose stored user does not decode, or names a segment its catalog lacks, with STATE_CORRUPT naming the user, and writes nothing of it', async () => {
    const store = newStore();
    const keyPrefix = prefixes[prefixes.length - 1] as string;
    const ask = (userId: string, n: number): StateRequest => ({
      ...request,
      userId,
      eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
      position: recordPosition(String(n), 0),
      scaledValue: n,
    });
    try {
      const epoch = await store.epoch();
      await applyOutcomes(store, SHARD, epoch, [ask('ann', 1), ask('bob', 2), ask('dan', 3)]);
      const [annKey, annBlob] = await storedRedisUser(admin, keyPrefix, 'exp', 'ann');
      const [danKey, danBlob] = await storedRedisUser(admin, keyPrefix, 'exp', 'dan');
      // ann's bytes cut short (the last says more follows); dan's segments name dimension id 99 instead of 1.
      await admin.hset(annKey, 'ann', Buffer.concat([annBlob.subarray(0, -1), Buffer.from([0x80])]));
      expect([...danBlob.subarray(0, 3)]).toEqual([1, 1, 1]); // one segment: dimension 1 (country), value 1 (US)
      await admin.hset(danKey, 'dan', Buffer.concat([Buffer.from([1, 99, 1]), danBlob.subarray(3)]));

      const before = await snapshotUnder(keyPrefix);
      for (const [userId, why] of [
        ['ann', 'the bytes end inside a number'],
        ['dan', 'segment dimension id 99 is not in the catalog'],
      ] as const) {
        // bob comes first: before, the script claimed his event, then failed (SINK_FAILED, retried without end).
        const error = await applyOutcomes(store, SHARD, epoch, [ask('bob', 4), ask(userId, 5), ask('carol', 6)]).then(
          () => undefined,
          (failure: unknown) => failure,
        );
        expect(error).toMatchObject({
          code: 'STATE_CORRUPT',
          message: expect.stringContaining(
            `the stored state of user ${userId} in experiment exp cannot be read (${why})`,
          ),
          details: { experimentId: 'exp', userId },
        });
        expect(isRetriable(error)).toBe(false);
      }
      expect(await snapshotUnder(keyPrefix)).toEqual(before);
      expect(await applyOutcomes(store, SHARD, epoch, [ask('bob', 4), ask('carol', 6)])).toEqual([
        expect.objectContaining({ kind: 'applied', replay: false, totalBefore: 2 }),
        expect.objectContaining({ kind: 'applied', replay: false, totalBefore: undefined }),
      ]);
    } finally {
      await store.close();
    }
  });

  it('refuses a reply that answers fewer requests than it was given (INTERNAL)', async () => {
    const store = newStore();
    try {
      const epoch = await store.epoch();
      const realPipeline = store.redis.pipeline.bind(store.redis);
      (store.redis as { pipeline: () => ReturnType<typeof realPipeline> }).pipeline = () => {
        const pipeline = realPipeline();
        const exec = pipeline.exec.bind(pipeline);
        pipeline.exec = async () => [...((await exec()) ?? []), [null, 'c']] as Awaited<ReturnType<typeof exec>>;
        return pipeline;
      };
      await expect(applyOutcomes(store, SHARD, epoch, [request])).rejects.toMatchObject({
        code: 'INTERNAL',
        message: 'state script answered 2 of 1 requests',
      });
    } finally {
      await store.close();
    }
  });

  it('forgets an experiment whose id holds glob characters, and not the experiments it would match as a pattern', async () => {
    const store = newStore();
    try {
      const epoch = await store.epoch();
      const ids = ['ex*', 'exA', 'ex?', 'ex[A]', 'ex\\'];
      await applyOutcomes(
        store,
        SHARD,
        epoch,
        ids.map((experimentId, i) => ({
          ...request,
          experimentId,
          eventId: `00000000-0000-4000-8000-00000000010${i}`,
          position: recordPosition('10', i),
        })),
      );
      expect(await store.forgetExperiment('ex*')).toBe(1);
      expect(await store.forgetExperiment('ex?')).toBe(1);
      expect(await store.forgetExperiment('ex[A]')).toBe(1);
      const again = await applyOutcomes(
        store,
        SHARD,
        epoch,
        ids.map((experimentId, i) => ({
          ...request,
          experimentId,
          eventId: `00000000-0000-4000-8000-00000000020${i}`,
          position: recordPosition('20', i),
        })),
      );
      // Forgotten experiments see ann as new; the others still know her total.
      expect(again.map((outcome) => outcome.kind === 'applied' && outcome.totalBefore)).toEqual([
        undefined,
        1,
        undefined,
        undefined,
        1,
      ]);
    } finally {
      await store.close();
    }
  });
});
