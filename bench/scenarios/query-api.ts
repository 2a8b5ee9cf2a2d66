/**
 * `npm run bench -- query-api`: latency of results and segment breakdowns for an
 * experiment with 5 variants, 10 metrics and 50 segment values, uncached (every request
 * reads DynamoDB and runs the statistics) and cached, next to a bare Fastify route that
 * returns the same JSON from memory — all in the same run, in this process, against
 * dynalite (counters) and PostgreSQL (DATABASE_URL, else embedded PGlite). The cache is
 * Redis when REDIS_URL is set, else the in-process LRU.
 */
import { randomBytes } from 'node:crypto';
import autocannon, { type Result } from 'autocannon';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { createDynamoClient } from '../../common/aws-clients.js';
import { loadConfig } from '../../common/config.js';
import { EXPOSURE_METRIC } from '../../common/counter-layout.js';
import { ensureCountersTable } from '../../local/provision.js';
import { startStandIn } from '../../local/stand-ins.js';
import { createQueryApi } from '../../query-api/app.js';
import { createMemoryResultsCache, createRedisResultsCache } from '../../query-api/cache/results-cache.js';
import { createDatabase } from '../../query-api/db/database.js';
import { runMigrations } from '../../query-api/db/migrations.js';
import { seededRandom, writeCells, type Cell } from '../../query-api/test-support/simulated-counters.js';
import { recordDynamoReads } from '../../query-api/test-support/dynamo-read-recorder.js';
import { NEVER_CACHE } from '../../query-api/test-support/never-cache.js';
import { benchEnvironment, type BenchReport, type BenchRow } from '../report.js';
import type { BenchScenario } from '../scenario.js';
import { startScratchDatabase } from '../../local/scratch-database.js';

const EXPERIMENT_ID = 'bench-query-api';
const VARIANTS = ['control', 'v1', 'v2', 'v3', 'v4'];
const METRICS = Array.from({ length: 10 }, (_, i) => ({
  key: `metric-${i}`,
  type: i % 2 === 0 ? ('binomial' as const) : ('mean' as const),
}));
const SEGMENT_VALUES = Array.from({ length: 50 }, (_, i) => `country-${String(i).padStart(2, '0')}`);
const LAST_EVENT_AT = Date.parse('2026-11-20T12:00:00Z');
/** Unmeasured requests per connection before each row: JIT and keep-alive sockets, not steady state, would dominate a 40-request row. */
const WARM_UP_REQUESTS_PER_CONNECTION = 3;
/** Issue #20: an uncached results request reads only what the answer needs. */
const UNCACHED_RESULTS_TARGET_MS = 50;

/** Segment cells for every (value, variant, metric), and totals that are their exact sums. */
function buildCells(): Cell[] {
  const random = seededRandom(42);
  const cells: Cell[] = [];
  const totals = new Map<string, Cell>();
  for (const value of SEGMENT_VALUES) {
    for (const variantId of VARIANTS) {
      const exposed = 200 + Math.floor(random() * 4_000);
      const segmentCells: Cell[] = [
        {
          variantId,
          metricKey: EXPOSURE_METRIC,
          events: exposed * 2,
          units: exposed,
          sum: exposed * 2,
          sumSquares: exposed * 4,
        },
        ...METRICS.map((metric): Cell => {
          const units = Math.floor(exposed * (0.05 + random() * 0.3));
          const sum = metric.type === 'binomial' ? units : Math.round(units * (20 + random() * 30));
          return {
            variantId,
            metricKey: metric.key,
            events: units + Math.floor(units / 3),
            units,
            sum,
            sumSquares: sum * 60,
          };
        }),
      ];
      for (const cell of segmentCells) {
        cells.push({ ...cell, segment: { dimension: 'country', value }, lastEventAt: LAST_EVENT_AT });
        const key = `${cell.variantId}#${cell.metricKey}`;
        const total = totals.get(key) ?? {
          variantId,
          metricKey: cell.metricKey,
          events: 0,
          units: 0,
          sum: 0,
          sumSquares: 0,
        };
        totals.set(key, {
          ...total,
          events: total.events + cell.events,
          units: total.units + cell.units,
          sum: total.sum + cell.sum,
          sumSquares: total.sumSquares + cell.sumSquares,
          lastEventAt: LAST_EVENT_AT,
        });
      }
    }
  }
  return [...cells, ...totals.values()];
}

/**
 * Load for `durationSeconds`, or — for slow targets, where a time window would end
 * before enough requests finish — exactly `amount` requests.
 */
async function load(
  url: string,
  connections: number,
  limit: { durationSeconds: number } | { amount: number },
): Promise<Result> {
  return autocannon({
    url,
    connections,
    timeout: 120,
    ...('amount' in limit ? { amount: limit.amount } : { duration: limit.durationSeconds }),
  });
}

const rowOf = (name: string, result: Result, bytes: number): BenchRow => ({
  name,
  metrics: {
    'mean ms': result.latency.mean,
    'p50 ms': result.latency.p50,
    'p99 ms': result.latency.p99,
    'req/s': Math.round(result.requests.average),
    'response KB': Math.round(bytes / 102.4) / 10,
    'non-2xx': result.non2xx + result.errors,
  },
});

