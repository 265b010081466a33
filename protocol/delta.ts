/**
 * What an access event carries for a large container (issue 19, item 2).
 *
 * Actor state keeps some kernel lists and tables as containers that a write
 * replaces whole (`klist_devices`, vfio's `nodes` and `sets`). An access
 * event that carried the container would be cloned at every hand-over
 * between threads and kept by every checker that remembers values: at 4,096
 * devices one klist event was 160 KB, and a stress round 23 MB of them. So
 * an event carries a container of more than `deltaTuning.min` entries as a `Delta`:
 * its size and, for a write, what the write added and removed (by identity
 * for arrays and sets, by key for records and maps). A checker that
 * interprets such a field keeps its own copy and applies the delta
 * (`valueAfter`); one that only prints it prints the delta.
 */
export interface Delta {
  /** The container's kind; the key's odd name keeps a delta apart from any kernel record (it survives structured cloning, a prototype would not). */
  readonly '~delta': 'array' | 'record' | 'map' | 'set';
  /** Entries after the access. */
  readonly size: number;
  /** Elements (array, set) or [key, value] pairs (record, map) the write added or changed; absent on a read. */
  readonly added?: readonly unknown[];
  /** Elements (array, set) or keys (record, map) the write removed; absent on a read. */
  readonly removed?: readonly unknown[];
  /** Array: where the one added element went (`list_add` puts it at 0); absent: at the tail. */
  readonly at?: number;
}

/**
 * Containers of up to `min` entries travel whole: a delta would not be
 * smaller. A test sets it to 0 (every container a delta) and to Infinity
 * (none) and checks that the checkers find the same either way.
 */
export const deltaTuning = { min: 32 };

type Kind = Delta['~delta'];

function kindOf(v: unknown): Kind | null {
  if (typeof v !== 'object' || v === null) return null;
  if (Array.isArray(v)) return 'array';
  if (v instanceof Map) return 'map';
  if (v instanceof Set) return 'set';
  return Object.getPrototypeOf(v) === Object.prototype ? 'record' : null;
}

function sizeOf(v: object, kind: Kind): number {
  switch (kind) {
    case 'array':
      return (v as readonly unknown[]).length;
    case 'map':
    case 'set':
      return (v as ReadonlyMap<unknown, unknown>).size;
    case 'record':
      return recordSizes.get(v) ?? Object.keys(v).length;
  }
}

/**
 * The entry counts of the records that `Kernel.tableSet`/`tableDel` change
 * in place (runtime/context.ts): counting a 4,096-entry record's keys on
 * every access was O(N) per operation. Only those operations put a record
 * here, and only while they own it (a large record never handed out whole).
 */
const recordSizes = new WeakMap<object, number>();

/** The entry count of a record (its cached count, if a table operation keeps one). */
export function recordSize(v: object): number {
  return recordSizes.get(v) ?? Object.keys(v).length;
}

/** Notes the entry count of a record a table operation changed in place. */
export function noteRecordSize(v: object, n: number): void {
  recordSizes.set(v, n);
}

export function isDelta(v: unknown): v is Delta {
  return typeof v === 'object' && v !== null && typeof (v as { '~delta'?: unknown })['~delta'] === 'string';
}


/** What a read event carries for `value`: the value itself, or the size of a large container. */
export function readPayload(value: unknown): unknown {
  const kind = kindOf(value);
  if (kind === null) return value;
  const size = sizeOf(value as object, kind);
  return size > deltaTuning.min ? { '~delta': kind, size } : value;
}

/**
 * What a write event carries: `value` and `old` themselves, or — when either
 * is a large container — one Delta for `value` (what changed) and no `old`.
 */
export function writePayload(old: unknown, value: unknown): { readonly value: unknown; readonly old: unknown } {
  const kind = kindOf(value);
  if (kind === null) return { value, old };
  const size = sizeOf(value as object, kind);
  const oldKind = kindOf(old);
  const oldSize = oldKind === kind ? sizeOf(old as object, kind) : 0;
  if (size <= deltaTuning.min && oldSize <= deltaTuning.min) return { value, old };
  return { value: diff(oldKind === kind ? (old as object) : null, value as object, kind, size), old: undefined };
}

