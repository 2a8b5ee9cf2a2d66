/**
 * `npm run bench -- processors-state`: what the counters' per-event state costs, per store,
 * measured side by side in one run over the very same requests:
 *
 *   processors CPU per event   process.cpuUsage() delta over apply + markCommitted, / events
 *   Redis CPU per event        INFO cpu (used_cpu_sys + used_cpu_user) delta, / events
 *   script calls per batch     INFO commandstats (EVALSHA) delta, / batches
 *   bytes per user / claim     MEMORY USAGE (SAMPLES 0) of every key the store wrote, split into
 *                              user state (users, catalogs) and eventId claims; and the
 *                              INFO used_memory delta per user (claims and allocator included)
 *
 * Stores: the Redis store, the embedded LMDB store (what `npm start` uses: the reference for
 * the Redis path's processors CPU), the in-process store (heap bytes after GC), and a
 * baseline: the least Redis state any de-duplicating consumer needs (one `SET NX` claim per
 * eventId, one set member per user), pipelined the same way.
 *
 * Redis is a private `redis-server` the scenario starts (no persistence), restarted empty
 * between the baseline and the store, so its CPU, command and memory counters hold nothing but
 * the run measured; `--redis-url` measures another server instead.
 *
 * Workload: every user has one impression and one conversion (two metrics, three segment
 * dimensions); each batch is followed by `markCommitted`, as the counter sink does.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Redis } from 'ioredis';
import { createEmbeddedUserStateStore } from '../../processors/state/embedded-store.js';
import { BoundedGroupedMap } from '../../processors/state/bounded-map.js';
import { ClaimTable } from '../../processors/state/claim-table.js';
import { createInProcessUserStateStore } from '../../processors/state/in-process-store.js';
import { APPLY_CHUNK } from '../../processors/state/redis-scripts.js';
import { createRedisUserStateStore } from '../../processors/state/redis-store.js';
import { startPrivateRedis, type PrivateRedis } from '../../processors/state/test-support/private-redis.js';
import type { StateRequest, UserStateStore } from '../../processors/state/types.js';
import { recordPosition } from '../../processors/sequence-number.js';
import { uuidText } from '../../common/event-ids.js';
import { benchEnvironment, type BenchReport, type BenchRow } from '../report.js';
import type { BenchScenario } from '../scenario.js';

const SHARD = 'shardId-000000000000';
/** Issue #20's targets for the Redis path. */
const CPU_RATIO_TARGET = 2;
const BYTES_PER_USER_TARGET = 200;
const BYTES_PER_CLAIM_TARGET = 64;
/**
 * The in-process store's bounds evict in constant time: writes that each evict the oldest entry cost at most this
 * many times the same writes below the bound. Evicting through a fresh Map iterator (`keys().next()`), which walks
 * every deleted slot at the front of the table, made them 38× slower.
 */
const EVICTION_RATIO_TARGET = 3;

function uuid(n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `${randomBytes(4).toString('hex')}-0000-4000-8000-${hex}`;
}

/** Two requests per user (an impression and a purchase), cut into batches of `batchUsers` users. */
function buildBatches(users: number, batchUsers: number, runTag: string): StateRequest[][] {
  const batches: StateRequest[][] = [];
  for (let from = 0; from < users; from += batchUsers) {
    const requests: StateRequest[] = [];
    for (let user = from; user < Math.min(users, from + batchUsers); user++) {
      const segments = [
        ['browser', user % 2 ? 'chrome' : 'safari'],
        ['country', `C${user % 40}`],
        ['device', user % 3 ? 'ios' : 'web'],
      ] as const;
      const base = { experimentId: `bench-${runTag}`, userId: `user-${user}`, segments };
      const sequence = `49590338271490256608559692538361571095921575989136${String(user).padStart(6, '0')}`;
      requests.push(
        {
          ...base,
          eventId: uuid(user * 2),
          position: recordPosition(sequence, 0),
          variantMetric: 'control#$exposure',
          scaledValue: 1_000_000,
        },
        {
          ...base,
          eventId: uuid(user * 2 + 1),
          position: recordPosition(sequence, 1),
          variantMetric: 'control#purchase',
          scaledValue: 19_990_000,
        },
      );
    }
    batches.push(requests);
  }
  return batches;
}

