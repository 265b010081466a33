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

export interface Edge {
  readonly from: string;
  readonly to: string;
  readonly types: ReadonlySet<DepType>;
  readonly trace: EdgeTrace;
}

interface MutableEdge {
  readonly from: string;
  readonly to: string;
  readonly types: Set<DepType>;
  readonly trace: EdgeTrace;
}

export class DependencyGraph {
  private readonly after = new Map<string, Map<string, MutableEdge>>();
  private count = 0;

  /** True when `from → to` is already known with this type (lockdep: nothing to check). */
  has(from: string, to: string, t: DepType): boolean {
    return this.after.get(from)?.get(to)?.types.has(t) ?? false;
  }

  /** Adds the dependency (or the type to an existing edge); the first trace is kept. */
  add(from: string, to: string, t: DepType, trace: EdgeTrace): Edge {
    let m = this.after.get(from);
    if (m === undefined) {
      m = new Map();
      this.after.set(from, m);
    }
    let e = m.get(to);
    if (e === undefined) {
      e = { from, to, types: new Set(), trace: Object.freeze(trace) };
      m.set(to, e);
      this.count++;
    }
    e.types.add(t);
    return e;
  }

  /**
   * check_noncircular(): would the new edge `prev -(t)-> next` close a strong
   * cycle? Searches from `next` for `prev`; returns the path next → … → prev
   * (the existing edges) or null. Breadth first, so the path is a shortest one
   * and the same for the same graph.
   */
  findCycle(prev: string, next: string, t: DepType): readonly Edge[] | null {
    // The new edge ends in R: the first existing edge out of `next` must not be S*.
    const startOnlyR = t[1] === 'R';
    // The new edge starts with S: the last existing edge into `prev` must not end in R.
    const prevShared = t[0] === 'S';
    interface State {
      readonly node: string;
      readonly onlyR: boolean;
      readonly via: MutableEdge | null;
      readonly parent: State | null;
    }
    const seen = new Set<string>();
    const queue: State[] = [{ node: next, onlyR: startOnlyR, via: null, parent: null }];
    seen.add(`${next}\u0000${startOnlyR}`);
    for (let i = 0; i < queue.length; i++) {
      const s = queue[i] as State;
      // hlock_conflict(): found prev, and the path into it is strong together with the new edge.
      if (s.node === prev && s.via !== null && !(prevShared && s.onlyR)) {
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
        const key = `${e.to}\u0000${onlyR}`;
        if (seen.has(key)) continue;
        seen.add(key);
        queue.push({ node: e.to, onlyR, via: e, parent: s });
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
