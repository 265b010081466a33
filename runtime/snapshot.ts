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
  const plan = planOf(snapshot, true);
  return (plan === null ? copy(snapshot, new Map(), true) : replay(plan)) as T;
}

/**
 * An eager copy of a snapshot (a value that never changes: an actor's
 * set-up snapshot): the same as deepCopy, through the snapshot's plan.
 */
export function snapshotCopy<T>(snapshot: T): T {
  const plan = planOf(snapshot, false);
  return (plan === null ? copy(snapshot, new Map(), false) : replay(plan)) as T;
}

/*
 * Copy plans (issue 19: a schedule paid 16–25 % of its time copying the
 * set-up snapshot). A snapshot never changes, so what deepCopy finds out
 * again on every copy — which values are objects, which are frozen and
 * shared, which kind each one is, which objects are reached twice — is
 * found out once and kept as a plan: every mutable object reachable from
 * the snapshot, numbered once however often it is reached, with its keys and, per value, either the value itself (a primitive or a frozen
 * record, shared) or the number of the object to put there. A copy then
 * makes the empty objects and fills them in, with no look-ups by identity.
 * A snapshot with a Map that restoreCopy copies lazily (a large one) keeps
 * the general path: its entries are copied when touched, through `seen`.
 */

const Kind = { Array: 0, Object: 1, Map: 2, Set: 3, View: 4 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

interface PlanNode {
  readonly kind: Kind;
  /** Object: its prototype; View: the source, sliced. */
  readonly from: object | null;
  /** Object: its own enumerable keys, in order. */
  readonly keys: readonly string[] | null;
  /** Array: elements; Object: values per key; Map: key, value, key, value…; Set: values. */
  readonly vals: readonly unknown[];
  /** Per entry of `vals`: the number of the node to put there, or -1 for the value itself. */
  readonly refs: Int32Array;
}

interface Plan {
  readonly nodes: readonly PlanNode[];
  /** The lazy threshold the plan was made under (a test changes it). */
  readonly lazyMin: number;
}

const plans = new WeakMap<object, Plan | null>();
const eagerPlans = new WeakMap<object, Plan | null>();

/** The plan of `snapshot` (made on first use); null for a value that is not a mutable object or needs lazy Maps. */
function planOf(snapshot: unknown, lazy: boolean): Plan | null {
  if (typeof snapshot !== 'object' || snapshot === null || Object.isFrozen(snapshot)) return null;
  const cache = lazy ? plans : eagerPlans;
  const known = cache.get(snapshot);
  if (known !== undefined && (known === null || !lazy || known.lazyMin === restoreTuning.lazyMin)) return known;
  const plan = makePlan(snapshot, lazy);
  cache.set(snapshot, plan);
  return plan;
}

function makePlan(root: object, lazy: boolean): Plan | null {
  const index = new Map<object, number>();
  const nodes: PlanNode[] = [];
  const work: object[] = [];
  // one number per object, however many ways lead to it: sharing and cycles come out as deepCopy keeps them
  const ref = (v: unknown): number => {
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return -1;
    const i = index.get(v);
    if (i !== undefined) return i;
    const n = nodes.length;
    index.set(v, n);
    nodes.push(null as unknown as PlanNode);
    work.push(v);
    return n;
  };
  const node = (kind: Kind, vals: readonly unknown[], from: object | null = null, keys: readonly string[] | null = null): PlanNode => ({ kind, from, keys, vals, refs: Int32Array.from(vals, ref) });
  ref(root);
  // fill nodes in number order; a node's children get their numbers as it is filled
  for (let n = 0; n < nodes.length; n++) {
    const v = work[n] as object;
    if (Array.isArray(v)) {
      nodes[n] = node(Kind.Array, Array.from(v));
    } else if (v instanceof Map) {
      if (lazy && lazyEligible(v)) return null;
      const vals: unknown[] = [];
      for (const [k, x] of v) vals.push(k, x);
      nodes[n] = node(Kind.Map, vals);
    } else if (v instanceof Set) {
      nodes[n] = node(Kind.Set, [...v]);
    } else if (ArrayBuffer.isView(v)) {
      nodes[n] = node(Kind.View, [], v);
    } else if (v instanceof SharedArrayBuffer || v instanceof ArrayBuffer || v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise) {
      throw new TypeError(`deepCopy: cannot copy a ${v.constructor.name} (state that is not plain data)`);
    } else {
      const keys = Object.keys(v);
      nodes[n] = node(Kind.Object, keys.map((k) => (v as Record<string, unknown>)[k]), Object.getPrototypeOf(v) as object | null, keys);
    }
  }
  return { nodes, lazyMin: restoreTuning.lazyMin };
}

/**
 * A copy by the plan: the empty objects first, then their contents, so
 * cycles and shared objects come out as in the snapshot. (Copying each
 * object whole first — slice, spread, the Map constructor — and patching
 * was 3× slower on seed-004's snapshot.)
 */
function replay(plan: Plan): unknown {
  const nodes = plan.nodes;
  const out: unknown[] = new Array(nodes.length);
  for (let n = 0; n < nodes.length; n++) {
    const node = nodes[n] as PlanNode;
    switch (node.kind) {
      case Kind.Array:
        out[n] = new Array(node.vals.length);
        break;
      case Kind.Object:
        out[n] = Object.create(node.from);
        break;
      case Kind.Map:
        out[n] = new Map();
        break;
      case Kind.Set:
        out[n] = new Set();
        break;
      case Kind.View:
        out[n] = (node.from as unknown as { slice(): unknown }).slice();
        break;
    }
  }
  for (let n = 0; n < nodes.length; n++) {
    const node = nodes[n] as PlanNode;
    const { vals, refs } = node;
    const len = vals.length;
    switch (node.kind) {
      case Kind.Array: {
        const a = out[n] as unknown[];
        for (let i = 0; i < len; i++) {
          const r = refs[i] as number;
          a[i] = r < 0 ? vals[i] : out[r];
        }
        break;
      }
      case Kind.Object: {
        const o = out[n] as Record<string, unknown>;
        const keys = node.keys as readonly string[];
        for (let i = 0; i < len; i++) {
          const r = refs[i] as number;
          o[keys[i] as string] = r < 0 ? vals[i] : out[r];
        }
        break;
      }
      case Kind.Map: {
        const m = out[n] as Map<unknown, unknown>;
        for (let i = 0; i < len; i += 2) {
          const rk = refs[i] as number;
          const rv = refs[i + 1] as number;
          m.set(rk < 0 ? vals[i] : out[rk], rv < 0 ? vals[i + 1] : out[rv]);
        }
        break;
      }
      case Kind.Set: {
        const st = out[n] as Set<unknown>;
        for (let i = 0; i < len; i++) {
          const r = refs[i] as number;
          st.add(r < 0 ? vals[i] : out[r]);
        }
        break;
      }
      case Kind.View:
        break;
    }
  }
  return out[0];
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
