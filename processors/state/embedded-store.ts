/**
 * The embedded, durable `UserStateStore`: LMDB (`lmdb`, memory-mapped B+tree with ACID
 * transactions) in a directory, for `npm start` without `REDIS_URL`. It runs the same rules
 * as every store (state-rules.ts) inside one synchronous LMDB write transaction per batch,
 * so a batch's state changes are committed together or not at all (each user touched by the
 * batch is read once and written once, at the end of the transaction), and committed data
 * survives Ctrl-C, SIGKILL and restarts like the stream, the counters and the checkpoints
 * kept beside it in `.local-data/`.
 *
 * Sub-databases:
 *   meta      epoch → the store's epoch; p:<shardId> → committed position (compact)
 *   claims    eventId → expiresAt ms and identity, in the binary form (`BinaryWriter`); earlier
 *             versions wrote [identity, expiresAt ms] in msgpack, still read
 *   expiry    [expiresAt ms, first eventId] → the eventIds one call claimed, joined by U+001F
 *             into one string (an index to sweep expired claims: one entry per call, not per
 *             claim); earlier versions wrote an array of them, and before that null with the one
 *             eventId in the key: both still read
 *   users     <experiment>␟<user> → the user's state (segments, covariates, totals, memos not yet
 *             committed with their partner totals), in the binary form; earlier versions wrote
 *             msgpack with decimal strings (`StoredUser`), still read
 *   admitted  <experiment>␟<dimension> → values admitted to their own cell
 *
 * Why LMDB (measured on this machine, read-modify-write of a user plus a claim per event,
 * batches of 500): lmdb 12 µs per event in one synchronous transaction, classic-level
 * (LevelDB) 14 µs with getMany + batch; LMDB's synchronous reads let it run the same
 * synchronous rules as the in-process store, and it is safe across processes.
 *
 * Per event the LMDB B-tree work (a claim's put, which refuses to overwrite and so finds a held claim without
 * a read of its own; a user read and write; the commit's share of dirty pages) is most of the cost, so what is
 * around it is kept lean: values in a binary form of their own (no msgpack, no decimal strings, one scratch buffer for every put),
 * and a user read without the memos its shard has committed past (`CommittedMemos`), so they are
 * neither decoded nor written back and blobs stay small (apply, 100,000 events in calls of
 * 1,000 over 10,000 users: 18.5-20.4 → 14.3-15.4 µs per event).
 */
import { randomUUID } from 'node:crypto';
import { asBinary, open, type Database, type RootDatabase } from 'lmdb';
import { OTHER_SEGMENT_VALUE } from '../../common/counter-layout.js';
import { PipelineError } from '../../common/errors.js';
import { resolveStateLimits } from './limits.js';
import { admissionKey, compactPosition, shardTag, userStateKey } from './record-identity.js';
import { StateAnswers } from './state-answers.js';
import {
  applyStateRequests,
  corruptUser,
  releaseCommittedMemos,
  stateLost,
  type Memo,
  type RunningTotal,
  type StateTables,
  type UserState,
} from './state-rules.js';
import type { StateLimits, UserStateStore } from './types.js';

export interface EmbeddedStoreOptions extends Partial<StateLimits> {
  /** Directory of the LMDB environment (created if missing), e.g. `.local-data/state`. */
  directory: string;
  /** Clock for claim expiry (tests). */
  now?: () => number;
}

/**
 * A user's state as an earlier version stored it (msgpack): totals as decimal strings. `c`
 * (covariates) and a memo's third element (partner totals) were written only when present.
 * Still read; this version writes the binary form (`UserWriter`).
 */
interface StoredUser {
  s: [string, string][] | null;
  c?: [string, string][];
  t: [variantMetric: string, total: string | null, memos: StoredMemo[]][];
}
type StoredMemo = [identity: string, before: string | null, partnerTotals?: (string | null)[]];

const numberOrUndefined = (value: string | null): number | undefined => (value === null ? undefined : Number(value));

const decodeMemo = ([identity, before, partnerTotals]: StoredMemo): Memo => {
  const memo: Memo = [identity, before === '!' ? 'refused' : numberOrUndefined(before)];
  if (partnerTotals) memo.push(partnerTotals.map(numberOrUndefined));
  return memo;
};

