import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { AUDIT_SECRET_FILE, localAuditSecret } from './audit-secret.js';

describe('npm start’s audit signing key', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'audit-secret-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('generates one into the data dir (owner-only), reuses it on the next start, and config accepts it', async () => {
    const first = await localAuditSecret({}, { persist: true, dataDir });
    const file = join(dataDir, AUDIT_SECRET_FILE);
    expect(first.source).toBe(`${file} (generated)`);
    expect(first.secret).toMatch(/^[0-9a-f]{64}$/);
    expect((await readFile(file, 'utf8')).trim()).toBe(first.secret);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const second = await localAuditSecret({}, { persist: true, dataDir });
    expect(second).toEqual({ secret: first.secret, source: file });
    expect(loadConfig({ AUDIT_HMAC_SECRET: second.secret }).audit.hmacSecret).toBe(first.secret);
  });

  it('uses AUDIT_HMAC_SECRET when set, and a throwaway key with --in-memory', async () => {
    const given = 'g'.repeat(40);
    expect(await localAuditSecret({ AUDIT_HMAC_SECRET: given }, { persist: true, dataDir })).toEqual({
      secret: given,
      source: 'AUDIT_HMAC_SECRET',
    });
    const inMemory = await localAuditSecret({}, { persist: false, dataDir });
    expect(inMemory.secret).toMatch(/^[0-9a-f]{64}$/);
    await expect(stat(join(dataDir, AUDIT_SECRET_FILE))).rejects.toThrow();
  });

  it('replaces a stored key too short to be accepted', async () => {
    await writeFile(join(dataDir, AUDIT_SECRET_FILE), 'short\n');
    const replaced = await localAuditSecret({}, { persist: true, dataDir });
    expect(replaced.secret).toMatch(/^[0-9a-f]{64}$/);
  });
});
