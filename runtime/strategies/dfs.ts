import { PRUNE } from './strategy.ts';
import type { StepTouch, Strategy } from './strategy.ts';
import { coarseTouch, dependent } from './touch.ts';
import type { TaskId } from '../../protocol/ids.ts';

/** Where a step runs, known before it runs (Strategy `where`): its actor, or on a lock manager its lock. */
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
 * - Dependence, known before a step runs (`sleep`, `none`): two steps are
 *   dependent when they run on the same actor (actors share no state), or,
 *   on a lock manager, on the same lock or completion (runtime/execution.ts
 *   `footprint`). `dpor` judges by what a step did: after it ran, the
 *   runtime says which objects' fields it read and wrote (`stepped`,
 *   ./touch.ts); two steps are dependent when one writes what the other
 *   reads or writes (docs/runtime.md says what this rests on and which test
 *   checks it).
 * - `dpor` (default; Flanagan, Godefroid, POPL 2005): a node tries its first
 *   alternative, and another only when a later step of that task races with
 *   the node's step (dependent, by another task, not ordered by happens-
 *   before: vector clocks), taken on the executed steps as source-DPOR
 *   does (Abdulla et al., POPL 2014); with sleep sets. Iterative deepening:
 *   a whole pass at bound 0, then 1, … (a lower bound's schedules run
 *   again; a pass that passed nothing over for its bound ends the search).
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
 * more preemptions than the skipped one (each reversal is therefore also
 * tried where the racing run began). A task blocked at the end of a path
 * contributes through the steps that blocked it. Checkers that read the
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
  readonly sleep: ReadonlyMap<TaskId, StepTouch>;
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
  /** Tasks asleep here, with what their pending step touches. */
  readonly sleep: ReadonlyMap<TaskId, StepTouch>;
  /** dpor: what each alternative taken here touched (by index into `enabled`), told after it ran. */
  readonly touch: (StepTouch | undefined)[];
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
  /** dpor: this pass passed over an alternative because it needs more preemptions than the level allows. */
  private cut = false;

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
    if (!this.advance(node)) {
      this.prunedNow = true;
      return PRUNE;
    }
    this.stack.push(node);
    return node.chosen;
  }

  /**
   * dpor: the step at depth `step` ran and touched `touch`. The first time a
   * path runs that step, its races with the steps before it are reversed.
   */
  stepped(step: number, touch: StepTouch): void {
    if (this.reduction !== 'dpor' || this.item === null) return;
    const n = this.stack[step];
    if (n === undefined || n.touch[n.chosen] !== undefined) return;
    n.touch[n.chosen] = touch;
    this.races(step);
  }

  end(): void {
    if (this.prunedNow) this.pruned++;
    if (this.reduction === 'dpor') this.pendingRaces();
    // Backtrack: the deepest choice point with an alternative left.
    while (this.stack.length > 0) {
      if (this.advance(this.stack[this.stack.length - 1] as Node)) return;
      this.stack.pop();
    }
    if (this.reduction === 'dpor') {
      // a pass that passed nothing over for its bound is the whole search: a deeper one would repeat it
      if (this.level < this.bound && this.cut) {
        this.level++;
        this.cut = false;
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
    let sleep: ReadonlyMap<TaskId, StepTouch>;
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
    const n: Node = { enabled: [...enabled], actors: [...actors], current, currentEnabled: ci >= 0, pre, sleep, touch: [], order, cursor: 0, explored: [], chosen: -1, backtrack: new Set(), clock: null };
    if (this.reduction === 'dpor') {
      // the first alternative is free: the one the search would take anyway
      for (const i of order) {
        if (sleep.has(enabled[i] as TaskId)) continue;
        if (pre + this.cost(n, i) <= this.level) {
          n.backtrack.add(i);
          break;
        }
        this.cut = true;
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
  private childSleep(n: Node, a: number, before: number): Map<TaskId, StepTouch> {
    const out = new Map<TaskId, StepTouch>();
    if (this.reduction === 'none') return out;
    const ta = this.touchAt(n, a);
    for (const [t, tt] of n.sleep) if (!dependent(tt, ta)) out.set(t, tt);
    for (let k = 0; k < before; k++) {
      const b = n.explored[k] as number;
      const tb = this.touchAt(n, b);
      if (!dependent(tb, ta)) out.set(n.enabled[b] as TaskId, tb);
    }
    return out;
  }

  /**
   * What alternative `i` at `n` touches: with dpor, what it touched when it
   * ran there (an alternative is put to sleep only after it ran); else where
   * it runs, the whole actor or lock.
   */
  private touchAt(n: Node, i: number): StepTouch {
    return (this.reduction === 'dpor' ? n.touch[i] : undefined) ?? coarseTouch(n.actors[i] as Footprint);
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
        if (n.sleep.has(n.enabled[i] as TaskId)) continue;
        if (n.pre + this.cost(n, i) > this.level) {
          this.cut = true;
          continue;
        }
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
   * DPOR (Flanagan, Godefroid, POPL 2005), with the races taken between the
   * steps a path ran, by what they touched (as source-DPOR does: Abdulla et
   * al., POPL 2014): a step at depth `k` by another task that is dependent
   * with the step at `m` and does not happen before it through some other
   * step is a race; at `k`, the task of `m` (or, if it was not enabled
   * there, every enabled task) becomes an alternative.
   */
  private races(m: number): void {
    const nm = this.stack[m] as Node;
    const p = nm.enabled[nm.chosen] as TaskId;
    const tm = nm.touch[nm.chosen] as StepTouch;
    const seen = new Map(this.clockBefore(m));
    for (let k = m - 1; k >= 0; k--) {
      const nk = this.stack[k] as Node;
      const q = nk.enabled[nk.chosen] as TaskId;
      if (q === p || (seen.get(q) ?? -1) >= k) continue; // same task, or k happens before m already
      const tk = nk.touch[nk.chosen];
      if (tk === undefined || !dependent(tk, tm)) continue;
      this.reverse(k, p);
      join(seen, this.clockOf(k));
    }
  }

  /**
   * dpor: an execution that ended with tasks still enabled (a step aborted
   * it, or the step limit) never ran their pending steps, so their races are
   * taken by where those steps would run, against the path's steps there.
   */
  private pendingRaces(): void {
    const last = this.stack.length - 1;
    const nl = this.stack[last];
    if (nl === undefined) return;
    for (let a = 0; a < nl.enabled.length; a++) {
      if (a === nl.chosen) continue;
      const p = nl.enabled[a] as TaskId;
      const pending = coarseTouch(nl.actors[a] as Footprint);
      let lp = -1;
      for (let k = last; k >= 0 && lp < 0; k--) if (this.chosenTask(k) === p) lp = k;
      const seen = lp < 0 ? new Map<TaskId, number>() : this.clockOf(lp);
      for (let k = last; k >= 0; k--) {
        const nk = this.stack[k] as Node;
        const q = nk.enabled[nk.chosen] as TaskId;
        if (q === p || (seen.get(q) ?? -1) >= k) continue;
        if (!dependent(coarseTouch(nk.actors[nk.chosen] as Footprint), pending)) continue;
        this.reverse(k, p);
        break;
      }
    }
  }

  /**
   * A race of the step at depth `k` with a later step of `p`: `p` becomes an
   * alternative at `k`, and also where the run of `k`'s task that includes
   * `k` began, where switching to `p` costs no more preemptions (Coons,
   * Musuvathi, McKinley, OOPSLA 2013: without it a preemption bound hides
   * reversals that need none).
   */
  private reverse(k: number, p: TaskId): void {
    const q = this.chosenTask(k);
    let j = k;
    while (j > 0 && this.chosenTask(j - 1) === q) j--;
    this.backtrackFor(this.stack[k] as Node, p);
    if (j !== k) this.backtrackFor(this.stack[j] as Node, p);
  }

  /** At `node`, task `p` becomes an alternative; if it was not enabled there, every enabled task does. */
  private backtrackFor(node: Node, p: TaskId): void {
    const pi = node.enabled.indexOf(p);
    if (pi >= 0) node.backtrack.add(pi);
    else for (let i = 0; i < node.enabled.length; i++) node.backtrack.add(i);
  }

  private chosenTask(k: number): TaskId {
    const n = this.stack[k] as Node;
    return n.enabled[n.chosen] as TaskId;
  }

  /**
   * What happens before the step at depth `k` by its task alone: the clock of
   * the task's previous step, or for a task's first step the clock of the
   * step that created it.
   */
  private clockBefore(k: number): ReadonlyMap<TaskId, number> {
    const t = this.chosenTask(k);
    for (let i = k - 1; i >= 0; i--) {
      const m = this.stack[i] as Node;
      if (m.enabled[m.chosen] === t || m.touch[m.chosen]?.spawned.includes(t) === true) return this.clockOf(i);
    }
    return new Map();
  }

  /**
   * The vector clock of the step at depth `k` (task → depth of its latest
   * step that happens before it): program order and creation, joined with
   * every earlier dependent step's clock.
   */
  private clockOf(k: number): ReadonlyMap<TaskId, number> {
    const n = this.stack[k] as Node;
    if (n.clock !== null) return n.clock;
    const t = this.chosenTask(k);
    const c = new Map(this.clockBefore(k));
    const tk = n.touch[n.chosen];
    for (let i = k - 1; i >= 0 && tk !== undefined; i--) {
      const m = this.stack[i] as Node;
      if (m.enabled[m.chosen] === t || (c.get(m.enabled[m.chosen] as TaskId) ?? -1) >= i) continue;
      const ti = m.touch[m.chosen];
      if (ti !== undefined && dependent(ti, tk)) join(c, this.clockOf(i));
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

function join(into: Map<TaskId, number>, o: ReadonlyMap<TaskId, number>): void {
  for (const [x, v] of o) if ((into.get(x) ?? -1) < v) into.set(x, v);
}
