/**
 * How a store writes a record's identity into a claim or memo: a short shard tag and the
 * record position. Kept short because one lives in every eventId claim and in every
 * user's pending memos (memory is reported per million users).
 */

const shardTags = new Map<string, string>();

/** `shardId-000000000003` → `3`; any other shard id is kept whole. Memoized: a process sees few shards. */
export function shardTag(shardId: string): string {
  let tag = shardTags.get(shardId);
  if (tag !== undefined) return tag;
  const match = /^shardId-0*(\d+)$/.exec(shardId);
  tag = match?.[1] ?? shardId; // `0*` is greedy but `\d+` keeps at least one digit: `…000` → `0`
  if (shardTags.size >= 10_000) shardTags.clear();
  shardTags.set(shardId, tag);
  return tag;
}

/** The last sequence number `compactPosition` converted: the events of one record share it. */
let lastSequence = { digits: '', compact: '' };

/**
 * A record position (`recordPosition`) in about two thirds of the characters, still
 * ordered as a string (byte order): 2-character length, the sequence number in base 36
 * (digits then lower-case letters: ascending in ASCII), then the sub-sequence number in 4
 * base-36 characters. A 56-digit sequence number gives 42 characters instead of 66 — short
 * enough that a user's state hash stays in Redis's compact listpack encoding (values ≤ 64
 * bytes by default). Base 36 because `BigInt#toString(36)` is native and fast.
 */
export function compactPosition(position: string): string {
  const dot = position.indexOf('.');
  if (dot < 4) throw new Error(`not a record position: ${position}`);
  const digits = position.slice(3, dot);
  if (digits !== lastSequence.digits) {
    const sequence = BigInt(digits).toString(36);
    lastSequence = { digits, compact: `${sequence.length.toString(36).padStart(2, '0')}${sequence}` };
  }
  const sub = Number(position.slice(dot + 1))
    .toString(36)
    .padStart(4, '0');
  return `${lastSequence.compact}${sub}`;
}

/** The identity stored in memos: `${shardTag}@${compactPosition}`. */
export function storedIdentity(shardId: string, position: string): string {
  return `${shardTag(shardId)}@${compactPosition(position)}`;
}

/** The key of a user's state: experiment and user, separated by a character keys cannot hold. */
export function userStateKey(experimentId: string, userId: string): string {
  return `${experimentId}\u001f${userId}`;
}

/** The key of the admitted values of one experiment's dimension. */
export function admissionKey(experimentId: string, dimension: string): string {
  return `${experimentId}\u001f${dimension}`;
}
