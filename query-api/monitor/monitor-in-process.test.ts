/**
 * `npm start` on the embedded database: the query API started with MONITOR_IN_PROCESS runs the
 * monitor on its own pool of one (no second process sharing PGlite's single session). While
 * definition writes with their audit events run concurrently, the monitor records snapshots
 * of every running experiment, and every write survives: each answered write is stored, the
 * audit chain holds one event per write and verifies.
 */
import { afterEach, expect, it } from 'vitest';
import { createDynamoClient } from '../../common/aws-clients.js';
import { createLogger } from '../../common/logger.js';
import { embeddedDatabaseEnv, startEmbeddedPostgres } from '../../local/embedded-postgres.js';
import { ensureCountersTable } from '../../local/provision.js';
import { randomName, testConfig, waitFor } from '../../local/test-support/test-config.js';
import { startQueryApi } from '../start-query-api.js';
import { experimentBody } from '../test-support/test-app.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface LogLine {
  msg: string;
  experiments?: number;
  snapshots?: number;
  failures?: number;
}

it(
  'the query API with MONITOR_IN_PROCESS snapshots running experiments on its pool of one while writes with audit all survive',
  { timeout: 90_000 },
  async () => {
    const postgres = await startEmbeddedPostgres();
    cleanups.push(() => postgres.stop());
    const config = testConfig({
      ...embeddedDatabaseEnv(postgres.url, {}),
      MONITOR_IN_PROCESS: 'true',
      MONITOR_INTERVAL: '5',
      QUERY_API_PORT: '0',
    });
    expect(config.database.poolSize + config.database.maxOverflow).toBe(1);
    const dynamo = createDynamoClient(config);
    cleanups.push(() => Promise.resolve(dynamo.destroy()));
    await ensureCountersTable(dynamo, config.dynamodb.countersTable);
    const lines: LogLine[] = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) },
    });
    const api = await startQueryApi(config, { logger, dynamo });
    cleanups.push(() => api.stop());
    const request = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${api.url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };
    expect(lines.some((line) => line.msg.includes('monitor: watching, inside the query API'))).toBe(true);

    const prefix = randomName('inproc');
    const running = Array.from({ length: 8 }, (_, i) => `${prefix}-running-${i}`);
    for (const key of running) {
      expect((await request('POST', '/api/v1/experiments', experimentBody(key, { status: 'running' }))).status).toBe(
        201,
      );
    }
    const runsBefore = lines.filter((line) => line.msg === 'monitor: run done').length;

    // Writes (creations and updates, each with its audit event; half the creations collide and
    // roll back) in rounds, until the monitor has run over the running experiments meanwhile.
    const created: string[] = [];
    let updates = 0;
    let collisions = 0;
    const unexpected: string[] = [];
    let round = 0;
    await waitFor(
      async () => {
        round++;
        const answers = await Promise.all([
          ...Array.from({ length: 4 }, (_, i) => {
            const key = `${prefix}-w${round}-${i}`;
            return request('POST', '/api/v1/experiments', experimentBody(key)).then((answer) => ({ answer, key }));
          }),
          ...Array.from({ length: 2 }, (_, i) =>
            request('POST', '/api/v1/experiments', experimentBody(running[i]!)).then((answer) => ({ answer, key: '' })),
          ),
          ...Array.from({ length: 2 }, (_, i) =>
            request('PATCH', `/api/v1/experiments/${running[(round + i) % running.length]!}`, {
              name: `renamed ${round}-${i}`,
            }).then((answer) => ({ answer, key: '' })),
          ),
        ]);
        for (const [index, { answer, key }] of answers.entries()) {
          if (index < 4 && answer.status === 201) created.push(key);
          else if (index >= 4 && index < 6 && answer.status === 409) collisions++;
          else if (index >= 6 && answer.status === 200) updates++;
          else unexpected.push(`${index}: ${answer.status} ${JSON.stringify(answer.json)}`);
        }
        const runs = lines.filter((line) => line.msg === 'monitor: run done').slice(runsBefore);
        return runs.some((line) => (line.experiments ?? 0) >= running.length) && round >= 3;
      },
      30_000,
      'a monitor run over the running experiments during the writes',
    );
    expect(unexpected).toEqual([]);
    expect(lines.filter((line) => line.msg.includes('another run holds the lock'))).toEqual([]);
    const runs = lines.filter((line) => line.msg === 'monitor: run done');
    expect(runs.every((line) => line.failures === 0)).toBe(true);

    // Every write survived: creations stored, updates applied, one audit event each, an intact chain.
    for (const key of created) {
      expect((await request('GET', `/api/v1/experiments/${key}`)).status, key).toBe(200);
    }
    const audit = await request('GET', '/api/v1/compliance/verify');
    expect(audit.status).toBe(200);
    expect(audit.json).toMatchObject({
      ok: true,
      events: running.length + created.length + updates,
      failures: [],
    });
    expect(collisions).toBe(2 * round);
    // The monitor recorded a snapshot of every running experiment.
    for (const key of running) {
      const history = await request('GET', `/api/v1/experiments/${key}/results/history?metric=signup`);
      expect(history.status).toBe(200);
      expect((history.json.points as unknown[]).length, key).toBe(1);
    }
  },
);
