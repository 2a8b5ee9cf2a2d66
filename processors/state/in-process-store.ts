/**
 * The in-process `UserStateStore`, for `npm start -- --in-memory` and tests. Same rules as
 * every store (state-rules.ts), held in bounded tables (users: bounded-map.ts; claims:
 * claim-table.ts): when a bound is hit the least recently written user (or the oldest claim)
 * is forgotten and counted in `evictions`, and exactness is no longer guaranteed for that user.
 * Nothing survives the process: a restart is a new epoch, which the counter sink reports as
 * `STATE_LOST` if counters were written before.
 *
 * Per event the store looks up one claim (by the eventId's bytes, holding the record's identity
 * in two parts, its head and a number: no string is built) and one user (by its own strings), and keeps
 * nothing per event beyond the claim's columns and the memo the rules write. Memos
 * live in one log per shard (memo-log.ts), not on the users: a commit drops its shard's
 * memos by cutting the log, without visiting a user.
 */
import { randomUUID } from 'node:crypto';
import { OTHER_SEGMENT_VALUE } from '../../common/counter-layout.js';
import { BoundedGroupedMap } from './bounded-map.js';
import { ClaimTable } from './claim-table.js';
import { compactPosition } from './record-identity.js';
import { ShardMemoLog } from './memo-log.js';
import { applyStateRequests, stateLost, type StateTables, type UserState } from './state-rules.js';
import { resolveStateLimits } from './limits.js';
import type { StateLimits, UserStateStore } from './types.js';

export interface InProcessStoreOptions extends Partial<StateLimits> {
  /** Users kept (all experiments); default 1,000,000. */
  maxUsers?: number;
  /** eventId claims kept; default 5,000,000. */
  maxClaims?: number;
  /** Clock for claim expiry (tests). */
  now?: () => number;
}

/** An in-process store plus its eviction count (non-zero means exactness may be lost). */
export interface InProcessUserStateStore extends UserStateStore {
  readonly evictions: () => number;
  /**
   * Memos held (diagnostics): what `markCommitted` has not dropped yet. 0 once every shard
   * committed past its records.
   */
  readonly memosHeld: () => number;
}

/**
 * Creates the in-process store.
 *
 * @example
 *   const state = createInProcessUserStateStore({ segmentValueCap: 50, dedupWindowSeconds: 86_400 });
 *   const answers = await state.apply(shardId, await state.epoch(), requests);
 */
export function createInProcessUserStateStore(options: InProcessStoreOptions = {}): InProcessUserStateStore {
  const limits = resolveStateLimits(options);
  const claims = new ClaimTable(options.maxClaims ?? 5_000_000, limits.dedupWindowSeconds * 1000, options.now);
  /** Users by experiment, then user id. */
  const users = new BoundedGroupedMap<string, string, UserState>(options.maxUsers ?? 1_000_000);
  /** Values admitted to their own cell, by experiment, then dimension. */
  const admitted = new Map<string, Map<string, Set<string>>>();
  const committedByShard = new Map<string, string>();
  /** Per shard, the memos of its records not committed yet. */
  const memoLogs = new Map<string, ShardMemoLog>();
  const memoLogOf = (shardId: string): ShardMemoLog => {
    let log = memoLogs.get(shardId);
    if (log === undefined) memoLogs.set(shardId, (log = new ShardMemoLog()));
    return log;
  };
  const epoch = randomUUID();

  const tables: StateTables = {
    holderOf: (eventId, records) => claims.holderOf(eventId, records.head, records.sub),
    claim: (eventId, records) => claims.claim(eventId, records.head, records.sub),
    user: (experimentId, userId) => users.get(experimentId, userId),
    saveUser: (experimentId, userId, user) => users.set(experimentId, userId, user),
    admit(experimentId, dimension, value, cap) {
      let dimensions = admitted.get(experimentId);
      if (!dimensions) admitted.set(experimentId, (dimensions = new Map<string, Set<string>>()));
      let values = dimensions.get(dimension);
      if (!values) dimensions.set(dimension, (values = new Set()));
      if (values.has(value)) return value;
      if (values.size >= cap) return OTHER_SEGMENT_VALUE;
      values.add(value);
      return value;
    },
    committed: (shardId) => committedByShard.get(shardId),
    memoLog: undefined, // the call's shard's, set by `apply`
  };

  return {
    epoch: () => Promise.resolve(epoch),
    apply(shardId, expectedEpoch, requests) {
      if (expectedEpoch !== epoch) return Promise.reject(stateLost(expectedEpoch, epoch));
      tables.memoLog = memoLogOf(shardId);
      // One clock reading per call (like a Redis script's frozen time): expired claims go before any is read.
      claims.advance();
      return Promise.resolve(applyStateRequests(tables, shardId, requests, limits));
    },
    readCommitted: (shardId) => Promise.resolve(committedByShard.get(shardId)),
    markCommitted(shardId, position) {
      const compact = compactPosition(position);
      const current = committedByShard.get(shardId);
      if (current === undefined || current < compact) committedByShard.set(shardId, compact);
      memoLogs.get(shardId)?.commit(position);
      return Promise.resolve();
    },
    forgetExperiment(experimentId) {
      const forgotten = users.deleteGroup(experimentId);
      admitted.delete(experimentId);
      return Promise.resolve(forgotten);
    },
    close() {
      users.clear();
      claims.clear();
      admitted.clear();
      memoLogs.clear();
      return Promise.resolve();
    },
    evictions: () => claims.evictions + users.evictions,
    memosHeld() {
      let held = 0;
      for (const log of memoLogs.values()) held += log.size;
      return held;
    },
  };
}
