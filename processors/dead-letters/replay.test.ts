import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/logger.js';
import { createEventIndexSinkFromConfig } from '../opensearch/from-config.js';
import { createDeadLetterSink } from './dead-letter-sink.js';
import { sampleEvent } from '../test-support/pipeline-doubles.js';
import type { DeadLetter, DeliverySink } from '../types.js';
import { decodeDeadLetter, encodeDeadLetter, originalBytes, type DeadLetterEnvelope } from './envelope.js';
import { planReplay, replayDeadLetters, replayEntry, replayRoute, type ReplayProgress } from './replay.js';
import {
  allCreated,
  refuseAllWithMappingError,
  startRecordedOpenSearch,
  type RecordedOpenSearch,
} from './test-support/fake-opensearch.js';
import { startDlqHarness } from './test-support/dlq-harness.js';

/** A contract-valid event's bytes, as the producer sent them. */
const eventBytes = (userId: string) => {
  const event = sampleEvent({ userId, type: 'conversion', metric: 'revenue', value: 19.99 });
  return { eventId: event.eventId, data: Buffer.from(JSON.stringify(event)) };
};

let sequence = 0;
const letter = (
  userId: string,
  rule: string,
  options: { takenBy?: DeliverySink[]; data?: Uint8Array } = {},
): DeadLetter => ({
  id: { shardId: 'shardId-000000000001', sequenceNumber: String(49_700_000 + ++sequence), subSequenceNumber: 0 },
  partitionKey: userId,
  data: options.data ?? eventBytes(userId).data,
  reasons: [{ index: 0, field: '(event)', rule, message: `broke ${rule}` }],
  ...(options.takenBy ? { takenBy: options.takenBy } : {}),
});

/** An index-rejected letter exactly as the pipeline writes it: the counters took the event. */
const indexRejected = (userId: string, data?: Uint8Array) =>
  letter(userId, 'index-rejected', { takenBy: ['counters'], ...(data ? { data } : {}) });

/** An envelope exactly as the version-1 writer produced it (no takenBy). */
const versionOneRecord = (userId: string, rule: string, data: Uint8Array) => ({
  partitionKey: userId,
  data: Buffer.from(
    JSON.stringify({
      v: 1,
      data: Buffer.from(data).toString('base64'),
      dataBytes: data.byteLength,
      truncated: false,
      reasons: [{ index: 0, field: '(event)', rule, message: `broke ${rule}` }],
      sourceStream: 'ExperimentEvents',
      shardId: 'shardId-000000000001',
      sequenceNumber: String(49_800_000 + ++sequence),
      subSequenceNumber: 0,
      partitionKey: userId,
      deadLetteredAt: '2026-11-20T10:00:00.000Z',
    }),
  ),
});

const envelopeOf = (deadLetter: DeadLetter): DeadLetterEnvelope => {
  const decoding = decodeDeadLetter(
    encodeDeadLetter(deadLetter, { sourceStream: 'ExperimentEvents', deadLetteredAt: new Date() }).bytes,
  );
  if (!decoding.ok) throw new Error(decoding.error);
  return decoding.envelope;
};

