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
import { ShardRecordIdentities, shardTag, startsWithText } from './record-identity.js';
import { HOLDER, type Holder } from './claim-table.js';
import { ANSWER, StateAnswers } from './state-answers.js';
import type { StateOutcome, StateRequest } from './types.js';

/**
 * A memo: a record not yet committed, the user's total before it (`'refused'`: refused) and,
 * only when the request named partners, their running totals at the record (so a memo of a
 * request without partners costs what it did before partners existed).
 */
export type Memo = [
  identity: string,
  before: number | undefined | 'refused',
  partnerTotals?: readonly (number | undefined)[],
];

/** A user's running total for one variant and metric, and the memos of uncommitted records. */
export interface RunningTotal {
  variantMetric: string;
  total: number | undefined;
  memos: Memo[];
}

/**
 * Everything kept per (experiment, user). `segments` is undefined until the first applied event;
 * `covariates` are fixed at the same moment and left out when that event carried none.
 */
export interface UserState {
  segments: readonly (readonly [string, string])[] | undefined;
  covariates?: readonly (readonly [string, number])[];
  totals: RunningTotal[];
}

/**
 * What the rules read and write; each store backs it with its own maps or database. Claims come
 * in one of two forms (`TwoStepClaims` or `OneStepClaims`).
 */
export type StateTables = TablesOfUsers & (TwoStepClaims | OneStepClaimTables);

/**
 * Claims looked up, then made once the event counts. A record is named by `records`, the call's
 * identities, as the record they read last (`records.head` and `records.sub` are its identity in
 * parts, `records.identity()` as one string): a table can keep it without building the string.
 */
export interface TwoStepClaims {
  /** Who holds `eventId`'s live claim: none, the record `records` read last, or another. */
  holderOf(eventId: string, records: ShardRecordIdentities): Holder;
  /** Claims `eventId` for the record `records` read last (no live claim holds it: `holderOf` said so). */
  claim(eventId: string, records: ShardRecordIdentities): void;
  oneStepClaims?: undefined;
}

/** The tables of a store that claims as it looks up. */
export interface OneStepClaimTables {
  oneStepClaims: OneStepClaims;
  holderOf?: undefined;
  claim?: undefined;
}

/**
 * Claims made with their lookup, for a store where that saves a step: LMDB makes a claim with one
 * put that refuses to overwrite, where a lookup and a put walk its B-tree twice (the embedded
 * store's apply, 300,000 events over 60,000 users in calls of 50,000, six alternating pairs:
 * 8.8–10.6 → 8.4–9.4 µs per event, lower in every pair). The rules release a claim made this way
 * on every way out but a fresh count (a refusal, a memo's answer), so the claims held after a call
 * are the ones the two-step form leaves.
 */
export interface OneStepClaims {
  /**
   * Claims `eventId` for `identity` unless a live claim holds it, and answers that holder;
   * undefined means claimed now (an expired claim is replaced).
   */
  claimUnlessHeld(eventId: string, identity: string): string | undefined;
  /** Drops the claim `claimUnlessHeld` just made for `eventId`. */
  release(eventId: string): void;
}

/** The users, admissions and positions every store keeps (StateTables less its claims). */
export interface TablesOfUsers {
  /** The state of one user of one experiment (two keys: never joined into a new string per event). */
  user(experimentId: string, userId: string): UserState | undefined;
  /**
   * Called after every change of a user, with the keys just read by `user` (stores that
   * serialise write it back here; stores that keep it keep it recent).
   */
  saveUser(experimentId: string, userId: string, user: UserState): void;
  /** Admits `value` to its own cell for (experiment, dimension) unless `cap` values are in; returns the value to use. */
  admit(experimentId: string, dimension: string, value: string, cap: number): string;
  /** The shard's committed position (compact form). */
  committed(shardId: string): string | undefined;
  /**
   * Optional: where the store keeps the memos of the call's shard itself (the in-process store,
   * memo-log.ts), instead of on the running totals where they are written back with the user
   * (stores that persist users). The rules then never touch `RunningTotal.memos`.
   */
  memoLog?: MemoLog;
}

/**
 * The memos of the call's shard, kept by the store: a memo is found by the record's position
 * and answers only for the running total it was written for.
 */
