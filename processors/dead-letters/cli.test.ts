import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createKinesisClient } from '../../common/aws-clients.js';
import { createSilentLogger } from '../../common/logger.js';
import { ensureStream } from '../../local/provision.js';
import { testConfig } from '../../local/test-support/test-config.js';
import type { DeadLetter } from '../types.js';
import { buildDlqProgram } from './cli-program.js';
import { createDeadLetterSink } from './dead-letter-sink.js';
import { readStreamFromStart } from './reader.js';
import { injectPutRecordsFailures } from './test-support/inject-put-records-failures.js';

const FAST_RETRIES = { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 5 };

const letter = (n: number, rule: string, data = `{"eventId":"e-${n}","fixed":true}`): DeadLetter => ({
  id: { shardId: 'shardId-000000000001', sequenceNumber: String(49_500_000 + n), subSequenceNumber: 0 },
  partitionKey: `user-${n}`,
  data: Buffer.from(data),
  reasons: [{ index: 0, field: rule === 'required' ? 'userId' : '(event)', rule, message: `broke ${rule}` }],
});

async function setUp(letters: DeadLetter[]) {
  const config = testConfig();
  const kinesis = createKinesisClient(config);
  await Promise.all([
    ensureStream(kinesis, config.kinesis.dlqStreamName, 2),
    ensureStream(kinesis, config.kinesis.streamName, 2),
  ]);
  await createDeadLetterSink({
    kinesis,
    streamName: config.kinesis.dlqStreamName,
    sourceStreamName: config.kinesis.streamName,
    logger: createSilentLogger(),
  }).send(letters);

  /** Runs one `dlq` command in-process and returns what it printed. */
  const run = async (...argv: string[]) => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const chunks: string[] = [];
    stdout.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    const program = buildDlqProgram({
      config,
      kinesis,
      logger: createSilentLogger(),
      stdout,
      stderr,
      retryPolicy: FAST_RETRIES,
    });
    await program.parseAsync(argv, { from: 'user' });
    return chunks.join('');
  };
  const mainStreamRecords = async () =>
    (
      await readStreamFromStart({ kinesis, streamName: config.kinesis.streamName, limit: 1_000 }, (record) => ({
        partitionKey: record.partitionKey,
        data: Buffer.from(record.data).toString(),
      }))
    ).items.sort((a, b) => a.partitionKey.localeCompare(b.partitionKey));
  return { config, kinesis, run, mainStreamRecords };
}

describe('dlq list (real kinesalite)', () => {
  const letters = [letter(1, 'json', '{"broken'), letter(2, 'required'), letter(3, 'unsupported-version')];

  it('prints every dead letter with its reasons, source position and original bytes', async () => {
    const { config, run } = await setUp(letters);
    const out = await run('list');
    expect(out).toContain('3 dead letters');
    for (const text of ['user-1', 'user-2', 'user-3', 'broke json', 'userId: required', 'unsupported-version']) {
      expect(out).toContain(text);
    }
    expect(out).toContain(config.kinesis.streamName);
    expect(out).toContain('49500002');
    expect(out).toContain('{"broken');
  });

  it('filters by reason rule and honours --limit', async () => {
    const { run } = await setUp(letters);
    const onlyRequired = await run('list', '--reason', 'required');
    expect(onlyRequired).toContain('user-2');
    expect(onlyRequired).not.toContain('user-1');
    expect(onlyRequired).toContain('1 dead letters');
    expect(await run('list', '--limit', '2')).toContain('2 dead letters (limit reached: there may be more)');
  });

  it('prints one JSON envelope per line with --json', async () => {
    const { run } = await setUp(letters);
    const lines = (await run('list', '--json')).trim().split('\n');
    const envelopes = lines.map((line) => JSON.parse(line) as { partitionKey: string; reasons: { rule: string }[] });
    expect(envelopes.map((e) => e.partitionKey).sort()).toEqual(['user-1', 'user-2', 'user-3']);
    expect(envelopes.find((e) => e.partitionKey === 'user-3')?.reasons[0]?.rule).toBe('unsupported-version');
  });
});

describe('dlq replay (real kinesalite)', () => {
  it('re-sends the original bytes with the original partition keys, skipping truncated letters', async () => {
    const oversized = letter(9, 'too-large', 'x'.repeat(900 * 1024));
    const { config, run, mainStreamRecords } = await setUp([letter(1, 'required'), letter(2, 'required'), oversized]);
    const out = await run('replay');
    expect(out).toContain(
      `read 3 dead letters; replayed 2 to ${config.kinesis.streamName}, 0 to the OpenSearch index only ` +
        '(already counted); skipped 1 truncated, 0 undecodable',
    );
    expect(await mainStreamRecords()).toEqual([
      { partitionKey: 'user-1', data: '{"eventId":"e-1","fixed":true}' },
      { partitionKey: 'user-2', data: '{"eventId":"e-2","fixed":true}' },
    ]);
  });

  it('writes nothing with --dry-run but reports what it would replay', async () => {
    const { run, mainStreamRecords } = await setUp([letter(1, 'required'), letter(2, 'json')]);
    expect(await run('replay', '--dry-run')).toContain('would replay 2');
    expect(await mainStreamRecords()).toEqual([]);
  });

  it('replays only letters of one rule with --reason, and can be repeated', async () => {
    const { run, mainStreamRecords } = await setUp([letter(1, 'required'), letter(2, 'json')]);
    await run('replay', '--reason', 'json');
    expect(await run('replay', '--reason', 'json')).toContain('replayed 1');
    // Each replay re-sends: the pipeline's eventId de-duplication makes the second copy harmless.
    expect((await mainStreamRecords()).map((r) => r.partitionKey)).toEqual(['user-2', 'user-2']);
  });

  it('retries throttled entries so every letter is replayed exactly once', async () => {
    const { kinesis, run, mainStreamRecords } = await setUp([1, 2, 3, 4].map((n) => letter(n, 'required')));
    const recorder = injectPutRecordsFailures(kinesis, (call) => (call === 0 ? [0, 2] : []));
    expect(await run('replay')).toContain('replayed 4');
    expect(recorder.calls[1]).toHaveLength(2);
    expect((await mainStreamRecords()).map((r) => r.partitionKey)).toEqual(['user-1', 'user-2', 'user-3', 'user-4']);
  });
});

describe('npm run dlq entry point (real process, real kinesalite)', () => {
  const runCli = promisify(execFile);

  it('lists dead letters and rejects a bad --limit with a usage error', async () => {
    const { config } = await setUp([letter(7, 'required')]);
    const env = {
      ...process.env,
      AWS_REGION: config.aws.region,
      AWS_ENDPOINT_URL_KINESIS: config.aws.kinesisEndpoint,
      KINESIS_STREAM_NAME: config.kinesis.streamName,
      KINESIS_DLQ_STREAM_NAME: config.kinesis.dlqStreamName,
      LOG_LEVEL: 'silent',
    };
    const tsx = 'node_modules/.bin/tsx';
    const { stdout } = await runCli(tsx, ['processors/dead-letters/cli.ts', 'list'], { env, timeout: 90_000 });
    expect(stdout).toContain('user-7');
    expect(stdout).toContain('1 dead letters');
    const failure = await runCli(tsx, ['processors/dead-letters/cli.ts', 'list', '--limit', 'zero'], {
      env,
      timeout: 90_000,
    }).catch((error: unknown) => error as { code: number; stderr: string });
    expect(failure).toMatchObject({ code: 1 });
    expect((failure as { stderr: string }).stderr).toContain('expected a positive integer');
  }, 180_000);
});
