/**
 * The proof that `npm start` keeps its state: the real launcher (`node --import tsx
 * local/start.ts --data-dir <tmp>`, the whole pipeline with its embedded stand-ins) is
 * SIGKILLed as a whole process group at random points while a producer posts a seeded
 * workload over HTTP (repeat users, 2 experiments × 3 variants, 3 segment dimensions so
 * total, segment and pair cells exist, fractional conversion values, 5% producer retries
 * with the same eventId), restarted on the same data dir each time, and every request that
 * got no 202 is re-sent with the same eventIds. At the end every counter cell in dynalite
 * must equal the ground truth computed independently from the acknowledged events.
 *
 * Two cases: the default (no REDIS_URL: the processors' exactly-once state in the data
 * dir) and REDIS_URL (state in the machine's Redis under a random table's key prefix).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { generateRequests, type WorkloadShape } from '../bench/workload.js';
import { createDynamoClient } from '../common/aws-clients.js';
import { computeExpectedCounters, type CounterTable } from '../processors/test-support/counter-ground-truth.js';
import { readCounters } from '../processors/test-support/read-counters.js';
import { seededRandom } from './test-support/counter-workload.js';
import { freePort } from './stand-ins.js';
import { randomName, waitFor } from './test-support/test-config.js';
import { reportCounterCells } from './test-support/counter-cell-report.js';
import { listeningAddresses, npmStartEnv, startNpmStart, type NpmStartRun } from './test-support/npm-start-process.js';
import { ResendingProducer } from './test-support/resending-producer.js';

const KILLS = 5;
/** New events posted after the last restart (besides the re-sends). */
const FINAL_NEW_EVENTS = 1_000;
const SEGMENT_VALUE_CAP = 50;
/** Counters unchanged for this long, after the last request was acknowledged, means the processors are done. */
const SETTLED_AFTER_MS = 4_000;
const SETTLE_TIMEOUT_MS = 45_000;

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

const workloadShape = (seed: number): WorkloadShape => ({
  seed,
  // An upper bound: the producer stops drawing after the last restart's FINAL_NEW_EVENTS.
  events: 50_000,
  eventsPerRequest: 25,
  users: 300,
  experiments: 2,
  variants: 3,
  // m0 counts conversions (value 1), m1 carries fractional values (two decimals).
  metrics: 2,
  segmentValues: 4,
  segmentDimensions: 3,
  duplicateShare: 0.05,
  malformedShare: 0,
});

/** `waitFor`, whose timeout message is written when it times out (the launcher's latest output, live counts). */
async function waitUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  explain: () => string,
): Promise<T> {
  try {
    return await waitFor(check, timeoutMs);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('timed out')) throw error;
    throw new Error(`${error.message}: ${explain()}`, { cause: error });
  }
}

/**
 * Events the processors finished since their start, whatever the outcome (counted,
 * duplicate, replayed, dead-lettered): `processor_events_out_total`. Undefined until they answer.
 */
async function processedByProcessors(run: NpmStartRun): Promise<number | undefined> {
  try {
    const text = await (await fetch(run.endpoints.processorsMetrics)).text();
    const outcomes = [...text.matchAll(/^processor_events_out_total\{outcome="\w+"\} (\d+)/gm)];
    return outcomes.reduce((total, match) => total + Number(match[1]), 0);
  } catch {
    return undefined;
  }
}

interface KillRecord {
  run: number;
  /** Events acknowledged by the collector after this start and before the kill. */
  ackedSinceStart: number;
  /** Events the processors had finished since this start when the kill was decided. */
  processedSinceStart: number;
  /** POSTs in flight at the kill. */
  inFlight: number;
  extraDelayMs: number;
}

