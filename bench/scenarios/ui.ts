/**
 * `npm run bench -- ui`: the results pages' weight and first render in headless Chromium,
 * for an experiment with 5 variants and 10 metrics (counters written straight into
 * dynalite; PostgreSQL at DATABASE_URL in a schema of its own, else embedded PGlite).
 *
 * - page weight: index.html + script + stylesheet, gzipped and brotli (budget 150 KB gzipped);
 * - first render: navigation start → the results tables are in the page (the page's
 *   `experiments-ui:results-rendered` performance mark), median and p95 of `--runs`
 *   navigations, (a) browser cache off and every results request computed (server cache
 *   bypassed), (b) browser cache on (hashed assets are immutable) and the server cache warm;
 * - baseline in the same run: the same results JSON fetched by the page (`fetch` of
 *   /api/v1/experiments/{id}/results, uncached): what any client pays before it can draw;
 * - the experiments list with `--list` experiments (default 300): navigation start → every
 *   row has its users and verdict, and the number of API requests the page made, server
 *   cache cold (bypassed) and warm.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { createDynamoClient } from '../../common/aws-clients.js';
import { loadConfig } from '../../common/config.js';
import { EXPOSURE_METRIC } from '../../common/counter-layout.js';
import { ensureCountersTable } from '../../local/provision.js';
import { startStandIn } from '../../local/stand-ins.js';
import { createQueryApi } from '../../query-api/app.js';
import { createDatabase } from '../../query-api/db/database.js';
import { runMigrations } from '../../query-api/db/migrations.js';
import { seededRandom, writeCells, type Cell } from '../../query-api/test-support/simulated-counters.js';
import { NEVER_CACHE } from '../../query-api/test-support/never-cache.js';
import { buildUiSite, pageWeightGzipped, UI_PAGE_WEIGHT_BUDGET_BYTES } from '../../query-api/ui/build-ui.js';
import { launchChromium } from '../../query-api/ui/test-support/browser.js';
import { benchEnvironment, type BenchReport, type BenchRow } from '../report.js';
import type { BenchScenario } from '../scenario.js';
import { startScratchDatabase } from '../../local/scratch-database.js';

const EXPERIMENT_ID = 'bench-ui';
const VARIANTS = ['control', 'v1', 'v2', 'v3', 'v4'];
const METRICS = Array.from({ length: 10 }, (_, i) => ({
  key: `metric-${i}`,
  type: i % 2 === 0 ? ('binomial' as const) : ('mean' as const),
}));
/** Issue #15: first render of a 5-variant × 10-metric experiment. */
const FIRST_RENDER_TARGET_MS = 300;
const RENDERED_MARK = 'experiments-ui:results-rendered';
/** Keys of the list page's extra experiments (no events: each still costs its results computation). */
const listKey = (i: number) => `bench-list-${String(i).padStart(4, '0')}`;

/** Total cells for every variant × metric (plus exposures). */
function buildCells(): Cell[] {
  const random = seededRandom(15);
  const lastEventAt = Date.now() - 3000;
  return VARIANTS.flatMap((variantId) => {
    const exposed = 20_000 + Math.floor(random() * 2_000);
    return [
      {
        variantId,
        metricKey: EXPOSURE_METRIC,
        events: exposed * 2,
        units: exposed,
        sum: exposed * 2,
        sumSquares: exposed * 4,
        lastEventAt,
      },
      ...METRICS.map((metric): Cell => {
        const units = Math.floor(exposed * (0.1 + random() * 0.1));
        const sum = metric.type === 'binomial' ? units : Math.round(units * (20 + random() * 5));
        return { variantId, metricKey: metric.key, events: units, units, sum, sumSquares: sum * 30, lastEventAt };
      }),
    ];
  });
}

const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};

const timingRow = (name: string, samples: readonly number[]): BenchRow => ({
  name,
  metrics: { 'median ms': quantile(samples, 0.5), 'p95 ms': quantile(samples, 0.95), runs: samples.length },
});