const decodeStoredUser = (stored: StoredUser): UserState => {
  const user: UserState = {
    segments: stored.s ?? undefined,
    totals: stored.t.map(([variantMetric, total, memos]) => ({
      variantMetric,
      total: numberOrUndefined(total),
      memos: memos.map(decodeMemo),
    })),
  };
  if (stored.c) user.covariates = stored.c.map(([metric, value]) => [metric, Number(value)] as const);
  return user;
};

/**
 * First byte of every value this version writes in the binary forms (users, claims). msgpack
 * never starts a value with it (0xc1 is its "never used" code; msgpackr reads it only inside
 * bundled strings, which lmdb does not enable), and the msgpack values earlier versions wrote
 * start with a record (0xd4) or an array (0x92): the first byte tells the two forms apart.
 */
const BINARY_FORM = 0xc1;

/**
 * Node's Buffer methods without the encoding dispatch and argument checks of `write` and
 * `toString` (present on every Buffer, missing from its types); a measurable share per event.
 */
type FastBuffer = Buffer & {
  utf8Write(value: string, offset: number): number;
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
};

/** The msgpack decoder lmdb gives a database of the default encoding (for values of the earlier forms). */
const msgpackOf = (db: Database<unknown, string>): { decode(bytes: Uint8Array): unknown } =>
  (db as unknown as { decoder: { decode(bytes: Uint8Array): unknown } }).decoder;

/** Tags of an optional scaled integer in the binary form. */
const NONE_TAG = 0;
const REFUSED_TAG = 1;
/** A safe integer (every total: the user-total limit is at most 2^52, limits.ts): float64. */
const SAFE_TAG = 2;
/**
 * Its decimal digits (a length-prefixed string): what earlier versions wrote beyond 2^53, when a
 * store could be given a larger limit. Still read; never written.
 */
const DECIMAL_TAG = 3;

/**
 * Writes values in the binary form into one scratch buffer, reused for every put: LMDB copies
 * a value into its page inside the synchronous put, so the bytes are free again at once.
 *
 * User: 0xc1, segments (count + 1, 0 = none yet; then dimension, value), covariates (count + 1,
 * 0 = none; then metric, scaled integer), totals (count; then variant#metric, optional scaled total,
 * memo count, then per memo: identity, optional scaled integer or "refused", partner count + 1 (0 = the
 * memo names none) and that many optional scaled integers). Counts are LEB128 varints, strings a varint
 * byte length and UTF-8, numbers little-endian.
 *
 * Claim: 0xc1, expiresAt (float64 ms), then the holder's identity in UTF-8 to the end.
 *
 * @example
 *   // { segments: [['country', 'US']], totals: [{ variantMetric: 'v#m', total: 3n, memos: [] }] }
 *   // → c1 02 07 'country' 02 'US' 00 01 03 'v#m' 02 <3 as float64> 00
 */
class BinaryWriter {
  buffer = Buffer.allocUnsafe(4096) as FastBuffer;
  position = 0;

  /** The bytes written since `start`, for one put (valid until the next value is written). */
  take(): Buffer {
    return this.buffer.subarray(0, this.position);
  }

  start(): void {
    this.position = 0;
    this.byte(BINARY_FORM);
  }

