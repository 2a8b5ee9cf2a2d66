import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { randomName, testConfig, waitFor } from '../local/test-support.js';
import { experimentBody } from './test-app.js';
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
    const child = spawn(process.execPath, ['--import', 'tsx', 'query-api/server.ts'], {
      env: {
        ...process.env,
        DATABASE_URL: inject('postgresUrl'),
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
  }, 60_000);
});
