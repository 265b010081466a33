import { contextMatches } from '../../protocol/contexts.ts';
import { ownInstance, ownsClass } from '../../protocol/lock-classes.ts';
import type { LockMode } from '../../protocol/events.ts';
import type { TaskId } from '../../protocol/ids.ts';
import { peek } from '../../runtime/snapshot.ts';

/**
 * The class dependency graph (kernel/locking/lockdep.c: the locks_after
 * lists and check_noncircular()). Nodes are class keys ("device_lock/1"),
 * an edge A → B means "B was taken while A was held". Each edge carries the
 * dependency types seen for it (lockdep's `dep` bits) and where it was first
 * seen (the trace lockdep saves in check_prev_add()).
 *
 * Read locks follow lockdep's recursive-read rules
 * (Documentation/locking/lockdep-design.rst, "Recursive read locks"):
 * an edge is typed -(xy)-> with x = E when the earlier lock was held
 * exclusively (a writer) and S when held for read, and y = R when the later
 * lock is taken as a recursive reader and N otherwise (writer or
 * non-recursive reader, e.g. down_read). A cycle is a deadlock only if it is
 * a *strong* path: no two adjacent edges -(xR)-> -(Sy)-> (a recursive reader
 * never waits for another reader). The search below walks states
 * (class, "reached only through xR edges") so it is exact where lockdep's BFS,
 * which visits a class once, is an approximation.
 */

export type DepType = 'ER' | 'EN' | 'SR' | 'SN';

export function depType(from: LockMode, to: LockMode): DepType {
  const x = from === 'write' ? 'E' : 'S';
  const y = to === 'read-recursive' ? 'R' : 'N';
  return `${x}${y}` as DepType;
}

/** How an edge came about. */
export type EdgeVia =
  /** a lock (or a completion wait) taken while another lock was held */
  | 'lock'
  /** a completion's completer had taken the lock before calling complete() (cross-release) */
  | 'complete'
  /** declared kernel order (docs/kernel-facts.md §1.2), preloaded on request */
  | 'known';

/** Where an edge was first seen. */
export interface EdgeTrace {
  readonly task: TaskId | null;
  /** The full call stack of the acquisition that created the edge, outermost first. */
  readonly stack: readonly string[];
  readonly step: number;
  readonly via: EdgeVia;
  /** The task's held locks at that moment, as reports print them. */
  readonly held: readonly string[];
  /** An extra line for the report (the complete() site of a cross-release edge, a kernel function). */
  readonly note: string | null;
}

/** The lock instances at the two ends of a dependency (null where not known). */
export interface InstancePair {
  readonly from: string | null;
  readonly to: string | null;
}

const NO_INSTANCES: InstancePair = { from: null, to: null };

/** The context of a dependency made by a task that may run concurrently with itself (any syscall, any work item). */
export const CONCURRENT = '*';

/**
 * A single-threaded context that made a dependency, with the lock instances
 * at its two ends (null where unknown: a preloaded edge). Used to rule out
 * a cycle whose hand-over at some class would need one thread of a kind to
 * hold the instance only another thread of that kind ever takes (below,
 * `junction`).
 */
export interface Witness {
  readonly ctx: string;
  readonly from: string | null;
  readonly to: string | null;
}

/** More distinct single-threaded witnesses than this and the edge counts as made by anyone. */
const MAX_WITNESSES = 32;

export interface Edge {
  readonly from: string;
  readonly to: string;
  readonly types: ReadonlySet<DepType>;
  readonly trace: EdgeTrace;
  /**
   * Who made this dependency: single-threaded context ids
   * (protocol/contexts.ts), or CONCURRENT for any other task. A cycle all of
   * whose dependencies one context made (and nobody else) is no deadlock.
   */
  readonly contexts: ReadonlySet<string>;
}

interface MutableEdge {
  readonly from: string;
  readonly to: string;
  readonly types: Set<DepType>;
  readonly trace: EdgeTrace;
  readonly contexts: Set<string>;
  /** The single-threaded makers with their instances; meaningless once `open`. */
  readonly witnesses: Witness[];
  /** Made by a concurrent task (or by too many contexts to list): any hand-over through it is possible. */
  open: boolean;
}

const classOf = (key: string): string => {
  const i = key.lastIndexOf('/');
  return i < 0 ? key : key.slice(0, i);
};