export interface MemoLog {
  /** The memo of the record at `position` written for `running`, if held. */
  find(running: RunningTotal, position: string): Memo | undefined;
  /** Memoizes the record at `position` (`before`: the total before it, or `'refused'`). */
  add(
    running: RunningTotal,
    position: string,
    before: Memo[1],
    partnerTotals: readonly (number | undefined)[] | undefined,
  ): void;
}

/** The rules' bounds. */
export interface RuleLimits {
  segmentValueCap: number;
  userTotalLimit: number;
}

/** The one empty answer every outcome without covariates or partners shares (never mutated). */
const NONE: readonly never[] = Object.freeze([]);

/**
 * The memos of a running total that holds none: shared and frozen, so a total whose memos
 * are all committed holds no array of its own (most totals, between a user's events).
 * `pushMemo` replaces it with a one-memo array; nothing else ever adds to it.
 */
const NO_MEMOS = Object.freeze([]) as unknown as Memo[];

/**
 * What every request of one `apply` call shares: the shard's committed position (the call is
 * atomic, so it cannot move meanwhile) and the identity prefix of the shard's records.
 * Built once per call, not per request.
 */
interface ShardView {
  /** `${shardTag}@` */
  prefix: string;
  /** The identities of the shard's records, and their fencing test. */
  records: ShardRecordIdentities;
  /**
   * `${prefix}${committed}` (committed: the compact position), undefined when nothing is
   * committed yet. Identities of the shard carry the same prefix, so comparing an identity
   * with it compares positions: at or below it is committed.
   */
  committedIdentity: string | undefined;
  /** −userTotalLimit (negated once per call, not per event). */
  lowestTotal: number;
}

function shardView(tables: StateTables, shardId: string, limits: RuleLimits): ShardView {
  const prefix = `${shardTag(shardId)}@`;
  const committed = tables.committed(shardId);
  return {
    prefix,
    records: new ShardRecordIdentities(prefix, committed),
    committedIdentity: committed === undefined ? undefined : `${prefix}${committed}`,
    lowestTotal: -limits.userTotalLimit,
  };
}

/**
 * Drops the memos of the shard (`prefix`) at or before its committed position, in place (one
 * pass, no new array), and tells whether a memo of the shard remains (one not committed yet).
 * Both sides of the comparison carry the same `<tag>@` prefix, so comparing whole identities
 * compares the positions.
 */
function dropCommittedMemos(running: RunningTotal, prefix: string, committedIdentity: string): boolean {
  const memos = running.memos;
  let kept = 0;
  let ofShard = false;
  for (let index = 0; index < memos.length; index++) {
    const memo = memos[index] as Memo;
    const identity = memo[0];
    if (startsWithText(identity, prefix)) {
      if (identity <= committedIdentity) continue;
      ofShard = true;
    }
    if (kept !== index) memos[kept] = memo;
    kept++;
  }
  if (kept === 0) running.memos = NO_MEMOS;
  else if (kept !== memos.length) memos.length = kept;
  return ofShard;
}

function pushMemo(running: RunningTotal, memo: Memo): void {
  if (running.memos.length > 0) running.memos.push(memo);
  else running.memos = [memo];
}

/**
 * Drops the memos at or before `committed` (compact form) of `shardId` from each running
 * total, and returns those still holding memos of that shard (not committed yet): what a store
 * that reads users with their memos runs to leave out the committed ones.
 */
export function releaseCommittedMemos(
  holders: readonly RunningTotal[],
  shardId: string,
  committed: string,
): RunningTotal[] {
  const prefix = `${shardTag(shardId)}@`;
  const committedIdentity = `${prefix}${committed}`;
  const kept: RunningTotal[] = [];
  for (let index = 0; index < holders.length; index++) {
    const running = holders[index] as RunningTotal;
    if (running.memos.length > 0 && dropCommittedMemos(running, prefix, committedIdentity)) kept.push(running);
  }
  return kept;
}

/** The user's running total of `variantMetric`, if any (a loop: this runs once per event). */
function runningTotalOf(user: UserState, variantMetric: string): RunningTotal | undefined {
  const totals = user.totals;
  for (let i = 0; i < totals.length; i++) {
    const running = totals[i] as RunningTotal;
    if (running.variantMetric === variantMetric) return running;
  }
  return undefined;
}

/** The memo of the record `identity`, if any. */
function memoOf(running: RunningTotal, identity: string): Memo | undefined {
  const memos = running.memos;
  for (let i = 0; i < memos.length; i++) {
    const memo = memos[i] as Memo;
    if (memo[0] === identity) return memo;
  }
  return undefined;
}

