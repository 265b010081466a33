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
  return copy(value, new Map());
}

function copy<T>(v: T, seen: Map<object, unknown>): T {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  const done = seen.get(v);
  if (done !== undefined) return done as T;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    seen.set(v, out);
    for (let i = 0; i < v.length; i++) out[i] = copy(v[i], seen);
    return out as T;
  }
  if (v instanceof Map) {
    const out = new Map();
    seen.set(v, out);
    // (iterating a restored CopyOnWriteMap makes it whole first: the copy sees every entry)
    for (const [k, x] of v) out.set(copy(k, seen), copy(x, seen));
    return out as T;
  }
  if (v instanceof Set) {
    const out = new Set();
    seen.set(v, out);
    for (const x of v) out.add(copy(x, seen));
    return out as T;
  }
  if (ArrayBuffer.isView(v)) {
    const out = (v as unknown as { slice(): unknown }).slice();
    seen.set(v, out);
    return out as T;
  }
  notPlainData(v);
  const out = Object.create(Object.getPrototypeOf(v) as object | null) as Record<string, unknown>;
  seen.set(v, out);
  for (const k of Object.keys(v)) out[k] = copy((v as Record<string, unknown>)[k], seen);
  return out as T;
}

function notPlainData(v: object): void {
  if (v instanceof SharedArrayBuffer || v instanceof ArrayBuffer || v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise) {
    throw new TypeError(`deepCopy: cannot copy a ${v.constructor.name} (state that is not plain data)`);
  }
}

/**
 * A copy of a snapshot for one more execution (or stress round) that costs
 * what the execution touches, not what the snapshot holds (issue 19: every
 * controlled schedule restored ≈1,400 checker objects for seed-004, thousands
 * per stress round at 4,096 devices, and a schedule touches a few of them).
 *
 * Copy-on-write at the containers: the objects a restore reaches without
 * passing through a Map or a Set (the execution state, the checker objects
 * themselves: a few dozen) are copied at once; every non-empty Map and Set
 * keyed by primitives or frozen records becomes a view of the snapshot's
 * that pays only for what is used:
 * - a small Map whose values are primitives or frozen records becomes a
 *   `CopyOnWriteMap` that answers from the snapshot's Map until its first
 *   change, and from then on keeps its changes on top of it (entry by
 *   entry, below: nothing to copy, its values are shared);
 * - a Map with values that are mutable objects, or a large one
 *   (`restoreTuning.entryMin`), becomes a `CopyOnWriteMap` copied entry by
 *   entry: it takes one entry at a time into its own storage when the entry
 *   is first read (the reader may change the value it got) or written, so a
 *   schedule that touches a few of the lifetime records or of thousands of
 *   shadow locations (4,096 devices) copies those;
 * - a `CopyOnWriteSet` answers from the snapshot's Set until the first
 *   change, then copies its members (all immutable) once.
 * Iterating a view (rare: a report, a leak check, a cycle search's edge
 * list) makes it whole first, in the order an eager copy would have.
 * A value reached through a lazy entry is copied by the same rules, when it
 * is reached. The race checker's shadow (a Map per object of Maps per field
 * of three Maps each, `overwritten` almost always empty), lockdep's
 * dependency graph and the lifetime records are most of a snapshot, and a
 * schedule reads a few of their entries. Plain objects and arrays cannot
 * tell when they are written, so they are copied when reached; frozen
 * records stay shared as everywhere here.
 *
 * One restore numbers every object by the snapshot's copy plan, so an
 * object reached through two entries is copied once and stays shared, and
 * cycles come out as deepCopy keeps them. `snapshot` must never change
 * afterwards (the set-up snapshot and the stress template are kept only to
 * be restored from); the restored containers must not be structured-cloned
 * (a clone sees only the copied part): they are the checkers' private state.
 */
export function restoreCopy<T>(snapshot: T): T {
  const plan = planOf(snapshot, true);
  return plan === null ? snapshot : (new Restore(plan).node(0) as T);
}

/**
 * An eager copy of a snapshot (a value that never changes: an actor's
 * set-up snapshot): the same as deepCopy, through the snapshot's plan. An
 * actor's state stays plain Maps and Sets: its values travel in events and,
 * in the workers host, through structured clone.
 */
