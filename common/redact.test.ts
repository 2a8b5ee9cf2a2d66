import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { PipelineError } from './errors.js';
import { createLogger } from './logger.js';
import { redactCredentials, redactEnvValue, redactUrl } from './redact.js';

const SECRET = 's3cr3t-Pa55';

/** A logger writing JSON lines into an array (pino's real serialisation and redaction). */
function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: 'info', name: 'test', destination }), lines };
}

describe('credential redaction', () => {
  it.each([
    ['postgres://app:' + SECRET + '@db.internal:5432/x?sslmode=verify-full', 'postgres://***@db.internal:5432/x'],
    ['rediss://:' + SECRET + '@cache.internal:6379', 'rediss://***@cache.internal:6379'],
    ['redis://user:' + SECRET + '/with@slash@cache:6379', 'redis://***@cache:6379'],
    ['postgres://db/x?user=app&password=' + SECRET, 'postgres://db/x?user=app&password=***'],
  ])('hides the credentials of %s and keeps the endpoint', (url, kept) => {
    const redacted = redactUrl(url);
    expect(redacted).not.toContain(SECRET);
    expect(redacted.startsWith(kept.split('?')[0]!)).toBe(true);
    expect(redactCredentials(`failed to reach "${url}" twice`)).not.toContain(SECRET);
  });

  it('leaves text without credentials unchanged', () => {
    const text = 'GET /api/v1/experiments?limit=5 from http://127.0.0.1:8080/x';
    expect(redactCredentials(text)).toBe(text);
    expect(redactEnvValue('QUERY_API_PORT', 'abc')).toBe('abc');
    expect(redactEnvValue('API_KEYS', 'k1,k2')).toBe('***');
    expect(redactEnvValue('AUDIT_HMAC_SECRET', 'k1')).toBe('***');
    expect(redactEnvValue('AUDIT_HMAC_PREVIOUS_SECRETS', 'k1,k2')).toBe('***');
  });

  it.each(['REDIS_URL', 'DATABASE_URL', 'DATABASE_REPLICA_URL', 'STATE_REDIS_URL'])(
    'a configuration error for %s names the variable but never prints its password',
    (variable) => {
      const value = `redis://admin:${SECRET}@cache.internal:6379 oops`;
      let thrown: unknown;
      try {
        loadConfig({ [variable]: value });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(PipelineError);
      const error = thrown as PipelineError;
      expect(error.code).toBe('CONFIG_INVALID');
      expect(error.message).toContain(`${variable}="redis://***@cache.internal:6379 oops"`);
      expect(error.message).not.toContain(SECRET);
      expect(JSON.stringify(error.details)).not.toContain(SECRET);
    },
  );

  it('loggers redact URL credentials in fields, messages, errors (message, stack, details, cause) and headers', () => {
    const { logger, lines } = capturingLogger();
    const url = `postgres://app:${SECRET}@db:5432/x`;
    logger.info({ url, config: { redisUrl: `rediss://:${SECRET}@cache:6379` } }, 'starting');
    logger.info(`connecting to ${url}`);
    const cause = new Error(`ECONNREFUSED ${url}`);
    logger.error(
      { err: new PipelineError('CONFIG_INVALID', `bad ${url}`, { cause, details: [`DATABASE_URL=${url}`] }) },
      'failed',
    );
    logger.info({ req: { headers: { authorization: `Bearer ${SECRET}`, 'x-api-key': SECRET } } }, 'request');
    const output = lines.join('');
    expect(lines).toHaveLength(4);
    expect(output).not.toContain(SECRET);
    expect(output).toContain('postgres://***@db:5432/x');
    expect(output).toContain('rediss://***@cache:6379');
  });
});
