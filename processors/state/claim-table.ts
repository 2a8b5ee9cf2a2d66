/**
 * The in-process store's eventId claims, in typed arrays: a claim is the eventId's 16 bytes, the
 * record holding it (its identity in two parts: the head, the string the record's events share,
 * and the sub-sequence number) and its write time, in columns of a ring kept in write order,
 * found through an open-addressing index of ring slots. No object is made per claim: where a Map
 * of eventId strings to identity strings kept the eventId's string, a Map entry and an identity
 * string per claim (about 130 bytes, traced by every full collection), a claim here costs about
 * 50 bytes of columns and a pointer to its record's head (`npm run bench -- processors-state`
 * and bench/README.md have the measured figures).
 *
 * - **Keys.** An eventId that is a UUID's text (every contract-valid one) is kept as its 16
 *   bytes (`writeUuidBytes`, so either case of a hex digit reads the same: UUIDs are
 *   case-insensitive, and the pipeline hands stores only the canonical lower case). Any other
 *   string (tests, a store used outside the pipeline) is kept as itself in a side Map: the
 *   same table, slower.
 * - **Holders.** A record's identity is `${head}${sub}` (record-identity.ts): the shard and the
 *   record's sequence number, then the event's place in the record. The events of a record share
 *   one head string, so a claim holds a pointer and a number, and the identity string is never
 *   built; a claim found is compared by head (the same string object, or equal text on a later
 *   call) and sub.
 * - **Expiry and eviction.** The TTL is constant and a claim is written once, so write order is
 *   expiry order: `advance` (once per call of the store, like a Redis script's frozen time)
 *   drops expired claims from the oldest end, and a full table evicts its oldest claim, counted.
 *   A clock that steps back is not followed (time never decreases): claims then live longer,
 *   never shorter, than their TTL.
 * - **The index** holds ring slot + 1 (0: empty) at twice the ring's capacity, probed linearly
 *   from the key's hash; a claim leaves it by backward-shift deletion (no tombstones), so
 *   lookups stay short however many claims came and went.
 *
 * @example
 *   const claims = new ClaimTable(5_000_000, 86_400_000);
 *   claims.advance();                                            // once per call
 *   const holder = claims.holderOf(eventId, records.head, records.sub);
 *   if (holder === HOLDER.none) claims.claim(eventId, records.head, records.sub);
 */
import { UUID_BYTES, writeUuidBytes } from '../../common/event-ids.js';

/** Who holds an eventId's live claim, against the record asking. */
export const HOLDER = Object.freeze({
  /** No live claim: the eventId is new (or its claim expired). */
  none: 0,
  /** The asking record itself (the same head and sub-sequence number): a replay. */
  thisRecord: 1,
  /** Another record: a producer retry, a duplicate. */
  another: 2,
});
export type Holder = (typeof HOLDER)[keyof typeof HOLDER];

/** The ring's first capacity (claims); it doubles as claims are held, up to what the bound needs. */
const INITIAL_CAPACITY = 1024;
/** 32-bit words per key (16 bytes). */
const WORDS = UUID_BYTES / 4;

/**
 * A 32-bit hash of a key's four words (a murmur3-style mix of each in turn): a UUIDv7 varies
 * mostly in its last words and a test's ids in a few bits, so every word is mixed in.
 */
function hashOfWords(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16) ^ d, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * The hash a table files a UUID key under (its index position is the hash modulo the index's
 * size, 2,048 to begin with); undefined for a key kept as text. For tests that build collisions.
 */
export function uuidKeyHash(eventId: string): number | undefined {
  const bytes = new Uint8Array(UUID_BYTES);
  if (!writeUuidBytes(bytes, 0, eventId)) return undefined;
  const words = new Int32Array(bytes.buffer);
  return hashOfWords(words[0] as number, words[1] as number, words[2] as number, words[3] as number);
}

