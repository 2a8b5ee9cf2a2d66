/**
 * The state rules of the synchronous stores (embedded LMDB and in-process), written once
 * over a small table interface so both run the very same code; the Redis store runs the
 * same rules in Lua (redis-scripts.ts), and the shared contract suite holds all three to
 * one behaviour. A call runs inside one synchronous step (an LMDB write transaction, or one
 * turn of the event loop), so it is atomic like a Redis script.
 *
 * Per request, in this order:
 *   1. at or before the shard's committed position → `committed` (fencing: nothing changes)
 *   2. eventId claimed by another record → `duplicate`
 *   3. memo of this very record → the memoized answer (a replay): its total before and
 *      partner totals, with the user's fixed segments and covariates
 *   4. total would leave ±limit → memo "refused" (no claim: nothing was counted), `refused`
 *   5. otherwise claim, fix segments (capped) and covariates at the first event, read the
 *      partners' running totals, advance the running total, memo "total before" and the
 *      partner totals, drop memos the shard has committed past → `applied`
 */
import { PipelineError } from '../../common/errors.js';
import { compactPosition, shardTag, userStateKey } from './record-identity.js';
import type { StateOutcome, StateRequest } from './types.js';

/**
 * A memo: a record not yet committed, the user's total before it (`'refused'`: refused) and,
 * only when the request named partners, their running totals at the record (so a memo of a
 * request without partners costs what it did before partners existed).
 */
export type Memo = [
  identity: string,
  before: bigint | undefined | 'refused',
  partnerTotals?: readonly (bigint | undefined)[],
];

/** A user's running total for one variant and metric, and the memos of uncommitted records. */
export interface RunningTotal {
  variantMetric: string;
  total: bigint | undefined;
  memos: Memo[];
}

/**
 * Everything kept per (experiment, user). `segments` is undefined until the first applied event;
 * `covariates` are fixed at the same moment and left out when that event carried none.
 */
export interface UserState {
  segments: readonly (readonly [string, string])[] | undefined;
  covariates?: readonly (readonly [string, bigint])[];
  totals: RunningTotal[];
}

/** What the rules read and write; each store backs it with its own maps or database. */
export interface StateTables {
  claimHolder(eventId: string): string | undefined;
  claim(eventId: string, identity: string): void;
  user(key: string): UserState | undefined;
  /** Called after every change of `user` (stores that serialise write it back here). */
  saveUser(key: string, user: UserState): void;
  /** Admits `value` to its own cell for (experiment, dimension) unless `cap` values are in; returns the value to use. */
  admit(experimentId: string, dimension: string, value: string, cap: number): string;
  /** The shard's committed position (compact form). */
  committed(shardId: string): string | undefined;
}

/** The rules' bounds. */
export interface RuleLimits {
  segmentValueCap: number;
  userTotalLimit: bigint;
}

const abs = (value: bigint): bigint => (value < 0n ? -value : value);

/** The one empty answer every outcome without covariates or partners shares (never mutated). */
const NONE: readonly never[] = Object.freeze([]);

/**
 * Drops the memos of `shardId` at or before its committed position. Both sides of the
 * comparison carry the same `<tag>@` prefix, so comparing whole identities compares the
 * positions; the array is rebuilt only when something is dropped.
 */
function dropCommittedMemos(running: RunningTotal, shardId: string, committed: string): void {
  const prefix = `${shardTag(shardId)}@`;
  const committedIdentity = `${prefix}${committed}`;
  const isCommitted = ([memoIdentity]: Memo): boolean =>
    memoIdentity <= committedIdentity && memoIdentity.startsWith(prefix);
  if (running.memos.some(isCommitted)) running.memos = running.memos.filter((memo) => !isCommitted(memo));
}

