/**
 * A small Map that is never changed once made: a change makes a new one.
 * Frozen, so a set-up snapshot and every restore of it share it instead of
 * copying it (runtime/snapshot.ts shares frozen objects), and a restored
 * container of them is a view whose reads cost one look-up. The checkers
 * keep per-object field tables this way (an object's fields: a handful), so
 * a schedule that reads thousands of fields copies none and one that writes
 * a field copies that object's few (issue 19: restores copied every table a
 * schedule read, and the reads of the rest paid two look-ups each).
 * Typed read-only: the only way to change one is `frozenWith`.
 */
export function frozenWith<K, V>(m: ReadonlyMap<K, V> | undefined, k: K, v: V): ReadonlyMap<K, V> {
  // (a frozen Map is not the Map constructor's fast case: forEach copies a small one sooner)
  const next = new Map<K, V>();
  m?.forEach((x, key) => next.set(key, x));
  next.set(k, v);
  return Object.freeze(next);
}