describe('replayRoute / planReplay (pure)', () => {
  it('sends a letter only to the sinks that did not take it', () => {
    const none = envelopeOf(letter('u1', 'required'));
    const counted = envelopeOf(indexRejected('u2'));
    const everywhere = envelopeOf(letter('u3', 'index-rejected', { takenBy: ['counters', 'index'] }));
    const indexedOnly = envelopeOf(letter('u4', 'x', { takenBy: ['index'] }));
    expect(replayRoute(none, { indexing: true })).toBe('main-stream');
    expect(replayRoute(indexedOnly, { indexing: true })).toBe('main-stream');
    expect(replayRoute(counted, { indexing: true })).toBe('index');
    expect(replayRoute(counted, { indexing: false })).toBe('skip-already-counted');
    expect(replayRoute(everywhere, { indexing: true })).toBe('skip-already-delivered');
    const plan = planReplay([none, counted, everywhere, indexedOnly], { indexing: false });
    expect(plan['main-stream']).toEqual([none, indexedOnly]);
    expect(plan['skip-already-counted']).toEqual([counted]);
    expect(plan.index).toEqual([]);
  });

  it('routes a record once however many letters carry it, with every sink any of them says took it', () => {
    const first = letter('u1', 'sink-rejected');
    const firstEnvelope = envelopeOf(first);
    const again = envelopeOf(first);
    const countedLater = envelopeOf({ ...first, takenBy: ['counters'] });
    const other = envelopeOf(letter('u2', 'required'));
    // Before: both letters of u1's record went to the main stream (counted twice once the de-dup window passed).
    expect(planReplay([firstEnvelope, other, again], { indexing: true })).toMatchObject({
      'main-stream': [firstEnvelope, other],
      'skip-repeated': [again],
    });
    const merged = planReplay([firstEnvelope, countedLater], { indexing: true });
    expect(merged['main-stream']).toEqual([]);
    expect(merged.index).toEqual([{ ...firstEnvelope, takenBy: ['counters'] }]);
    expect(merged['skip-repeated']).toEqual([countedLater]);
    // The same position on another shard or stream is another record.
    const otherShard = envelopeOf({ ...first, id: { ...first.id, shardId: 'shardId-000000000002' } });
    const otherStream = { ...firstEnvelope, sourceStream: 'OtherEvents' };
    expect(planReplay([firstEnvelope, otherShard, otherStream], { indexing: true })['main-stream']).toHaveLength(3);
    // A later letter that adds a sink to those the first named: the record goes where both say.
    const indexed = envelopeOf({ ...first, takenBy: ['counters', 'index'] });
    expect(planReplay([countedLater, indexed], { indexing: true })['skip-already-delivered']).toEqual([
      { ...countedLater, takenBy: ['counters', 'index'] },
    ]);
  });

  it('skips a truncated letter, and puts a letter without a partition key back under its shard id', () => {
    const truncated = { ...envelopeOf(letter('u1', 'max-size')), truncated: true };
    expect(replayRoute(truncated, { indexing: true })).toBe('skip-truncated');
    const keyless = envelopeOf({ ...letter('u2', 'required'), partitionKey: '' });
    expect(replayEntry(keyless)).toEqual({ data: originalBytes(keyless), partitionKey: 'shardId-000000000001' });
    expect(replayEntry(envelopeOf(letter('u3', 'required'))).partitionKey).toBe('u3');
  });
});

