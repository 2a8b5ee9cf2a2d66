/**
 * How the Redis store talks to its batch script (redis-scripts.ts, APPLY_BATCH_LUA): a chunk
 * of requests becomes the script's per-chunk arguments, and the script's reply becomes one
 * outcome per request. Pure: no connection.
 */
import { PipelineError } from '../../common/errors.js';
import { writeUuidBytes } from '../../common/event-ids.js';
import { fnv1a32 } from '../../common/hashing.js';
import { REQUEST_FIXED_BYTES, USER_BUCKETS } from './redis-scripts.js';
import { compactPosition } from './record-identity.js';
import { stateLost } from './state-rules.js';
import type { StateOutcome, StateRequest } from './types.js';

/**
 * Writes a UUID's 16 bytes at `offset` (claims are keyed by the binary eventId). Contract-valid
 * eventIds are UUIDs; anything else is a programming error, never silently truncated.
 */
function writeEventId(target: Buffer, offset: number, eventId: string): void {
  if (!writeUuidBytes(target, offset, eventId)) {
    throw new PipelineError('INTERNAL', `state request eventId is not a UUID: ${JSON.stringify(eventId)}`);
  }
}

/** "dim␟value␞dim␟value": the segments argument of one request. */
function encodeSegments(segments: StateRequest['segments']): string {
  let text = '';
  for (let i = 0; i < segments.length; i++) {
    const [dimension, value] = segments[i] as readonly [string, string];
    text += i === 0 ? `${dimension}\u001f${value}` : `\u001e${dimension}\u001f${value}`;
  }
  return text;
}

/** Parsed segments by their text: users share few combinations, so outcomes share the arrays. */
const segmentsByText = new Map<string, readonly (readonly [string, string])[]>();

function parseSegments(encoded: string): readonly (readonly [string, string])[] {
  let parsed = segmentsByText.get(encoded);
  if (parsed !== undefined) return parsed;
  parsed =
    encoded === ''
      ? []
      : encoded.split('\u001e').map((part) => {
          const equals = part.indexOf('=');
          return [part.slice(0, equals), part.slice(equals + 1)] as const;
        });
  if (segmentsByText.size >= 10_000) segmentsByText.clear();
  segmentsByText.set(encoded, parsed);
  return parsed;
}

const COMMITTED: StateOutcome = Object.freeze({ kind: 'committed' });
const DUPLICATE: StateOutcome = Object.freeze({ kind: 'duplicate' });
const REFUSED: StateOutcome = Object.freeze({ kind: 'refused', rule: 'user-total-limit' });

/** Appends the outcomes of one script reply (see APPLY_BATCH_LUA) to `into`. */
export function readOutcomes(reply: unknown, expectedEpoch: string, into: StateOutcome[]): void {
  const [header, ...texts] = reply as string[];
  if (header === '!') throw stateLost(expectedEpoch, texts[0] || undefined);
  if (header === undefined || header === '') return;
  for (const entry of header.split(',')) {
    const kind = entry.charCodeAt(0);
    if (kind === 99 /* c */) into.push(COMMITTED);
    else if (kind === 100 /* d */) into.push(DUPLICATE);
    else if (kind === 114 /* r */) into.push(REFUSED);
    else {
      const colon = entry.indexOf(':');
      const before = entry.slice(colon + 1);
      into.push({
        kind: 'applied',
        replay: kind === 112 /* p */,
        segments: parseSegments(texts[Number(entry.slice(1, colon)) - 1] ?? ''),
        totalBefore: before === '-' ? undefined : BigInt(before),
      });
    }
  }
}

/**
 * The per-chunk arguments of APPLY_BATCH_LUA for `requests[from .. from + count)`: the count,
 * the smallest and largest compact position, the fixed-width bytes of every request (eventId,
 * claim token, eventId hash, user bucket), then six strings per request.
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
      request.variantMetric,
      request.scaledValue.toString(),
      encodeSegments(request.segments),
    );
  }
  args[1] = smallest;
  args[2] = largest;
  return args;
}
