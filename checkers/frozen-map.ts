/**
 * Per-object field tables of the checkers (an object's fields: a handful),
 * kept so that a set-up snapshot and every restore of it share them.
 *
 * While a set-up runs (`seal`), a table is never changed once made: a
 * change makes a new one, frozen, so the snapshot taken at the set-up's end
 * and every restore of it share it instead of copying it
 * (runtime/snapshot.ts shares frozen objects), and a restored container of
 * them is a view whose reads cost one look-up. A schedule that reads
 * thousands of fields copies none, and one that writes a field copies that
 * object's few (issue 19: restores copied every table a schedule read, and
 * the reads of the rest paid two look-ups each).
 *
 * After the set-up no snapshot is taken, so a table made since is the run's
 * own: it is not frozen and a change goes into it in place; a frozen one
 * (the snapshot's) is copied once. A schedule that wrote the same object's
 * fields several times copied the whole table at each write (issue 19).
 * Typed read-only: the only way to change one is `tableWith`/`setTable`.
 */
export function tableWith<K, V>(m: ReadonlyMap<K, V> | undefined, k: K, v: V, seal: boolean): ReadonlyMap<K, V> {
  if (!seal && m !== undefined && !Object.isFrozen(m)) {
    (m as Map<K, V>).set(k, v);
    return m;
  }
  // (a frozen Map is not the Map constructor's fast case: forEach copies a small one sooner)
  const next = new Map<K, V>();
  m?.forEach((x, key) => next.set(key, x));
  next.set(k, v);
  return seal ? Object.freeze(next) : next;
}

/** `tables[obj]` with `field` set (tableWith), put back only when it is a new table. */
export function setTable<O, K, V>(tables: Map<O, ReadonlyMap<K, V>>, obj: O, field: K, value: V, seal: boolean): void {
  const t = tables.get(obj);
  const next = tableWith(t, field, value, seal);
  if (next !== t) tables.set(obj, next);
}