/**
 * Can the thread that made `a` (… → C, waiting for `a.to`) wait for a lock
 * of class C that the thread that made `b` (C → …, holding `b.from`) holds?
 * Only two different threads, and only on the same instance. A `kind:*`
 * pattern (a preloaded edge) is some thread of that kind; if the kind only
 * takes its own instance of C, it is another thread than `c` only when the
 * instance is not c's own.
 */
function handOver(a: Witness, b: Witness, cls: string): boolean {
  const ap = a.ctx.endsWith(':*');
  const bp = b.ctx.endsWith(':*');
  if (!ap && !bp) return a.ctx !== b.ctx && (a.to === null || b.from === null || a.to === b.from);
  if (ap && bp) return true;
  const [p, c, inst] = ap ? [a, b, b.from] : [b, a, a.to];
  if (!contextMatches(p.ctx, c.ctx) || !ownsClass(p.ctx, cls)) return true;
  return inst === null || inst !== ownInstance(c.ctx, cls);
}

/** Some maker of `into` can wait at class `cls` for a lock some maker of `out` holds. */
function junction(into: readonly Witness[], out: readonly Witness[], cls: string): boolean {
  for (const a of into) for (const b of out) if (handOver(a, b, cls)) return true;
  return false;
}


export class DependencyGraph {
  private readonly after = new Map<string, Map<string, MutableEdge>>();
  private count = 0;

  /** True when `from → to` is already known with this type (lockdep: nothing to check). */
  has(from: string, to: string, t: DepType): boolean {
    return this.peekEdge(from, to)?.types.has(t) ?? false;
  }

  /**
   * True when `from → to` is known with this type and context `ctx` adds
   * nothing to who made it: ctx made it already, or a concurrent task did
   * (then no cycle through it is ever dropped for its context).
   */
  covers(from: string, to: string, t: DepType, ctx: string, fromInst: string | null = null, toInst: string | null = null): boolean {
    const e = this.peekEdge(from, to);
    if (e === undefined || !e.types.has(t)) return false;
    if (e.open) return true;
    if (ctx === CONCURRENT) return false;
    for (const w of e.witnesses) if (w.ctx === ctx && w.from === fromInst && w.to === toInst) return true;
    return false;
  }

  /** An edge, only to read (a restored schedule's graph does not copy it: runtime/snapshot.ts peek). */
  private peekEdge(from: string, to: string): MutableEdge | undefined {
    const m = peek(this.after, from);
    return m === undefined ? undefined : peek(m, to);
  }

  /** Removes a dependency (a scenario dropping a preloaded edge before the run). */
  delete(from: string, to: string): boolean {
    const m = this.own(from);
    if (m === undefined || !m.delete(to)) return false;
    this.count--;
    return true;
  }

  /**
   * A set-up has ended (Lockdep.setupEnded): the class tables and edges
   * made so far are frozen, so its snapshot and every restore of it share
   * them, and `add` copies the table and the edge it changes. A schedule
   * that added one dependency from a class copied that class's table with
   * every edge in it (seed-004's fixed variant: ~48 objects per schedule
   * for two new dependencies, issue 19).
   */
  freeze(): void {
    for (const m of this.after.values()) {
      for (const e of m.values()) {
        Object.freeze(e.types);
        Object.freeze(e.contexts);
        Object.freeze(e.witnesses);
        Object.freeze(e);
      }
      Object.freeze(m);
    }
  }

  /** The edges out of `from`, to change: a frozen table (`freeze`) is copied first, its edges shared. */
  private own(from: string): Map<string, MutableEdge> | undefined {
    const m = this.after.get(from);
    if (m === undefined || !Object.isFrozen(m)) return m;
    const copy = new Map<string, MutableEdge>();
    m.forEach((e, to) => copy.set(to, e));
    this.after.set(from, copy);
    return copy;
  }

