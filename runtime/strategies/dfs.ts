import { PRUNE } from './strategy.ts';
import type { Strategy } from './strategy.ts';
import type { TaskId } from '../../protocol/ids.ts';

/** What a step may touch (Strategy `where`): two steps with different footprints commute. */
type Footprint = string;

/**
 * Preemption-bounded depth-first search with a partial-order reduction:
 * every schedule of the post-boot state with at most `bound` preemptions, up
 * to reordering independent steps; then `exhausted()` says the search is
 * complete.
 *
 * - Stateless (VeriSoft, CHESS): each execution re-runs from the set-up
 *   snapshot, following the current path's choices, then extends it; after
 *   it ends the deepest choice point with an alternative left is advanced.
 *   The runtime is deterministic for a given decision list, which `pick`
 *   checks while replaying the path (a mismatch is an internal error).
 * - Preemption bound (Musuvathi, Qadeer, PLDI 2007): switching away from the
 *   task that ran the previous step while it is still enabled costs one
 *   preemption; a switch when it blocked or ended is free.
 * - Dependence: two steps are dependent when they run on the same actor
 *   (actors share no state; an object lives in its owning actor), or, on a
 *   lock manager, when they operate on the same lock or completion (the
 *   manager keeps each lock's state apart): the runtime hands each enabled
 *   step's footprint over (runtime/execution.ts `footprint`).
 * - `dpor` (default; Flanagan, Godefroid, POPL 2005): a node tries its first
 *   alternative, and another only when a later step of that task races with
 *   the node's step (dependent, by another task, not ordered by happens-
 *   before: vector clocks); with sleep sets. Iterative deepening: a whole
 *   pass at bound 0, then 1, … (a lower bound's schedules run again).
 * - `sleep` (Godefroid 1996): every alternative, but after `b` was explored
 *   at a state an execution that took an independent step does not run `b`
 *   next until a step dependent on `b` ran; an execution whose every enabled
 *   step is asleep ends `pruned`. Iterative context bounding: all schedules
 *   with 0 preemptions, then 1, …; a choice beyond the level being explored
 *   is queued for the next level (each schedule runs once).
 * - `none`: every alternative within the bound (the benchmark's baseline).
 *
 * Known limits: a reduction under a preemption bound is not complete in
 * general (Coons, Musuvathi, McKinley, "Bounded partial-order reduction",
 * OOPSLA 2013): the explored representative of a skipped schedule can need
 * more preemptions than the skipped one. DPOR's races are taken between the
 * steps the path ran and the enabled steps; a task blocked at the end of a
 * path contributes through the steps that blocked it. Checkers that read the
 * global event order rather than happens-before see one order of two
 * independent steps.
 */
export interface DfsOptions {
  /** Preemption bound (default 2). */
  readonly preemptions?: number;
  /**
   * The reduction (default `dpor`): `dpor` backtracks only where a step
   * races with an earlier dependent one, with sleep sets; `sleep` tries every
   * alternative, with sleep sets; `none` tries every alternative.
   */
  readonly reduction?: DfsReduction;
}

export type DfsReduction = 'dpor' | 'sleep' | 'none';

/** A deferred subtree: a path prefix whose last choice costs one more preemption than the level explored when it was met. */
interface Item {
  /** The choices (tasks) from step 0, the last one the deferred alternative. */
  readonly prefix: readonly TaskId[];
  readonly sleep: ReadonlyMap<TaskId, Footprint>;
  readonly pre: number;
  readonly current: TaskId;
}

/** A choice point of the path under exploration. */
interface Node {
  readonly enabled: readonly TaskId[];
  readonly actors: readonly Footprint[];
  /** The task that ran the step before (null at step 0 of a search). */
  readonly current: TaskId | null;
  readonly currentEnabled: boolean;
  /** Preemptions spent before this step. */
  readonly pre: number;
  readonly sleep: ReadonlyMap<TaskId, Footprint>;
  /** Candidate indices into `enabled` in the order tried: the current task first, then creation order. */
  readonly order: readonly number[];
  cursor: number;
  /** Alternatives taken or queued so far, in order; the last taken is `chosen`. */
  readonly explored: number[];
  chosen: number;
  /** dpor: the alternatives a race asked for (indices into `enabled`); the others are not tried. */
  readonly backtrack: Set<number>;
  /** dpor: the vector clock of the chosen step (task → depth of its latest step that happens before it). */
  clock: ReadonlyMap<TaskId, number> | null;
}

export class DfsStrategy implements Strategy {
  readonly name: string;
  readonly footprints = true;
  readonly bound: number;
  readonly reduction: DfsReduction;
  /** Schedules that ended pruned by the sleep sets (counted among the executions). */
  pruned = 0;
  private level = 0;
  private readonly queues: Item[][];
  private item: Item | null;
  private readonly stack: Node[] = [];
  private done = false;
  private prunedNow = false;