interface Cost {
  wallSeconds: number;
  cpuSeconds: number;
}

/** Applies every batch and marks it committed, as the counter sink does; this process's CPU and wall time. */
async function applyAll(store: UserStateStore, batches: StateRequest[][], progress: (f: number) => void) {
  const epoch = await store.epoch();
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (const [index, batch] of batches.entries()) {
    await store.apply(SHARD, epoch, batch);
    await store.markCommitted(SHARD, (batch[batch.length - 1] as StateRequest).position);
    if (index % 20 === 0) progress(index / batches.length);
  }
  const cpu = process.cpuUsage(cpuBefore);
  return {
    wallSeconds: Number(process.hrtime.bigint() - started) / 1e9,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  } satisfies Cost;
}

/** What a Redis server reports about itself: CPU seconds, used memory, script/command calls. */
async function serverCounters(redis: Redis) {
  const info = String(await redis.call('INFO', 'cpu', 'memory', 'commandstats'));
  const number = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  const calls = (command: string): number =>
    Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return {
    cpuSeconds: number('used_cpu_sys') + number('used_cpu_user'),
    usedMemory: number('used_memory'),
    scriptCalls: calls('evalsha'),
    plainCalls: calls('set') + calls('sadd'),
  };
}

/** MEMORY USAGE of every key under `prefix`, summed by what the key holds (claims, user state, other). */
async function memoryByKind(redis: Redis, prefix: string) {
  const bytes = { claims: 0, users: 0, other: 0 };
  let cursor = '0';
  do {
    const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next.toString();
    if (keys.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const usages = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const usage = Number(usages[i]?.[1] ?? 0);
      // Claims: c:, cl:, cg:; user state: us:, x: (format 1: u:, a:); the rest: epoch, p:, m:.
      const kind = String.fromCharCode(key[prefix.length] ?? 0);
      if (kind === 'c') bytes.claims += usage;
      else if (kind === 'u' || kind === 'x' || kind === 'a') bytes.users += usage;
      else bytes.other += usage;
    });
  } while (cursor !== '0');
  return bytes;
}

async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  for (let round = 0; round < 1_000_000; round++) {
    const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next.toString();
    if (cursor === '0') return;
  }
}