/**
 * Applies a call's requests in order (see the module comment for the rules): what every
 * synchronous store's `apply` runs inside its atomic step. The shard's committed position
 * and identity prefix are read once for the call.
 */
export function applyStateRequests(
  tables: StateTables,
  shardId: string,
  requests: readonly StateRequest[],
  limits: RuleLimits,
): StateAnswers {
  const view = shardView(tables, shardId, limits);
  const answers = new StateAnswers(requests.length);
  for (let i = 0; i < requests.length; i++) applyOne(tables, view, requests[i] as StateRequest, limits, answers, i);
  return answers;
}

/** Applies one request (see the module comment for the rules) and answers it as an object. */
export function applyStateRequest(
  tables: StateTables,
  shardId: string,
  request: StateRequest,
  limits: RuleLimits,
): StateOutcome {
  const answers = new StateAnswers(1);
  applyOne(tables, shardView(tables, shardId, limits), request, limits, answers, 0);
  return answers.outcome(0);
}

/** The error for a request whose value is not a scaled integer: a defect of the caller, never counted. */
export function notScaled(request: Pick<StateRequest, 'eventId' | 'scaledValue'>): PipelineError {
  return new PipelineError(
    'INTERNAL',
    `state request ${request.eventId} has scaledValue ${String(request.scaledValue)}: not a safe integer (scaledNumber makes one)`,
  );
}

/**
 * Claims `eventId` for the record `records` read last unless a live claim holds it, and says who
 * held it (`HOLDER.none`: claimed now). The identity is built only here, where a one-step store
 * stores or compares it (a new two-part string each time).
 */
function holderOfOneStep(claims: OneStepClaims, eventId: string, records: ShardRecordIdentities): Holder {
  const identity = records.identity();
  const holder = claims.claimUnlessHeld(eventId, identity);
  if (holder === undefined) return HOLDER.none;
  return holder === identity ? HOLDER.thisRecord : HOLDER.another;
}

/** Applies one request and writes its answer at `index` (the module comment has the rules). */
function applyOne(
  tables: StateTables,
  view: ShardView,
  request: StateRequest,
  limits: RuleLimits,
  answers: StateAnswers,
  index: number,
): void {
  // Checked before anything changes: a value that is not a safe integer (NaN, a fraction, beyond 2^53)
  // would poison the user's running total for good.
  if (!Number.isSafeInteger(request.scaledValue)) throw notScaled(request);
  const records = view.records;
  if (records.read(request.position)) return answers.answer(index, ANSWER.committed);
  const committed = view.committedIdentity;
  const log = tables.memoLog;

  const holder =
    tables.oneStepClaims === undefined
      ? tables.holderOf(request.eventId, records)
      : holderOfOneStep(tables.oneStepClaims, request.eventId, records);
  if (holder === HOLDER.another) return answers.answer(index, ANSWER.duplicate);
  /** A claim made just now with its lookup: released below unless the event counts afresh. */
  const claimedNow = holder === HOLDER.none ? tables.oneStepClaims : undefined;

  const user: UserState = tables.user(request.experimentId, request.userId) ?? { segments: undefined, totals: [] };
  let running = runningTotalOf(user, request.variantMetric);
  const memo =
    running === undefined
      ? undefined
      : log !== undefined
        ? log.find(running, request.position)
        : running.memos.length === 0
          ? undefined
          : memoOf(running, records.identity());
  if (memo) {
    claimedNow?.release(request.eventId);
    if (memo[1] === 'refused') return answers.answer(index, ANSWER.refused);
    return answers.applied(
      index,
      true,
      user.segments ?? NONE,
      memo[1],
      user.covariates ?? NONE,
      alignPartnerTotals(memo[2], request.partners),
    );
  }

  if (!running) {
    running = { variantMetric: request.variantMetric, total: undefined, memos: NO_MEMOS };
    user.totals.push(running);
  }
  if (committed !== undefined && running.memos.length > 0) dropCommittedMemos(running, view.prefix, committed);
  const totalBefore = running.total;
  // Exact whenever it is kept: only a sum beyond 2^53 can round, and the limit (at most 2^52, limits.ts) refuses it.
  const totalAfter = (totalBefore ?? 0) + request.scaledValue;
  if (totalAfter > limits.userTotalLimit || totalAfter < view.lowestTotal) {
    // Not claimed (a claim made with its lookup is released below): the event was not counted, so a replay of
    // its dead letter (another record) is judged afresh.
    if (log !== undefined) log.add(running, request.position, 'refused', undefined);
    else pushMemo(running, [records.identity(), 'refused']);
    tables.saveUser(request.experimentId, request.userId, user);
    claimedNow?.release(request.eventId);
    return answers.answer(index, ANSWER.refused);
  }
  // The table keeps the record's identity as it likes: in two parts (the in-process claim table, claim-table.ts),
  // never as the memo's string, which is flattened when compared at commit.
  if (holder === HOLDER.none && tables.oneStepClaims === undefined) tables.claim(request.eventId, records);
  if (user.segments === undefined) {
    user.segments = admittedSegments(tables, request, limits.segmentValueCap);
    if (request.covariates && request.covariates.length > 0) {
      user.covariates = request.covariates.map(([metric, value]) => [metric, value] as const);
    }
  }
  // Read before this event's own total moves (a partner is another metric; this keeps it defined if not).
  const partnerTotals = request.partners?.length ? partnerTotalsOf(user, request.partners) : NONE;
  running.total = totalAfter;
  if (log !== undefined) {
    log.add(running, request.position, totalBefore, partnerTotals.length > 0 ? partnerTotals : undefined);
  } else {
    const identity = records.identity();
    pushMemo(running, partnerTotals.length > 0 ? [identity, totalBefore, partnerTotals] : [identity, totalBefore]);
  }
  tables.saveUser(request.experimentId, request.userId, user);
  answers.applied(index, false, user.segments, totalBefore, user.covariates ?? NONE, partnerTotals);
}

