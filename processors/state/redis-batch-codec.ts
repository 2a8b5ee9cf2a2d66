/**
 * How the Redis store talks to its batch script (redis-scripts.ts, APPLY_BATCH_LUA): a chunk
 * of requests becomes the script's per-chunk arguments, and the script's reply becomes one
 * answer per request (`StateAnswers`). Pure: no connection.
 */
import { PipelineError } from '../../common/errors.js';
import { writeUuidBytes } from '../../common/event-ids.js';
import { fnv1a32 } from '../../common/hashing.js';
import { REQUEST_FIXED_BYTES, USER_BUCKETS } from './redis-scripts.js';
import { compactPosition } from './record-identity.js';
import { corruptUser, notScaled, stateLost } from './state-rules.js';
import { ANSWER, type StateAnswers } from './state-answers.js';
import type { StateRequest } from './types.js';

/**
 * Writes a UUID's 16 bytes at `offset` (claims are keyed by the binary eventId). Contract-valid
 * eventIds are UUIDs; anything else is a programming error, never silently truncated.
 */
function writeEventId(target: Buffer, offset: number, eventId: string): void {
  if (!writeUuidBytes(target, offset, eventId)) {
    throw new PipelineError('INTERNAL', `state request eventId is not a UUID: ${JSON.stringify(eventId)}`);
  }
}

/** Largest |covariate| (scaled) the Lua keeps exactly: doubles hold integers exactly up to 2^53. */
const MAX_EXACT_COVARIATE = 2 ** 52;

/**
 * "dim␟value␞dim␟value", then "␝metric␟value␞…" when the request carries covariates: the
 * segments argument of one request (both are fixed at the user's first event, together).
 */
function encodeSegments(segments: StateRequest['segments'], covariates: StateRequest['covariates']): string {
  let text = '';
  for (let i = 0; i < segments.length; i++) {
    const [dimension, value] = segments[i] as readonly [string, string];
    text += i === 0 ? `${dimension}\u001f${value}` : `\u001e${dimension}\u001f${value}`;
  }
  if (covariates === undefined || covariates.length === 0) return text;
  for (let i = 0; i < covariates.length; i++) {
    const [metric, value] = covariates[i] as readonly [string, number];
    if (value > MAX_EXACT_COVARIATE || value < -MAX_EXACT_COVARIATE) {
      throw new PipelineError('INTERNAL', `state request covariate ${metric} is beyond ±2^52 (scaled): ${value}`);
    }
    text += `${i === 0 ? '\u001d' : '\u001e'}${metric}\u001f${value}`;
  }
  return text;
}

/** "variant#metric", then "␝partner␞partner" when the request names partners. */
function encodeVariantMetric(variantMetric: string, partners: StateRequest['partners']): string {
  return partners === undefined || partners.length === 0
    ? variantMetric
    : `${variantMetric}\u001d${partners.join('\u001e')}`;
}

/** The one empty list answers share (never mutated). */
const NONE: readonly never[] = Object.freeze([]);

/** Parsed segments by their text: users share few combinations, so answers share the arrays. */
const segmentsByText = new Map<string, readonly (readonly [string, string])[]>();

function parseSegments(encoded: string): readonly (readonly [string, string])[] {
  if (encoded === '') return NONE;
  let parsed = segmentsByText.get(encoded);
  if (parsed !== undefined) return parsed;
  parsed = encoded.split('\u001e').map((part) => {
    const equals = part.indexOf('=');
    return [part.slice(0, equals), part.slice(equals + 1)] as const;
  });
  if (segmentsByText.size >= 10_000) segmentsByText.clear();
  segmentsByText.set(encoded, parsed);
  return parsed;
}

/** "metric=value␞…" (scaled integers): a user's covariates. Parsed per answer (they differ per user). */
function parseCovariates(encoded: string): readonly (readonly [string, number])[] {
  return encoded.split('\u001e').map((part) => {
    const equals = part.indexOf('=');
    return [part.slice(0, equals), Number(part.slice(equals + 1))] as const;
  });
}

/** A total in a reply: a decimal integer (exact as a number: |total| ≤ 2^52), or "-" for none. */
const totalOf = (text: string): number | undefined => (text === '-' ? undefined : Number(text));