  #room(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.position + bytes)) as FastBuffer;
    this.buffer.copy(grown, 0, 0, this.position);
    this.buffer = grown;
  }

  byte(value: number): void {
    this.#room(1);
    this.buffer[this.position++] = value;
  }

  count(value: number): void {
    this.#room(5);
    const buffer = this.buffer;
    while (value >= 0x80) {
      buffer[this.position++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buffer[this.position++] = value;
  }

  /** A varint byte length, then UTF-8; written in place, the length moved once if it needs more than a byte. */
  string(value: string): void {
    this.#room(value.length * 3 + 5);
    const at = this.position;
    const length = this.buffer.utf8Write(value, at + 1);
    if (length < 0x80) {
      this.buffer[at] = length;
      this.position = at + 1 + length;
      return;
    }
    const bytes = Buffer.from(this.buffer.subarray(at + 1, at + 1 + length));
    this.position = at;
    this.count(length);
    bytes.copy(this.buffer, this.position);
    this.position += length;
  }

  /** The rest of the value: UTF-8 without a length (a claim's identity). */
  tail(value: string): void {
    this.#room(value.length * 3);
    this.position += this.buffer.utf8Write(value, this.position);
  }

  double(value: number): void {
    this.#room(8);
    this.position = this.buffer.writeDoubleLE(value, this.position);
  }

  scaled(value: number | undefined | 'refused'): void {
    if (value === undefined) this.byte(NONE_TAG);
    else if (value === 'refused') this.byte(REFUSED_TAG);
    else {
      this.byte(SAFE_TAG);
      this.double(value);
    }
  }

  user(user: UserState): Buffer {
    this.start();
    const segments = user.segments;
    if (segments === undefined) this.count(0);
    else {
      this.count(segments.length + 1);
      for (let i = 0; i < segments.length; i++) {
        const [dimension, value] = segments[i] as readonly [string, string];
        this.string(dimension);
        this.string(value);
      }
    }
    const covariates = user.covariates;
    if (covariates === undefined) this.count(0);
    else {
      this.count(covariates.length + 1);
      for (let i = 0; i < covariates.length; i++) {
        const [metric, value] = covariates[i] as readonly [string, number];
        this.string(metric);
        this.scaled(value);
      }
    }
    const totals = user.totals;
    this.count(totals.length);
    for (let i = 0; i < totals.length; i++) {
      const running = totals[i] as RunningTotal;
      this.string(running.variantMetric);
      this.scaled(running.total);
      const memos = running.memos;
      this.count(memos.length);
      for (let j = 0; j < memos.length; j++) {
        const [identity, before, partnerTotals] = memos[j] as Memo;
        this.string(identity);
        this.scaled(before);
        if (partnerTotals === undefined) this.count(0);
        else {
          this.count(partnerTotals.length + 1);
          for (let k = 0; k < partnerTotals.length; k++) this.scaled(partnerTotals[k]);
        }
      }
    }
    return this.take();
  }

  claim(identity: string, expiresAt: number): Buffer {
    this.start();
    this.double(expiresAt);
    this.tail(identity);
    return this.take();
  }
}

/** Strings the reader keeps for reuse (`BinaryReader.string`): up to 32 bytes, in 4,096 slots. */
const SEEN_LENGTH = 32;
const SEEN_SLOTS = 4096;

/** Distinct segments combinations the reader keeps one array of (then it starts again). */
const SEGMENT_ARRAYS_KEPT = 10_000;

/**
 * What a call's reads leave out: the memos of its shard at or before the shard's committed
 * position. The rules never read them (such a record is answered `committed` before any memo is
 * looked at) and drop them at the user's next event, so skipping them at the read changes no
 * answer and saves decoding them (most memos read: a user's memos are committed by the time the
 * user's next batch comes). As UTF-8 bytes: the prefix compared exactly, then the rest (compact
 * positions are ASCII, whose byte order is the string order).
 */
interface CommittedMemos {
  shardId: string;
  committed: string;
  /** `${shardTag}@` in UTF-8. */
  prefix: Buffer;
  /** `${shardTag}@${committed}` in UTF-8. */
  identity: Buffer;
}

/** Reads the binary form from a buffer lmdb lends until its next read (everything is copied out). */
class BinaryReader {
  buffer = Buffer.alloc(0) as FastBuffer;
  position = 0;

  /** True when the memo identity of `length` bytes at the position is committed (see CommittedMemos). */
  #committed(length: number, committed: CommittedMemos): boolean {
    const buffer = this.buffer;
    const start = this.position;
    const prefix = committed.prefix;
    if (length < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (buffer[start + i] !== prefix[i]) return false;
    return buffer.compare(committed.identity, 0, committed.identity.length, start, start + length) <= 0;
  }

  /** Moves past an optional scaled integer. */
  #skipScaled(): void {
    const tag = this.buffer[this.position++];
    if (tag === SAFE_TAG) this.position += 8;
    else if (tag === DECIMAL_TAG) {
      // Not `this.position += this.count()`: that reads the position before count() moves it past the length.
      const length = this.count();
      this.position += length;
    }
  }

  count(): number {
    const buffer = this.buffer;
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = buffer[this.position++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  }

  /**
   * Short ASCII strings read before, by a hash of their bytes: dimensions, segment values and
   * variant#metric keys repeat across users, so reading one is a lookup, not a new string (and
   * the rules' comparisons of them meet the same string).
   */
  readonly #seen = new Array<string | undefined>(SEEN_SLOTS);

  string(): string {
    const length = this.count();
    const buffer = this.buffer;
    const start = this.position;
    const end = start + length;
    this.position = end;
    if (length > SEEN_LENGTH) return buffer.utf8Slice(start, end);
    let hash = length;
    for (let i = start; i < end; i++) {
      const byte = buffer[i] as number;
      if (byte >= 0x80) return buffer.utf8Slice(start, end);
      hash = Math.imul(hash ^ byte, 0x01000193);
    }
    const slot = (hash >>> 0) & (SEEN_SLOTS - 1);
    const seen = this.#seen[slot];
    if (seen !== undefined && seen.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (seen.charCodeAt(i) !== buffer[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return seen;
    }
    const read = buffer.latin1Slice(start, end);
    this.#seen[slot] = read;
    return read;
  }

  scaled(): number | undefined | 'refused' {
    const tag = this.buffer[this.position++];
    if (tag === NONE_TAG) return undefined;
    if (tag === REFUSED_TAG) return 'refused';
    if (tag === SAFE_TAG) {
      const value = this.buffer.readDoubleLE(this.position);
      this.position += 8;
      return value;
    }
    return Number(this.string());
  }

  /** A scaled integer that cannot be "refused" (totals, covariates, partner totals). */
  total(): number | undefined {
    return this.scaled() as number | undefined;
  }

  /**
   * Segments arrays read before, by their bytes: users share few combinations, and handing out
   * one array per combination lets the cell directory find a user's cells by the array
   * (counters/cell-directory.ts) instead of building a key string per event. Bounded.
   */
  #segmentsByBytes = new Map<string, readonly (readonly [string, string])[]>();

  /** `count` segments: the known array of the same bytes, or a new one (then known). */
  #segments(count: number): readonly (readonly [string, string])[] {
    const start = this.position;
    for (let i = 0; i < 2 * count; i++) {
      const length = this.count();
      this.position += length;
    }
    const bytes = this.buffer.latin1Slice(start, this.position); // one character per byte: equal bytes, equal keys
    const known = this.#segmentsByBytes.get(bytes);
    if (known !== undefined) return known;
    const end = this.position;
    this.position = start;
    const segments = new Array<readonly [string, string]>(count);
    for (let i = 0; i < count; i++) segments[i] = [this.string(), this.string()];
    this.position = end;
    if (this.#segmentsByBytes.size >= SEGMENT_ARRAYS_KEPT) this.#segmentsByBytes = new Map();
    this.#segmentsByBytes.set(bytes, segments);
    return segments;
  }

  /** The user, without the memos `committed` names (none when it is undefined). */
  user(buffer: FastBuffer, committed: CommittedMemos | undefined): UserState {
    this.buffer = buffer;
    this.position = 1;
    const segmentCount = this.count() - 1;
    const segments = segmentCount < 0 ? undefined : this.#segments(segmentCount);
    const user: UserState = { segments, totals: [] };
    const covariateCount = this.count() - 1;
    if (covariateCount >= 0) {
      const covariates = new Array<readonly [string, number]>(covariateCount);
      for (let i = 0; i < covariateCount; i++) covariates[i] = [this.string(), this.total() as number];
      user.covariates = covariates;
    }
    const totalCount = this.count();
    const totals = user.totals;
    for (let i = 0; i < totalCount; i++) {
      const variantMetric = this.string();
      const total = this.total();
      const memoCount = this.count();
      let memos = NO_MEMOS;
      for (let j = 0; j < memoCount; j++) {
        const identityLength = this.count();
        if (committed !== undefined && this.#committed(identityLength, committed)) {
          this.position += identityLength;
          this.#skipScaled();
          const partnerCount = this.count() - 1;
          for (let k = 0; k < partnerCount; k++) this.#skipScaled();
          continue;
        }
        const identity = this.buffer.utf8Slice(this.position, (this.position += identityLength));
        const before = this.scaled();
        const partnerCount = this.count() - 1;
        let memo: Memo;
        if (partnerCount < 0) memo = [identity, before];
        else {
          const partnerTotals = new Array<number | undefined>(partnerCount);
          for (let k = 0; k < partnerCount; k++) partnerTotals[k] = this.total();
          memo = [identity, before, partnerTotals];
        }
        if (memos === NO_MEMOS) memos = [memo];
        else memos.push(memo);
      }
      totals.push({ variantMetric, total, memos });
    }
    // LMDB hands out a view on a larger buffer: a value cut short reads on into what follows it
    // instead of failing, so a user whose contents do not end exactly at its last byte is refused.
    if (this.position !== buffer.length) {
      throw new Error(
        `a stored user of ${buffer.length} bytes does not end where its contents do (${this.position}): corrupt state`,
      );
    }
    return user;
  }
}

/**
 * A running total without memos shares this empty array, as the rules' own do: they never add
 * to it (a first memo replaces it), so it is never written to.
 */
const NO_MEMOS = Object.freeze([]) as unknown as Memo[];

/**
 * Between the eventIds of an expiry entry (contract keys never hold it). One string, not an
 * array: msgpack packs an array element by element, which cost about 7% of a call's CPU at
 * 20,000 claims; a string is one copy.
 */
const EXPIRY_SEPARATOR = '\u001f';

/**
 * Expired claims a call removes at least, and per request of the call: a call adds at most one
 * claim per request, so removing up to two per request lets the sweep outpace any sustained
 * load once claims expire, and the table holds about one de-dup window of claims. A fixed
 * budget per call could not: at 2,000 per call whatever its size, calls of 100,000 requests
 * (a backlog drain) added 50 times what they removed, and the table grew as long as the load
 * lasted. The budget grows with the call, so a sweep still costs a call at most what its own
 * claims cost.
 */
const SWEEP_MIN = 2_000;
const SWEEP_PER_REQUEST = 2;

/** The most expired claims a call of `requests` requests removes (see SWEEP_MIN). */
const sweepBudget = (requests: number): number => Math.max(SWEEP_MIN, SWEEP_PER_REQUEST * requests);

/**
 * The users one call read or changed, by experiment, then user: found by the request's own two
 * strings, so an event builds no key. A joined key per event (`userStateKey`, looked up twice)
 * cost a concatenation, its flattening and a hash of the whole string each time: in a profile of
 * apply (100,000 events over 10,000 users) the two lookups were 7% of the call, and a fifth less
 * this way. The key is built where LMDB needs it: a user's first read in the call, and its write
 * at the end.
 */
type TouchedUsers = Map<string, Map<string, UserState>>;

/** A put that leaves an existing value and answers false (LMDB's MDB_NOOVERWRITE). */
const NO_OVERWRITE = Object.freeze({ noOverwrite: true });

/**
 * Opens (or creates) the embedded store in `directory`.
 *
 * @example
 *   const state = createEmbeddedUserStateStore({ directory: '.local-data/state', segmentValueCap: 50 });
 *   const answers = await state.apply(shardId, await state.epoch(), requests);
 */
export function createEmbeddedUserStateStore(options: EmbeddedStoreOptions): UserStateStore {
  const limits = resolveStateLimits(options);
  const now = options.now ?? Date.now;
  const dedupMs = limits.dedupWindowSeconds * 1000;
  let root: RootDatabase;
  try {
    // useWritemap: a write transaction changes pages in the memory map itself instead of copies it
    // allocates and writes at commit (LMDB's MDB_WRITEMAP). Still copy-on-write and crash-safe; it rules
    // out child transactions, which this store never opens (each call is one top-level transaction).
    // At the issue's 714k backlog: processors' CPU 25.9-30.7 → 23.2-23.3 µs per event, drains 34.7k /
    // 42.5k → 46.2k / 47.2k events/s, anonymous memory 439 → 329-338 MiB (bench/README.md).
    root = open({ path: options.directory, maxDbs: 8, useWritemap: true });
  } catch (error) {
    throw new PipelineError('CONFIG_INVALID', `cannot open the embedded state store in ${options.directory}`, {
      cause: error,
    });
  }
  const meta: Database<string, string> = root.openDB({ name: 'meta', encoding: 'string' });
  /** Values in the binary form, or `[identity, expiresAt]` (msgpack) as earlier versions wrote them. */
  const claims: Database<unknown, string> = root.openDB({ name: 'claims' });
  const expiry: Database<string | string[] | null, [number, string]> = root.openDB({ name: 'expiry' });
  /** Values in the binary form, or `StoredUser` (msgpack) as earlier versions wrote them. */
  const users: Database<unknown, string> = root.openDB({ name: 'users' });
  const admitted: Database<string[], string> = root.openDB({ name: 'admitted' });
  const writer = new BinaryWriter();
  const reader = new BinaryReader();
  const claimsMsgpack = msgpackOf(claims);
  const usersMsgpack = msgpackOf(users);

  /** The claim's expiry only (the sweep), in either form. */
  const claimExpiry = (eventId: string): number | undefined => {
    const bytes = claims.getBinaryFast(eventId) as FastBuffer | undefined;
    if (bytes === undefined) return undefined;
    if (bytes[0] !== BINARY_FORM) return (claimsMsgpack.decode(bytes) as [string, number])[1];
    return bytes.readDoubleLE(1);
  };

  /** The holder of `eventId`'s claim, in either form, unless it expired by `at`. */
  const liveClaimHolder = (eventId: string, at: number): string | undefined => {
    const bytes = claims.getBinaryFast(eventId) as FastBuffer | undefined;
    if (bytes === undefined) return undefined;
    if (bytes[0] !== BINARY_FORM) {
      const [identity, expiresAt] = claimsMsgpack.decode(bytes) as [string, number];
      return expiresAt > at ? identity : undefined;
    }
    return bytes.readDoubleLE(1) > at ? bytes.utf8Slice(9, bytes.length) : undefined;
  };

  /**
   * A user in either form, without the memos `committed` names. Bytes that do not decode are refused
   * with `STATE_CORRUPT` (not retriable): the call fails, the commit step isolates the records of this
   * user and dead-letters them, and every other user is still counted (processors/README.md, "Corrupt
   * state"); retrying could never read them, and the shard would stall.
   */
  const readUser = (
    experimentId: string,
    userId: string,
    committed: CommittedMemos | undefined,
  ): UserState | undefined => {
    const bytes = users.getBinaryFast(userStateKey(experimentId, userId)) as FastBuffer | undefined;
    if (bytes === undefined) return undefined;
    try {
      if (bytes[0] === BINARY_FORM) return reader.user(bytes, committed);
      const user = decodeStoredUser(usersMsgpack.decode(bytes) as StoredUser);
      if (committed !== undefined) releaseCommittedMemos(user.totals, committed.shardId, committed.committed);
      return user;
    } catch (error) {
      throw corruptUser(experimentId, userId, error);
    }
  };

  /**
   * The tables of one apply call. Users are read and decoded once per call and written back
   * once at its end (`flushUsers`), inside the same write transaction: a user with several
   * events in a batch costs one read and one write, not one per event.
   */
  const tables = (
    at: number,
    touched: TouchedUsers,
    claimed: string[],
    committed: CommittedMemos | undefined,
    admittedOfCall: Map<string, Set<string>>,
  ): StateTables => ({
    oneStepClaims: {
      claimUnlessHeld(eventId, identity) {
        // Almost every eventId is new: one put that refuses to overwrite claims it, where a get and a put would
        // walk the B-tree twice. A claim found is read (a retry, a replay, or an expired claim to replace).
        // putSync answers whether it wrote (lmdb's README; its type declarations say void).
        const written = claims.putSync(eventId, asBinary(writer.claim(identity, at + dedupMs)), NO_OVERWRITE);
        if (!(written as unknown as boolean)) {
          const holder = liveClaimHolder(eventId, at);
          if (holder !== undefined) return holder;
          claims.putSync(eventId, asBinary(writer.claim(identity, at + dedupMs)));
        }
        claimed.push(eventId);
        return undefined;
      },
      release(eventId) {
        // The call's expiry entry still names it: the sweep skips an eventId whose claim is gone.
        claims.removeSync(eventId);
      },
    },
    user(experimentId, userId) {
      const cached = touched.get(experimentId)?.get(userId);
      if (cached) return cached;
      return readUser(experimentId, userId, committed);
    },
    saveUser(experimentId, userId, user) {
      let ofExperiment = touched.get(experimentId);
      if (ofExperiment === undefined) touched.set(experimentId, (ofExperiment = new Map<string, UserState>()));
      ofExperiment.set(userId, user);
    },
    admit(experimentId, dimension, value, cap) {
      const key = admissionKey(experimentId, dimension);
      // Read (and decoded) once per call, not once per user's first event.
      let values = admittedOfCall.get(key);
      if (values === undefined) admittedOfCall.set(key, (values = new Set(admitted.get(key) ?? [])));
      if (values.has(value)) return value;
      if (values.size >= cap) return OTHER_SEGMENT_VALUE;
      values.add(value);
      admitted.putSync(key, [...values]);
      return value;
    },
    committed: (shardId) => meta.get(`p:${shardId}`),
  });

  /**
   * Removes claims whose de-dup window has passed, at most `budget` (`sweepBudget` of the call; an
   * entry with more keeps the rest for the next call); runs inside a write transaction. A claim
   * renewed since (a later expiry) is kept: its newer entry sweeps it.
   */
  const sweepExpiredClaims = (at: number, budget: number): void => {
    for (const { key, value } of expiry.getRange({ end: [at, '\uffff'], limit: budget })) {
      if (budget <= 0) break;
      const [expiresAt, firstEventId] = key;
      const eventIds = typeof value === 'string' ? value.split(EXPIRY_SEPARATOR) : (value ?? [firstEventId]);
      const swept = eventIds.length <= budget ? eventIds : eventIds.slice(0, budget);
      for (const eventId of swept) if (claimExpiry(eventId) === expiresAt) claims.removeSync(eventId);
      budget -= swept.length;
      if (swept.length === eventIds.length) expiry.removeSync(key);
      else expiry.putSync(key, eventIds.slice(swept.length).join(EXPIRY_SEPARATOR));
    }
  };

  const inTransaction = <T>(work: () => T): Promise<T> => {
    try {
      return Promise.resolve(root.transactionSync(work));
    } catch (error) {
      if (error instanceof PipelineError) return Promise.reject(error);
      return Promise.reject(
        new PipelineError('SINK_FAILED', 'embedded state store transaction failed', { cause: error }),
      );
    }
  };

  return {
    epoch: () =>
      inTransaction(() => {
        const existing = meta.get('epoch');
        if (existing !== undefined) return existing;
        const created = randomUUID();
        meta.putSync('epoch', created);
        return created;
      }),
    apply(shardId, epoch, requests) {
      if (requests.length === 0) {
        // Nothing to apply, but the epoch is checked all the same: a caller on lost state learns it here too.
        const actual = meta.get('epoch');
        return actual === epoch ? Promise.resolve(new StateAnswers(0)) : Promise.reject(stateLost(epoch, actual));
      }
      return inTransaction(() => {
        const actual = meta.get('epoch');
        if (actual !== epoch) throw stateLost(epoch, actual);
        const at = now();
        sweepExpiredClaims(at, sweepBudget(requests.length));
        const touched: TouchedUsers = new Map();
        const claimed: string[] = [];
        const committed = meta.get(`p:${shardId}`);
        const committedMemos: CommittedMemos | undefined =
          committed === undefined
            ? undefined
            : {
                shardId,
                committed,
                prefix: Buffer.from(`${shardTag(shardId)}@`),
                identity: Buffer.from(`${shardTag(shardId)}@${committed}`),
              };
        const answers = applyStateRequests(
          tables(at, touched, claimed, committedMemos, new Map()),
          shardId,
          requests,
          limits,
        );
        // Every user touched was read without its shard's committed memos: none is written back.
        for (const [experimentId, ofExperiment] of touched) {
          for (const [userId, user] of ofExperiment) {
            users.putSync(userStateKey(experimentId, userId), asBinary(writer.user(user)));
          }
        }
        if (claimed.length > 0) expiry.putSync([at + dedupMs, claimed[0] as string], claimed.join(EXPIRY_SEPARATOR));
        return answers;
      });
    },
    readCommitted: (shardId) => Promise.resolve(meta.get(`p:${shardId}`)),
    markCommitted(shardId, position) {
      const compact = compactPosition(position);
      return inTransaction(() => {
        const current = meta.get(`p:${shardId}`);
        if (current === undefined || current < compact) meta.putSync(`p:${shardId}`, compact);
      });
    },
    forgetExperiment(experimentId) {
      return inTransaction(() => {
        let forgotten = 0;
        const userPrefix = userStateKey(experimentId, '');
        for (const key of users.getKeys({ start: userPrefix })) {
          if (!key.startsWith(userPrefix)) break;
          users.removeSync(key);
          forgotten++;
        }
        const admissionPrefix = admissionKey(experimentId, '');
        for (const key of admitted.getKeys({ start: admissionPrefix })) {
          if (!key.startsWith(admissionPrefix)) break;
          admitted.removeSync(key);
        }
        return forgotten;
      });
    },
    close: () => root.close(),
  };
}
