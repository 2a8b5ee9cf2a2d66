/**
 * Regenerates the README's screenshot of the results page (query-api/ui/screenshot.png):
 *
 *   npx tsx query-api/ui/test-support/take-screenshot.ts
 *
 * A query API on dynalite and PostgreSQL (DATABASE_URL in a schema of its own, else embedded
 * PGlite), an experiment with three variants, 3,000 simulated users written as counters
 * (../../test-support/simulated-counters.ts), a week of hourly result snapshots for the history chart, then
 * headless Chromium on /ui/experiments/checkout-redesign.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createDynamoClient } from '../../../common/aws-clients.js';
import { loadConfig } from '../../../common/config.js';
import { ensureCountersTable } from '../../../local/provision.js';
import { startStandIn } from '../../../local/stand-ins.js';
import { createQueryApi } from '../../app.js';
import { createDatabase } from '../../db/database.js';
import { runMigrations } from '../../db/migrations.js';
import { createSnapshotStore } from '../../monitor/snapshot-store.js';
import { aggregateUsers, seededRandom, writeCells, type SimulatedUser } from '../../test-support/simulated-counters.js';
import { launchChromium } from './browser.js';
import { startScratchDatabase } from '../../../local/scratch-database.js';

const KEY = 'checkout-redesign';
const OUT = fileURLToPath(new URL('../screenshot.png', import.meta.url));

function simulate(): SimulatedUser[] {
  const random = seededRandom(7);
  const countries = ['US', 'DE', 'FR', 'GB', 'BR'];
  const devices = ['mobile', 'desktop'];
  const lift: Record<string, number> = { control: 0, 'one-page': 0.035, express: -0.01 };
  return Array.from({ length: 3000 }, (_, i) => {
    const variantId = ['control', 'one-page', 'express'][i % 3] as string;
    const bought = random() < 0.12 + (lift[variantId] ?? 0);
    return {
      variantId,
      impressions: 1 + Math.floor(random() * 3),
      segments: {
        country: countries[Math.floor(random() ** 1.6 * countries.length)] as string,
        device: devices[random() < 0.6 ? 0 : 1] as string,
      },
      conversions: {
        purchase: bought ? [1] : [],
        revenue: bought ? [Math.round((40 + random() * 80) * 100) / 100] : [],
      },
    };
  });
}

async function main(): Promise<void> {
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const env = loadConfig(process.env);
    const dynalite = await startStandIn('dynalite');
    cleanups.push(() => dynalite.stop());
    const scratch = await startScratchDatabase(env.database.url, 'ui_screenshot');
    cleanups.push(() => scratch.stop());
    const databaseUrl = scratch.url;
    const config = loadConfig({
      ...process.env,
      AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
      DYNAMODB_TABLE_NAME: 'UiScreenshotCounters',
      DATABASE_URL: databaseUrl,
      API_KEYS: '',
      ADMIN_API_KEYS: '',
      COGNITO_USER_POOL_ID: '',
      COGNITO_CLIENT_ID: '',
      LOG_LEVEL: 'silent',
      AUDIT_HMAC_SECRET: randomBytes(32).toString('hex'),
    });
    const database = createDatabase(config.database);
    cleanups.push(() => database.close());
    await runMigrations(database.writer);
    const dynamo = createDynamoClient(config);
    cleanups.push(() => Promise.resolve(dynamo.destroy()));
    await ensureCountersTable(dynamo, config.dynamodb.countersTable);
    const app = await createQueryApi(config, { database, dynamo });
    cleanups.push(() => app.close());
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/experiments',
      payload: {
        key: KEY,
        name: 'Checkout redesign',
        status: 'running',
        variants: [
          { id: 'control', name: 'Current checkout', weight: 0.34 },
          { id: 'one-page', name: 'One-page checkout', weight: 0.33 },
          { id: 'express', name: 'Express pay first', weight: 0.33 },
        ],
        controlVariantId: 'control',
        metrics: [
          { key: 'purchase', type: 'binomial' },
          { key: 'revenue', type: 'mean' },
        ],
        segmentDimensions: ['country', 'device'],
      },
    });
    if (created.statusCode !== 201) throw new Error(created.body);
    await writeCells(dynamo, config.dynamodb.countersTable, KEY, aggregateUsers(simulate(), Date.now() - 3000));

    // A week of hourly snapshots: the lift of one-page settles near +30 %, express near −8 %.
    const snapshots = createSnapshotStore(database);
    const random = seededRandom(11);
    const hours = 7 * 24;
    for (let h = 0; h < hours; h += 6) {
      const at = new Date(Date.now() - (hours - h) * 3600_000);
      const users = Math.round(40 + (h / hours) * 960);
      const width = 1.4 / Math.sqrt(users / 40);
      const point = (target: number) => {
        const relative = target + (random() - 0.5) * width * 0.6;
        return { relative, interval: [relative - width, relative + width] as [number, number] };
      };
      const variant = (variantId: string, lift: ReturnType<typeof point> | null) => ({
        variantId,
        users,
        mean: 0.12,
        lift,
        pValue: lift ? Math.min(1, Math.max(0.001, 1 - Math.abs(lift.relative) / width)) : null,
        chanceToWin: lift ? 0.5 + lift.relative : null,
      });
      await snapshots.upsert(KEY, at, at, [
        {
          metric: 'purchase',
          variants: [variant('control', null), variant('one-page', point(0.3)), variant('express', point(-0.08))],
        },
      ]);
    }

    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const page = await browser.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${url}/ui/experiments/${KEY}`);
    await page.locator('.history-chart').waitFor();
    await page.screenshot({ path: OUT, fullPage: true });
    process.stdout.write(`wrote ${OUT}\n`);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `screenshot failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