  /** Adds the dependency (or the type, or the context, to an existing edge); the first trace is kept. */
  add(from: string, to: string, t: DepType, trace: EdgeTrace, ctx: string = CONCURRENT, inst: InstancePair = NO_INSTANCES): Edge {
    let m = this.own(from);
    if (m === undefined) {
      m = new Map();
      this.after.set(from, m);
    }
    let e = m.get(to);
    if (e === undefined) {
      e = { from, to, types: new Set(), trace: Object.freeze(trace), contexts: new Set(), witnesses: [], open: false };
      m.set(to, e);
      this.count++;
    } else if (Object.isFrozen(e)) {
      // the set-up's edge (freeze): this execution's own copy
      e = { from, to, types: new Set(e.types), trace: e.trace, contexts: new Set(e.contexts), witnesses: [...e.witnesses], open: e.open };
      m.set(to, e);
    }
    e.types.add(t);
    e.contexts.add(ctx);
    if (ctx === CONCURRENT) e.open = true;
    else if (!e.open && !e.witnesses.some((w) => w.ctx === ctx && w.from === inst.from && w.to === inst.to)) {
      if (e.witnesses.length >= MAX_WITNESSES) e.open = true;
      else e.witnesses.push({ ctx, from: inst.from, to: inst.to });
    }
    return e;
  }

  /**
   * check_noncircular(): would the new edge `prev -(t)-> next` close a strong
   * cycle? Searches from `next` for `prev`; returns the path next → … → prev
   * (the existing edges) or null. Breadth first, so the path is a shortest one
   * and the same for the same graph.
   *
   * `single`: the new edge was made by that single-threaded context. At
   * every class of the cycle one thread waits for the lock the next thread
   * holds: where both dependencies were made only by single-threaded
   * contexts, that hand-over must be possible between two different threads
   * on one instance (`junction`), else the cycle is no deadlock. So a cycle
   * one context made alone is none (its runs never overlap: it cannot hold
   * A waiting for B while it holds B waiting for A), and neither is one
   * between two pciehp controllers' IRQ threads, which each take their own
   * `reset_lock` (one lockdep class) and never wait for each other's.
   */
  findCycle(prev: string, next: string, t: DepType, single: string | null = null, inst: InstancePair = NO_INSTANCES): readonly Edge[] | null {
    // The new edge ends in R: the first existing edge out of `next` must not be S*.
    const startOnlyR = t[1] === 'R';
    // The new edge starts with S: the last existing edge into `prev` must not end in R.
    const prevShared = t[0] === 'S';
    interface State {
      readonly node: string;
      readonly onlyR: boolean;
      readonly via: MutableEdge | null;
      readonly parent: State | null;
      /** The makers of the dependency that led here, when all single-threaded (else null: any thread). */
      readonly arrived: readonly Witness[] | null;
    }
    const seen = new Set<string>();
    const made: readonly Witness[] | null = single === null ? null : [{ ctx: single, from: inst.from, to: inst.to }];
    const queue: State[] = [{ node: next, onlyR: startOnlyR, via: null, parent: null, arrived: made }];
    seen.add(`${next}\u0000${startOnlyR}\u0000${single === null ? '' : '>'}`);
    for (let i = 0; i < queue.length; i++) {
      const s = queue[i] as State;
      // hlock_conflict(): found prev, and the path into it is strong together with the new edge.
      if (s.node === prev && s.via !== null && !(prevShared && s.onlyR) && (s.arrived === null || made === null || junction(s.arrived, made, classOf(prev)))) {
        const path: Edge[] = [];
        for (let x: State | null = s; x !== null && x.via !== null; x = x.parent) path.push(x.via);
        return path.reverse();
      }
      // (only read: the snapshot's own edges when this schedule has not changed them)
      const out = peek(this.after, s.node);
      if (out === undefined) continue;
      for (const e of out.values()) {
        let allowed = 0;
        let anyN = false;
        for (const ty of e.types) {
          if (s.onlyR && ty[0] === 'S') continue; // -(xR)-> -(Sy)-> is not a strong path
          allowed++;
          if (ty[1] === 'N') anyN = true;
        }
        if (allowed === 0) continue;
        if (s.arrived !== null && !e.open && !junction(s.arrived, e.witnesses, classOf(s.node))) continue;
        const onlyR = !anyN;
        // Which edge we came by matters only while its makers constrain the next hand-over.
        const key = `${e.to}\u0000${onlyR}\u0000${e.open ? '' : `${e.from}>`}`;
        if (seen.has(key)) continue;
        seen.add(key);
        queue.push({ node: e.to, onlyR, via: e, parent: s, arrived: e.open ? null : e.witnesses });
      }
    }
    return null;
  }

  /** Number of distinct class pairs. */
  get size(): number {
    return this.count;
  }

  /** Every edge, in insertion order (for a DOT graph or a dump). */
  *edges(): IterableIterator<Edge> {
    for (const m of this.after.values()) yield* m.values();
  }
}
