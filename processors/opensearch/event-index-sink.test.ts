import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.js';
import { PipelineError } from '../../common/errors.js';
import { createSilentLogger } from '../../common/logger.js';
import { createEventIndexSink, type EventIndexSinkOptions } from './event-index-sink.js';
import { createEventIndexSinkFromConfig } from './from-config.js';
import { fixtureEvents, FIXTURE_INDEX_PREFIX, validEvent } from './test-support/fixture-events.js';
import {
  allCreated,
  loadFixture,
  startRecordedOpenSearch,
  type BulkResponder,
  type RecordedOpenSearch,
} from './test-support/recorded-opensearch.js';

/** The repository root (the child process resolves the project's modules from there). */
const REPOSITORY_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FAST_RETRIES = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 };
const ids = (request: { actions: { _id: string }[] }) => request.actions.map((action) => action._id.slice(-2));

let server: RecordedOpenSearch | undefined;
let stopSink: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stopSink?.();
  await server?.close();
  server = undefined;
  stopSink = undefined;
});

async function sinkAgainst(responses: BulkResponder[], options: Partial<EventIndexSinkOptions> = {}) {
  server = await startRecordedOpenSearch(responses);
  const sink = createEventIndexSink({
    endpoint: server.url,
    indexPrefix: FIXTURE_INDEX_PREFIX,
    logger: createSilentLogger(),
    retryPolicy: FAST_RETRIES,
    ...options,
  });
  stopSink = () => sink.stop();
  return { sink, server };
}

