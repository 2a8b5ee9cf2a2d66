/**
 * The audit trail's signing key for `npm start`: AUDIT_HMAC_SECRET when the user set it,
 * else one generated once (32 random bytes, hex) and kept in `<data-dir>/audit-hmac-secret`
 * (mode 0600), so events written in one run still verify in the next. With `--in-memory`
 * the key lives only as long as the run, like the data it signs.
 *
 * @example
 *   const { secret, source } = await localAuditSecret(process.env, { persist: true, dataDir: '.local-data' });
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MIN_AUDIT_SECRET_LENGTH } from '../common/config.js';

/** The file under the data dir holding the generated key. */
export const AUDIT_SECRET_FILE = 'audit-hmac-secret';

export async function localAuditSecret(
  env: NodeJS.ProcessEnv,
  run: { persist: boolean; dataDir: string },
): Promise<{ secret: string; source: string }> {
  if (env.AUDIT_HMAC_SECRET) return { secret: env.AUDIT_HMAC_SECRET, source: 'AUDIT_HMAC_SECRET' };
  if (!run.persist) return { secret: randomBytes(32).toString('hex'), source: 'generated for this run (in memory)' };
  const path = join(run.dataDir, AUDIT_SECRET_FILE);
  const stored = await readFile(path, 'utf8').then(
    (text) => text.trim(),
    (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)),
  );
  if (stored !== undefined && stored.length >= MIN_AUDIT_SECRET_LENGTH) return { secret: stored, source: path };
  const secret = randomBytes(32).toString('hex');
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
  return { secret, source: `${path} (generated)` };
}
