/**
 * A small Map that is never changed once made: a change makes a new one.
 * Frozen, so a set-up snapshot and every restore of it share it instead of
 * copying it (runtime/snapshot.ts shares frozen objects), and a restored
 * container of them is a view whose reads cost one look-up. The checkers
 * keep per-object field tables this way (an object's fields: a handful), so
 * a schedule that reads thousands of fields copies none and one that writes
 * a field copies that object's few (issue 19: restores copied every table a
 * schedule read, and the reads of the rest paid two look-ups each).
 * Typed read-only: the only way to change one is `frozenWith` (or `tableWith`).
 */
export function frozenWith<K, V>(m: ReadonlyMap<K, V> | undefined, k: K, v: V): ReadonlyMap<K, V> {
  // (a frozen Map is not the Map constructor's fast case: forEach copies a small one sooner)
  const next = new Map<K, V>();
  m?.forEach((x, key) => next.set(key, x));
  next.set(k, v);
  return Object.freeze(next);
}

/**
 * A table with `k` set to `v`, for a checker that keeps per-object tables
 * this way. While `seal` (a set-up runs: its snapshot is taken at the end),
 * `frozenWith`. After it no snapshot is taken, so a table made since is
 * this run's own: it is not frozen, and a change goes into it in place; a
 * frozen one (the snapshot's, shared by every restore) is copied once. A
 * schedule that wrote the same object's fields several times copied the
 * whole table at each write (issue 19).
 */
export function tableWith<K, V>(m: ReadonlyMap<K, V> | undefined, k: K, v: V, seal: boolean): ReadonlyMap<K, V> {
  if (seal) return frozenWith(m, k, v);
  if (m !== undefined && !Object.isFrozen(m)) {
    (m as Map<K, V>).set(k, v);
    return m;
  }
  const next = new Map<K, V>();
  m?.forEach((x, key) => next.set(key, x));
  next.set(k, v);
  return next;
}
