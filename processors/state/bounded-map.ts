/**
 * The two bounded tables of the in-process store, each shaped by how the state rules use it
 * so that the per-event path allocates nothing it does not keep:
 *
 * - `BoundedGroupedMap`: users, grouped by experiment (a key is two strings, never joined
 *   into a new one per event), forgetting the least recently *written* entry first across
 *   all groups. Recency is a doubly linked list through the entries: a write moves its entry
 *   to the newest end with a few pointer writes, where a Map re-insertion (delete + set) would
 *   hash twice and leave a hole the table must later compact.
 * - `ExpiringMap`: eventId claims, written once, each held for one constant TTL. Insertion
 *   order is then expiry order, so the write times are kept per *call* (one clock read and
 *   one mark per `advance`), not per entry: no wrapper object per claim.
 *
 * Both evict from a queue of their own (the list, a key queue), never by `map.keys().next()`:
 * a fresh Map iterator walks every deleted slot at the front of the table, so evicting the
 * oldest entry that way costs time proportional to the evictions since the table's last
 * compaction (measured: 90 µs per eviction at a million entries).
 */

/** An entry of `BoundedGroupedMap`: its value, where it is held, and its neighbours in write order. */
interface GroupedEntry<G, K, V> {
  value: V;
  readonly groupKey: G;
  readonly group: Map<K, GroupedEntry<G, K, V>>;
  readonly key: K;
  /** The entry written just before this one (towards the oldest); undefined for the oldest. */
  older: GroupedEntry<G, K, V> | undefined;
  /** The entry written just after this one; undefined for the newest. */
  newer: GroupedEntry<G, K, V> | undefined;
}

/**
 * A map of (group, key) → value with an upper bound on entries over all groups, forgetting
 * the least recently written entry first (reads do not reorder: the state rules write a user
 * on every event they count, which keeps active users recent). Memory grows with the entries
 * held, not with the bound.
 *
 * @example
 *   const users = new BoundedGroupedMap<string, string, UserState>(1_000_000);
 *   users.set('exp-1', 'ann', state);
 *   users.get('exp-1', 'ann'); // → state
 */
export class BoundedGroupedMap<G, K, V> {
  readonly #groups = new Map<G, Map<K, GroupedEntry<G, K, V>>>();
  #oldest: GroupedEntry<G, K, V> | undefined;
  #newest: GroupedEntry<G, K, V> | undefined;
  /**
   * The entry the last `get` found: the rules read a user and then write it back, so the write
   * finds its entry here without looking it up again. Cleared when that entry is removed.
   */
  #lastRead: GroupedEntry<G, K, V> | undefined;
  #size = 0;
  #evictions = 0;

  constructor(private readonly maxEntries: number) {}

  /** The value of (group, key), if held. */
  get(groupKey: G, key: K): V | undefined {
    const entry = this.#groups.get(groupKey)?.get(key);
    this.#lastRead = entry;
    return entry?.value;
  }

