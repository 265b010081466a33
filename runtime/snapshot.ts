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
  return copy(value, new Map()) as T;
}

function copy(v: unknown, seen: Map<object, unknown>): unknown {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return v;
  const done = seen.get(v);
  if (done !== undefined) return done;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    seen.set(v, out);
    for (let i = 0; i < v.length; i++) out[i] = copy(v[i], seen);
    return out;
  }
  if (v instanceof Map) {
    const out = new Map();
    seen.set(v, out);
    if (v.size === 0) return out;
    for (const [k, x] of v) out.set(copy(k, seen), copy(x, seen));
    return out;
  }
  if (v instanceof Set) {
    const out = new Set();
    seen.set(v, out);
    for (const x of v) out.add(copy(x, seen));
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
  for (const k of Object.keys(v)) out[k] = copy((v as Record<string, unknown>)[k], seen);
  return out;
}