export const queryApiScenario: BenchScenario = {
  name: 'query-api',
  description: 'Query API: results and breakdowns (5 variants, 10 metrics, 50 values) cached/uncached vs a bare route',
  options: [
    { flags: '--duration <seconds>', description: 'seconds of load per row', defaultValue: '5' },
    { flags: '--connections <n>', description: 'concurrent HTTP connections per row', defaultValue: '8' },
    { flags: '--uncached-requests <n>', description: 'requests per uncached row', defaultValue: '40' },
  ],
  async run(context): Promise<BenchReport> {
    const startedAt = new Date();
    const durationSeconds = Number(context.options.duration ?? 5);
    const connections = Number(context.options.connections ?? 8);
    const uncachedRequests = Number(context.options.uncachedRequests ?? 40);
    const env = loadConfig(process.env);
    const cleanups: (() => Promise<void>)[] = [];
    try {
      context.progress(0.02, 'starting dynalite and PostgreSQL');
      const dynalite = await startStandIn('dynalite');
      cleanups.push(() => dynalite.stop());
      const scratch = await startScratchDatabase(env.database.url, 'bench_query_api');
      cleanups.push(() => scratch.stop());
      const databaseUrl = scratch.url;
      const config = loadConfig({
        ...process.env,
        AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
        DYNAMODB_TABLE_NAME: 'BenchQueryApiCounters',
        DATABASE_URL: databaseUrl,
        API_KEYS: '',
        LOG_LEVEL: 'silent',
        // The query API signs its audit trail; the bench needs a key, not a kept one.
        AUDIT_HMAC_SECRET: process.env.AUDIT_HMAC_SECRET ?? randomBytes(32).toString('hex'),
      });
      const database = createDatabase(config.database);
      cleanups.push(() => database.close());
      await runMigrations(database.writer);
      await database.writer.query('DELETE FROM experiments WHERE key = $1', [EXPERIMENT_ID]);
      const dynamo = createDynamoClient(config);
      cleanups.push(() => Promise.resolve(dynamo.destroy()));
      await ensureCountersTable(dynamo, config.dynamodb.countersTable, { metricIndex: false });

      context.progress(0.08, 'writing counters');
      const cells = buildCells();
      await writeCells(dynamo, config.dynamodb.countersTable, EXPERIMENT_ID, cells);

      let redis: Redis | undefined;
      if (config.redis.url) {
        redis = new Redis(config.redis.url);
        const client = redis;
        cleanups.push(() => Promise.resolve(client.disconnect()));
      }
      const cache = redis
        ? createRedisResultsCache({ redis, keyPrefix: `bench-qa-${Date.now()}:`, ttlSeconds: 600 })
        : createMemoryResultsCache({ ttlSeconds: 600 });
      const common = { database, dynamo, rateLimitPerMinute: 10_000_000 };
      const uncachedApp = await createQueryApi(config, { ...common, cache: NEVER_CACHE });
      const cachedApp = await createQueryApi(config, { ...common, cache });
      cleanups.push(
        () => uncachedApp.close(),
        () => cachedApp.close(),
      );
      const created = await cachedApp.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        payload: {
          key: EXPERIMENT_ID,
          name: 'Query API bench',
          status: 'running',
          variants: VARIANTS.map((id) => ({ id, weight: 0.2 })),
          controlVariantId: 'control',
          metrics: METRICS,
          segmentDimensions: ['country'],
        },
      });
      if (created.statusCode !== 201) throw new Error(`could not create the bench experiment: ${created.body}`);
      const uncachedUrl = await uncachedApp.listen({ port: 0, host: '127.0.0.1' });
      const cachedUrl = await cachedApp.listen({ port: 0, host: '127.0.0.1' });

      const resultsPath = `/api/v1/experiments/${EXPERIMENT_ID}/results`;
      const segmentsPath = `/api/v1/experiments/${EXPERIMENT_ID}/segments/country?limit=50`;
      const resultsBody = await (await fetch(`${cachedUrl}${resultsPath}`)).text();
      const segmentsBody = await (await fetch(`${cachedUrl}${segmentsPath}`)).text();
      const segmentsObject = JSON.parse(segmentsBody) as { segments: unknown[]; cellsAddUp: boolean };

      // What one uncached request of each kind reads from DynamoDB (requests and cells).
      const recorder = recordDynamoReads(dynamo);
      const readsOf = async (path: string) => {
        recorder.reset();
        const response = await fetch(`${uncachedUrl}${path}`);
        if (response.status !== 200) throw new Error(`uncached ${path} answered ${response.status}`);
        const commands = [...new Set(recorder.reads.map((read) => read.command.replace(/Command$/, '')))];
        return `${recorder.sortKeys().length} cells in ${recorder.reads.length} ${commands.join('/')} requests`;
      };
      const resultsReads = await readsOf(resultsPath);
      const segmentsReads = await readsOf(segmentsPath);
      recorder.remove();

      // The baseline: the same JSON bytes, already in memory, from a bare route (no schema, no auth, no plugins).
      const bare = Fastify();
      bare.get('/results', (_request, reply) => reply.type('application/json').send(resultsBody));
      bare.get('/segments', (_request, reply) => reply.type('application/json').send(segmentsBody));
      cleanups.push(() => bare.close());
      const bareUrl = await bare.listen({ port: 0, host: '127.0.0.1' });

      const timed = { durationSeconds };
      // Uncached requests take long enough that a time window would cut most of them off.
      const counted = { amount: uncachedRequests };
      const plan: [string, string, number, typeof timed | typeof counted][] = [
        ['baseline: bare Fastify route, results JSON from memory', `${bareUrl}/results`, resultsBody.length, timed],
        ['results, cached', `${cachedUrl}${resultsPath}`, resultsBody.length, timed],
        ['results, uncached', `${uncachedUrl}${resultsPath}`, resultsBody.length, counted],
        ['baseline: bare Fastify route, breakdown JSON from memory', `${bareUrl}/segments`, segmentsBody.length, timed],
        ['breakdown (50 values), cached', `${cachedUrl}${segmentsPath}`, segmentsBody.length, timed],
        ['breakdown (50 values), uncached', `${uncachedUrl}${segmentsPath}`, segmentsBody.length, counted],
      ];
      const rows: BenchRow[] = [];
      const measured = new Map<string, Result>();
      for (const [index, [name, url, bytes, limit]] of plan.entries()) {
        context.progress(0.1 + (0.85 * index) / plan.length, name);
        await load(url, connections, { amount: connections * WARM_UP_REQUESTS_PER_CONNECTION });
        const result = await load(url, connections, limit);
        measured.set(name, result);
        rows.push(rowOf(name, result, bytes));
      }
      // autocannon's percentiles are whole milliseconds (a bare route's p50 is often 0): ratios use the mean.
      const mean = (name: string) => measured.get(name)!.latency.mean;
      const notes = [
        `cache: ${redis ? 'Redis (REDIS_URL)' : 'in-process LRU (REDIS_URL unset)'}; PostgreSQL: ${scratch.schema ? `DATABASE_URL, schema ${scratch.schema} (dropped after the run)` : 'embedded PGlite'}; counters: dynalite (${cells.length} cells)`,
        `Uncached = every request reads the counters it needs and runs the statistics (a cache that never stores): results ${resultsReads}; breakdown ${segmentsReads}. Cached = the serialized response from the cache.`,
        'Load generator, API and baseline share this process and the machine; compare rows of one run, not runs across machines.',
        `Each row follows ${WARM_UP_REQUESTS_PER_CONNECTION} unmeasured requests per connection (warm-up).`,
        'A cached request still reads the definition from PostgreSQL (its version is part of the cache key, so a PATCH is visible at once).',
      ];
      const failures = [...measured.entries()].filter(([, r]) => r.non2xx + r.errors > 0).map(([name]) => name);
      if (failures.length > 0) notes.push(`CORRECTNESS FAILURE: non-2xx responses in ${failures.join(', ')}`);
      if (!segmentsObject.cellsAddUp || segmentsObject.segments.length !== SEGMENT_VALUES.length) {
        notes.push('CORRECTNESS FAILURE: the breakdown cells do not add up to the totals');
      }
      return {
        scenario: 'query-api',
        title: 'Query API: results and segment breakdowns, cached and uncached, vs a bare route',
        command: context.command,
        startedAt: startedAt.toISOString(),
        durationMs: Date.now() - startedAt.getTime(),
        environment: benchEnvironment(),
        parameters: {
          variants: VARIANTS.length,
          metrics: METRICS.length,
          segmentValues: SEGMENT_VALUES.length,
          connections,
          durationSecondsPerCachedRow: durationSeconds,
          requestsPerUncachedRow: uncachedRequests,
        },
        rows,
        ratios: {
          'results mean latency: cached / bare route':
            mean('results, cached') / mean('baseline: bare Fastify route, results JSON from memory'),
          'results mean latency: uncached / cached': mean('results, uncached') / mean('results, cached'),
          'breakdown mean latency: cached / bare route':
            mean('breakdown (50 values), cached') / mean('baseline: bare Fastify route, breakdown JSON from memory'),
          'breakdown mean latency: uncached / cached':
            mean('breakdown (50 values), uncached') / mean('breakdown (50 values), cached'),
        },
        targets: [
          {
            description: `results, uncached (${VARIANTS.length} variants, ${METRICS.length} metrics, ${SEGMENT_VALUES.length} segment values, ${connections} connections): mean ≤ ${UNCACHED_RESULTS_TARGET_MS} ms`,
            measured: `${mean('results, uncached').toFixed(1)} ms (${resultsReads})`,
            met: mean('results, uncached') <= UNCACHED_RESULTS_TARGET_MS,
          },
        ],
        notes,
      };
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    }
  },
};
