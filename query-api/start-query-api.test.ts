import { spawn } from 'node:child_process';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { inject } from 'vitest';
import { randomName, testConfig, waitFor } from '../local/test-support.js';
import { experimentBody } from './test-app.js';
import { createTestSchema } from './test-database.js';
import { startQueryApi } from './start-query-api.js';

describe('startQueryApi', () => {
  it('runs on an embedded PostgreSQL when DATABASE_URL is unset, over real HTTP, and stops', async () => {
    const config = testConfig({ QUERY_API_PORT: '0', API_KEYS: 'launcher-key' });
    expect(config.database.url).toBeUndefined();
    const api = await startQueryApi(config);
    try {
      expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const key = randomName('embedded');
      const headers = { 'content-type': 'application/json', 'x-api-key': 'launcher-key' };
      const created = await fetch(`${api.url}/api/v1/experiments`, {
        method: 'POST',
        headers,
        body: JSON.stringify(experimentBody(key)),
      });
      expect(created.status).toBe(201);
      const read = await fetch(`${api.url}/api/v1/experiments/${key}`, { headers });
      expect(((await read.json()) as { key: string }).key).toBe(key);
    } finally {
      await api.stop();
    }
    await expect(fetch(`${api.url}/health`)).rejects.toThrow();
    // PGlite compiles its WASM PostgreSQL at start: seconds on a quiet machine, more on a busy one.
  }, 120_000);
});

describe('query-api/server.ts', () => {
  it('migrates, listens, and exits cleanly on SIGTERM', async () => {
    // Its own schema: migrations never touch the shared database's public schema.
    const schema = await createTestSchema('server');
    onTestFinished(() => schema.drop());
    const child = spawn(process.execPath, ['--import', 'tsx', 'query-api/server.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: schema.url,
        AWS_ENDPOINT_URL_DYNAMODB: inject('dynamodbEndpoint'),
        QUERY_API_PORT: '0',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await waitFor(() => output.includes('query API listening'), 30_000, 'the server to listen');
    const address = /"address":"(http:\/\/[^"]+)"/.exec(output)?.[1];
    expect((await fetch(`${address}/health`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"stopped"');
    // The server migrated the schema it was given, not the shared public one.
    const client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1',
      );
      expect(rows.map((row) => row.table_name)).toEqual(['experiments', 'flags', 'schema_migrations']);
    } finally {
      await client.end();
    }
  }, 60_000);
});
