/**
 * The in-process `UserStateStore`, for `npm start -- --in-memory` and tests. Same rules as
 * every store (state-rules.ts), held in bounded maps: when a bound is hit the least
 * recently used user (or claim) is forgotten and counted in `evictions`, and exactness is
 * no longer guaranteed for that user. Nothing survives the process: a restart is a new
 * epoch, which the counter sink reports as `STATE_LOST` if counters were written before.
 */
import { randomUUID } from 'node:crypto';
import { OTHER_SEGMENT_VALUE } from '../../common/counter-layout.js';
import { BoundedMap } from './bounded-map.js';
import { admissionKey, compactPosition, userStateKey } from './record-identity.js';
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
  const claims = new BoundedMap<string, string>(
    options.maxClaims ?? 5_000_000,
    limits.dedupWindowSeconds * 1000,
    options.now,
  );
  const users = new BoundedMap<string, UserState>(options.maxUsers ?? 1_000_000);
  const admitted = new Map<string, Set<string>>();
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
    user: (key) => users.get(key),
    saveUser: (key, user) => users.set(key, user),
    admit(experimentId, dimension, value, cap) {
      const key = admissionKey(experimentId, dimension);
      let values = admitted.get(key);
      if (!values) admitted.set(key, (values = new Set()));
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
      const prefix = userStateKey(experimentId, '');
      const forgotten = users.deleteWhere((key) => key.startsWith(prefix));
      for (const key of [...admitted.keys()]) if (key.startsWith(admissionKey(experimentId, ''))) admitted.delete(key);
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
  };
}