/** The V8 heap in use plus the memory of ArrayBuffers (typed arrays live outside the heap). */
function heapAndBuffers(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

async function baselineRedis(redis: Redis, prefix: string, batches: StateRequest[][]): Promise<Cost> {
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (const batch of batches) {
    const pipeline = redis.pipeline();
    for (const [i, request] of batch.entries()) {
      pipeline.set(`${prefix}c:${request.eventId}`, '1', 'EX', 86_400, 'NX');
      if (i % 2 === 0) pipeline.sadd(`${prefix}users`, request.userId);
    }
    await pipeline.exec();
  }
  const cpu = process.cpuUsage(cpuBefore);
  return { wallSeconds: Number(process.hrtime.bigint() - started) / 1e9, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

const perEventMicros = (seconds: number, events: number): number => (seconds / events) * 1e6;

/** What the in-process store's eventId claims cost when they are most of what it holds. */
interface ClaimsCost {
  cpuSeconds: number;
  /** V8 heap + ArrayBuffers held after a full GC, per claim. */
  bytesPerClaim: number;
  /** What the held claims add to one full collection: its time with them held, less its time once they are gone. */
  fullGcMs: number;
}

/**
 * Claims only, as a long-running in-process store holds them: `claims` fresh eventIds (flat
 * strings, as the compact decoder makes them), `perRecord` events per record, 1,000 users, each
 * batch of 10,000 committed (so no memo stays). Measures the memory and full-GC time the held
 * claims add.
 */
async function inProcessClaimsCost(claims: number, perRecord: number): Promise<ClaimsCost> {
  const BATCH = 10_000;
  const store = createInProcessUserStateStore({ segmentValueCap: 50, maxClaims: claims });
  const epoch = await store.epoch();
  const segments = [['country', 'US']] as const;
  const random = randomBytes(16 * BATCH);
  collectGarbage();
  const before = heapAndBuffers();
  let cpu = 0;
  for (let done = 0; done < claims; done += BATCH) {
    const requests: StateRequest[] = [];
    for (let i = 0; i < Math.min(BATCH, claims - done); i++) {
      const n = done + i;
      // Random leading bytes, the claim's number last: distinct ids, each a flat string of its own.
      const eventId = `${uuidText(random, 16 * i).slice(0, 24)}${n.toString(16).padStart(12, '0')}`;
      requests.push({
        eventId: Buffer.from(eventId, 'latin1').toString('latin1'),
        position: recordPosition(String(1 + Math.floor(n / perRecord)), n % perRecord),
        experimentId: 'claims',
        userId: `user-${n % 1000}`,
        variantMetric: 'control#$exposure',
        segments,
        scaledValue: 1_000_000,
      });
    }
    const cpuBefore = process.cpuUsage();
    await store.apply(SHARD, epoch, requests);
    await store.markCommitted(SHARD, (requests[requests.length - 1] as StateRequest).position);
    const used = process.cpuUsage(cpuBefore);
    cpu += (used.user + used.system) / 1e6;
  }
  collectGarbage();
  const bytes = heapAndBuffers() - before;
  const fullGc = (): number => {
    const started = performance.now();
    collectGarbage();
    return performance.now() - started;
  };
  const withClaims = Math.min(fullGc(), fullGc());
  const held = store.evictions() === 0; // and keeps the store (its claims) alive until here
  await store.close(); // lets the claims go
  collectGarbage();
  const withoutClaims = Math.min(fullGc(), fullGc());
  if (!held) throw new Error('the claims-only store evicted claims: raise maxClaims');
  return { cpuSeconds: cpu, bytesPerClaim: bytes / claims, fullGcMs: withClaims - withoutClaims };
}

/** Milliseconds of `writes` writes into the in-process store's two bounded tables, below their bound and at it. */
interface EvictionCost {
  writes: number;
  withoutEvictionsMs: number;
  withEvictionsMs: number;
}

/**
 * The in-process store's users map (BoundedGroupedMap) and claim table (ClaimTable), `writes` keys each, bounded
 * at `writes` (nothing evicted) and at half of it (each of the last half's writes evicts the oldest entry): the
 * best of three each, alternating, so a machine slowed meanwhile slows both sides alike.
 */
function evictionCost(writes: number): EvictionCost {
  const keys = Array.from({ length: writes }, (_, i) => `user-${i}`);
  const eventIds = Array.from({ length: writes }, (_, i) => uuid(i));
  const fill = (bound: number): number => {
    const started = performance.now();
    const users = new BoundedGroupedMap<string, string, number>(bound);
    const claims = new ClaimTable(bound, 1_000, () => 0);
    for (let i = 0; i < writes; i++) {
      users.set('exp', keys[i] as string, 1);
      claims.claim(eventIds[i] as string, '0@r', i);
    }
    const evictions = writes - bound;
    if (users.evictions !== evictions || claims.evictions !== evictions) {
      throw new Error(
        `expected ${evictions} evictions, got ${users.evictions} (users) and ${claims.evictions} (claims)`,
      );
    }
    return performance.now() - started;
  };
  let withoutEvictionsMs = Infinity;
  let withEvictionsMs = Infinity;
  for (let round = 0; round < 3; round++) {
    withoutEvictionsMs = Math.min(withoutEvictionsMs, fill(writes));
    withEvictionsMs = Math.min(withEvictionsMs, fill(writes / 2));
  }
  return { writes, withoutEvictionsMs, withEvictionsMs };
}

export const processorsStateScenario: BenchScenario = {
  name: 'processors-state',
  description:
    'Exactly-once state per event: processors and Redis CPU, bytes per user and per claim (Redis, LMDB, in-process), with a minimal-claims baseline',
  options: [
    { flags: '--users <n>', description: 'users to load (two events each)', defaultValue: '100000' },
    {
      flags: '--redis-url <url>',
      description:
        'measure this Redis instead of a private redis-server (keys under a random prefix, deleted after; its CPU figures then include other clients)',
    },
    { flags: '--batch-users <n>', description: 'users per state batch (two events each)', defaultValue: '250' },
    {
      flags: '--claims <n>',
      description: 'eventId claims held by the in-process claims-only rows',
      defaultValue: '1000000',
    },
  ],
  async run({ options, progress, command }) {
    const users = Number(options.users ?? 100_000);
    const batchUsers = Number(options.batchUsers ?? 250);
    const heldClaims = Number(options.claims ?? 1_000_000);
    const startedAt = new Date();
    const runTag = randomBytes(4).toString('hex');
    // First, while the heap holds little else: a full collection's time then shows what the claims add.
    const claimsOnly: [number, ClaimsCost][] = [];
    for (const perRecord of [100, 1]) {
      progress(perRecord === 1 ? 0.05 : 0, 'in-process claims only');
      claimsOnly.push([perRecord, await inProcessClaimsCost(heldClaims, perRecord)]);
    }
    progress(0.08, 'in-process evictions');
    const evictions = evictionCost(400_000);
    const evictionRatio = evictions.withEvictionsMs / evictions.withoutEvictionsMs;
    const prefix = `bench-xc-${runTag}:`;
    const privateRedis: PrivateRedis | undefined = options.redisUrl ? undefined : await startPrivateRedis();
    const redisUrl = String(options.redisUrl ?? privateRedis?.url);
    let redis = new Redis(redisUrl);
    const stateDirectory = mkdtempSync(join(tmpdir(), 'bench-state-'));
    const batches = buildBatches(users, batchUsers, runTag);
    const events = 2 * users;
    const claims = events;
    const rows: BenchRow[] = [];
    try {
      // Baseline: bare claims and a user set.
      let before = await serverCounters(redis);
      const baseline = await baselineRedis(redis, `${prefix}base:`, batches);
      let after = await serverCounters(redis);
      await deletePrefix(redis, `${prefix}base:`);
      if (privateRedis) {
        // A fresh server: the baseline's grown keyspace tables would otherwise hide the store's.
        redis.disconnect();
        await privateRedis.restartEmpty();
        redis = new Redis(redisUrl);
      }
      rows.push({
        name: 'baseline: SET NX claim per eventId + SADD user (Redis)',
        metrics: {
          'processors CPU µs/event': perEventMicros(baseline.cpuSeconds, events),
          'Redis CPU µs/event': perEventMicros(after.cpuSeconds - before.cpuSeconds, events),
          'events/s': events / baseline.wallSeconds,
          'Redis commands/batch': (after.plainCalls - before.plainCalls) / batches.length,
          'bytes/user incl. claims': (after.usedMemory - before.usedMemory) / users,
        },
      });
      progress(0.15, 'redis store');

      const store = createRedisUserStateStore({ redisUrl, keyPrefix: prefix, segmentValueCap: 50 });
      await store.epoch(); // outside the measurement: loads the scripts' connection
      before = await serverCounters(redis);
      const redisCost = await applyAll(store, batches, (f) => progress(0.15 + f * 0.4, 'redis store'));
      after = await serverCounters(redis);
      const memory = await memoryByKind(redis, prefix);
      await store.close();
      await deletePrefix(redis, prefix);
      const redisCpuPerEvent = perEventMicros(after.cpuSeconds - before.cpuSeconds, events);
      const bytesPerUser = memory.users / users;
      const bytesPerClaim = memory.claims / claims;
      rows.push({
        name: 'Redis store',
        metrics: {
          'processors CPU µs/event': perEventMicros(redisCost.cpuSeconds, events),
          'Redis CPU µs/event': redisCpuPerEvent,
          'events/s': events / redisCost.wallSeconds,
          'Redis commands/batch': (after.scriptCalls - before.scriptCalls) / batches.length,
          'bytes/user, state (MEMORY USAGE)': bytesPerUser,
          'bytes/claim (MEMORY USAGE)': bytesPerClaim,
          'bytes/user incl. claims': (after.usedMemory - before.usedMemory) / users,
        },
      });

      progress(0.55, 'embedded store');
      const embedded = createEmbeddedUserStateStore({ directory: stateDirectory, segmentValueCap: 50 });
      const embeddedCost = await applyAll(embedded, batches, (f) => progress(0.55 + f * 0.2, 'embedded store'));
      await embedded.close();
      rows.push({
        name: 'embedded store (LMDB, npm start)',
        metrics: {
          'processors CPU µs/event': perEventMicros(embeddedCost.cpuSeconds, events),
          'events/s': events / embeddedCost.wallSeconds,
        },
      });

      progress(0.75, 'in-process store');
      collectGarbage();
      const memoryBefore = heapAndBuffers();
      const local = createInProcessUserStateStore({ segmentValueCap: 50, maxUsers: users * 2, maxClaims: users * 4 });
      const localCost = await applyAll(local, batches, (f) => progress(0.75 + f * 0.25, 'in-process store'));
      collectGarbage();
      const localBytes = heapAndBuffers() - memoryBefore;
      // A full collection with the store's state held: what the state adds to every full GC's marking.
      const gcStarted = performance.now();
      collectGarbage();
      const fullGcMs = performance.now() - gcStarted;
      await local.close();
      rows.push({
        name: 'in-process store (V8 heap + typed arrays)',
        metrics: {
          'processors CPU µs/event': perEventMicros(localCost.cpuSeconds, events),
          'events/s': events / localCost.wallSeconds,
          'bytes/user incl. claims': localBytes / users,
          'full GC ms, state held': fullGcMs,
        },
      });
      for (const [perRecord, claimsCost] of claimsOnly) {
        rows.push({
          name: `in-process store, claims only: ${heldClaims.toLocaleString('en-US')} held, ${perRecord} event${perRecord === 1 ? '' : 's'} per record`,
          metrics: {
            'processors CPU µs/event': perEventMicros(claimsCost.cpuSeconds, heldClaims),
            'bytes/claim (V8 heap + typed arrays)': claimsCost.bytesPerClaim,
            'full GC ms added by the claims': claimsCost.fullGcMs,
          },
        });
      }

      rows.push({
        name: `in-process store bounds: ${evictions.writes.toLocaleString('en-US')} writes of users and claims, half of them evicting`,
        metrics: {
          'ms, bound never reached': evictions.withoutEvictionsMs,
          'ms, bound at half (each later write evicts)': evictions.withEvictionsMs,
          'evicting / not': evictionRatio,
        },
      });

      const cpuRatio = redisCost.cpuSeconds / embeddedCost.cpuSeconds;
      const ratios = {
        'Redis store processors CPU per event / embedded (LMDB)': cpuRatio,
        'Redis store Redis CPU µs per event': redisCpuPerEvent,
        'Redis store events/s / baseline': baseline.wallSeconds / redisCost.wallSeconds,
      };
      return {
        scenario: 'processors-state',
        title: `Exactly-once state: cost per event and bytes per user (${users.toLocaleString('en-US')} users, 2 events each)`,
        command,
        startedAt: startedAt.toISOString(),
        durationMs: Date.now() - startedAt.getTime(),
        environment: benchEnvironment(),
        parameters: {
          users,
          batchUsers,
          claimsOnlyRows: heldClaims,
          eventsPerBatch: 2 * batchUsers,
          requestsPerScriptCall: APPLY_CHUNK,
          redis: privateRedis ? 'private redis-server (no persistence)' : redisUrl.replace(/\/\/.*@/, '//***@'),
          loadAverageAtEnd: Number(loadavg()[0]?.toFixed(1)),
        },
        rows,
        ratios,
        targets: [
          {
            description: `Redis path: processors CPU per event ≤ ${CPU_RATIO_TARGET}× the embedded path`,
            measured: `${cpuRatio.toFixed(2)}×`,
            met: cpuRatio <= CPU_RATIO_TARGET,
          },
          {
            description: `Redis bytes per user (user state) ≤ ${BYTES_PER_USER_TARGET} B`,
            measured: `${bytesPerUser.toFixed(0)} B`,
            met: bytesPerUser <= BYTES_PER_USER_TARGET,
          },
          {
            description: `Redis bytes per eventId claim ≤ ${BYTES_PER_CLAIM_TARGET} B`,
            measured: `${bytesPerClaim.toFixed(0)} B`,
            met: bytesPerClaim <= BYTES_PER_CLAIM_TARGET,
          },
          {
            description: `in-process bounds evict in constant time: writes that evict ≤ ${EVICTION_RATIO_TARGET}× the writes below the bound`,
            measured: `${evictionRatio.toFixed(2)}×`,
            met: evictionRatio <= EVICTION_RATIO_TARGET,
          },
        ],
        notes: [
          'CPU figures are per event over apply + markCommitted of every batch; "processors CPU" is this process (process.cpuUsage: the store client, GC included), "Redis CPU" the server (INFO cpu).',
          `One batch is ${2 * batchUsers} events: the Redis store sends it as one pipeline of script calls of at most ${APPLY_CHUNK} requests, plus one markCommitted script.`,
          'bytes/user, state: the users\' buckets and the experiment catalog (segments fixed at the first event, two running totals); bytes/claim: the eventId claim partitions. MEMORY USAGE counts each key, its value and its keyspace entry; "incl. claims" is the INFO used_memory delta per user (its two claims, allocator and expiry entries included; in-process: the V8 heap and ArrayBuffer delta after a full GC, the claims being typed arrays outside the heap; "full GC ms" is one full collection with that state held).',
          `Claims-only rows: the in-process store holding ${heldClaims.toLocaleString('en-US')} eventId claims of 1,000 users, every batch committed (no memos), as a long-running \`npm start -- --in-memory\` holds them (5,000,000 at most by default): the memory they add (V8 heap + ArrayBuffers after a full GC; the eventId strings are the store's alone here) and what they add to a full collection (its time with them held less its time once the store is closed, best of two each). 100 events per record is the collector's compact records; 1 is plain JSON records.`,
          `Bounds row: ${evictions.writes.toLocaleString('en-US')} writes into the in-process store's users map and claim table, bounded at ${evictions.writes.toLocaleString('en-US')} (nothing evicted) and at half of it (each of the last ${(evictions.writes / 2).toLocaleString('en-US')} writes evicts the oldest entry), best of three each, alternating. Eviction through a fresh Map iterator, which walks every deleted slot at the front of the table, made the evicting writes 38× slower.`,
          'Claims live for the de-dup window (24 h): a claim generation is kept for one to two windows. User state has no TTL: it lives as long as its experiment.',
        ],
      } satisfies BenchReport;
    } finally {
      await deletePrefix(redis, prefix);
      redis.disconnect();
      rmSync(stateDirectory, { recursive: true, force: true });
      await privateRedis?.stop();
    }
  },
};
