/**
 * The in-process store's users: `BoundedGroupedMap`, shaped by how the state rules use it so
 * that the per-event path allocates nothing it does not keep. Users are grouped by experiment
 * (a key is two strings, never joined into a new one per event), and the least recently
 * *written* entry is forgotten first across all groups. Recency is a doubly linked list through
 * the entries: a write moves its entry to the newest end with a few pointer writes, where a Map
 * re-insertion (delete + set) would hash twice and leave a hole the table must later compact.
 * (The store's claims are in claim-table.ts.)
 *
 * It evicts from its own list, never by `map.keys().next()`: a fresh Map iterator walks every
 * deleted slot at the front of the table, so evicting the oldest entry that way costs time
 * proportional to the evictions since the table's last compaction (measured: 90 µs per
 * eviction at a million entries).
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
