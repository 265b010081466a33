/**
 * Deep copies of live state for the set-up snapshot (runtime/execution.ts):
 * an actor's state and the checkers' state after boot are copied once and
 * handed, as fresh copies, to every later execution.
 *
 * Unlike structuredClone this keeps prototypes, so a copied checker is still
 * an instance of its class; shared references and cycles stay shared within
 * one copy. Functions are shared as they are — so state must not keep
 * closures over `this` (an arrow-function field would still point at the
 * original object): write methods instead.
 *
 * A frozen object is shared whole, not copied: checkers freeze the records
 * they never change again (an access with its stack and held locks), which
 * are most of what they keep, so a snapshot costs the mutable part only.
 */
export function deepCopy<T>(value: T): T {
  return copy(value, new Map(), false) as T;
}

function copy(v: unknown, seen: Map<object, unknown>, lazy: boolean): unknown {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  const done = seen.get(v);
  if (done !== undefined) return done;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    seen.set(v, out);
    for (let i = 0; i < v.length; i++) out[i] = copy(v[i], seen, lazy);
    return out;
  }
  if (v instanceof Map) {
    if (lazy && lazyEligible(v)) {
      const out = new CopyOnAccessMap(v, seen);
      seen.set(v, out);
      return out;
    }
    const out = new Map();
    seen.set(v, out);
    if (v.size === 0) return out;
    for (const [k, x] of v) out.set(copy(k, seen, lazy), copy(x, seen, lazy));
    return out;
  }
  if (v instanceof Set) {
    const out = new Set();
    seen.set(v, out);
    for (const x of v) out.add(copy(x, seen, lazy));
    return out;
  }
  if (ArrayBuffer.isView(v)) {
    const out = (v as unknown as { slice(): unknown }).slice();
    seen.set(v, out);
    return out;
  }
  if (v instanceof SharedArrayBuffer || v instanceof ArrayBuffer || v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise) {
    throw new TypeError(`deepCopy: cannot copy a ${v.constructor.name} (state that is not plain data)`);
  }
  const out = Object.create(Object.getPrototypeOf(v) as object | null) as Record<string, unknown>;
  seen.set(v, out);
  for (const k of Object.keys(v)) out[k] = copy((v as Record<string, unknown>)[k], seen, lazy);
  return out;
}

/**
 * A copy of a snapshot for one more execution (or stress round), paid for as
 * it is touched: a large Map (at least `restoreTuning.lazyMin` entries, keyed by strings or
 * numbers) is not copied up front but becomes a `CopyOnAccessMap` that copies
 * an entry the first time it is read or written, and all of them only when it
 * is iterated. What an execution costs then depends on what it touched, not
 * on the size of the machine (issue 19: the race shadow keeps a Map per field
 * location, thousands of them at 4,096 devices, and a round touches a few).
 *
 * `snapshot` must never change afterwards (the set-up snapshot and the stress
 * template are kept only to be restored from). One `seen` map serves the
 * whole restore, so an object reached through two entries is copied once and
 * stays shared, as deepCopy keeps it.
 */
export function restoreCopy<T>(snapshot: T): T {
  return copy(snapshot, new Map(), true) as T;
}

/**
 * Below `lazyMin` entries a Map is copied at once: the bookkeeping would cost
 * more. A test lowers it so that the seed scenarios, whose maps are small,
 * run through lazy copies too and can be compared with eager ones.
 */
export const restoreTuning = { lazyMin: 64 };

/** Whether every key is a string or a number (an object key would be looked up by the copy's identity), per snapshot Map. */
const primitiveKeyed = new WeakMap<Map<unknown, unknown>, boolean>();

function lazyEligible(m: Map<unknown, unknown>): boolean {
  if (m.size < restoreTuning.lazyMin) return false;
  let ok = primitiveKeyed.get(m);
  if (ok === undefined) {
    ok = true;
    for (const k of m.keys()) {
      if (typeof k !== 'string' && typeof k !== 'number') {
        ok = false;
        break;
      }
    }
    primitiveKeyed.set(m, ok);
  }
  return ok;
}

/**
 * A Map that starts as a view of a snapshot Map and copies entries on first
 * access. Its own storage (the Map it extends) holds the copied and the new
 * entries; `fresh` tells which base keys were copied (they keep the base's
 * iteration position) and `gone` which base keys were deleted (a key deleted
 * and set again is new, at the end, as in a Map). Iteration first puts the
 * entries in the order an eager copy would have had, so the same execution
 * iterates the same way whether its state was copied eagerly or lazily.
 */
export class CopyOnAccessMap<K, V> extends Map<K, V> {
  private base: Map<K, V> | null;
  private readonly seen: Map<object, unknown>;
  private readonly copied = new Set<K>();
  private readonly gone = new Set<K>();
  /** Base entries neither copied nor deleted. */
  private left: number;

  constructor(base: Map<K, V>, seen: Map<object, unknown>) {
    super();
    this.base = base;
    this.seen = seen;
    this.left = base.size;
  }

  private untouched(k: K): boolean {
    return this.base !== null && !this.copied.has(k) && !this.gone.has(k) && this.base.has(k);
  }

  override has(k: K): boolean {
    return super.has(k) || this.untouched(k);
  }

  override get(k: K): V | undefined {
    if (super.has(k)) return super.get(k);
    if (!this.untouched(k)) return undefined;
    const v = copy((this.base as Map<K, V>).get(k), this.seen, true) as V;
    this.copied.add(k);
    this.left--;
    super.set(k, v);
    return v;
  }

  override set(k: K, v: V): this {
    if (this.untouched(k)) {
      this.copied.add(k);
      this.left--;
    }
    return super.set(k, v);
  }

  override delete(k: K): boolean {
    if (this.untouched(k)) {
      this.gone.add(k);
      this.left--;
      return true;
    }
    if (!super.has(k)) return false;
    super.delete(k);
    if (this.copied.delete(k)) this.gone.add(k);
    return true;
  }

  override clear(): void {
    super.clear();
    this.drop();
  }

  override get size(): number {
    return super.size + (this.base === null ? 0 : this.left);
  }

  override keys(): MapIterator<K> {
    this.materialize();
    return super.keys();
  }

  override values(): MapIterator<V> {
    this.materialize();
    return super.values();
  }

  override entries(): MapIterator<[K, V]> {
    this.materialize();
    return super.entries();
  }

  override [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  override forEach(f: (v: V, k: K, m: Map<K, V>) => void, self?: unknown): void {
    this.materialize();
    super.forEach(f, self);
  }

  /** Copies what is left and puts every entry where an eager copy would have it; from then on a plain Map. */
  private materialize(): void {
    const base = this.base;
    if (base === null) return;
    const ordered: [K, V][] = [];
    for (const [k, v] of base) {
      if (this.gone.has(k)) continue;
      ordered.push([k, this.copied.has(k) ? (super.get(k) as V) : (copy(v, this.seen, true) as V)]);
    }
    for (const [k, v] of super.entries()) if (!this.copied.has(k)) ordered.push([k, v]);
    super.clear();
    for (const [k, v] of ordered) super.set(k, v);
    this.drop();
  }

  private drop(): void {
    this.base = null;
    this.copied.clear();
    this.gone.clear();
    this.left = 0;
  }
}
