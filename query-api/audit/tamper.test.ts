/**
 * Tampering with the stored trail is found by both verify paths: GET
 * /api/v1/compliance/verify over the stored rows, and `npm run audit -- verify <file>` (the
 * real CLI, spawned) over exports in both formats. The tampering is done the way someone
 * with database access would: an UPDATE of one row, a DELETE of another, straight in
 * PostgreSQL (the machine's, a schema of its own).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomName } from '../../local/test-support/test-config.js';
import { startTestApi, type TestApi } from '../test-support/test-app.js';
import { storedAuditEvents } from '../test-support/audit-chain.js';

const ADMIN_KEY = 'tamper-admin-key-0123456789';
const admin = { 'x-api-key': ADMIN_KEY };
const ROOT = new URL('../../', import.meta.url).pathname;

let api: TestApi;
let directory: string;
beforeAll(async () => {
  api = await startTestApi({ ADMIN_API_KEYS: ADMIN_KEY }, { rateLimitPerMinute: 1_000_000 });
  directory = await mkdtemp(join(tmpdir(), 'audit-export-'));
  for (let i = 0; i < 4; i++) {
    const key = randomName('tamper');
    await api.app.inject({
      method: 'POST',
      url: '/api/v1/flags',
      headers: admin,
      payload: { key, defaultValue: 0, value: 1 },
    });
    await api.app.inject({ method: 'PATCH', url: `/api/v1/flags/${key}`, headers: admin, payload: { rollout: 0.25 } });
  }
});
afterAll(async () => {
  await api?.close();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/** Runs `npm run audit -- verify <file>`'s script with the service's key. */
async function runVerifyCli(file: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'query-api/audit/cli.ts', 'verify', file], {
    cwd: ROOT,
    env: { ...process.env, AUDIT_HMAC_SECRET: api.config.audit.hmacSecret!, LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, output };
}

async function exportTo(format: 'ndjson' | 'csv', name: string): Promise<string> {
  const response = await api.app.inject({ url: `/api/v1/compliance/export?format=${format}`, headers: admin });
  expect(response.statusCode).toBe(200);
  const file = join(directory, `${name}.${format}`);
  await writeFile(file, response.rawPayload);
  return file;
}

describe('tampering with the stored audit trail', () => {
  it('verifies untouched: the service and the CLI both say OK', async () => {
    expect((await api.app.inject({ url: '/api/v1/compliance/verify', headers: admin })).json()).toMatchObject({
      ok: true,
      events: 8,
      firstPosition: 1,
      lastPosition: 8,
    });
    const cli = await runVerifyCli(await exportTo('ndjson', 'clean'));
    expect(cli.output).toContain('OK: every event verifies');
    expect(cli.code).toBe(0);
  }, 60_000);

  it('reports an UPDATEd row and a DELETEd row, the edited one first, by both verify paths', async () => {
    const db = api.database.writer;
    const [edited] = (await storedAuditEvents(db)).filter((event) => event.position === 4);
    // Someone "corrects" a change record, and removes another record altogether.
    await db.query(
      `UPDATE audit_events SET change = jsonb_set(change, '{fields,rollout,after}', '1') WHERE position = 4`,
    );
    await db.query('DELETE FROM audit_events WHERE position = 6');

    const report = (await api.app.inject({ url: '/api/v1/compliance/verify', headers: admin })).json();
    expect(report.ok).toBe(false);
    expect(
      report.failures.map((failure: { problem: string; position: number }) => [failure.problem, failure.position]),
    ).toEqual([
      ['signature-mismatch', 4],
      ['missing-events', 7],
    ]);
    expect(report.firstFailure).toMatchObject({ problem: 'signature-mismatch', position: 4, id: edited!.id });
    expect(report.failures[1].message).toMatch(/event 6 is missing before event 7/);

    for (const format of ['ndjson', 'csv'] as const) {
      const cli = await runVerifyCli(await exportTo(format, `tampered-${format}`));
      expect(cli.code, cli.output).toBe(1);
      expect(cli.output).toMatch(new RegExp(`FAILED: first event that does not verify: event 4 \\(${edited!.id}`));
      expect(cli.output).toContain('[signature-mismatch] event 4');
      expect(cli.output).toContain('[missing-events] event 6 is missing before event 7');
    }
  }, 60_000);

  it('finds the newest events deleted (against the chain head) and a range whose first event was deleted', async () => {
    const db = api.database.writer;
    const events = await storedAuditEvents(db);
    await db.query('DELETE FROM audit_events WHERE position = 8');
    const report = (await api.app.inject({ url: '/api/v1/compliance/verify', headers: admin })).json();
    expect(report.failures.map((failure: { problem: string }) => failure.problem)).toEqual([
      'signature-mismatch',
      'missing-events',
      'missing-events',
    ]);
    expect(report.failures[2].message).toMatch(/event 8 is missing: the chain head is at 8/);
    // A range starting right after the deleted event 6: anchored on event 5, event 7 does not follow it.
    const from = events.find((event) => event.position === 7)!.time;
    const ranged = await api.app.inject({ url: `/api/v1/compliance/verify?from=${from}`, headers: admin });
    expect(
      ranged
        .json()
        .failures.map((failure: { problem: string; position: number }) => [failure.problem, failure.position]),
    ).toEqual([
      ['missing-events', 7],
      ['missing-events', 8],
    ]);
  });

  it('exits 2 with the reason when the key is not configured or the file cannot be read', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'query-api/audit/cli.ts', 'verify', join(directory, 'none')],
      {
        cwd: ROOT,
        env: { ...process.env, AUDIT_HMAC_SECRET: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(output).toContain('AUDIT_HMAC_SECRET is not set');
  }, 60_000);
});