/** Reads the counters until they equal `expected` or stop changing for SETTLED_AFTER_MS (bounded). */
async function settledCounters(run: NpmStartRun, table: string, expected: CounterTable) {
  const dynamo = createDynamoClient({ aws: { region: 'us-east-1', dynamodbEndpoint: run.endpoints.dynamodb } });
  try {
    let last = '';
    let unchangedSince = Date.now();
    let actual: CounterTable = new Map();
    await waitUntil(
      async () => {
        actual = await readCounters(dynamo, table);
        if (reportCounterCells(expected, actual).differing === 0) return true;
        const snapshot = JSON.stringify([...actual.entries()].sort(([a], [b]) => a.localeCompare(b)));
        if (snapshot !== last) {
          last = snapshot;
          unchangedSince = Date.now();
        }
        return Date.now() - unchangedSince >= SETTLED_AFTER_MS;
      },
      SETTLE_TIMEOUT_MS,
      () => `counters equal to the ground truth or unchanged for ${SETTLED_AFTER_MS} ms\n${run.output().slice(-4000)}`,
    );
    return actual;
  } finally {
    dynamo.destroy();
  }
}

interface CaseOptions {
  seed: number;
  table: string;
  env: Record<string, string>;
  /** The banner's state line, given the data dir: where `npm start` put the processors' state. */
  stateLine: (dataDir: string) => string;
  /** The stream's record format the banner must name. */
  recordFormat: 'json' | 'compact';
}