describe('dlq replay sends each letter only to the sinks that did not take it (real kinesalite, fake OpenSearch)', () => {
  let server: RecordedOpenSearch | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('re-indexes an index-rejected letter through fake OpenSearch and never writes it to the main stream; a letter no sink took goes to the main stream as before', async () => {
    server = await startRecordedOpenSearch([allCreated]);
    const dlq = await startDlqHarness({ opensearchUrl: server.url });
    const counted = eventBytes('user-counted');
    const fixed = eventBytes('user-fixed');
    await dlq.sendLetters([
      indexRejected('user-counted', counted.data),
      letter('user-fixed', 'required', { data: fixed.data }),
    ]);

    const out = await dlq.run('replay');

    expect(await dlq.mainStreamRecords()).toEqual([{ partitionKey: 'user-fixed', data: fixed.data.toString() }]);
    const bulk = server.bulkRequests();
    expect(bulk.flatMap((request) => request.actions.map((action) => action._id))).toEqual([counted.eventId]);
    expect(bulk[0]?.documents[0]).toMatchObject({ userId: 'user-counted', eventId: counted.eventId });
    expect(out).toContain(
      `read 2 dead letters; replayed 1 to ${dlq.config.kinesis.streamName}, 1 to the OpenSearch index only`,
    );
    expect(out).toContain('OpenSearch index: 1 indexed, 0 refused again');
  });

  it('skips letters already counted when indexing is off (no OPENSEARCH_ENDPOINT), says so, and never sends them to the main stream', async () => {
    const dlq = await startDlqHarness();
    await dlq.sendLetters([indexRejected('user-counted'), letter('user-fixed', 'required')]);

    const out = await dlq.run('replay');

    expect((await dlq.mainStreamRecords()).map((record) => record.partitionKey)).toEqual(['user-fixed']);
    expect(out).toContain(`replayed 1 to ${dlq.config.kinesis.streamName}, 0 to the OpenSearch index only`);
    expect(out).toContain('1 already counted (indexing off)');
    expect(out).toContain('1 dead letters were already counted and OpenSearch indexing is off (OPENSEARCH_ENDPOINT');
  });

  it('treats a version-1 index-rejected letter as already counted, and replays other version-1 letters to the main stream', async () => {
    const dlq = await startDlqHarness();
    const fixed = eventBytes('user-v1-fixed');
    await dlq.sendRawRecords([
      versionOneRecord('user-v1-counted', 'index-rejected', eventBytes('user-v1-counted').data),
      versionOneRecord('user-v1-fixed', 'required', fixed.data),
    ]);

    const out = await dlq.run('replay');

    expect(await dlq.mainStreamRecords()).toEqual([{ partitionKey: 'user-v1-fixed', data: fixed.data.toString() }]);
    expect(out).toContain('read 2 dead letters; replayed 1 to');
    expect(out).toContain('1 already counted (indexing off)');
  });

  it('shows the split with --dry-run and writes nothing, neither to the stream nor to fake OpenSearch', async () => {
    server = await startRecordedOpenSearch([allCreated]);
    const dlq = await startDlqHarness({ opensearchUrl: server.url });
    await dlq.sendLetters([
      indexRejected('user-a'),
      indexRejected('user-b'),
      letter('user-c', 'json', { data: Buffer.from('{"fixed":true}') }),
      letter('user-d', 'index-rejected', { takenBy: ['counters', 'index'] }),
    ]);

    const out = await dlq.run('replay', '--dry-run');

    expect(out).toContain(
      `read 4 dead letters; would replay 1 to ${dlq.config.kinesis.streamName}, 2 to the OpenSearch index only ` +
        '(already counted); skipped 0 truncated, 0 undecodable, 0 already counted (indexing off), 1 already in every sink, ' +
        '0 repeated (a record replayed once)',
    );
    expect(await dlq.mainStreamRecords()).toEqual([]);
    expect(server.bulkRequests()).toEqual([]);
  });

  it('writes a record that two letters carry to the main stream once (the dead-letter stream is at least once)', async () => {
    const dlq = await startDlqHarness({});
    const fixed = eventBytes('user-twice');
    const twice = letter('user-twice', 'sink-rejected', { data: fixed.data });
    await dlq.sendLetters([twice, letter('user-once', 'required'), twice]);
    await dlq.sendRawRecords([{ partitionKey: 'x', data: Buffer.from('not an envelope') }]);

    const out = await dlq.run('replay');

    // Before: user-twice's record went to the main stream twice.
    expect((await dlq.mainStreamRecords()).map((record) => record.partitionKey).sort()).toEqual([
      'user-once',
      'user-twice',
    ]);
    expect(out).toContain('1 repeated (a record replayed once)');
    expect(out).toContain('read 4 dead letters;');
    expect(out).toContain('0 truncated, 1 undecodable');
  });

  it('reports progress (the plan first, then after every write) and warns of counted letters it cannot index (fake OpenSearch)', async () => {
    server = await startRecordedOpenSearch([allCreated]);
    const dlq = await startDlqHarness({ opensearchUrl: server.url });
    await dlq.sendLetters([indexRejected('user-counted'), letter('user-fixed', 'required')]);
    const sink = (await createEventIndexSinkFromConfig(dlq.config, createLogger({ level: 'silent' })))!;
    const deadLetters = createDeadLetterSink({
      kinesis: dlq.kinesis,
      streamName: dlq.config.kinesis.dlqStreamName,
      sourceStreamName: dlq.config.kinesis.streamName,
      logger: createLogger({ level: 'silent' }),
    });
    const replay = (options: { indexing: boolean; onProgress?: (progress: ReplayProgress) => void }) => {
      const lines: string[] = [];
      const logger = createLogger({
        destination: new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.push(chunk.toString());
            done();
          },
        }),
      });
      const summary = replayDeadLetters({
        kinesis: dlq.kinesis,
        dlqStreamName: dlq.config.kinesis.dlqStreamName,
        targetStreamName: dlq.config.kinesis.streamName,
        ...(options.indexing ? { index: { sink, deadLetters, limits: dlq.config.events } } : {}),
        limit: 100,
        dryRun: false,
        maxDurationMs: 10_000,
        logger,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      return { summary, lines };
    };
    try {
      const seen: ReplayProgress[] = [];
      const indexed = replay({ indexing: true, onProgress: (progress) => seen.push({ ...progress }) });
      await indexed.summary;
      expect(seen[0]).toEqual({ done: 0, total: 2, toMainStream: 0, toIndex: 0 });
      expect(seen).toContainEqual({ done: 1, total: 2, toMainStream: 0, toIndex: 1 });
      expect(seen.at(-1)).toEqual({ done: 2, total: 2, toMainStream: 1, toIndex: 1 });
      expect(indexed.lines).toEqual([]);

      const withoutIndex = replay({ indexing: false });
      expect(await withoutIndex.summary).toMatchObject({ skippedAlreadyCounted: 1, toIndex: 0 });
      // Without a logger the warning is left out, and the replay goes on.
      await expect(
        replayDeadLetters({
          kinesis: dlq.kinesis,
          dlqStreamName: dlq.config.kinesis.dlqStreamName,
          targetStreamName: dlq.config.kinesis.streamName,
          limit: 100,
          dryRun: true,
          maxDurationMs: 10_000,
        }),
      ).resolves.toMatchObject({ skippedAlreadyCounted: 1 });
      expect(withoutIndex.lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toEqual([
        expect.objectContaining({
          level: 'warn',
          skippedAlreadyCounted: 1,
          msg: 'dead letters already counted are not replayed: OpenSearch indexing is off (OPENSEARCH_ENDPOINT not set)',
        }),
      ]);
    } finally {
      await sink.stop();
    }
  });

  it('indexes more than one chunk of counted letters (500 per _bulk request) once each, through fake OpenSearch', async () => {
    server = await startRecordedOpenSearch([allCreated]);
    const dlq = await startDlqHarness({ opensearchUrl: server.url });
    const letters = Array.from({ length: 501 }, (_, index) => indexRejected(`user-${index}`));
    await dlq.sendLetters(letters);

    const out = await dlq.run('replay');

    const ids = server.bulkRequests().flatMap((request) => request.actions.map((action) => action._id));
    expect(ids).toHaveLength(501);
    expect(new Set(ids).size).toBe(501);
    expect(out).toContain('501 to the OpenSearch index only');
    expect(out).toContain('OpenSearch index: 501 indexed, 0 refused again');
  });

  it('dead-letters again, still taken by the counters, a letter fake OpenSearch refuses again', async () => {
    server = await startRecordedOpenSearch([refuseAllWithMappingError]);
    const dlq = await startDlqHarness({ opensearchUrl: server.url });
    const counted = eventBytes('user-refused');
    await dlq.sendLetters([indexRejected('user-refused', counted.data)]);

    const out = await dlq.run('replay');

    expect(out).toContain('OpenSearch index: 0 indexed, 1 refused again or no longer valid (dead-lettered again)');
    expect(await dlq.mainStreamRecords()).toEqual([]);
    const letters = await dlq.deadLetters();
    expect(letters).toHaveLength(2);
    const again = letters.find((envelope) => envelope.reasons[0]?.message.includes('mapper_parsing_exception'));
    expect(again).toMatchObject({ partitionKey: 'user-refused', takenBy: ['counters'] });
    expect(again!.reasons).toEqual([
      {
        index: 0,
        field: '(event)',
        rule: 'index-rejected',
        message: expect.stringContaining('mapper_parsing_exception'),
      },
    ]);
    expect(Buffer.from(again!.data, 'base64').equals(counted.data)).toBe(true);
    // Replaying the re-dead-lettered copies still never reaches the main stream; the record goes to the index once.
    const second = await dlq.run('replay');
    expect(second).toContain('1 to the OpenSearch index only');
    expect(second).toContain('1 repeated (a record replayed once)');
    expect(await dlq.mainStreamRecords()).toEqual([]);
  });

  it('dead-letters again, with the contract reasons and still taken by the counters, a letter that no longer decodes, without asking the index', async () => {
    server = await startRecordedOpenSearch([allCreated]);
    const dlq = await startDlqHarness({ opensearchUrl: server.url });
    await dlq.sendLetters([indexRejected('user-broken', Buffer.from('{"userId":"user-broken"}'))]);

    const out = await dlq.run('replay');

    expect(out).toContain('OpenSearch index: 0 indexed, 1 refused again or no longer valid (dead-lettered again)');
    expect(server.bulkRequests()).toEqual([]);
    expect(await dlq.mainStreamRecords()).toEqual([]);
    const letters = await dlq.deadLetters();
    expect(letters).toHaveLength(2);
    const again = letters.find((envelope) => envelope.reasons[0]?.rule !== 'index-rejected');
    expect(again).toMatchObject({ partitionKey: 'user-broken', takenBy: ['counters'] });
    expect(again!.reasons.length).toBeGreaterThan(0);
    for (const reason of again!.reasons) expect(reason.rule).not.toBe('index-rejected');
  });
});