describe('OpenSearch event index sink (recorded OpenSearch responses)', () => {
  it('installs the index template, then indexes with _id = eventId into daily indices', async () => {
    const { sink, server } = await sinkAgainst([loadFixture('bulk-success')]);
    const events = fixtureEvents();
    expect(await sink.index(events)).toEqual({ indexed: 4, rejected: [] });

    const [template, bulk] = server.requests;
    expect(template?.path).toBe('/_index_template/experimentation-events-template');
    expect(['PUT', 'POST']).toContain(template?.method);
    const templateBody = JSON.parse(template!.body) as {
      index_patterns: string[];
      template: { mappings: { properties: Record<string, { type: string }>; dynamic_templates: unknown[] } };
    };
    expect(templateBody.index_patterns).toEqual(['experimentation-events-*']);
    const properties = templateBody.template.mappings.properties;
    expect(properties.eventId?.type).toBe('keyword');
    expect(properties.userId?.type).toBe('keyword');
    expect(properties.timestamp?.type).toBe('date');
    expect(properties.value?.type).toBe('double');
    expect(properties.segments?.type).toBe('object');
    expect(JSON.stringify(templateBody.template.mappings.dynamic_templates)).toContain('"path_match":"segments.*"');

    expect(bulk).toMatchObject({ method: 'POST', path: '/_bulk' });
    expect(bulk!.actions).toEqual(
      events.map((e, i) => ({
        _index: i === 0 ? 'experimentation-events-2026.11.23' : 'experimentation-events-2026.11.24',
        _id: e.event.eventId,
      })),
    );
    expect(bulk!.documents).toEqual(events.map((e) => e.event));
  });

  it('retries only the items rejected with 429 until they are indexed', async () => {
    const { sink, server } = await sinkAgainst([loadFixture('bulk-429-items'), loadFixture('bulk-429-retry-success')]);
    expect(await sink.index(fixtureEvents())).toEqual({ indexed: 4, rejected: [] });
    expect(server.bulkRequests().map(ids)).toEqual([
      ['01', '02', '03', '04'],
      ['01', '03'],
    ]);
  });

  it('retries only the item that failed with 503 in a partially failed request', async () => {
    const { sink, server } = await sinkAgainst([
      loadFixture('bulk-partial-failure'),
      loadFixture('bulk-partial-retry-success'),
    ]);
    expect(await sink.index(fixtureEvents())).toEqual({ indexed: 4, rejected: [] });
    expect(server.bulkRequests().map(ids)).toEqual([['01', '02', '03', '04'], ['02']]);
    expect(server.bulkRequests()[1]!.documents).toEqual([fixtureEvents()[1]!.event]);
  });

  it('returns mapping errors as rejected, with reasons, without retrying them', async () => {
    const { sink, server } = await sinkAgainst([loadFixture('bulk-mapping-errors')]);
    const events = fixtureEvents();
    const result = await sink.index(events);
    expect(result.indexed).toBe(1);
    expect(result.rejected.map((r) => r.event)).toEqual(events.slice(1));
    expect(result.rejected.map((r) => r.reason.split(':')[0])).toEqual([
      'mapper_parsing_exception',
      'illegal_argument_exception',
      'document_parsing_exception',
    ]);
    expect(server.bulkRequests()).toHaveLength(1);
  });

  it('resends the whole request after a whole-request 503', async () => {
    const { sink, server } = await sinkAgainst([loadFixture('bulk-whole-503'), loadFixture('bulk-success')]);
    expect(await sink.index(fixtureEvents())).toEqual({ indexed: 4, rejected: [] });
    const [first, second] = server.bulkRequests();
    expect(second!.body).toBe(first!.body);
  });

  it('surfaces a retriable SINK_FAILED when the cluster keeps answering 503', async () => {
    const { sink, server } = await sinkAgainst([loadFixture('bulk-whole-503')]);
    const failure = await sink.index(fixtureEvents()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PipelineError);
    expect(failure).toMatchObject({ code: 'SINK_FAILED', retriable: true });
    expect((failure as Error).message).toContain('HTTP 503');
    expect(server.bulkRequests()).toHaveLength(FAST_RETRIES.maxAttempts);
  });

  it('surfaces SINK_FAILED when an item stays rejected with 429 past the attempts', async () => {
    const { sink, server } = await sinkAgainst([loadFixture('bulk-429-single')]);
    const failure = await sink.index(fixtureEvents().slice(0, 1)).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'SINK_FAILED', retriable: true });
    expect(server.bulkRequests().map(ids)).toEqual([['01'], ['01'], ['01'], ['01']]);
  });

  it('surfaces a retriable SINK_FAILED when nothing listens at the endpoint', async () => {
    const closed = await startRecordedOpenSearch([]);
    const url = closed.url;
    await closed.close();
    const sink = createEventIndexSink({
      endpoint: url,
      indexPrefix: FIXTURE_INDEX_PREFIX,
      logger: createSilentLogger(),
      retryPolicy: FAST_RETRIES,
    });
    await expect(sink.index(fixtureEvents())).rejects.toBeInstanceOf(PipelineError);
    await sink.stop();
  });

  it('bounds requests by count and by bytes', async () => {
    const byCount = await sinkAgainst([allCreated], { maxBatchCount: 3, maxWaitMs: 0 });
    const events = Array.from({ length: 7 }, (_, n) =>
      validEvent(`0f8c1a52-6a3e-4c0b-9d2e-${String(n).padStart(12, '0')}`, '2026-11-24T10:00:00Z', n),
    );
    expect(await byCount.sink.index(events)).toEqual({ indexed: 7, rejected: [] });
    expect(byCount.server.bulkRequests().map((r) => r.actions.length)).toEqual([3, 3, 1]);
    await byCount.sink.stop();
    await byCount.server.close();

    const oneDocumentBytes = Buffer.byteLength(byCount.server.bulkRequests()[2]!.body);
    const byBytes = await sinkAgainst([allCreated], { maxBatchBytes: oneDocumentBytes * 2 + 10, maxWaitMs: 0 });
    expect(await byBytes.sink.index(events)).toEqual({ indexed: 7, rejected: [] });
    expect(byBytes.server.bulkRequests().map((r) => r.actions.length)).toEqual([2, 2, 2, 1]);
  });

  it('joins concurrent calls that arrive within the wait into one request, and answers each call for its own events', async () => {
    const { sink, server } = await sinkAgainst([allCreated], { maxWaitMs: 200 });
    const events = fixtureEvents();
    const [first, second] = await Promise.all([sink.index(events.slice(0, 2)), sink.index(events.slice(2))]);
    expect(first).toEqual({ indexed: 2, rejected: [] });
    expect(second).toEqual({ indexed: 2, rejected: [] });
    expect(server.bulkRequests().map(ids)).toEqual([['01', '02', '03', '04']]);
  });

  it('sends a waiting partial batch at once when stopped, so shutdown finishes the batch in hand', async () => {
    const { sink, server } = await sinkAgainst([loadFixture('bulk-success')], { maxWaitMs: 600_000 });
    await sink.start();
    const pending = sink.index(fixtureEvents());
    await sink.stop();
    expect(await pending).toEqual({ indexed: 4, rejected: [] });
    expect(server.bulkRequests()).toHaveLength(1);
    await expect(sink.index(fixtureEvents())).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });

  it('sends nothing for an empty batch', async () => {
    const { sink, server } = await sinkAgainst([loadFixture('bulk-success')]);
    expect(await sink.index([])).toEqual({ indexed: 0, rejected: [] });
    expect(server.requests).toEqual([]);
  });
});

