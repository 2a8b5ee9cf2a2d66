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

/** The identity stored in claims and memos: `${shardTag}@${position}`. */
export function storedIdentity(shardId: string, position: string): string {
  return `${shardTag(shardId)}@${position}`;
}

/** The key of a user's state: experiment and user, separated by a character keys cannot hold. */
export function userStateKey(experimentId: string, userId: string): string {
  return `${experimentId}\u001f${userId}`;
}

/** The key of the admitted values of one experiment's dimension. */
export function admissionKey(experimentId: string, dimension: string): string {
  return `${experimentId}\u001f${dimension}`;
}
