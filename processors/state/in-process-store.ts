/**
 * The in-process `UserStateStore`, for `npm start -- --in-memory` and tests. Same rules as
 * every store (state-rules.ts), held in bounded tables (bounded-map.ts): when a bound is hit
 * the least recently written user (or the oldest claim) is forgotten and counted in
 * `evictions`, and exactness is no longer guaranteed for that user. Nothing survives the
 * process: a restart is a new epoch, which the counter sink reports as `STATE_LOST` if
 * counters were written before.
 *
 * Per event the store looks up one claim and one user, by the request's own strings (no key
 * is built), and keeps nothing per event beyond the claim and the memo the rules write.
 */
import { randomUUID } from 'node:crypto';
import { OTHER_SEGMENT_VALUE } from '../../common/counter-layout.js';
import { BoundedGroupedMap, ExpiringMap } from './bounded-map.js';
import { compactPosition } from './record-identity.js';
import {
  applyStateRequests,
  releaseCommittedMemos,
  stateLost,
  type RunningTotal,
  type StateTables,
  type UserState,
} from './state-rules.js';
import { resolveStateLimits } from './limits.js';
import type { StateLimits, UserStateStore } from './types.js';

/** Running totals with memos tracked per shard for dropping at commit (beyond: dropped at the user's next event). */
const MAX_MEMO_HOLDERS = 1_000_000;

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
   * Memos held by the running totals the store tracks for early release (diagnostics): what
   * `markCommitted` has not dropped yet. 0 once every shard committed past its records.
   */
  readonly memosHeld: () => number;
}

/**
 * Creates the in-process store.
 *
 * @example
 *   const state = createInProcessUserStateStore({ segmentValueCap: 50, dedupWindowSeconds: 86_400 });
 *   const outcomes = await state.apply(shardId, await state.epoch(), requests);
 */
export function createInProcessUserStateStore(options: InProcessStoreOptions = {}): InProcessUserStateStore {
  const limits = resolveStateLimits(options);
  const claims = new ExpiringMap<string, string>(
    options.maxClaims ?? 5_000_000,
    limits.dedupWindowSeconds * 1000,
    options.now,
  );
  /** Users by experiment, then user id. */
  const users = new BoundedGroupedMap<string, string, UserState>(options.maxUsers ?? 1_000_000);
  /** Values admitted to their own cell, by experiment, then dimension. */
  const admitted = new Map<string, Map<string, Set<string>>>();
  const committedByShard = new Map<string, string>();
  /**
   * Per shard, the running totals given memos since its last commit: markCommitted drops
   * their committed memos at once, so memos die young (the rules would drop them only at the
   * user's next event). Only an optimisation: past the bound the list is let go and the rules'
   * own dropping remains.
   */
  const memoHolders = new Map<string, RunningTotal[]>();
  let holdersOfCall: RunningTotal[] | undefined;
  const epoch = randomUUID();

  const tables: StateTables = {
    claimHolder: (eventId) => claims.get(eventId),
    claim: (eventId, identity) => claims.set(eventId, identity),
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
    memosStarted(running) {
      if (holdersOfCall !== undefined && holdersOfCall.length < MAX_MEMO_HOLDERS) holdersOfCall.push(running);
    },
  };

  return {
    epoch: () => Promise.resolve(epoch),
    apply(shardId, expectedEpoch, requests) {
      if (expectedEpoch !== epoch) return Promise.reject(stateLost(expectedEpoch, epoch));
      let holders = memoHolders.get(shardId);
      if (holders === undefined) memoHolders.set(shardId, (holders = []));
      holdersOfCall = holders;
      // One clock reading per call (like a Redis script's frozen time): expired claims go before any is read.
      claims.advance();
      try {
        return Promise.resolve(applyStateRequests(tables, shardId, requests, limits));
      } finally {
        holdersOfCall = undefined;
      }
    },
    readCommitted: (shardId) => Promise.resolve(committedByShard.get(shardId)),
    markCommitted(shardId, position) {
      const compact = compactPosition(position);
      const current = committedByShard.get(shardId);
      if (current === undefined || current < compact) committedByShard.set(shardId, compact);
      const holders = memoHolders.get(shardId);
      if (holders !== undefined && holders.length > 0) {
        memoHolders.set(shardId, releaseCommittedMemos(holders, shardId, committedByShard.get(shardId) as string));
      }
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
      memoHolders.clear();
      return Promise.resolve();
    },
    evictions: () => claims.evictions + users.evictions,
    memosHeld() {
      let held = 0;
      for (const holders of memoHolders.values()) for (const running of holders) held += running.memos.length;
      return held;
    },
  };
}