/**
 * The request's segments with each value admitted (capped values read `(other)`). When every
 * value is admitted as it is, the request's own array is the answer: users with the same
 * segments then share one array (decoders share it across events), and the cells reached
 * through it are resolved once (counters/cell-directory.ts), not once per user.
 */
function admittedSegments(
  tables: StateTables,
  request: StateRequest,
  cap: number,
): readonly (readonly [string, string])[] {
  const segments = request.segments;
  let admitted: (readonly [string, string])[] | undefined;
  for (let i = 0; i < segments.length; i++) {
    const [dimension, value] = segments[i] as readonly [string, string];
    const kept = tables.admit(request.experimentId, dimension, value, cap);
    if (kept !== value) admitted ??= segments.slice(0, i);
    if (admitted !== undefined)
      admitted.push(kept === value ? (segments[i] as readonly [string, string]) : [dimension, kept]);
  }
  return admitted ?? segments;
}

/**
 * A replay's partner totals: the memoized ones, one per partner the request names. They match
 * unless the experiment's plan changed between the record's first application and this replay
 * (a memo written without partners, or before partners existed): then the memoized values
 * answer by position and any partner beyond them answers `undefined`, the same on every replay.
 *
 * @example
 *   alignPartnerTotals([5], ['v#d', 'v#e']) // → [5, undefined]
 */
export function alignPartnerTotals(
  memoized: readonly (number | undefined)[] | undefined,
  partners: readonly string[] | undefined,
): readonly (number | undefined)[] {
  const count = partners?.length ?? 0;
  const held = memoized ?? NONE;
  if (held.length === count) return held;
  return Array.from({ length: count }, (_, index) => held[index]);
}

/** The user's running total of each partner (`variant#metric`), `undefined` where there is none. */
function partnerTotalsOf(user: UserState, partners: readonly string[]): (number | undefined)[] {
  return partners.map((partner) => runningTotalOf(user, partner)?.total);
}

/**
 * The error every store raises for a stored user whose bytes do not decode: not retriable, so the
 * commit step isolates that user's events and dead-letters them while every other user is counted
 * (processors/README.md, "Corrupt state"); retrying could never read them, and the shard would stall.
 */
export function corruptUser(experimentId: string, userId: string, cause: unknown): PipelineError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new PipelineError(
    'STATE_CORRUPT',
    `the stored state of user ${userId} in experiment ${experimentId} cannot be read (${reason}): ` +
      'its records are dead-lettered, the other users are counted; see processors/README.md "Corrupt state"',
    { cause, details: { experimentId, userId } },
  );
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