/**
 * Writes the answers of one script reply (see APPLY_BATCH_LUA) into `answers` from `offset`, and
 * returns the offset after them. A reply with more answers than `answers` has room for is a
 * defect of the script: refused before anything past the end is written.
 */
export function readAnswers(reply: unknown, expectedEpoch: string, answers: StateAnswers, offset: number): number {
  const [header, ...texts] = reply as string[];
  if (header === '!') throw stateLost(expectedEpoch, texts[0] || undefined);
  if (header === 'x') throw corruptUser(texts[0] ?? '', texts[1] ?? '', texts[2] ?? 'unreadable');
  if (header === undefined || header === '') return offset;
  const entries = header.split(',');
  if (offset + entries.length > answers.length) {
    throw new PipelineError(
      'INTERNAL',
      `state script answered ${offset + entries.length} of ${answers.length} requests`,
    );
  }
  let index = offset;
  for (const entry of entries) {
    const kind = entry.charCodeAt(0);
    if (kind === 99 /* c */) answers.answer(index, ANSWER.committed);
    else if (kind === 100 /* d */) answers.answer(index, ANSWER.duplicate);
    else if (kind === 114 /* r */) answers.answer(index, ANSWER.refused);
    else {
      // a<text>:<before>[:<partner total>…] or p…: the user's text, the memo.
      const colon = entry.indexOf(':');
      const text = texts[Number(entry.slice(1, colon)) - 1] ?? '';
      const group = text.indexOf('\u001d');
      const memo = entry.slice(colon + 1);
      const partnersAt = memo.indexOf(':');
      answers.applied(
        index,
        kind === 112 /* p */,
        parseSegments(group < 0 ? text : text.slice(0, group)),
        totalOf(partnersAt < 0 ? memo : memo.slice(0, partnersAt)),
        group < 0 ? NONE : parseCovariates(text.slice(group + 1)),
        partnersAt < 0
          ? NONE
          : memo
              .slice(partnersAt + 1)
              .split(':')
              .map(totalOf),
      );
    }
    index++;
  }
  return index;
}

/**
 * The per-chunk arguments of APPLY_BATCH_LUA for `requests[from .. from + count)`: the count,
 * the smallest and largest compact position, the fixed-width bytes of every request (eventId,
 * claim token, eventId hash, user bucket), then six strings per request (partners ride on the
 * variant#metric string, covariates on the segments string, each after a ␝: a request without
 * them sends exactly what it sent before they existed).
 *
 * @example
 *   redis.evalsha(sha, 3, ...keys, epoch, ...storeArgs, ...encodeChunk(requests, 0, requests.length, '7'));
 */
export function encodeChunk(
  requests: readonly StateRequest[],
  from: number,
  count: number,
  shardTag: string,
): (string | Buffer)[] {
  const fixed = Buffer.allocUnsafe(count * REQUEST_FIXED_BYTES);
  const args: (string | Buffer)[] = [String(count), '', '', fixed];
  let smallest = '';
  let largest = '';
  for (let i = 0; i < count; i++) {
    const request = requests[from + i] as StateRequest;
    if (!Number.isSafeInteger(request.scaledValue)) throw notScaled(request);
    const position = compactPosition(request.position);
    // Compact positions are ASCII: JavaScript's string order is their byte order.
    if (i === 0 || position < smallest) smallest = position;
    if (position > largest) largest = position;
    const identity = `${shardTag}@${position}`;
    const offset = i * REQUEST_FIXED_BYTES;
    writeEventId(fixed, offset, request.eventId);
    // The claim token: two FNV-1a hashes of the record's identity (64 bits; compared for equality only).
    fixed.writeUInt32BE(fnv1a32(identity), offset + 16);
    fixed.writeUInt32BE(fnv1a32(`#${identity}`), offset + 20);
    fixed.writeUInt32BE(fnv1a32(request.eventId), offset + 24);
    fixed.writeUInt16BE(fnv1a32(request.userId) % USER_BUCKETS, offset + 28);
    args.push(
      position,
      request.experimentId,
      request.userId,
      encodeVariantMetric(request.variantMetric, request.partners),
      String(request.scaledValue),
      encodeSegments(request.segments, request.covariates),
    );
  }
  args[1] = smallest;
  args[2] = largest;
  return args;
}
