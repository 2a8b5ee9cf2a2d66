/**
 * How a store writes a record's identity into a claim or memo: a short shard tag and the
 * record position. Kept short because one lives in every eventId claim and in every
 * user's pending memos (memory is reported per million users).
 */

/** `shardId-000000000003` → `3`; any other shard id is kept whole. */
export function shardTag(shardId: string): string {
  const match = /^shardId-0*(\d+)$/.exec(shardId);
  return match ? (match[1] === '' ? '0' : (match[1] as string)) : shardId;
}

/** Ascending in ASCII, so string order of encoded numbers follows numeric order. */
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function toBase62(value: bigint): string {
  let text = '';
  for (let rest = value; rest > 0n; rest /= 62n) text = BASE62[Number(rest % 62n)] + text;
  return text || '0';
}

/**
 * A record position (`recordPosition`) in about half the characters, still ordered as a
 * string (byte order): 2-character length, the sequence number in base 62, then the
 * sub-sequence number in 4 base-62 characters. A 56-digit sequence number gives 38
 * characters instead of 66 — short enough that a user's state hash stays in Redis's
 * compact listpack encoding (values ≤ 64 bytes by default).
 */
export function compactPosition(position: string): string {
  const match = /^\d{3}(\d+)\.(\d+)$/.exec(position);
  if (!match) throw new Error(`not a record position: ${position}`);
  const sequence = toBase62(BigInt(match[1] as string));
  return `${toBase62(BigInt(sequence.length)).padStart(2, '0')}${sequence}${toBase62(BigInt(match[2] as string)).padStart(4, '0')}`;
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
