/**
 * A Map with an upper bound on entries and an optional time-to-live, forgetting the least
 * recently *written* entry first. Built on Map's insertion order (re-inserting on `set`), so
 * memory grows with the entries actually held, not with the bound. Reads do not reorder
 * (a delete and re-insert per read cost as much as the rest of a state step): the state
 * rules write a user on every event they count, which keeps active users recent, and an
 * eventId claim is only ever written once, so its age is what should expire it.
 *
 * Without a TTL the values are held as they are; with one each value is held with its
 * expiry. (The users map is written on every counted event: one wrapper object per write
 * would be one more object per event for the garbage collector.)
 */
interface Timed<V> {
  value: V;
  expiresAt: number;
}

export class BoundedMap<K, V> {
  /** V itself without a TTL, Timed<V> with one. */
  readonly #entries = new Map<K, V | Timed<V>>();
  readonly #timed: boolean;
  #evictions = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs = Infinity,
    private readonly now: () => number = Date.now,
  ) {
    this.#timed = ttlMs !== Infinity;
  }

  /** The value, if present and not expired (an expired entry is dropped). */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (!this.#timed || entry === undefined) return entry as V | undefined;
    const timed = entry as Timed<V>;
    if (timed.expiresAt <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return timed.value;
  }

  /** Stores a value (its TTL starts now) as the most recent entry, evicting the least recently written one when full. */
  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, this.#timed ? { value, expiresAt: this.now() + this.ttlMs } : value);
    if (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) {
        this.#entries.delete(oldest.value);
        this.#evictions++;
      }
    }
  }

  /** Entries dropped because the bound was reached (expiries are not evictions). */
  get evictions(): number {
    return this.#evictions;
  }

  /** Deletes every entry whose key matches; returns how many (not counted as evictions). */
  deleteWhere(matches: (key: K) => boolean): number {
    let deleted = 0;
    for (const key of [...this.#entries.keys()]) {
      if (matches(key)) {
        this.#entries.delete(key);
        deleted++;
      }
    }
    return deleted;
  }

  clear(): void {
    this.#entries.clear();
  }
}