  constructor(opts: DfsOptions = {}) {
    this.bound = Math.max(0, opts.preemptions ?? 2);
    this.reduction = opts.reduction ?? 'dpor';
    this.name = `dfs(≤${this.bound}, ${this.reduction})`;
    this.queues = Array.from({ length: this.bound + 1 }, () => []);
    // DPOR adds backtrack points to nodes anywhere on the path, so the whole
    // path must stay on the stack: iterative deepening instead of queued
    // subtrees (which drop their ancestors) — a whole pass at bound 0, then
    // at 1, …, up to the bound; the schedules of a lower bound run again in
    // the next pass, which costs little next to the last pass and finds the
    // bugs of few preemptions first.
    this.item = { prefix: [], sleep: new Map(), pre: 0, current: '' as TaskId };
  }

  exhausted(): boolean {
    return this.done;
  }

  begin(): void {
    this.prunedNow = false;
  }

  pick(enabled: readonly TaskId[], step: number, actors: readonly Footprint[]): number {
    const item = this.item;
    if (item === null) return 0; // exhausted: a caller that goes on gets the first enabled step
    if (step < item.prefix.length) return this.follow(enabled, item.prefix[step] as TaskId, step);
    const j = step - item.prefix.length;
    const have = this.stack[j];
    if (have !== undefined) return this.follow(enabled, have.enabled[have.chosen] as TaskId, step);
    const node = this.node(j, enabled, actors);
    if (this.reduction === 'dpor') this.races(node);
    if (!this.advance(node)) {
      this.prunedNow = true;
      return PRUNE;
    }
    this.stack.push(node);
    return node.chosen;
  }

  end(): void {
    if (this.prunedNow) this.pruned++;
    // Backtrack: the deepest choice point with an alternative left.
    while (this.stack.length > 0) {
      if (this.advance(this.stack[this.stack.length - 1] as Node)) return;
      this.stack.pop();
    }
    if (this.reduction === 'dpor') {
      if (this.level < this.bound) {
        this.level++;
        this.item = { prefix: [], sleep: new Map(), pre: 0, current: '' as TaskId };
        return;
      }
      this.item = null;
      this.done = true;
      return;
    }
    // This subtree is done: the next queued one of this level, else of the next level.
    while (this.level <= this.bound) {
      const next = (this.queues[this.level] as Item[]).pop();
      if (next !== undefined) {
        this.item = next;
        return;
      }
      this.level++;
    }
    this.item = null;
    this.done = true;
  }

  /** Replaying the path: the recorded task must be enabled again, or the runtime is not deterministic. */
  private follow(enabled: readonly TaskId[], want: TaskId, step: number): number {
    const i = enabled.indexOf(want);
    if (i < 0) throw new Error(`dfs: replaying step ${step}, task ${want} is not enabled (enabled: ${enabled.join(', ')}): the execution is not deterministic`);
    return i;
  }

  private node(j: number, enabled: readonly TaskId[], actors: readonly Footprint[]): Node {
    const item = this.item as Item;
    let current: TaskId | null;
    let pre: number;
    let sleep: ReadonlyMap<TaskId, Footprint>;
    if (j === 0) {
      current = item.prefix.length === 0 ? null : item.current;
      pre = item.pre;
      sleep = item.sleep;
    } else {
      const p = this.stack[j - 1] as Node;
      current = p.enabled[p.chosen] as TaskId;
      pre = p.pre + this.cost(p, p.chosen);
      sleep = this.childSleep(p, p.chosen, p.explored.length - 1);
    }
    const ci = current === null ? -1 : enabled.indexOf(current);
    const order: number[] = ci < 0 ? [] : [ci];
    for (let i = 0; i < enabled.length; i++) if (i !== ci) order.push(i);
    const n: Node = { enabled: [...enabled], actors: [...actors], current, currentEnabled: ci >= 0, pre, sleep, order, cursor: 0, explored: [], chosen: -1, backtrack: new Set(), clock: null };
    if (this.reduction === 'dpor') {
      // the first alternative is free: the one the search would take anyway
      for (const i of order) {
        if (!sleep.has(enabled[i] as TaskId) && pre + this.cost(n, i) <= this.level) {
          n.backtrack.add(i);
          break;
        }
      }
    }
    return n;
  }

  private cost(n: Node, i: number): number {
    return n.currentEnabled && n.enabled[i] !== n.current ? 1 : 0;
  }