/** Applies one request (see the module comment for the rules). */
export function applyStateRequest(
  tables: StateTables,
  shardId: string,
  request: StateRequest,
  limits: RuleLimits,
): StateOutcome {
  const position = compactPosition(request.position);
  const committed = tables.committed(shardId);
  if (committed !== undefined && position <= committed) return { kind: 'committed' };

  const identity = `${shardTag(shardId)}@${position}`;
  const holder = tables.claimHolder(request.eventId);
  if (holder !== undefined && holder !== identity) return { kind: 'duplicate' };

  const userKey = userStateKey(request.experimentId, request.userId);
  const user: UserState = tables.user(userKey) ?? { segments: undefined, totals: [] };
  let running = user.totals.find((candidate) => candidate.variantMetric === request.variantMetric);
  const memo = running?.memos.find(([memoIdentity]) => memoIdentity === identity);
  if (memo) {
    if (memo[1] === 'refused') return { kind: 'refused', rule: 'user-total-limit' };
    return {
      kind: 'applied',
      replay: true,
      segments: user.segments ?? [],
      totalBefore: memo[1],
      covariates: user.covariates ?? NONE,
      partnerTotals: alignPartnerTotals(memo[2], request.partners),
    };
  }

  if (!running) {
    running = { variantMetric: request.variantMetric, total: undefined, memos: [] };
    user.totals.push(running);
  }
  if (committed !== undefined && running.memos.length > 0) dropCommittedMemos(running, shardId, committed);
  const totalBefore = running.total;
  const totalAfter = (totalBefore ?? 0n) + request.scaledValue;
  if (abs(totalAfter) > limits.userTotalLimit) {
    // Not claimed: the event was not counted, so a replay of its dead letter (another record) is judged afresh.
    running.memos.push([identity, 'refused']);
    tables.saveUser(userKey, user);
    return { kind: 'refused', rule: 'user-total-limit' };
  }
  if (holder === undefined) tables.claim(request.eventId, identity);
  if (user.segments === undefined) {
    user.segments = request.segments.map(
      ([dimension, value]) =>
        [dimension, tables.admit(request.experimentId, dimension, value, limits.segmentValueCap)] as const,
    );
    if (request.covariates && request.covariates.length > 0) {
      user.covariates = request.covariates.map(([metric, value]) => [metric, value] as const);
    }
  }
  // Read before this event's own total moves (a partner is another metric; this keeps it defined if not).
  const partnerTotals = request.partners?.length ? partnerTotalsOf(user, request.partners) : NONE;
  running.total = totalAfter;
  running.memos.push(partnerTotals.length > 0 ? [identity, totalBefore, partnerTotals] : [identity, totalBefore]);
  tables.saveUser(userKey, user);
  return {
    kind: 'applied',
    replay: false,
    segments: user.segments,
    totalBefore,
    covariates: user.covariates ?? NONE,
    partnerTotals,
  };
}

/**
 * A replay's partner totals: the memoized ones, one per partner the request names. They match
 * unless the experiment's plan changed between the record's first application and this replay
 * (a memo written without partners, or before partners existed): then the memoized values
 * answer by position and any partner beyond them answers `undefined`, the same on every replay.
 *
 * @example
 *   alignPartnerTotals([5n], ['v#d', 'v#e']) // → [5n, undefined]
 */
export function alignPartnerTotals(
  memoized: readonly (bigint | undefined)[] | undefined,
  partners: readonly string[] | undefined,
): readonly (bigint | undefined)[] {
  const count = partners?.length ?? 0;
  const held = memoized ?? NONE;
  if (held.length === count) return held;
  return Array.from({ length: count }, (_, index) => held[index]);
}

/** The user's running total of each partner (`variant#metric`), `undefined` where there is none. */
function partnerTotalsOf(user: UserState, partners: readonly string[]): (bigint | undefined)[] {
  return partners.map((partner) => user.totals.find((running) => running.variantMetric === partner)?.total);
}

/**
 * The error every store raises when its epoch is not the caller's: counting must stop
 * (processors/README.md, "State loss").
 */
export function stateLost(expected: string, actual: string | undefined): PipelineError {
  return new PipelineError(
    'STATE_LOST',
    `state store epoch is ${actual ?? '(none)'}, but the counters were written with ${expected}: the store lost ` +
      'its data (flushed, restarted without persistence, failed over to an empty replica, evicted, or replaced). ' +
      'Counting stopped; see processors/README.md "State loss".',
    { details: { expected, actual } },
  );
}