  /** Stores a value as the most recently written entry, evicting the least recently written one when full. */
  set(groupKey: G, key: K, value: V): void {
    const read = this.#lastRead;
    const entry =
      read !== undefined && read.key === key && read.groupKey === groupKey
        ? read
        : this.#groups.get(groupKey)?.get(key);
    if (entry !== undefined) {
      entry.value = value;
      this.#moveToNewest(entry);
      return;
    }
    let group = this.#groups.get(groupKey);
    if (group === undefined) this.#groups.set(groupKey, (group = new Map<K, GroupedEntry<G, K, V>>()));
    const added: GroupedEntry<G, K, V> = { value, groupKey, group, key, older: this.#newest, newer: undefined };
    group.set(key, added);
    if (this.#newest === undefined) this.#oldest = added;
    else this.#newest.newer = added;
    this.#newest = added;
    if (++this.#size > this.maxEntries) {
      this.#remove(this.#oldest as GroupedEntry<G, K, V>);
      this.#evictions++;
    }
  }

  /** Entries held, over all groups. */
  get size(): number {
    return this.#size;
  }

  /** Entries dropped because the bound was reached. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Deletes every entry of one group; returns how many (not counted as evictions). */
  deleteGroup(groupKey: G): number {
    const group = this.#groups.get(groupKey);
    if (group === undefined) return 0;
    const deleted = group.size;
    for (const entry of [...group.values()]) this.#remove(entry);
    return deleted;
  }

  clear(): void {
    this.#groups.clear();
    this.#oldest = this.#newest = this.#lastRead = undefined;
    this.#size = 0;
  }

  #moveToNewest(entry: GroupedEntry<G, K, V>): void {
    if (entry === this.#newest) return;
    this.#unlink(entry);
    entry.older = this.#newest;
    entry.newer = undefined;
    (this.#newest as GroupedEntry<G, K, V>).newer = entry; // not the entry itself, so there is a newest
    this.#newest = entry;
  }

  /** Takes the entry out of the write order (its own links are left for the caller to set). */
  #unlink(entry: GroupedEntry<G, K, V>): void {
    if (entry.older === undefined) this.#oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.#newest = entry.older;
    else entry.newer.older = entry.older;
  }

  #remove(entry: GroupedEntry<G, K, V>): void {
    this.#unlink(entry);
    entry.older = entry.newer = undefined;
    entry.group.delete(entry.key);
    if (entry.group.size === 0) this.#groups.delete(entry.groupKey);
    if (entry === this.#lastRead) this.#lastRead = undefined;
    this.#size--;
  }
}

/**
 * A map whose entries are written once and expire a constant `ttlMs` after their write, with
 * an upper bound on entries (the oldest is evicted first, and counted). The clock is read
 * once per call of the store (`advance`), and every entry written until the next `advance`
 * shares that time, the way a Redis script sees one frozen time: an entry expires at
 * `write time + ttlMs`, exactly, and no expired entry is ever answered, because `advance`
 * drops the expired ones before anything is read.
 *
 * Since the TTL is constant and entries are not rewritten, insertion order is expiry order:
 * the write times are kept as marks, one per `advance` that was followed by writes (the time
 * and how many of its entries are still held), and the keys in a queue, oldest first. A clock
 * that steps back is not followed (time never decreases here): entries then live longer, never
 * shorter, than their TTL.
 *
 * @example
 *   const claims = new ExpiringMap<string, string>(5_000_000, 86_400_000);
 *   claims.advance();            // once per call
 *   if (claims.get(eventId) === undefined) claims.set(eventId, identity);
 */
export class ExpiringMap<K, V> {
  readonly #entries = new Map<K, V>();
  /** The held keys in write order: `#queue[#queueHead]` is the oldest. */
  #queue: K[] = [];
  #queueHead = 0;
  /** Per mark, oldest first from `#markHead`: the write time, and how many of its entries are held. */
  #markTimes: number[] = [];
  #markCounts: number[] = [];
  #markHead = 0;
  /** The time of the current call. */
  #now: number;
  #evictions = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.#now = now();
  }

  /** Reads the clock (once per call: what follows is written at that time) and drops the entries expired by then. */
  advance(): void {
    const now = this.now();
    if (now > this.#now) this.#now = now;
    const times = this.#markTimes;
    while (this.#markHead < times.length && (times[this.#markHead] as number) + this.ttlMs <= this.#now) {
      let count = this.#markCounts[this.#markHead] as number;
      while (count-- > 0) this.#dropOldestKey();
      this.#markHead++;
    }
    this.#compactMarks();
  }

  /** The value, if held (nothing held is expired: see `advance`). */
  get(key: K): V | undefined {
    return this.#entries.get(key);
  }

  /**
   * Stores a value written now, evicting the oldest entry when full. Writing a key that is
   * held replaces its value and keeps its expiry (entries are written once: the state rules
   * claim an eventId only when no claim holds it).
   */
  set(key: K, value: V): void {
    const size = this.#entries.size;
    this.#entries.set(key, value);
    if (this.#entries.size === size) return;
    this.#queue.push(key);
    const last = this.#markTimes.length - 1;
    if (last >= this.#markHead && this.#markTimes[last] === this.#now) {
      this.#markCounts[last] = (this.#markCounts[last] as number) + 1;
    } else {
      this.#markTimes.push(this.#now);
      this.#markCounts.push(1);
    }
    if (this.#entries.size > this.maxEntries) {
      this.#dropOldestKey();
      const counts = this.#markCounts;
      counts[this.#markHead] = (counts[this.#markHead] as number) - 1;
      if (counts[this.#markHead] === 0) this.#markHead++;
      this.#evictions++;
    }
  }

  /** Entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Entries dropped because the bound was reached (expiries are not evictions). */
  get evictions(): number {
    return this.#evictions;
  }

  clear(): void {
    this.#entries.clear();
    this.#queue = [];
    this.#queueHead = 0;
    this.#markTimes = [];
    this.#markCounts = [];
    this.#markHead = 0;
  }

  #dropOldestKey(): void {
    this.#entries.delete(this.#queue[this.#queueHead] as K);
    this.#queue[this.#queueHead++] = undefined as K; // lets the key go
    // Shift the queue once half of it is spent: each key is copied at most once per halving.
    if (this.#queueHead >= 1024 && this.#queueHead * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #compactMarks(): void {
    if (this.#markHead >= 1024 && this.#markHead * 2 >= this.#markTimes.length) {
      this.#markTimes = this.#markTimes.slice(this.#markHead);
      this.#markCounts = this.#markCounts.slice(this.#markHead);
      this.#markHead = 0;
    }
  }
}