function diff(old: object | null, value: object, kind: Kind, size: number): Delta {
  const added: unknown[] = [];
  const removed: unknown[] = [];
  switch (kind) {
    case 'array': {
      // the usual writes keep the order: an append, or some elements taken out
      const a = (old ?? []) as readonly unknown[];
      const b = value as readonly unknown[];
      let i = 0;
      let j = 0;
      while (i < a.length) {
        if (j < b.length && a[i] === b[j]) j++;
        else removed.push(a[i]);
        i++;
      }
      if (removed.length === 0 || j === b.length) {
        for (; j < b.length; j++) added.push(b[j]);
        break;
      }
      removed.length = 0;
      diffSets(a, b, added, removed);
      break;
    }
    case 'set':
      diffSets(old === null ? [] : (old as Iterable<unknown>), value as Iterable<unknown>, added, removed);
      break;
    case 'map': {
      const before = (old ?? new Map()) as ReadonlyMap<unknown, unknown>;
      const after = value as ReadonlyMap<unknown, unknown>;
      for (const [k, v] of after) if (!before.has(k) || !Object.is(before.get(k), v)) added.push([k, v]);
      for (const k of before.keys()) if (!after.has(k)) removed.push(k);
      break;
    }
    case 'record': {
      const before = (old ?? {}) as Readonly<Record<string, unknown>>;
      const after = value as Readonly<Record<string, unknown>>;
      for (const k of Object.keys(after)) if (!Object.hasOwn(before, k) || !Object.is(before[k], after[k])) added.push([k, after[k]]);
      for (const k of Object.keys(before)) if (!Object.hasOwn(after, k)) removed.push(k);
      break;
    }
  }
  return { '~delta': kind, size, added, removed };
}

function diffSets(old: Iterable<unknown>, value: Iterable<unknown>, added: unknown[], removed: unknown[]): void {
  const before = new Set(old);
  const after = new Set(value);
  for (const x of after) if (!before.has(x)) added.push(x);
  for (const x of before) if (!after.has(x)) removed.push(x);
}

/**
 * The value a field has after an access whose event carried `v`, given the
 * value the checker had for it before (`prev`): `v` itself, or `prev` with
 * the delta applied. A read's delta carries no change: `prev` stands.
 */
export function valueAfter(prev: unknown, v: unknown): unknown {
  if (!isDelta(v)) return v;
  if (v.added === undefined) return prev;
  const removed = v.removed ?? [];
  switch (v['~delta']) {
    case 'array': {
      const gone = new Set(removed);
      const base = Array.isArray(prev) ? (prev as readonly unknown[]).filter((x) => !gone.has(x)) : [];
      if (v.at !== undefined && v.added.length === 1 && v.at < base.length) {
        base.splice(v.at, 0, v.added[0]);
        return base;
      }
      base.push(...v.added);
      return base;
    }
    case 'set': {
      const out = new Set(prev instanceof Set ? (prev as ReadonlySet<unknown>) : []);
      for (const x of removed) out.delete(x);
      for (const x of v.added) out.add(x);
      return out;
    }
    case 'map': {
      const out = new Map(prev instanceof Map ? (prev as ReadonlyMap<unknown, unknown>) : []);
      for (const k of removed) out.delete(k);
      for (const [k, x] of v.added as readonly (readonly [unknown, unknown])[]) out.set(k, x);
      return out;
    }
    case 'record': {
      const out: Record<string, unknown> = { ...(typeof prev === 'object' && prev !== null && !Array.isArray(prev) ? (prev as Record<string, unknown>) : {}) };
      for (const k of removed) delete out[k as string];
      for (const [k, x] of v.added as readonly (readonly [string, unknown])[]) out[k] = x;
      return out;
    }
  }
}

/** A delta as a report line shows it: `+[a, b] -[c] (33 entries)`. */
export function describeDelta(d: Delta, show: (x: unknown) => string): string {
  const parts: string[] = [];
  if (d.added !== undefined && d.added.length > 0) parts.push(`+${show(d.added)}`);
  if (d.removed !== undefined && d.removed.length > 0) parts.push(`-${show(d.removed)}`);
  parts.push(`(${d['~delta']} of ${d.size} entries)`);
  return parts.join(' ');
}
