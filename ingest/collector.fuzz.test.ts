/**
 * Property-based fuzzing of the collector through `app.inject`, against a collector writing to
 * kinesalite: arbitrary bodies (JSON, NDJSON, truncated, not UTF-8, UTF-16, deep, over the event
 * limit), content types, extra headers and Unicode. Every record the collector writes is handed
 * to the processors' own decoding (`decodeShardBatch`: the stream-side contract check) and must
 * pass: an event the collector accepts must never be dead-lettered downstream.
 *
 * Bounded: a fixed number of runs with small bodies; the whole file takes seconds.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPipelineError } from '../common/errors.js';
import { decodeShardBatch } from '../processors/decode/decode-shard-batch.js';
import { VALIDATOR_DEFECT } from './collect-events.js';
import { bodyFormatOf, requestBodyFormat } from './content-type.js';
import { decodeUtf8Body, parseBody } from './parse-body.js';
import { RejectionSummary } from './rejection-summary.js';
import { bodyArbitrary, contentTypeArbitrary, extraHeadersArbitrary } from './test-support/collector-arbitraries.js';
import { startCollectorHarness, type CollectorHarness } from './test-support/collector-harness.js';
import { RecordingKinesis } from './test-support/recording-kinesis.js';

/** Largest answer any request may get, whatever it carries. */
const ANSWER_MAX_BYTES = 64 * 1024;
const MAX_EVENTS = 40;
const RUNS = 300;

