/**
 * The in-process `UserStateStore`, for local runs without `REDIS_URL` and for tests. Same
 * rules as the Redis store (see types.ts), held in bounded LRU maps: when a bound is hit
 * the least recently used user (or claim) is forgotten and counted in `evictions`, and
 * exactness is no longer guaranteed for that user. Size the bounds above the users and
 * events a local run sees; in production use Redis.
 */
import { OTHER_SEGMENT_VALUE } from '../../common/counter-layout.js';
import { BoundedMap } from './bounded-map.js';
import { admissionKey, compactPosition, shardTag, storedIdentity, userStateKey } from './record-identity.js';
import {
  DEFAULT_USER_STATE_TTL_SECONDS,
  type StateLimits,
  type StateOutcome,
  type StateRequest,
  type UserStateStore,
} from './types.js';

/** A memo: a record not yet committed, and the user's total before it. */
type Memo = [identity: string, totalBefore: bigint | undefined];

/** Small arrays rather than Maps: a user has a few metrics and a memo or two (heap per user is benchmarked). */
interface RunningTotal {
  variantMetric: string;
  total: bigint | undefined;
  memos: Memo[];
}

interface UserState {
  segments: readonly (readonly [string, string])[];
  totals: RunningTotal[];
}

export interface InProcessStoreOptions extends Partial<StateLimits> {
  /** Users kept (per experiment); default 1,000,000. */
  maxUsers?: number;
  /** eventId claims kept; default 5,000,000. */
  maxClaims?: number;
}

/** An in-process store plus its eviction count (non-zero means exactness may be lost). */
export interface InProcessUserStateStore extends UserStateStore {
  readonly evictions: () => number;
}

/**
 * Creates the in-process store.
 *
 * @example const state = createInProcessUserStateStore({ segmentValueCap: 50, dedupWindowSeconds: 86_400 });
 */
export function createInProcessUserStateStore(options: InProcessStoreOptions = {}): InProcessUserStateStore {
  const cap = options.segmentValueCap ?? 50;
  const claims = new BoundedMap<string, string>(
    options.maxClaims ?? 5_000_000,
    (options.dedupWindowSeconds ?? 86_400) * 1000,
  );
  const users = new BoundedMap<string, UserState>(
    options.maxUsers ?? 1_000_000,
    (options.userStateTtlSeconds ?? DEFAULT_USER_STATE_TTL_SECONDS) * 1000,
  );
  const admitted = new Map<string, Set<string>>();
  // Users share segment combinations: one frozen array per combination instead of one per user.
  const sharedSegments = new BoundedMap<string, readonly (readonly [string, string])[]>(100_000);
  const internSegments = (segments: (readonly [string, string])[]) => {
    const key = segments.map(([dimension, value]) => `${dimension}=${value}`).join('\u001e');
    const shared = sharedSegments.get(key);
    if (shared) return shared;
    sharedSegments.set(key, Object.freeze(segments));
    return segments;
  };
  const committedByShard = new Map<string, string>();

  const admit = (experimentId: string, dimension: string, value: string): string => {
    const key = admissionKey(experimentId, dimension);
    let values = admitted.get(key);
    if (!values) admitted.set(key, (values = new Set()));
    if (values.has(value)) return value;
    if (values.size >= cap) return OTHER_SEGMENT_VALUE;
    values.add(value);
    return value;
  };

  const isCommitted = (identity: string, prefix: string, committed: string): boolean =>
    identity.startsWith(prefix) && identity.slice(prefix.length) <= committed;

  const applyOne = (shardId: string, committed: string | undefined, request: StateRequest): StateOutcome => {
    const identity = storedIdentity(shardId, request.position);
    const holder = claims.get(request.eventId);
    if (holder !== undefined && holder !== identity) return { kind: 'duplicate' };
    if (holder === undefined) claims.set(request.eventId, identity);

    const userKey = userStateKey(request.experimentId, request.userId);
    let user = users.get(userKey);
    if (user) {
      users.set(userKey, user); // refreshes the TTL: state lives on after the user's last event
    } else {
      const segments = internSegments(
        request.segments.map(
          ([dimension, value]) => [dimension, admit(request.experimentId, dimension, value)] as const,
        ),
      );
      user = { segments, totals: [] };
      users.set(userKey, user);
    }
    let running = user.totals.find((candidate) => candidate.variantMetric === request.variantMetric);
    if (!running) {
      running = { variantMetric: request.variantMetric, total: undefined, memos: [] };
      user.totals.push(running);
    }
    const memo = running.memos.find(([memoIdentity]) => memoIdentity === identity);
    if (memo) return { kind: 'applied', replay: true, segments: user.segments, totalBefore: memo[1] };
    if (committed !== undefined) {
      const prefix = `${shardTag(shardId)}@`;
      const last = compactPosition(committed);
      running.memos = running.memos.filter(([memoIdentity]) => !isCommitted(memoIdentity, prefix, last));
    }
    const totalBefore = running.total;
    running.total = (totalBefore ?? 0n) + request.scaledValue;
    running.memos.push([identity, totalBefore]);
    return { kind: 'applied', replay: false, segments: user.segments, totalBefore };
  };

  return {
    apply(shardId, committed, requests) {
      return Promise.resolve(requests.map((request) => applyOne(shardId, committed, request)));
    },
    readCommitted(shardId) {
      return Promise.resolve(committedByShard.get(shardId));
    },
    markCommitted(shardId, position) {
      const current = committedByShard.get(shardId);
      if (current === undefined || current < position) committedByShard.set(shardId, position);
      return Promise.resolve();
    },
    close() {
      users.clear();
      claims.clear();
      admitted.clear();
      return Promise.resolve();
    },
    evictions: () => claims.evictions + users.evictions,
  };
}