export class ClaimTable {
  /** The ring's slots (a power of two); every column below has one entry per slot (set by `#reallocate`). */
  #capacity = 0;
  /** The keys' bytes, 16 per slot, and the same memory as 4 words per slot. */
  #keyBytes = new Uint8Array(0);
  #keyWords = new Int32Array(0);
  #hashes = new Int32Array(0);
  /** The holder's head, per slot (the string its record's events share; undefined for a free slot). */
  #heads: (string | undefined)[] = [];
  #subs = new Float64Array(0);
  #times = new Float64Array(0);
  /** Ring slot + 1 per index position; 0 is empty. Twice the ring's capacity. */
  #index = new Int32Array(0);
  /** Keys that are not a UUID's text, by slot (undefined for UUID keys), and their slots. */
  #texts: (string | undefined)[] = [];
  readonly #textSlots = new Map<string, number>();
  /** The oldest claim's slot, and the claims held from it on. */
  #first = 0;
  #size = 0;
  #evictions = 0;
  /** The time of the current call. */
  #now: number;

  /** The key last parsed into `#scratch`, and its hash (undefined: not a UUID). */
  #parsed: string | undefined;
  #parsedHash = 0;
  readonly #scratch = new Uint8Array(UUID_BYTES);
  readonly #scratchWords = new Int32Array(this.#scratch.buffer);

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`a claim table holds at least one claim (maxEntries ${maxEntries})`);
    }
    this.#now = now();
    this.#reallocate(INITIAL_CAPACITY);
  }

  /** Reads the clock (once per call: what follows is written at that time) and drops the claims expired by then. */
  advance(): void {
    const now = this.now();
    if (now > this.#now) this.#now = now;
    const limit = this.#now - this.ttlMs;
    while (this.#size > 0 && (this.#times[this.#first] as number) <= limit) this.#dropOldest();
  }

  /** Who holds `eventId`'s live claim, against the record `head` + `sub` (nothing held is expired: see `advance`). */
  holderOf(eventId: string, head: string, sub: number): Holder {
    const slot = this.#slotOf(eventId);
    if (slot < 0) return HOLDER.none;
    const held = this.#subs[slot] as number;
    // Sub-sequence numbers are integers; NaN (a position that is not one) still matches itself, as its text did.
    const sameSub = held === sub || (held !== held && sub !== sub);
    // The same string object while the record is being read; an equal one (compared by its text) on a later call.
    return this.#heads[slot] === head && sameSub ? HOLDER.thisRecord : HOLDER.another;
  }

  /**
   * Claims `eventId` for the record `head` + `sub`, written now; a full table evicts its oldest
   * claim first (counted). A held claim gets the new holder and keeps its expiry (the rules claim
   * only an eventId no live claim holds).
   */
  claim(eventId: string, head: string, sub: number): void {
    const held = this.#slotOf(eventId);
    if (held >= 0) {
      this.#heads[held] = head;
      this.#subs[held] = sub;
      return;
    }
    if (this.#size >= this.maxEntries) {
      this.#dropOldest();
      this.#evictions++;
    }
    if (this.#size === this.#capacity) this.#reallocate(2 * this.#capacity);
    const slot = (this.#first + this.#size) & (this.#capacity - 1);
    if (this.#parsed === eventId) {
      const words = this.#keyWords;
      const scratch = this.#scratchWords;
      const at = slot * WORDS;
      words[at] = scratch[0] as number;
      words[at + 1] = scratch[1] as number;
      words[at + 2] = scratch[2] as number;
      words[at + 3] = scratch[3] as number;
      this.#hashes[slot] = this.#parsedHash;
      this.#addToIndex(slot);
    } else {
      this.#texts[slot] = eventId;
      this.#textSlots.set(eventId, slot);
    }
    this.#heads[slot] = head;
    this.#subs[slot] = sub;
    this.#times[slot] = this.#now;
    this.#size++;
  }

  /** Claims held. */
  get size(): number {
    return this.#size;
  }

  /** Claims dropped because the bound was reached (expiries are not evictions). */
  get evictions(): number {
    return this.#evictions;
  }

  /** Drops every claim and lets their memory go (the columns start again at their first size). */
  clear(): void {
    this.#size = 0;
    this.#textSlots.clear();
    this.#reallocate(INITIAL_CAPACITY);
  }

  /**
   * The slot holding `eventId`, or -1. Leaves a UUID's words in `#scratch` (and `#parsed` naming
   * it), so claiming it next parses nothing again; `#parsed` is undefined for any other key.
   */
  #slotOf(eventId: string): number {
    if (this.#parsed !== eventId) {
      if (!writeUuidBytes(this.#scratch, 0, eventId)) {
        this.#parsed = undefined;
        return this.#textSlots.get(eventId) ?? -1;
      }
      const scratch = this.#scratchWords;
      this.#parsed = eventId;
      this.#parsedHash = hashOfWords(
        scratch[0] as number,
        scratch[1] as number,
        scratch[2] as number,
        scratch[3] as number,
      );
    }
    const hash = this.#parsedHash;
    const scratch = this.#scratchWords;
    const index = this.#index;
    const mask = index.length - 1;
    const words = this.#keyWords;
    for (let at = hash & mask; ; at = (at + 1) & mask) {
      const entry = index[at] as number;
      if (entry === 0) return -1;
      const slot = entry - 1;
      const key = slot * WORDS;
      if (
        this.#hashes[slot] === hash &&
        words[key] === scratch[0] &&
        words[key + 1] === scratch[1] &&
        words[key + 2] === scratch[2] &&
        words[key + 3] === scratch[3]
      )
        return slot;
    }
  }

  #addToIndex(slot: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    let at = (this.#hashes[slot] as number) & mask;
    while (index[at] !== 0) at = (at + 1) & mask;
    index[at] = slot + 1;
  }

  /** Takes `slot` out of the index, shifting back the entries probed past it (no tombstone is left). */
  #removeFromIndex(slot: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    const hashes = this.#hashes;
    let hole = (hashes[slot] as number) & mask;
    while (index[hole] !== slot + 1) hole = (hole + 1) & mask;
    for (let at = (hole + 1) & mask; index[at] !== 0; at = (at + 1) & mask) {
      const entry = index[at] as number;
      const home = (hashes[entry - 1] as number) & mask;
      // The entry may fill the hole when the hole lies on its probe path, from its home to where it is.
      if (((at - home) & mask) >= ((at - hole) & mask)) {
        index[hole] = entry;
        hole = at;
      }
    }
    index[hole] = 0;
  }

  #dropOldest(): void {
    const slot = this.#first;
    const text = this.#textSlots.size === 0 ? undefined : this.#texts[slot];
    if (text === undefined) this.#removeFromIndex(slot);
    else {
      this.#textSlots.delete(text);
      this.#texts[slot] = undefined;
    }
    this.#heads[slot] = undefined; // lets the record's head go with its last claim
    this.#first = (slot + 1) & (this.#capacity - 1);
    this.#size--;
  }

  /** New columns of `capacity` slots: the claims held move, oldest first, to slots 0 … size − 1, and the index is rebuilt. */
  #reallocate(capacity: number): void {
    const keyBytes = new Uint8Array(capacity * UUID_BYTES);
    const hashes = new Int32Array(capacity);
    const heads = new Array<string | undefined>(capacity).fill(undefined);
    const subs = new Float64Array(capacity);
    const times = new Float64Array(capacity);
    const texts: (string | undefined)[] = [];
    // The ring's claims, oldest first, are at most two runs of the old columns (from #first to the end,
    // then from slot 0): the typed columns are copied run by run, not claim by claim.
    const firstRun = Math.min(this.#size, this.#capacity - this.#first);
    const copyRun = (from: number, to: number, count: number): void => {
      if (count === 0) return;
      keyBytes.set(this.#keyBytes.subarray(from * UUID_BYTES, (from + count) * UUID_BYTES), to * UUID_BYTES);
      hashes.set(this.#hashes.subarray(from, from + count), to);
      subs.set(this.#subs.subarray(from, from + count), to);
      times.set(this.#times.subarray(from, from + count), to);
    };
    copyRun(this.#first, 0, firstRun);
    copyRun(0, firstRun, this.#size - firstRun);
    const mask = this.#capacity - 1;
    for (let i = 0; i < this.#size; i++) {
      const from = (this.#first + i) & mask;
      heads[i] = this.#heads[from];
      const text = this.#textSlots.size === 0 ? undefined : this.#texts[from];
      if (text !== undefined) {
        texts[i] = text;
        this.#textSlots.set(text, i);
      }
    }
    this.#capacity = capacity;
    this.#keyBytes = keyBytes;
    this.#keyWords = new Int32Array(keyBytes.buffer);
    this.#hashes = hashes;
    this.#heads = heads;
    this.#subs = subs;
    this.#times = times;
    this.#texts = texts;
    this.#first = 0;
    this.#index = new Int32Array(2 * capacity);
    for (let slot = 0; slot < this.#size; slot++) if (texts[slot] === undefined) this.#addToIndex(slot);
  }
}