export function snapshotCopy<T>(snapshot: T): T {
  const plan = planOf(snapshot, false);
  return plan === null ? snapshot : (replay(plan) as T);
}

/*
 * Copy plans (issue 19: a schedule paid 16–25 % of its time copying the
 * set-up snapshot). A snapshot never changes, so what deepCopy finds out
 * again on every copy — which values are objects, which are frozen and
 * shared, which kind each one is, which objects are reached twice — is
 * found out once and kept as a plan: every mutable object reachable from
 * the snapshot, numbered once however often it is reached, with its keys
 * and, per value, either the value itself (a primitive or a frozen record,
 * shared) or the number of the object to put there. A copy then makes the
 * objects and fills them in, with no look-ups by identity.
 */

const Kind = { Array: 0, Object: 1, Map: 2, Set: 3, View: 4, LazyMap: 5, LazySet: 6, EntryMap: 7 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/**
 * A plan, node by node in flat arrays: node n's entries are
 * `vals`/`refs` from `start[n]` to `start[n + 1]`. One object per node
 * (with its own array of values and typed array of references) made the
 * plan of the stress template at 4,096 devices — 514k nodes, 1.5M values —
 * 207 MB, as large as the template itself, kept for the whole run in the
 * checker thread (issue 19: peak RSS); flat, it is ~30 MB, and made faster.
 */
interface Plan {
  /** Per node: its kind. */
  readonly kinds: Uint8Array;
  /** Per node: where its entries start in `vals` and `refs`; one more at the end. */
  readonly start: Int32Array;
  /** Per node: Object: its prototype; View: the source, sliced; LazyMap, EntryMap, LazySet: the snapshot's own container; else null. */
  readonly from: readonly (object | null)[];
  /** Per node: Object: its own enumerable keys, in order (one array per shape, shared); else null. */
  readonly keys: readonly (readonly string[] | null)[];
  /** Every node's entries, back to back. Array: elements; Object: values per key; Map: key, value, key, value…; Set: values. */
  readonly vals: readonly unknown[];
  /** Per entry of `vals`: the number of the node to put there, or -1 for the value itself. */
  readonly refs: Int32Array;
  /** EntryMap nodes: the node of each key whose value is a mutable object (the other values are shared). */
  readonly objectValues: ReadonlyMap<number, ReadonlyMap<unknown, number>>;
  /** The lazy threshold the plan was made under (a test changes it). */
  readonly lazyMin: number;
  readonly entryMin: number;
}

const plans = new WeakMap<object, Plan | null>();
const eagerPlans = new WeakMap<object, Plan | null>();

/** The plan of `snapshot` (made on first use); null for a value that is not a mutable object. */
function planOf(snapshot: unknown, lazy: boolean): Plan | null {
  if (typeof snapshot !== 'object' || snapshot === null || Object.isFrozen(snapshot)) return null;
  const cache = lazy ? plans : eagerPlans;
  const known = cache.get(snapshot);
  if (known !== undefined && (known === null || !lazy || (known.lazyMin === restoreTuning.lazyMin && known.entryMin === restoreTuning.entryMin))) return known;
  const plan = makePlan(snapshot, lazy);
  cache.set(snapshot, plan);
  return plan;
}

const immutable = (v: unknown): boolean => typeof v !== 'object' || v === null || Object.isFrozen(v);

function makePlan(root: object, lazy: boolean): Plan {
  const index = new Map<object, number>();
  const work: object[] = [];
  const kinds: number[] = [];
  const start: number[] = [];
  const from: (object | null)[] = [];
  const keys: (readonly string[] | null)[] = [];
  const vals: unknown[] = [];
  const refs: number[] = [];
  const objectValues = new Map<number, ReadonlyMap<unknown, number>>();
  /** Objects of one shape share their keys array (by the keys joined; a clash is checked). */
  const shapes = new Map<string, readonly string[]>();
  // one number per object, however many ways lead to it: sharing and cycles come out as deepCopy keeps them
  const ref = (v: unknown): number => {
    if (immutable(v)) return -1;
    const i = index.get(v as object);
    if (i !== undefined) return i;
    const n = work.length;
    index.set(v as object, n);
    work.push(v as object);
    return n;
  };
  const entry = (v: unknown): void => {
    vals.push(v);
    refs.push(ref(v));
  };
  const shape = (ks: string[]): readonly string[] => {
    const id = ks.join('\u0000');
    const known = shapes.get(id);
    if (known !== undefined && known.length === ks.length && known.every((k, i) => k === ks[i])) return known;
    shapes.set(id, ks);
    return ks;
  };
  ref(root);
  // nodes in number order: node n's entries are appended while it is filled, and its children get their numbers then
  for (let n = 0; n < work.length; n++) {
    const v = work[n] as object;
    start.push(vals.length);
    let kind: Kind;
    let src: object | null = null;
    let ks: readonly string[] | null = null;
    if (Array.isArray(v)) {
      kind = Kind.Array;
      for (let i = 0; i < v.length; i++) entry(v[i]);
    } else if (v instanceof Map) {
      if (lazy && lazyEligible(v) && v.size >= restoreTuning.lazyMin) {
        const ov = new Map<unknown, number>();
        for (const [k, x] of v) if (!immutable(x)) ov.set(k, ref(x));
        // values to copy, or too many entries to copy at a first change: one entry at a time
        const entryWise = ov.size > 0 || v.size >= restoreTuning.entryMin;
        kind = entryWise ? Kind.EntryMap : Kind.LazyMap;
        src = v;
        if (entryWise) objectValues.set(n, ov);
      } else {
        kind = Kind.Map;
        for (const [k, x] of v) {
          entry(k);
          entry(x);
        }
      }
    } else if (v instanceof Set) {
      if (lazy && lazyEligible(v) && v.size >= restoreTuning.lazyMin) {
        kind = Kind.LazySet;
        src = v;
      } else {
        kind = Kind.Set;
        for (const x of v) entry(x);
      }
    } else if (ArrayBuffer.isView(v)) {
      kind = Kind.View;
      src = v;
    } else {
      notPlainData(v);
      kind = Kind.Object;
      src = Object.getPrototypeOf(v) as object | null;
      ks = shape(Object.keys(v));
      for (const k of ks) entry((v as Record<string, unknown>)[k]);
    }
    kinds.push(kind);
    from.push(src);
    keys.push(ks);
  }
  start.push(vals.length);
  return {
    kinds: Uint8Array.from(kinds), start: Int32Array.from(start), from, keys, vals, refs: Int32Array.from(refs), objectValues,
    lazyMin: restoreTuning.lazyMin, entryMin: restoreTuning.entryMin,
  };
}

/**
 * A copy by the plan: the empty objects first, then their contents, so
 * cycles and shared objects come out as in the snapshot. (Copying each
 * object whole first — slice, spread, the Map constructor — and patching
 * was 3× slower on seed-004's snapshot.)
 */
function replay(plan: Plan): unknown {
  const count = plan.kinds.length;
  const out: unknown[] = new Array(count);
  for (let n = 0; n < count; n++) out[n] = create(plan, n);
  for (let n = 0; n < count; n++) fill(plan, n, out[n], out);
  return out[0];
}

/** The empty copy of node n (or, for a view, the whole copy). */
function create(plan: Plan, n: number): unknown {
  switch (plan.kinds[n] as Kind) {
    case Kind.Array:
      return new Array((plan.start[n + 1] as number) - (plan.start[n] as number));
    case Kind.Object:
      return Object.create(plan.from[n] as object | null);
    case Kind.Map:
      return new Map();
    case Kind.Set:
      return new Set();
    case Kind.View:
      return (plan.from[n] as unknown as { slice(): unknown }).slice();
    default:
      throw new Error('snapshot: a lazy container in an eager copy');
  }
}

/** Puts node n's contents into its copy `into`; `out` holds (or, in a lazy restore, will hold) the copies by node number. */
function fill(plan: Plan, n: number, into: unknown, out: readonly unknown[]): void {
  const { vals, refs } = plan;
  const s = plan.start[n] as number;
  const e = plan.start[n + 1] as number;
  switch (plan.kinds[n] as Kind) {
    case Kind.Array: {
      const a = into as unknown[];
      for (let i = s; i < e; i++) {
        const r = refs[i] as number;
        a[i - s] = r < 0 ? vals[i] : out[r];
      }
      return;
    }
    case Kind.Object: {
      const o = into as Record<string, unknown>;
      const keys = plan.keys[n] as readonly string[];
      for (let i = s; i < e; i++) {
        const r = refs[i] as number;
        o[keys[i - s] as string] = r < 0 ? vals[i] : out[r];
      }
      return;
    }
    case Kind.Map: {
      const m = into as Map<unknown, unknown>;
      for (let i = s; i < e; i += 2) {
        const rk = refs[i] as number;
        const rv = refs[i + 1] as number;
        m.set(rk < 0 ? vals[i] : out[rk], rv < 0 ? vals[i + 1] : out[rv]);
      }
      return;
    }
    case Kind.Set: {
      const st = into as Set<unknown>;
      for (let i = s; i < e; i++) {
        const r = refs[i] as number;
        st.add(r < 0 ? vals[i] : out[r]);
      }
      return;
    }
    default:
      return;
  }
}

/**
 * One lazy restore: the copies made so far, by node number. `node(n)`
 * makes node n's copy on first use, with everything it reaches up to the
 * next lazy container (those are views, made empty and filled on access).
 */
class Restore {
  private readonly plan: Plan;
  private readonly out: unknown[];
  /** Nodes made but not filled yet (reused: a restore fills one reach at a time). */
  private readonly todo: number[] = [];

  constructor(plan: Plan) {
    this.plan = plan;
    this.out = new Array(plan.kinds.length);
  }

  node(n: number): unknown {
    const out = this.out;
    const have = out[n];
    if (have !== undefined) return have;
    const { refs, start } = this.plan;
    const todo = this.todo;
    const made = this.make(n);
    todo.push(n);
    while (todo.length > 0) {
      const m = todo.pop() as number;
      // the children first, so that fill finds every one it needs in `out`
      const e = start[m + 1] as number;
      for (let i = start[m] as number; i < e; i++) {
        const r = refs[i] as number;
        if (r >= 0 && out[r] === undefined) {
          this.make(r);
          todo.push(r);
        }
      }
      fill(this.plan, m, out[m], out);
    }
    return made;
  }

  private make(n: number): unknown {
    const plan = this.plan;
    const kind = plan.kinds[n] as Kind;
    const v = kind === Kind.LazyMap ? new CopyOnWriteMap(plan.from[n] as Map<unknown, unknown>, null, null)
      : kind === Kind.EntryMap ? new CopyOnWriteMap(plan.from[n] as Map<unknown, unknown>, plan.objectValues.get(n) as ReadonlyMap<unknown, number>, this)
      : kind === Kind.LazySet ? new CopyOnWriteSet(plan.from[n] as Set<unknown>)
      : create(plan, n);
    this.out[n] = v;
    return v;
  }
}

/**
 * Which containers become views: those of at least `lazyMin` entries (the
 * wide ones: a shadow's objects, lockdep's classes, the lifetime records),
 * so a schedule copies the few entries it touches and, inside them, small
 * containers at once. A view is paid on every call at the checkers' Map and
 * Set call sites (a JS method around the builtin, and sites that see two
 * classes); views of every small container (a location's reads, a vector
 * clock) cost more on bench/kernel.ts than the copies they saved. A Map is
 * copied entry by entry when its values are mutable objects (copying them
 * is what costs) or from `entryMin` entries on; else its reads answer from
 * the snapshot (one look-up) until its first change, and it goes entry by
 * entry from then on. Empty containers are always copied at once. Tests set
 * both to compare lazy restores with eager copies.
 */
export const restoreTuning = { lazyMin: 16, entryMin: 64 };

function lazyEligible(c: Map<unknown, unknown> | Set<unknown>): boolean {
  if (c.size === 0) return false;
  // a key (a Set member) that is a mutable object would be looked up by the copy's identity: copy it at once
  for (const k of c.keys()) if (!immutable(k)) return false;
  return true;
}

/**
 * A Map that starts as a view of a snapshot's Map and copies what is used.
 * One class for both ways of copying, and no prototype changes: the
 * checkers' Map call sites then see two classes (Map and this), which V8
 * still inlines; a third class at those sites made every checker slower
 * than the copies it saved (measured on bench/kernel.ts).
 *
 * - Read-through (`entryWise` false: a small Map of primitives and frozen
 *   records): reads answer from the snapshot (one look-up, as in a Map)
 *   until the first change, which makes it entry by entry. (The first
 *   change copied every entry: ~12 Maps of 20–30 entries per schedule of
 *   seed-004's fixed variant, five of them the checkers' object-type tables
 *   at the schedule's first alloc, issue 19; its values are shared, so
 *   entry by entry has nothing to copy.)
 * - Entry by entry (`entryWise`: a Map with mutable values, or a large one):
 *   the own storage (the Map this extends) holds the entries read or
 *   written since; a mutable value is copied by the plan when first read
 *   (the reader may change what it got); `gone` holds the snapshot's keys
 *   deleted here (a key deleted and set again is new, at the end, as in a
 *   Map).
 * Iteration makes it whole first, in the order an eager copy would have,
 * so an execution iterates the same way whether its state was restored
 * eagerly or lazily; from then on it behaves as a plain Map.
 */
export class CopyOnWriteMap<K, V> extends Map<K, V> {
  private base: Map<K, V> | null;
  /** Entry by entry: the plan's nodes of the snapshot's mutable values, by key; null while it reads through (until its first change). */
  private objectValues: ReadonlyMap<K, number> | null;
  private readonly restore: Restore | null;
  private gone: Set<K> | null = null;
  /** Entry by entry: snapshot entries neither in the own storage nor deleted. */
  private left: number;
  /** An own entry was set to undefined (it hides the snapshot's: `peek` must look). */
  private ownUndefined = false;

  constructor(base: Map<K, V>, objectValues: ReadonlyMap<K, number> | null, restore: Restore | null) {
    super();
    this.base = base;
    this.objectValues = objectValues;
    this.restore = restore;
    this.left = base.size;
  }

  /** Copied entry by entry (else it reads through to the snapshot, until its first change). */
  get entryWise(): boolean {
    return this.objectValues !== null;
  }

  // The hot paths: once copied, one branch and the builtin; a key copied or
  // written here costs one look-up, a key in neither one more.

  override has(k: K): boolean {
    const base = this.base;
    if (base === null) return super.has(k);
    if (this.objectValues === null) return base.has(k);
    return super.has(k) || (base.has(k) && (this.gone === null || !this.gone.has(k)));
  }

  override get(k: K): V | undefined {
    const base = this.base;
    if (base === null) return super.get(k);
    const objs = this.objectValues;
    if (objs === null) return base.get(k);
    const v = super.get(k);
    if (v !== undefined) return v;
    const b = base.get(k);
    // not in the snapshot; or an own entry (undefined, written here) or a deleted one hides it
    if (b === undefined || super.has(k) || (this.gone !== null && this.gone.has(k))) return undefined;
    // first read: taken in, so the next one is a plain look-up (a mutable value copied by the plan, the others shared)
    const n = objs.get(k);
    const c = n === undefined ? b : ((this.restore as Restore).node(n) as V);
    this.left--;
    super.set(k, c);
    return c;
  }

  /**
   * `get` for a reader that changes nothing it gets, and keeps nothing it
   * gets where it could change it later: a key not taken in yet answers
   * from the snapshot, and is not copied. (The checkers' look-ups that only
   * test or read — a known lock dependency, a field value, a freed object —
   * copied whole records on their first read in every schedule, issue 19.)
   */
  peek(k: K): V | undefined {
    const base = this.base;
    if (base === null) return super.get(k);
    if (this.objectValues === null) return base.get(k);
    const v = super.get(k);
    if (v !== undefined) return v;
    const b = base.get(k);
    // hidden by a delete, or by an own entry whose value is undefined (then only: one look-up less per peek)
    if (b === undefined || (this.gone !== null && this.gone.has(k)) || (this.ownUndefined && super.has(k))) return undefined;
    return b;
  }

  override set(k: K, v: V): this {
    const base = this.base;
    if (v === undefined) this.ownUndefined = true;
    if (base !== null) {
      // (the first change of a read-through view: from now on entry by entry, with nothing to copy)
      if (this.objectValues === null) this.objectValues = NO_OBJECT_VALUES as ReadonlyMap<K, number>;
      if (!super.has(k) && base.has(k) && (this.gone === null || !this.gone.has(k))) this.left--;
    }
    return super.set(k, v);
  }

  override delete(k: K): boolean {
    const base = this.base;
    if (base === null) return super.delete(k);
    if (this.objectValues === null) {
      if (!base.has(k)) return false;
      this.objectValues = NO_OBJECT_VALUES as ReadonlyMap<K, number>;
    }
    const own = super.delete(k);
    if (this.gone !== null && this.gone.has(k)) return own;
    if (!base.has(k)) return own;
    if (!own) this.left--;
    (this.gone ??= new Set()).add(k);
    return true;
  }

  override clear(): void {
    super.clear();
    this.drop();
  }

  override get size(): number {
    const base = this.base;
    if (base === null) return super.size;
    return this.objectValues === null ? base.size : super.size + this.left;
  }

  override keys(): MapIterator<K> {
    this.own();
    return super.keys();
  }

  override values(): MapIterator<V> {
    this.own();
    return super.values();
  }

  override entries(): MapIterator<[K, V]> {
    this.own();
    return super.entries();
  }

  override [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  override forEach(f: (v: V, k: K, m: Map<K, V>) => void, self?: unknown): void {
    this.own();
    super.forEach(f, self);
  }

  /** Copies what is left and puts every entry where an eager copy would have it; from then on a plain Map. */
  private own(): void {
    const base = this.base;
    if (base === null) return;
    if (this.objectValues === null) {
      this.drop();
      for (const [k, v] of base) super.set(k, v);
      return;
    }
    const gone = this.gone;
    const ordered: [K, V][] = [];
    for (const [k, b] of base) {
      if (gone !== null && gone.has(k)) continue;
      // (an entry whose value is undefined has nothing to copy)
      ordered.push([k, b === undefined ? (super.get(k) as V) : (this.get(k) as V)]);
    }
    for (const [k, v] of super.entries()) if (!base.has(k) || (gone !== null && gone.has(k))) ordered.push([k, v]);
    super.clear();
    for (const [k, v] of ordered) super.set(k, v);
    this.drop();
  }

  private drop(): void {
    this.base = null;
    this.gone = null;
    this.left = 0;
  }
}

/** The mutable values of a read-through view once it is changed: none (CopyOnWriteMap). */
const NO_OBJECT_VALUES: ReadonlyMap<unknown, number> = new Map();

/**
 * `m.get(k)` for a reader that changes nothing it gets (and keeps nothing
 * it gets to change later): on a restored view (`restoreCopy`), the
 * snapshot's value when the key was not taken in yet, without copying it.
 * The value may then be the snapshot's own: never write to it.
 */
export function peek<K, V>(m: ReadonlyMap<K, V>, k: K): V | undefined {
  return m instanceof CopyOnWriteMap ? (m as CopyOnWriteMap<K, V>).peek(k) : m.get(k);
}

/**
 * A Set that starts as a view of a snapshot's Set of immutable members
 * (primitives, frozen records): read from the snapshot until the first
 * change, which copies the members once; from then on a plain Set.
 */
export class CopyOnWriteSet<T> extends Set<T> {
  private base: Set<T> | null;

  constructor(base: Set<T>) {
    super();
    this.base = base;
  }

  private own(): void {
    const base = this.base;
    if (base === null) return;
    this.base = null;
    for (const x of base) super.add(x);
  }

  override has(x: T): boolean {
    return this.base !== null ? this.base.has(x) : super.has(x);
  }

  override add(x: T): this {
    if (this.base !== null) {
      if (this.base.has(x)) return this;
      this.own();
    }
    return super.add(x);
  }

  override delete(x: T): boolean {
    if (this.base !== null) {
      if (!this.base.has(x)) return false;
      this.own();
    }
    return super.delete(x);
  }

  override clear(): void {
    this.base = null;
    super.clear();
  }

  override get size(): number {
    return this.base !== null ? this.base.size : super.size;
  }

  override keys(): SetIterator<T> {
    return this.values();
  }

  override values(): SetIterator<T> {
    // an iterator must see the changes made while it runs, as a Set's does
    this.own();
    return super.values();
  }

  override entries(): SetIterator<[T, T]> {
    this.own();
    return super.entries();
  }

  override [Symbol.iterator](): SetIterator<T> {
    return this.values();
  }

  override forEach(f: (v: T, k: T, s: Set<T>) => void, self?: unknown): void {
    this.own();
    super.forEach(f, self);
  }
}