describe('createEventIndexSinkFromConfig', () => {
  it('is off without OPENSEARCH_ENDPOINT and says so in the log', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    expect(await createEventIndexSinkFromConfig(loadConfig({}), logger)).toBeUndefined();
    expect(lines.join('')).toContain('OpenSearch indexing is off (OPENSEARCH_ENDPOINT not set)');
  });

  it('leaves the OpenSearch client unloaded when indexing is off: building the pipeline from config loads none of it', async () => {
    // A fresh process, so no other test has loaded the client: the processors' start-up, counters and dead
    // letters handed in (nothing else is opened), then the CommonJS module cache is read.
    const script = `
      const { createRequire } = await import('node:module');
      const { loadConfig } = await import('./common/config.ts');
      const { createPipelineFromConfig } = await import('./processors/pipeline-from-config.ts');
      const runtime = await createPipelineFromConfig(loadConfig({ LOG_LEVEL: 'silent' }), {
        counters: { writeBatch: async () => ({ counted: 0, duplicates: 0, cells: 0, writeRequests: 0, refused: [] }) },
        deadLetters: { send: async () => {} },
      });
      await runtime.close();
      const loaded = Object.keys(createRequire(process.cwd() + '/').cache);
      console.log(JSON.stringify({
        opensearch: loaded.filter((path) => path.includes('@opensearch-project')).length,
        awsSdk: loaded.filter((path) => path.includes('@aws-sdk/client-dynamodb')).length,
      }));`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      { cwd: REPOSITORY_ROOT, timeout: 60_000 },
    );
    // The DynamoDB client is loaded (the count proves the cache is read); the OpenSearch client is not.
    const loaded = JSON.parse(stdout.trim().split('\n').pop() as string) as { opensearch: number; awsSdk: number };
    expect(loaded.opensearch).toBe(0);
    expect(loaded.awsSdk).toBeGreaterThan(0);
  }, 70_000);

  it('creates a sink for the configured endpoint and prefix (recorded OpenSearch responses)', async () => {
    server = await startRecordedOpenSearch([loadFixture('bulk-success')]);
    const sink = await createEventIndexSinkFromConfig(
      loadConfig({ OPENSEARCH_ENDPOINT: server.url, OPENSEARCH_INDEX_PREFIX: FIXTURE_INDEX_PREFIX }),
      createSilentLogger(),
    );
    stopSink = () => sink!.stop();
    await sink!.start();
    expect(await sink!.index(fixtureEvents())).toEqual({ indexed: 4, rejected: [] });
    expect(server.requests.map((r) => r.path)).toEqual(['/_index_template/experimentation-events-template', '/_bulk']);
  });
});
