import { PRUNE } from './strategy.ts';
import type { Strategy } from './strategy.ts';
import type { TaskId } from '../../protocol/ids.ts';

/** What a step may touch (Strategy `where`): two steps with different footprints commute. */
type Footprint = string;

/**
 * Preemption-bounded depth-first search with sleep sets: every schedule of
 * the post-boot state with at most `bound` preemptions, up to reordering
 * independent steps, then `exhausted()` says the search is complete.
 *
 * - Stateless (VeriSoft, CHESS): each execution re-runs from the set-up
 *   snapshot, following the current path's choices, then extends it; after
 *   it ends the deepest choice point with an unexplored alternative is
 *   advanced. The runtime is deterministic for a given decision list, which
 *   `pick` checks while replaying the path (a mismatch is an internal error).
 * - Preemption bound (Musuvathi, Qadeer, PLDI 2007): switching away from the
 *   task that ran the previous step while it is still enabled costs one
 *   preemption; a switch when it blocked or ended is free. Iterative context
 *   bounding: all schedules with 0 preemptions first, then 1, …, so the
 *   bugs of shallow depth fall first; a choice that would exceed the level
 *   being explored is queued for the next level (each schedule runs once).
 * - Sleep sets (Godefroid 1996): after alternative `b` was explored at a
 *   state, an execution that went another way does not run `b` next until a
 *   step dependent on `b` has run; an execution whose every enabled step is
 *   asleep is pruned. Two steps are dependent when they run on the same
 *   actor (actors share no state; an object lives in its owning actor), or,
 *   on a lock manager, when they operate on the same lock or completion
 *   (the manager keeps each lock's state apart): the runtime hands each
 *   enabled step's footprint over (runtime/execution.ts `footprint`).
 *
 * Known limit of sleep sets under a preemption bound (Coons, Musuvathi,
 * McKinley, "Bounded partial-order reduction", OOPSLA 2013): the explored
 * representative of a pruned schedule may need one preemption more than the
 * pruned one, so a schedule at exactly the bound can be covered only by a
 * representative beyond it. The claim is therefore "every schedule with at
 * most N preemptions, up to the reduction"; `reduction: false` turns the
 * reduction off (the benchmark's baseline, and an unreduced claim).
 */
export interface DfsOptions {
  /** Preemption bound (default 2). */
  readonly preemptions?: number;
  /** Sleep-set reduction (default true). */
  readonly reduction?: boolean;
}

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
}

export class DfsStrategy implements Strategy {
  readonly name: string;
  readonly footprints = true;
  readonly bound: number;
  readonly reduction: boolean;
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
    this.reduction = opts.reduction !== false;
    this.name = `dfs(≤${this.bound}${this.reduction ? '' : ', no reduction'})`;
    this.queues = Array.from({ length: this.bound + 1 }, () => []);
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
    return { enabled: [...enabled], actors: [...actors], current, currentEnabled: ci >= 0, pre, sleep, order, cursor: 0, explored: [], chosen: -1 };
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
    if (!this.reduction) return out;
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

  /** The depth of `n` in the stack (a node not pushed yet is the next one). */
  private depthOf(n: Node): number {
    const k = this.stack.indexOf(n);
    return k < 0 ? this.stack.length : k;
  }
}