async function killRandomlyWhilePosting(options: CaseOptions) {
  const dataDir = await mkdtemp(join(tmpdir(), 'npm-start-sigkill-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const { table } = options;
  const env = npmStartEnv({
    INGEST_PORT: String(await freePort()),
    QUERY_API_PORT: String(await freePort()),
    QUERY_API_METRICS_PORT: String(await freePort()),
    PROCESSORS_METRICS_PORT: String(await freePort()),
    LISTEN_HOST: '127.0.0.1',
    DYNAMODB_TABLE_NAME: table,
    PROCESSOR_SEGMENT_VALUE_CAP: String(SEGMENT_VALUE_CAP),
    LOG_LEVEL: 'warn',
    ...options.env,
  });
  const random = seededRandom(options.seed);
  const producer = new ResendingProducer(generateRequests(workloadShape(options.seed)), {
    concurrency: 3,
    eventsPerSecond: 600,
  });
  const kills: KillRecord[] = [];
  const startSeconds: number[] = [];
  let current: NpmStartRun | undefined;
  cleanups.push(async () => void (await current?.killGroup()));

  for (let run = 0; run <= KILLS; run++) {
    const startedAt = Date.now();
    current = await startNpmStart({ dataDir, env });
    startSeconds.push((Date.now() - startedAt) / 1000);
    if (run === 0) {
      expect(current.output()).toContain(`  state       ${options.stateLine(dataDir)}\n`);
      expect(current.output()).toContain(`shards, ${options.recordFormat} records)`);
      const addresses = await listeningAddresses(current.pid);
      expect(addresses.length).toBeGreaterThanOrEqual(5);
      expect(addresses.filter((address) => !/^(127\.0\.0\.1|\[::1\]):\d+$/.test(address))).toEqual([]);
    }
    if (run === KILLS) break;
    // The banner waits for the collector and the query API; the processors' consumer may
    // start later. Post once it reads, so the kill finds it at work.
    const live = current;
    await waitUntil(
      async () => (await processedByProcessors(live)) !== undefined,
      30_000,
      () => `run ${run}: processors metrics\n${live.output().slice(-4000)}`,
    );
    // A random kill point: 100–500 events acknowledged since this start and the processors
    // at work, then 0–300 ms more…
    const ackTarget = 100 + Math.floor(random() * 400);
    const extraDelayMs = Math.floor(random() * 300);
    const session = producer.start(live.endpoints.collector);
    let processed = 0;
    await waitUntil(
      async () => {
        if (producer.done) throw new Error(`the workload ran out before kill ${run + 1}: make it larger`);
        processed = (await processedByProcessors(live)) ?? 0;
        return session.acked >= ackTarget && processed > 0;
      },
      30_000,
      () =>
        `run ${run}: ${ackTarget} events acknowledged and the processors at work (acked ${session.acked}, processed ${processed}, ${session.failedPosts} POSTs without 202, last: ${session.lastFailure})\n${live.output().slice(-4000)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, extraDelayMs));
    // …and at a moment a POST is on the wire, so its response never comes and it is re-sent.
    await waitUntil(
      () => session.inFlight > 0,
      10_000,
      () => `run ${run}: a request in flight`,
    );
    const inFlight = session.inFlight;
    const ackedSinceStart = session.acked;
    await live.killGroup();
    await session.stop();
    kills.push({ run, ackedSinceStart, processedSinceStart: processed, inFlight, extraDelayMs });
  }

  // Last start: no kill. The re-sends and FINAL_NEW_EVENTS more, then let the processors finish.
  const last = current as NpmStartRun;
  const drawTarget = producer.drawn + FINAL_NEW_EVENTS;
  const session = producer.start(last.endpoints.collector, { maxNewEvents: FINAL_NEW_EVENTS });
  await waitUntil(
    () => producer.unacknowledged === 0 && session.inFlight === 0 && (producer.drawn >= drawTarget || producer.done),
    60_000,
    () => `every request acknowledged (${JSON.stringify(producer.totals)}, last failure: ${session.lastFailure})`,
  );
  await session.stop();
  const expected = computeExpectedCounters(producer.accepted, { segmentValueCap: SEGMENT_VALUE_CAP });
  const actual = await settledCounters(last, table, expected);
  expect(await last.stop()).toBe(0);
  return { kills, expected, actual, totals: producer.totals, startSeconds };
}

function expectProof(result: Awaited<ReturnType<typeof killRandomlyWhilePosting>>): void {
  const { kills, expected, actual, totals, startSeconds } = result;
  // The kills landed while events were flowing, and the processors were at work each time.
  expect(kills).toHaveLength(KILLS);
  for (const kill of kills) {
    expect(kill.ackedSinceStart, JSON.stringify(kill)).toBeGreaterThan(0);
    expect(kill.processedSinceStart, JSON.stringify(kill)).toBeGreaterThan(0);
    expect(kill.inFlight, JSON.stringify(kill)).toBeGreaterThan(0);
  }
  // Requests cut off by the kills were re-sent (same eventIds) and acknowledged after a restart.
  expect(totals.resentAndAcked).toBeGreaterThan(0);
  expect(totals.rejected).toBe(0);
  // The ground truth has every kind of cell.
  const report = reportCounterCells(expected, actual);
  expect(report.byKind.total.expected).toBeGreaterThan(0);
  expect(report.byKind.segment.expected).toBeGreaterThan(0);
  expect(report.byKind.pair.expected).toBeGreaterThan(0);
  const context = `${report.text}\nkills: ${JSON.stringify(kills)}\nproducer: ${JSON.stringify(totals)}\nstart-up seconds: ${startSeconds.join(', ')}`;
  console.info(`npm start SIGKILL proof: ${report.differing} differing cells; ${context}`);
  expect(report.differing, context).toBe(0);
}

describe('npm start SIGKILLed as a whole process group while events flow (real launcher, stand-ins, HTTP)', () => {
  it(
    `default store (no REDIS_URL), compact records: ${KILLS} kills and restarts on one data dir, every counter cell equals the ground truth`,
    { timeout: 360_000 },
    async () => {
      const table = randomName('counters');
      const stateLine = (dataDir: string) => `embedded, ${join(dataDir, 'state')}`;
      expectProof(
        await killRandomlyWhilePosting({ seed: 20_261_125, table, env: {}, stateLine, recordFormat: 'compact' }),
      );
    },
  );

  it(
    `REDIS_URL, JSON records: ${KILLS} kills and restarts on one data dir, every counter cell equals the ground truth`,
    { timeout: 360_000 },
    async () => {
      const redisUrl = inject('redisUrl');
      // The state key prefix is `xc:{<DYNAMODB_TABLE_NAME>}:`: a random table keeps runs apart.
      const table = randomName('counters');
      cleanups.push(async () => {
        const redis = new Redis(redisUrl);
        const keys = await redis.keys(`xc:{${table}}:*`);
        if (keys.length > 0) await redis.del(...keys);
        await redis.quit();
      });
      const stateLine = () => 'redis (REDIS_URL)';
      expectProof(
        await killRandomlyWhilePosting({
          seed: 20_261_126,
          table,
          env: { REDIS_URL: redisUrl, INGEST_RECORD_FORMAT: 'json' },
          stateLine,
          recordFormat: 'json',
        }),
      );
    },
  );
});