export const uiScenario: BenchScenario = {
  name: 'ui',
  description:
    'Results pages: page weight (gzipped) and first render of a 5-variant × 10-metric experiment in Chromium',
  options: [
    { flags: '--runs <n>', description: 'navigations per row', defaultValue: '15' },
    { flags: '--list <n>', description: 'experiments on the list page', defaultValue: '300' },
    { flags: '--list-runs <n>', description: 'navigations per list row', defaultValue: '3' },
  ],
  async run(context): Promise<BenchReport> {
    const startedAt = new Date();
    const runs = Number(context.options.runs ?? 15);
    const listSize = Number(context.options.list ?? 300);
    const listRuns = Number(context.options.listRuns ?? 3);
    const env = loadConfig(process.env);
    const cleanups: (() => Promise<void>)[] = [];
    try {
      context.progress(0.02, 'building the pages');
      const site = await buildUiSite();
      const gzipped = pageWeightGzipped(site);
      let brotli = 0;
      let raw = 0;
      for (const file of site.files.values()) {
        if (!/\.(html|js|css)$/.test(file.path)) continue;
        brotli += file.brotli.length;
        raw += file.body.length;
      }

      context.progress(0.08, 'starting dynalite and PostgreSQL');
      const dynalite = await startStandIn('dynalite');
      cleanups.push(() => dynalite.stop());
      const scratch = await startScratchDatabase(env.database.url, 'bench_ui');
      cleanups.push(() => scratch.stop());
      const databaseUrl = scratch.url;
      const config = loadConfig({
        ...process.env,
        AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
        DYNAMODB_TABLE_NAME: 'BenchUiCounters',
        DATABASE_URL: databaseUrl,
        API_KEYS: '',
        ADMIN_API_KEYS: '',
        LOG_LEVEL: 'silent',
        AUDIT_HMAC_SECRET: process.env.AUDIT_HMAC_SECRET ?? randomBytes(32).toString('hex'),
      });
      const database = createDatabase(config.database);
      cleanups.push(() => database.close());
      await runMigrations(database.writer);
      const dynamo = createDynamoClient(config);
      cleanups.push(() => Promise.resolve(dynamo.destroy()));
      await ensureCountersTable(dynamo, config.dynamodb.countersTable, { metricIndex: false });
      await writeCells(dynamo, config.dynamodb.countersTable, EXPERIMENT_ID, buildCells());

      const uncachedApp = await createQueryApi(config, {
        database,
        dynamo,
        cache: NEVER_CACHE,
        rateLimitPerMinute: 100_000,
      });
      const cachedApp = await createQueryApi(config, { database, dynamo, rateLimitPerMinute: 100_000 });
      cleanups.push(
        () => uncachedApp.close(),
        () => cachedApp.close(),
      );
      const created = await uncachedApp.inject({
        method: 'POST',
        url: '/api/v1/experiments',
        payload: {
          key: EXPERIMENT_ID,
          name: 'Bench: 5 variants × 10 metrics',
          status: 'running',
          variants: VARIANTS.map((id) => ({ id, weight: 0.2 })),
          controlVariantId: 'control',
          metrics: METRICS,
        },
      });
      if (created.statusCode !== 201)
        throw new Error(`creating the experiment answered ${created.statusCode}: ${created.body}`);
      context.progress(0.15, `creating ${listSize} more experiments for the list`);
      for (let i = 1; i < listSize; i++) {
        const extra = await uncachedApp.inject({
          method: 'POST',
          url: '/api/v1/experiments',
          payload: {
            key: listKey(i),
            name: `List ${i}`,
            status: i % 3 === 0 ? 'draft' : 'running',
            variants: [
              { id: 'control', weight: 0.5 },
              { id: 'treatment', weight: 0.5 },
            ],
            controlVariantId: 'control',
            metrics: [{ key: 'purchase', type: 'binomial' }],
          },
        });
        if (extra.statusCode !== 201) throw new Error(`creating ${listKey(i)} answered ${extra.statusCode}`);
      }
      const uncachedUrl = await uncachedApp.listen({ port: 0, host: '127.0.0.1' });
      const cachedUrl = await cachedApp.listen({ port: 0, host: '127.0.0.1' });

      context.progress(0.2, 'starting Chromium');
      const browser = await launchChromium();
      cleanups.push(() => browser.close());
      const page = await browser.newPage();
      const cdp = await browser.context.newCDPSession(page);
      const path = `/ui/experiments/${EXPERIMENT_ID}`;
      const firstRender = async (base: string): Promise<number> => {
        await page.goto(`${base}${path}`);
        const handle = await page.waitForFunction(
          (mark) => performance.getEntriesByName(mark)[0]?.startTime,
          RENDERED_MARK,
          { timeout: 30_000 },
        );
        const ms = (await handle.jsonValue()) as number;
        const tables = await page.locator('.totals table.results').count();
        if (tables !== METRICS.length) throw new Error(`rendered ${tables} tables, expected ${METRICS.length}`);
        return ms;
      };

      // Warm-up: JIT in the API, the browser's first start.
      await firstRender(cachedUrl);
      await firstRender(uncachedUrl);

      const baseline: number[] = [];
      const cold: number[] = [];
      const warm: number[] = [];
      await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
      for (let i = 0; i < runs; i++) {
        context.progress(0.25 + (0.35 * i) / runs, 'first render, cold');
        cold.push(await firstRender(uncachedUrl));
        baseline.push(
          await page.evaluate(async (url) => {
            const start = performance.now();
            const response = await fetch(url);
            await response.json();
            return performance.now() - start;
          }, `/api/v1/experiments/${EXPERIMENT_ID}/results?sequential=true`),
        );
      }
      await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
      for (let i = 0; i < runs; i++) {
        context.progress(0.6 + (0.35 * i) / runs, 'first render, warm');
        warm.push(await firstRender(cachedUrl));
      }

      // The list: navigation start → every row has its users and verdict; API requests counted.
      let apiRequests = 0;
      page.on('request', (request) => {
        if (new URL(request.url()).pathname.startsWith('/api/')) apiRequests++;
      });
      const listComplete = async (base: string): Promise<{ ms: number; requests: number }> => {
        apiRequests = 0;
        await page.goto(`${base}/ui/`);
        // A string, evaluated through the DevTools protocol (the CSP forbids eval in the page;
        // this file is type-checked without the DOM library). Polled every 20 ms, bounded.
        const complete = `document.querySelectorAll('tr[data-key]').length === ${listSize} &&
          ![...document.querySelectorAll('td[data-col="users"], td[data-col="verdict"]')].some((c) => c.textContent === '…')
            ? performance.now() : null`;
        const deadline = Date.now() + 120_000;
        for (;;) {
          const ms = await page.evaluate<number | null>(complete);
          if (ms !== null) return { ms, requests: apiRequests };
          if (Date.now() > deadline) throw new Error(`the list of ${listSize} did not complete in 120 s`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      /**
       * Baseline in the same run: what the list did before the summaries route — the definitions,
       * then the results and the change history of every experiment, four experiments at a time.
       */
      const keys = [EXPERIMENT_ID, ...Array.from({ length: listSize - 1 }, (_, i) => listKey(i + 1))];
      const perExperiment = `(async () => {
        const keys = ${JSON.stringify(keys)};
        const start = performance.now();
        await fetch('/api/v1/experiments?limit=200').then((r) => r.json());
        let next = 0;
        const worker = async () => {
          while (next < keys.length) {
            const key = keys[next++];
            await Promise.all([
              fetch('/api/v1/experiments/' + key + '/results').then((r) => r.json()),
              fetch('/api/v1/audit-events?resourceType=experiment&resourceId=' + key + '&limit=50').then((r) => r.json()),
            ]);
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
        return performance.now() - start;
      })()`;
      const listCold: number[] = [];
      const listWarm: number[] = [];
      const listBaseline: number[] = [];
      let listRequests = 0;
      for (let i = 0; i < listRuns; i++) {
        context.progress(0.95, 'experiments list');
        const coldList = await listComplete(uncachedUrl);
        listCold.push(coldList.ms);
        listRequests = coldList.requests;
        listWarm.push((await listComplete(cachedUrl)).ms);
        listBaseline.push(await page.evaluate<number>(perExperiment));
      }

      const coldMedian = quantile(cold, 0.5);
      const rows: BenchRow[] = [
        {
          name: 'page weight (index.html + script + stylesheet)',
          metrics: {
            'gzip KB': Math.round(gzipped / 102.4) / 10,
            'brotli KB': Math.round(brotli / 102.4) / 10,
            'raw KB': Math.round(raw / 102.4) / 10,
          },
        },
        timingRow('baseline: results JSON fetched by the page (uncached)', baseline),
        timingRow('first render: browser cache off, results computed', cold),
        timingRow('first render: browser cache on, server cache warm', warm),
        {
          ...timingRow(
            `baseline: list of ${listSize} with 2 requests per experiment (before), results computed`,
            listBaseline,
          ),
          metrics: { ...timingRow('', listBaseline).metrics, 'API requests': 1 + 2 * listSize },
        },
        {
          ...timingRow(`experiments list of ${listSize}, complete: results computed`, listCold),
          metrics: { ...timingRow('', listCold).metrics, 'API requests': listRequests },
        },
        {
          ...timingRow(`experiments list of ${listSize}, complete: server cache warm`, listWarm),
          metrics: { ...timingRow('', listWarm).metrics, 'API requests': listRequests },
        },
      ];
      return {
        scenario: 'ui',
        title: 'Results pages: page weight and first render (5 variants × 10 metrics, headless Chromium)',
        command: context.command,
        startedAt: startedAt.toISOString(),
        durationMs: Date.now() - startedAt.getTime(),
        environment: benchEnvironment(),
        parameters: { runs, variants: VARIANTS.length, metrics: METRICS.length, listSize, listRuns },
        rows,
        ratios: {
          'first render cold / results JSON fetch (median)': coldMedian / quantile(baseline, 0.5),
          'first render warm / cold (median)': quantile(warm, 0.5) / coldMedian,
          'list with summaries / 2 requests per experiment, results computed (median)':
            quantile(listCold, 0.5) / quantile(listBaseline, 0.5),
        },
        targets: [
          {
            description: `page weight ≤ ${UI_PAGE_WEIGHT_BUDGET_BYTES / 1024} KB gzipped`,
            measured: `${(gzipped / 1024).toFixed(1)} KB`,
            met: gzipped <= UI_PAGE_WEIGHT_BUDGET_BYTES,
          },
          {
            description: `first render of 5 variants × 10 metrics ≤ ${FIRST_RENDER_TARGET_MS} ms (median, cold)`,
            measured: `${coldMedian.toFixed(0)} ms (p95 ${quantile(cold, 0.95).toFixed(0)} ms)`,
            met: coldMedian <= FIRST_RENDER_TARGET_MS,
          },
        ],
        notes: [
          'First render = navigation start → the performance mark the results page sets once all ten tables are in the DOM ' +
            '(HTML with the sign-in settings, script, stylesheet, the definition and the results requests, rendering).',
          'Chromium, the query API, dynalite and PostgreSQL share the machine; the cold row computes the statistics on every request.',
          'List complete = navigation start → every row shows its users and verdict; API requests = requests to /api/ the page made for it.',
          `Load average at the end of the run: ${loadavg()
            .map((l) => l.toFixed(1))
            .join(' / ')} (1 / 5 / 15 min).`,
        ],
      };
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    }
  },
};
