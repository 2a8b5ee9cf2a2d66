import { spawn } from 'node:child_process';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { inject } from 'vitest';
import { randomName, testConfig, waitFor } from '../local/test-support/test-config.js';
import { experimentBody } from './test-support/test-app.js';
import { createTestSchema } from '../local/test-support/test-schema.js';
import { startQueryApi } from './start-query-api.js';
import { droppedWithin, openUnusedConnection, settlesWithin } from '../common/test-support/idle-connections.js';

describe('startQueryApi', () => {
  it('refuses to start without DATABASE_URL, naming it (no embedded fallback outside npm start)', async () => {
    const config = testConfig({ QUERY_API_PORT: '0', API_KEYS: 'launcher-key' });
    expect(config.database.url).toBeUndefined();
    await expect(startQueryApi(config)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('DATABASE_URL is not set'),
    });
  });

  it('refuses to start without AUDIT_HMAC_SECRET, naming it, before connecting anything', async () => {
    const config = testConfig({ DATABASE_URL: 'postgres://127.0.0.1:1/none', QUERY_API_PORT: '0' });
    const withoutSecret = { ...config, audit: { previousHmacSecrets: [] } };
    await expect(startQueryApi(withoutSecret)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('AUDIT_HMAC_SECRET is not set'),
    });
  });

  it('serves the API over real HTTP and /metrics only on its own port', async () => {
    const schema = await createTestSchema('start');
    onTestFinished(() => schema.drop());
    const api = await startQueryApi(testConfig({ DATABASE_URL: schema.url, QUERY_API_PORT: '0', API_KEYS: 'k' }));
    try {
      const headers = { 'content-type': 'application/json', 'x-api-key': 'k' };
      const key = randomName('started');
      const created = await fetch(`${api.url}/api/v1/experiments`, {
        method: 'POST',
        headers,
        body: JSON.stringify(experimentBody(key)),
      });
      expect(created.status).toBe(201);
      expect(api.metricsUrl).not.toBe(api.url);
      expect((await fetch(`${api.url}/metrics`, { headers })).status).toBe(404);
      const metrics = await fetch(`${api.metricsUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/query_api_request_duration_seconds_count\{route="\/api\/v1\/experiments"/);
    } finally {
      await api.stop();
    }
    await expect(fetch(`${api.url}/health`)).rejects.toThrow();
    await expect(fetch(`${api.metricsUrl}/metrics`)).rejects.toThrow();
  });

  it('stops at once while a browser holds unused connections (preconnects) to the API and to /metrics', async () => {
    // Before closePromptly (common/http-close.ts) the stop waited for them: minutes, as long as a browser keeps one.
    const schema = await createTestSchema('start');
    onTestFinished(() => schema.drop());
    const api = await startQueryApi(testConfig({ DATABASE_URL: schema.url, QUERY_API_PORT: '0' }));
    const sockets = [await openUnusedConnection(api.url), await openUnusedConnection(api.metricsUrl)];
    onTestFinished(() => sockets.forEach((socket) => socket.destroy()));

    expect(await settlesWithin(api.stop(), 5_000)).toBe('settled');
    expect(await Promise.all(sockets.map((socket) => droppedWithin(socket, 2_000)))).toEqual(['dropped', 'dropped']);
  });
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
        QUERY_API_METRICS_PORT: '0',
        LOG_LEVEL: 'info',
        AUDIT_HMAC_SECRET: 'server-test-audit-secret-0123456789abcdef',
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
      expect(rows.map((row) => row.table_name)).toEqual([
        'audit_chain_head',
        'audit_events',
        'experiments',
        'flags',
        'monitor_alerts',
        'monitor_health_samples',
        'monitor_pipeline_alerts',
        'result_snapshots',
        'schema_migrations',
        'sdk_connections',
      ]);
    } finally {
      await client.end();
    }
  }, 60_000);

  it('exits with code 1 and names DATABASE_URL when it is not set', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      QUERY_API_PORT: '0',
      QUERY_API_METRICS_PORT: '0',
      LOG_LEVEL: 'info',
    };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, ['--import', 'tsx', 'query-api/server.ts'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Were it to start after all, it must not outlive the test.
    onTestFinished(() => void (child.exitCode === null && child.kill('SIGKILL')));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    expect(code).toBe(1);
    expect(output).toContain('DATABASE_URL is not set');
    expect(output).not.toContain('listening');
  }, 60_000);
});
