import { contextMatches } from '../../protocol/contexts.ts';
import type { LockMode } from '../../protocol/events.ts';
import type { TaskId } from '../../protocol/ids.ts';

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

/** The context of a dependency made by a task that may run concurrently with itself (any syscall, any work item). */
export const CONCURRENT = '*';

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
}

/** Only context `x` ever made edge `e`. */
function onlyBy(e: MutableEdge, x: string): boolean {
  for (const c of e.contexts) if (!contextMatches(c, x)) return false;
  return true;
}

export class DependencyGraph {
  private readonly after = new Map<string, Map<string, MutableEdge>>();
  private count = 0;

  /** True when `from → to` is already known with this type (lockdep: nothing to check). */
  has(from: string, to: string, t: DepType): boolean {
    return this.after.get(from)?.get(to)?.types.has(t) ?? false;
  }

  /**
   * True when `from → to` is known with this type and context `ctx` adds
   * nothing to who made it: ctx made it already, or a concurrent task did
   * (then no cycle through it is ever dropped for its context).
   */
  covers(from: string, to: string, t: DepType, ctx: string): boolean {
    const e = this.after.get(from)?.get(to);
    if (e === undefined || !e.types.has(t)) return false;
    return e.contexts.has(CONCURRENT) || e.contexts.has(ctx);
  }

  /** Removes a dependency (a scenario dropping a preloaded edge before the run). */
  delete(from: string, to: string): boolean {
    const m = this.after.get(from);
    if (m === undefined || !m.delete(to)) return false;
    this.count--;
    return true;
  }

  /** Adds the dependency (or the type, or the context, to an existing edge); the first trace is kept. */
  add(from: string, to: string, t: DepType, trace: EdgeTrace, ctx: string = CONCURRENT): Edge {
    let m = this.after.get(from);
    if (m === undefined) {
      m = new Map();
      this.after.set(from, m);
    }
    let e = m.get(to);
    if (e === undefined) {
      e = { from, to, types: new Set(), trace: Object.freeze(trace), contexts: new Set() };
      m.set(to, e);
      this.count++;
    }
    e.types.add(t);
    e.contexts.add(ctx);
    return e;
  }

  /**
   * check_noncircular(): would the new edge `prev -(t)-> next` close a strong
   * cycle? Searches from `next` for `prev`; returns the path next → … → prev
   * (the existing edges) or null. Breadth first, so the path is a shortest one
   * and the same for the same graph.
   *
   * `single`: the new edge was made by that single-threaded context; then
   * only a cycle with at least one dependency some other task made counts
   * (a context cannot hold A waiting for B while it holds B waiting for A:
   * its runs never overlap).
   */
  findCycle(prev: string, next: string, t: DepType, single: string | null = null): readonly Edge[] | null {
    // The new edge ends in R: the first existing edge out of `next` must not be S*.
    const startOnlyR = t[1] === 'R';
    // The new edge starts with S: the last existing edge into `prev` must not end in R.
    const prevShared = t[0] === 'S';
    interface State {
      readonly node: string;
      readonly onlyR: boolean;
      /** Some edge on the way was made by a task other than context `single`. */
      readonly other: boolean;
      readonly via: MutableEdge | null;
      readonly parent: State | null;
    }
    const seen = new Set<string>();
    const startOther = single === null;
    const queue: State[] = [{ node: next, onlyR: startOnlyR, other: startOther, via: null, parent: null }];
    seen.add(`${next}\u0000${startOnlyR}\u0000${startOther}`);
    for (let i = 0; i < queue.length; i++) {
      const s = queue[i] as State;
      // hlock_conflict(): found prev, and the path into it is strong together with the new edge.
      if (s.node === prev && s.via !== null && !(prevShared && s.onlyR) && s.other) {
        const path: Edge[] = [];
        for (let x: State | null = s; x !== null && x.via !== null; x = x.parent) path.push(x.via);
        return path.reverse();
      }
      const out = this.after.get(s.node);
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
        const onlyR = !anyN;
        const other = s.other || !onlyBy(e, single as string);
        const key = `${e.to}\u0000${onlyR}\u0000${other}`;
        if (seen.has(key)) continue;
        seen.add(key);
        queue.push({ node: e.to, onlyR, other, via: e, parent: s });
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
