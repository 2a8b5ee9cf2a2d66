import { describe, expect, it } from 'vitest';
import { PipelineError } from './errors.js';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('applies documented defaults and freezes the result', () => {
    const config = loadConfig({});
    expect(config.kinesis.streamName).toBe('ExperimentEvents');
    expect(config.kinesis.dlqStreamName).toBe('ExperimentEvents-dlq');
    expect(config.dynamodb.countersTable).toBe('ExperimentCounters');
    expect(config.ingest.port).toBe(8081);
    expect(config.queryApi.port).toBe(8080);
    expect(config.ingest.maxBodyBytes).toBe(1024 * 1024);
    expect(Object.isFrozen(config.ingest)).toBe(true);
    expect(() => {
      (config.ingest as { port: number }).port = 1;
    }).toThrow();
  });

  it("gives the processors' metrics listener its own host, LISTEN_HOST unless PROCESSORS_METRICS_HOST is set", () => {
    expect(loadConfig({}).processors.metricsHost).toBe('127.0.0.1');
    expect(loadConfig({ LISTEN_HOST: '0.0.0.0' }).processors.metricsHost).toBe('0.0.0.0');
    const own = loadConfig({ LISTEN_HOST: '0.0.0.0', PROCESSORS_METRICS_HOST: '127.0.0.1' });
    expect(own.processors.metricsHost).toBe('127.0.0.1');
    expect(own.ingest.host).toBe('0.0.0.0');
  });

  it('parses numbers, booleans and lists from strings', () => {
    const config = loadConfig({
      INGEST_PORT: '9000',
      INGEST_KPL_AGGREGATION: 'yes',
      INGEST_API_KEYS: 'a, b,,c',
      DATABASE_POOL_TIMEOUT: '2.5',
    });
    expect(config.ingest.port).toBe(9000);
    expect(config.ingest.kplAggregation).toBe(true);
    expect(config.ingest.apiKeys).toEqual(['a', 'b', 'c']);
    expect(config.database.poolTimeoutMs).toBe(2500);
  });

  it('names every bad variable and its rule, with code CONFIG_INVALID', () => {
    let error: unknown;
    try {
      loadConfig({ INGEST_PORT: 'eighty', KINESIS_SHARD_COUNT: '0', REDIS_URL: 'localhost' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PipelineError);
    const message = (error as PipelineError).message;
    expect((error as PipelineError).code).toBe('CONFIG_INVALID');
    expect(message).toContain('INGEST_PORT="eighty"');
    expect(message).toContain('KINESIS_SHARD_COUNT="0"');
    expect(message).toContain('REDIS_URL="localhost"');
  });

  it('reads INGEST_CORS_ORIGINS as any origin, a list of origins, or none; refuses an empty value, paths and bare hosts', () => {
    expect(loadConfig({}).ingest.corsOrigins).toBe('*');
    expect(loadConfig({ INGEST_CORS_ORIGINS: 'https://a.example, http://127.0.0.1:3000' }).ingest.corsOrigins).toEqual([
      'https://a.example',
      'http://127.0.0.1:3000',
    ]);
    expect(loadConfig({ INGEST_CORS_ORIGINS: 'none' }).ingest.corsOrigins).toEqual([]);
    for (const bad of [' ', 'https://a.example/path', 'a.example', '*, https://a.example', 'ftp://a.example']) {
      expect(() => loadConfig({ INGEST_CORS_ORIGINS: bad }), bad).toThrow(/INGEST_CORS_ORIGINS=.*pattern/);
    }
  });

  it('refuses an upper-case OpenSearch index prefix (OpenSearch refuses such index names: every shard would stall)', () => {
    expect(() => loadConfig({ OPENSEARCH_INDEX_PREFIX: 'Experimentation' })).toThrow(/OPENSEARCH_INDEX_PREFIX/);
    expect(loadConfig({ OPENSEARCH_INDEX_PREFIX: 'exp-events.v2' }).opensearch.indexPrefix).toBe('exp-events.v2');
  });

  it('chooses the state store: a Redis URL means redis, none means no choice (the processors refuse to start)', () => {
    expect(loadConfig({}).processors.state.kind).toBeUndefined();
    expect(loadConfig({ REDIS_URL: 'redis://cache:6379' }).processors.state).toMatchObject({
      kind: 'redis',
      redisUrl: 'redis://cache:6379',
    });
    expect(
      loadConfig({ REDIS_URL: 'redis://cache:6379', STATE_REDIS_URL: 'rediss://state:6379' }).processors.state.redisUrl,
    ).toBe('rediss://state:6379');
    expect(loadConfig({ PROCESSOR_STATE_STORE: 'embedded' }).processors.state).toMatchObject({
      kind: 'embedded',
      directory: '.local-data/state',
    });
    expect(() => loadConfig({ PROCESSOR_STATE_STORE: 'redis' })).toThrow(/STATE_REDIS_URL/);
  });

  it('refuses an audit signing key shorter than 32 characters, naming AUDIT_HMAC_SECRET but not the key', () => {
    const short = 'too-short-audit-key';
    let message = '';
    try {
      loadConfig({ AUDIT_HMAC_SECRET: short });
    } catch (error) {
      expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
      message = (error as Error).message;
    }
    expect(message).toContain('AUDIT_HMAC_SECRET="***"');
    expect(message).toMatch(/fewer than 32 characters/);
    expect(message).not.toContain(short);
    const retiredShort = () =>
      loadConfig({ AUDIT_HMAC_SECRET: 'k'.repeat(32), AUDIT_HMAC_PREVIOUS_SECRETS: `${'p'.repeat(32)},${short}` });
    expect(retiredShort).toThrow(/AUDIT_HMAC_PREVIOUS_SECRETS="\*\*\*" \(minLength/);
    expect(retiredShort).not.toThrow(new RegExp(short));
    const config = loadConfig({
      AUDIT_HMAC_SECRET: 'k'.repeat(32),
      AUDIT_HMAC_PREVIOUS_SECRETS: `${'p'.repeat(32)}, ${'q'.repeat(40)}`,
    });
    expect(config.audit).toEqual({ hmacSecret: 'k'.repeat(32), previousHmacSecrets: ['p'.repeat(32), 'q'.repeat(40)] });
    expect(loadConfig({}).audit.hmacSecret).toBeUndefined();
  });

  it('bounds the results cache by REDIS_CACHE_MAX_SIZE items (default 10,000)', () => {
    expect(loadConfig({}).redis.cacheMaxItems).toBe(10_000);
    expect(loadConfig({ REDIS_CACHE_MAX_SIZE: '250' }).redis.cacheMaxItems).toBe(250);
    expect(() => loadConfig({ REDIS_CACHE_MAX_SIZE: '0' })).toThrow(/REDIS_CACHE_MAX_SIZE="0"/);
  });

  it('refuses half a Cognito configuration', () => {
    expect(() => loadConfig({ COGNITO_USER_POOL_ID: 'us-east-1_abc' })).toThrow(/COGNITO_CLIENT_ID/);
  });
});

describe('PROCESSOR_SHARD_ASSIGNMENT', () => {
  it('reads <index>/<of> and defaults to every shard', () => {
    expect(loadConfig({}).processors.shardAssignment).toEqual({ index: 0, of: 1 });
    expect(loadConfig({ PROCESSOR_SHARD_ASSIGNMENT: '1/3' }).processors.shardAssignment).toEqual({ index: 1, of: 3 });
  });

  it('refuses an index outside the processes, naming the variable and the rule', () => {
    expect(() => loadConfig({ PROCESSOR_SHARD_ASSIGNMENT: '2/2' })).toThrow(
      /PROCESSOR_SHARD_ASSIGNMENT="2\/2".*index < of/,
    );
    expect(() => loadConfig({ PROCESSOR_SHARD_ASSIGNMENT: 'half' })).toThrow(/PROCESSOR_SHARD_ASSIGNMENT/);
  });
});

describe('processors cell write groups', () => {
  it('waits 100 ms by default, 0 turns the wait off, a negative or over-long wait is refused by name', () => {
    expect(loadConfig({}).processors.cellWriteGroupWaitMs).toBe(100);
    expect(loadConfig({ PROCESSOR_CELL_WRITE_GROUP_WAIT_MS: '0' }).processors.cellWriteGroupWaitMs).toBe(0);
    expect(() => loadConfig({ PROCESSOR_CELL_WRITE_GROUP_WAIT_MS: '-1' })).toThrow(
      /PROCESSOR_CELL_WRITE_GROUP_WAIT_MS="-1" \(minimum/,
    );
    expect(() => loadConfig({ PROCESSOR_CELL_WRITE_GROUP_WAIT_MS: '60000' })).toThrow(
      /PROCESSOR_CELL_WRITE_GROUP_WAIT_MS="60000" \(maximum/,
    );
  });
});

describe('processors batch budget (per process)', () => {
  it('reads the budget in bytes and user records, with per-process defaults', () => {
    expect(loadConfig({}).processors).toMatchObject({
      batchBudgetBytes: 16 * 1024 * 1024,
      batchBudgetUserRecords: 200_000,
    });
    expect(
      loadConfig({ PROCESSOR_BATCH_BUDGET_BYTES: '1048576', PROCESSOR_BATCH_BUDGET_USER_RECORDS: '5000' }).processors,
    ).toMatchObject({ batchBudgetBytes: 1_048_576, batchBudgetUserRecords: 5_000 });
    expect(() => loadConfig({ PROCESSOR_BATCH_BUDGET_USER_RECORDS: '10' })).toThrow(
      /PROCESSOR_BATCH_BUDGET_USER_RECORDS="10" \(minimum/,
    );
  });

  it('refuses the per-shard names of earlier versions, naming what replaced them (not ignored while a default applies)', () => {
    let error: unknown;
    try {
      loadConfig({ PROCESSOR_BATCH_MAX_USER_RECORDS: '20000', PROCESSOR_BATCH_MAX_BYTES: '' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PipelineError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((error as PipelineError).message).toBe(
      'Invalid configuration: PROCESSOR_BATCH_MAX_USER_RECORDS is now PROCESSOR_BATCH_BUDGET_USER_RECORDS ' +
        '(per process, divided among the shards it reads, no longer per shard)',
    );
    expect(() => loadConfig({ PROCESSOR_BATCH_MAX_BYTES: '2097152' })).toThrow(
      /PROCESSOR_BATCH_MAX_BYTES is now PROCESSOR_BATCH_BUDGET_BYTES/,
    );
  });
});