  /**
   * The sleep set after taking `a` at `n`: what slept at `n` or was explored
   * there before `a` (the first `before` entries of `explored`), minus what
   * `a` depends on.
   */
  private childSleep(n: Node, a: number, before: number): Map<TaskId, Footprint> {
    const out = new Map<TaskId, Footprint>();
    if (this.reduction === 'none') return out;
    const actor = n.actors[a] as Footprint;
    for (const [t, at] of n.sleep) if (at !== actor) out.set(t, at);
    for (let k = 0; k < before; k++) {
      const b = n.explored[k] as number;
      const at = n.actors[b] as Footprint;
      if (at !== actor) out.set(n.enabled[b] as TaskId, at);
    }
    return out;
  }

  /**
   * Moves `n` to its next alternative within the level being explored and
   * returns true, queueing for the next level the alternatives it passes that
   * need one more preemption; false when none is left.
   */
  private advance(n: Node): boolean {
    if (this.reduction === 'dpor') {
      // alternatives arrive later, from races found below: scan them all every time
      for (const i of n.order) {
        if (!n.backtrack.has(i) || n.explored.includes(i)) continue;
        n.explored.push(i);
        if (n.sleep.has(n.enabled[i] as TaskId) || n.pre + this.cost(n, i) > this.level) continue;
        n.chosen = i;
        n.clock = null;
        return true;
      }
      return false;
    }
    while (n.cursor < n.order.length) {
      const i = n.order[n.cursor++] as number;
      const t = n.enabled[i] as TaskId;
      if (n.sleep.has(t)) continue;
      const c = n.pre + this.cost(n, i);
      if (c > this.bound) continue;
      if (c <= this.level) {
        n.explored.push(i);
        n.chosen = i;
        return true;
      }
      const prefix = [...(this.item as Item).prefix, ...this.stack.slice(0, this.depthOf(n)).map((x) => x.enabled[x.chosen] as TaskId), t];
      (this.queues[c] as Item[]).push({ prefix, sleep: this.childSleep(n, i, n.explored.length), pre: c, current: t });
      n.explored.push(i);
    }
    return false;
  }

  /**
   * DPOR (Flanagan, Godefroid, POPL 2005): for each task `p` enabled at the
   * new node, the latest step on the path that is dependent with p's next
   * step, by another task, and does not happen before p (vector clocks over
   * program order and dependence) is a race: at that step's node, `p` (or,
   * if p was not enabled there, every enabled task) becomes an alternative.
   */
  private races(n: Node): void {
    const last = new Map<TaskId, number>();
    for (let k = 0; k < this.stack.length; k++) last.set(this.chosenTask(k), k);
    for (let a = 0; a < n.enabled.length; a++) {
      const p = n.enabled[a] as TaskId;
      const fp = n.actors[a] as Footprint;
      const lp = last.get(p);
      const clock = lp === undefined ? null : this.clockOf(lp);
      for (let k = this.stack.length - 1; k >= 0; k--) {
        const node = this.stack[k] as Node;
        if (node.actors[node.chosen] !== fp) continue;
        const q = node.enabled[node.chosen] as TaskId;
        if (q === p) continue;
        if (clock !== null && (clock.get(q) ?? -1) >= k) continue; // k happens before p's next step
        const pi = node.enabled.indexOf(p);
        if (pi >= 0) node.backtrack.add(pi);
        else for (let i = 0; i < node.enabled.length; i++) node.backtrack.add(i);
        break;
      }
    }
  }

  private chosenTask(k: number): TaskId {
    const n = this.stack[k] as Node;
    return n.enabled[n.chosen] as TaskId;
  }

  /** The vector clock of the step at depth `k`: its task's previous step and the latest dependent step before it, joined. */
  private clockOf(k: number): ReadonlyMap<TaskId, number> {
    const n = this.stack[k] as Node;
    if (n.clock !== null) return n.clock;
    const t = this.chosenTask(k);
    const fp = n.actors[n.chosen] as Footprint;
    const c = new Map<TaskId, number>();
    const join = (o: ReadonlyMap<TaskId, number>): void => {
      for (const [x, v] of o) if ((c.get(x) ?? -1) < v) c.set(x, v);
    };
    let sawTask = false;
    let sawFp = false;
    for (let i = k - 1; i >= 0 && !(sawTask && sawFp); i--) {
      const m = this.stack[i] as Node;
      if (!sawTask && m.enabled[m.chosen] === t) {
        join(this.clockOf(i));
        sawTask = true;
      }
      if (!sawFp && m.actors[m.chosen] === fp) {
        join(this.clockOf(i));
        sawFp = true;
      }
    }
    c.set(t, k);
    n.clock = c;
    return c;
  }

  /** The depth of `n` in the stack (a node not pushed yet is the next one). */
  private depthOf(n: Node): number {
    const k = this.stack.indexOf(n);
    return k < 0 ? this.stack.length : k;
  }
}