describe('collector fuzz (app.inject, kinesalite; written records decoded by the processors)', () => {
  let h: CollectorHarness;
  let recorder: RecordingKinesis;
  beforeAll(async () => {
    h = await startCollectorHarness(
      {
        INGEST_LINGER_MS: '0',
        INGEST_MAX_EVENTS_PER_REQUEST: String(MAX_EVENTS),
        INGEST_MAX_BODY_BYTES: String(64 * 1024),
      },
      (real) => {
        recorder = new RecordingKinesis(real);
        return { kinesis: recorder };
      },
    );
  });
  afterAll(async () => h.close());

  it('never answers 5xx, keeps every answer small, accounts for every event, and writes only events the processors accept', async () => {
    const now = Date.now();
    const statuses = new Map<number, number>();
    let acceptedTotal = 0;
    await fc.assert(
      fc.asyncProperty(
        bodyArbitrary(now, MAX_EVENTS),
        contentTypeArbitrary,
        extraHeadersArbitrary,
        async (body, contentType, extraHeaders) => {
          const writtenBefore = recorder.written.length;
          const headers: Record<string, string> = { ...extraHeaders };
          if (contentType !== undefined) headers['content-type'] = contentType;
          const response = await h.collector.app.inject({
            method: 'POST',
            url: '/api/v1/events',
            payload: body.payload,
            headers,
          });
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
          expect(response.statusCode, response.body.slice(0, 300)).toBeLessThan(500);
          expect(response.rawPayload.length).toBeLessThan(ANSWER_MAX_BYTES);
          const answer = JSON.parse(response.body) as {
            accepted?: number;
            rejected?: unknown[];
            invalidIndexes?: number[];
            retryIndexes?: number[];
            rejectedByRule?: Record<string, number>;
            error?: { code: string; message: string; details?: { rule?: string } };
          };

          const written = recorder.written.slice(writtenBefore);
          if (body.description === 'invalid utf-8') {
            // Never decoded with U+FFFD replacements (that merges user ids): refused whole.
            expect(answer.accepted).toBeUndefined();
            if (response.statusCode === 400) expect(answer.error?.details?.rule).toBe('utf-8');
          }
          if (answer.accepted === undefined) {
            // A whole-request refusal: a code, a message, and nothing written.
            expect(typeof answer.error?.code).toBe('string');
            expect(typeof answer.error?.message).toBe('string');
            expect(written).toHaveLength(0);
            return;
          }
          expect([202, 400]).toContain(response.statusCode);
          expect(written).toHaveLength(answer.accepted);
          // The validator never threw on an event (that would be a defect, reported under its own rule).
          expect(answer.rejectedByRule?.[VALIDATOR_DEFECT]).toBeUndefined();
          acceptedTotal += answer.accepted;
          if (body.events !== undefined && bodyFormatOf(contentType) === 'json') {
            expect(answer.accepted + (answer.invalidIndexes?.length ?? 0) + (answer.retryIndexes?.length ?? 0)).toBe(
              body.events,
            );
          }
          // What the processors make of exactly what was written: no dead letter, the same events.
          const decoded = decodeShardBatch({ shardId: 'fuzz', records: written }, h.config.events);
          expect(decoded.deadLetters.map((letter) => letter.reasons)).toEqual([]);
          expect(decoded.valid).toHaveLength(answer.accepted);
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? RUNS), seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
    );
    // The run exercised both sides: some requests were accepted, some refused.
    expect(acceptedTotal).toBeGreaterThan(0);
    expect([...statuses.keys()].some((status) => status >= 400)).toBe(true);
  }, 120_000);
});

describe('collector fuzz: pure pieces', () => {
  it('reads a Content-Type as JSON/NDJSON in UTF-8 or refuses it with a 415 naming its rule', () => {
    fc.assert(
      fc.property(fc.oneof(contentTypeArbitrary, fc.string({ unit: 'binary', maxLength: 60 })), (contentType) => {
        try {
          const format = requestBodyFormat(contentType);
          expect(['json', 'ndjson']).toContain(format);
          // Accepted: every charset parameter says UTF-8.
          expect(contentType).not.toMatch(/(^|;)\s*charset\s*=\s*(?!"?utf-?8"?\s*(;|$))/i);
        } catch (error) {
          expect(isPipelineError(error)).toBe(true);
          if (!isPipelineError(error)) return;
          expect(error.statusCode).toBe(415);
          expect(['media-type', 'charset']).toContain((error.details as { rule: string }).rule);
          expect(error.message.length).toBeLessThan(200);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('parses any bytes into at most maxEvents candidates or refuses them with a typed 400/413', () => {
    const now = Date.now();
    fc.assert(
      fc.property(bodyArbitrary(now, 8), fc.constantFrom('json' as const, 'ndjson' as const), (body, format) => {
        try {
          const text = decodeUtf8Body(typeof body.payload === 'string' ? Buffer.from(body.payload) : body.payload);
          const parsed = parseBody(text, format, { maxEvents: 8 });
          expect(parsed.candidates.length).toBeLessThanOrEqual(8);
        } catch (error) {
          expect(isPipelineError(error)).toBe(true);
          if (!isPipelineError(error)) return;
          expect([400, 413]).toContain(error.statusCode);
          expect(['utf-8', 'max-depth', 'json', 'shape', 'max-events']).toContain(
            (error.details as { rule: string }).rule,
          );
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('reports the same first problems, totals and indexes as sorting every problem would', () => {
    const rejection = fc.record({
      index: fc.nat({ max: 60 }),
      field: fc.string({ unit: 'binary', maxLength: 200 }),
      rule: fc.constantFrom('required', 'type', 'stream-write-failed', 'pattern'),
      message: fc.string({ maxLength: 300 }),
    });
    fc.assert(
      fc.property(fc.array(rejection, { maxLength: 400 }), fc.integer({ min: 1, max: 30 }), (rejections, max) => {
        const summary = new RejectionSummary(max);
        summary.addAll(rejections);
        const report = summary.report();
        const expected = [...rejections].sort((a, b) => a.index - b.index).slice(0, max);
        expect(report.rejected.map((r) => [r.index, r.rule])).toEqual(expected.map((r) => [r.index, r.rule]));
        expect(report.rejected.every((r) => r.field.length <= 96 && r.message.length <= 240)).toBe(true);
        expect(report.rejectedTotal).toBe(rejections.length);
        expect(Object.values(report.rejectedByRule).reduce((a, b) => a + b, 0)).toBe(rejections.length);
        const retry = new Set(rejections.filter((r) => r.rule === 'stream-write-failed').map((r) => r.index));
        expect(report.retryIndexes).toEqual([...retry].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });
});
