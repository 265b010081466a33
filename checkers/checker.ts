import type { Finding } from '../protocol/findings.ts';
import { EVENT_NAMES, eachAccess, isWalk } from '../protocol/events.ts';
import type { HeldLocks } from './held-locks.ts';
import type { AccessEvent, EventName, TraceEvent, WalkEvent } from '../protocol/events.ts';
import type { TaskId } from '../protocol/ids.ts';

/**
 * A checker observes the event stream of one execution, in the global order
 * the scheduler gives it, and reports findings. The same code runs online
 * (inside a run) and offline (over a saved trace).
 */
export interface Checker {
  readonly name: string;
  /**
   * The event kinds `onEvent` acts on, when it ignores the others: a run
   * (runtime/execution.ts) then hands it only those. Every checker still
   * takes any event (an offline feed gives it all of them); this is a
   * promise that the others change nothing. Absent: every kind.
   */
  readonly eventKinds?: readonly EventName[];
  /**
   * Of the `send` events, it acts only on spawns (kind `event`): the sends
   * of calls and replies, which a run derives from each step's messages,
   * need not reach it. Absent: it takes them too.
   */
  readonly spawnsOnly?: boolean;
  /**
   * Of the `send` events of calls and replies, it acts only on those of a
   * task for which this is true now (asked before the event is made: a run
   * makes none that no checker wants). Absent: on all of them.
   */
  callsOf?(task: TaskId): boolean;
  /**
   * The shared held-lock table it reads (a `HeldLocks({ shared: true })`,
   * kernelCheckers), when it has one: a feed applies every `lock.acquired`
   * and `lock.released` to it, once, before it hands the event to any
   * checker, so `eventKinds` lists the lock events only where the checker
   * acts on them itself. (Each of seven checkers took the lock events only
   * to pass them to the one table, which applied the first: ~90 of a bench
   * schedule's ~540 checker calls, issue 19.) A caller that gives a checker
   * every event needs nothing: the checker passes them to the table, which
   * skips an event it has applied.
   */
  readonly heldLocks?: HeldLocks;
  /**
   * A program's set-up has ended, and with it every task seen so far: no
   * event of theirs follows (the tasks that start next have other ids).
   * Drop what only their own later events could have used; a set-up
   * snapshot then keeps less and every schedule restores less (issue 19).
   */
  setupEnded?(): void;
  /** `step` is the index of the step that emitted the event; never a walk's one event (see `onWalk`). */
  onEvent(e: TraceEvent, step: number): void;
  /**
   * A list walk's reads in one call (protocol/events.ts WalkEvent): exactly
   * what `onEvent` would make of one read per object of the walk, in order
   * (`eachAccess`), without an event per object. Absent: the feed hands it
   * those reads. (A walk is one event in the log, but each of its reads
   * went to each checker as an event of its own: vfio_group_find_from_iommu()
   * walks vfio.group_list at every VFIO probe, 38 % of a 4,096-device boot's
   * events and 71 % of a 16,384-device one's, issue 19.)
   */
  onWalk?(e: WalkEvent, step: number): void;
  /** Findings so far; the run collects them after every step. */
  drain(): readonly Finding[];
  /**
   * `drain()` has nothing new unless `onEvent` was called since the last
   * drain (its findings come from events, and what a drain judges was
   * marked by one): a run then drains it only after a step that handed it
   * an event. A bench schedule's ~90 steps drained seven checkers each, and
   * most steps hand most of them nothing (issue 19).
   */
  readonly drainsOnlyAfterEvents?: boolean;
  /** The execution has ended (leak checks and the like); may be called more than once. */
  finish?(): void;
}

/**
 * Hands each event to the checkers that act on its kind (Checker.eventKinds),
 * in the checkers' order. A run's events are mostly sends and accesses that
 * most checkers ignore: called for them anyway, every checker paid a call
 * and a switch per event, and each `onEvent` saw the hidden classes of every
 * kind of event, which kept V8 recompiling it (issues 18, 19).
 */
export class CheckerFeed {
  private readonly checkers: readonly Checker[];
  /** Per kind, the positions of the checkers that take it (the plan's: shared by every schedule's feed). */
  private readonly byKind: ReadonlyMap<EventName, readonly number[]>;
  /** The positions of the checkers that take the `send` events of calls and replies. */
  private readonly calls: readonly number[];
  /** Per checker: handed an event since its last drain (always 1 for one that is not `drainsOnlyAfterEvents`). */
  private readonly fed: Uint8Array;
  /** Per checker: what `fed` goes back to at a drain (0 for a checker that `drainsOnlyAfterEvents`). */
  private readonly rest: Uint8Array;
  /** The checkers' shared held-lock tables (Checker.heldLocks), each once: one, for kernelCheckers(). */
  private readonly tables: readonly HeldLocks[];

  /**
   * `like`: checkers these are copies of, position for position (a set-up
   * snapshot's, restored for every schedule): who takes what is worked out
   * once for them, and each schedule's feed reuses it (it was ~140
   * `includes` and ~20 lists per schedule, issue 19).
   */
  constructor(checkers: readonly Checker[], like: readonly Checker[] = checkers) {
    if (like.length !== checkers.length) throw new Error(`CheckerFeed: ${checkers.length} checkers are not copies of ${like.length}`);
    // (no checkers: one plan for all; every bare execution, and every one that starts from a set-up snapshot
    // before it adopts the snapshot's checkers, made a feed of a fresh empty list and worked out its plan, issue 19)
    let plan = like.length === 0 ? NO_CHECKERS_PLAN : plans.get(like);
    if (plan === undefined) {
      plan = feedPlan(like);
      plans.set(like, plan);
    }
    this.checkers = checkers;
    this.byKind = plan.byKind;
    this.calls = plan.calls;
    this.rest = plan.rest;
    this.fed = new Uint8Array(checkers.length).fill(1);
    this.tables = plan.tables.map((i) => (checkers[i] as Checker).heldLocks as HeldLocks);
  }

  /** The set-up has ended: the shared held-lock tables forget its last event (HeldLocks.setupEnded). */
  setupEnded(): void {
    for (const t of this.tables) t.setupEnded();
  }

  /**
   * Whether checker `i` (by position) may have findings to drain now: it
   * was handed an event since its last drain, or it does not say that it
   * needs one (Checker.drainsOnlyAfterEvents). Counts as its drain.
   */
  drainable(i: number): boolean {
    const fed = this.fed;
    if (fed[i] === 0) return false;
    fed[i] = this.rest[i] as number;
    return true;
  }

  /** Whether some checker takes the `send` events of calls and replies (a run derives them only then). */
  wantsCalls(): boolean {
    return this.calls.length > 0;
  }

  /** Whether some checker takes the `send` events of calls and replies of `task` now (Checker.callsOf). */
  wantsCallOf(task: TaskId): boolean {
    const at = this.calls;
    for (let i = 0; i < at.length; i++) {
      const c = this.checkers[at[i] as number] as Checker;
      if (c.callsOf === undefined || c.callsOf(task)) return true;
    }
    return false;
  }

  /** The `send` event of a call or a reply. */
  feedCall(e: TraceEvent, step: number): void {
    const at = this.calls;
    for (let i = 0; i < at.length; i++) {
      const j = at[i] as number;
      const c = this.checkers[j] as Checker;
      if (c.callsOf !== undefined && !c.callsOf(e.task)) continue;
      this.fed[j] = 1;
      c.onEvent(e, step);
    }
  }

  /** One event: a walk goes whole to each checker that has `onWalk`, as one read per object to the others. */
  feed(e: TraceEvent, step: number): void {
    const at = this.byKind.get(e.ev);
    if (at === undefined) return;
    if (isWalk(e)) {
      this.feedWalk(e, at, step);
      return;
    }
    if (e.ev === 'lock.acquired' || e.ev === 'lock.released') {
      const ts = this.tables;
      for (let i = 0; i < ts.length; i++) (ts[i] as HeldLocks).onEvent(e, step);
    }
    const cs = this.checkers;
    const fed = this.fed;
    for (let i = 0; i < at.length; i++) {
      const j = at[i] as number;
      fed[j] = 1;
      (cs[j] as Checker).onEvent(e, step);
    }
  }

  /**
   * A walk, to the checkers that take accesses (`at`), one after the other:
   * each still sees its reads in order, and no checker's judgement of an
   * access depends on another's (they share only the held-lock and
   * object-type tables, which accesses do not change).
   */
  private feedWalk(e: WalkEvent, at: readonly number[], step: number): void {
    const cs = this.checkers;
    const fed = this.fed;
    let each: readonly AccessEvent[] | null = null;
    for (let i = 0; i < at.length; i++) {
      const j = at[i] as number;
      fed[j] = 1;
      const c = cs[j] as Checker;
      if (c.onWalk !== undefined) {
        c.onWalk(e, step);
        continue;
      }
      each ??= eachAccess(e);
      for (let k = 0; k < each.length; k++) c.onEvent(each[k] as AccessEvent, step);
    }
  }
}

/** Who takes what, by the checkers' positions (CheckerFeed). */
interface FeedPlan {
  /** Per kind, the checkers that take it; kinds with the same checkers share one list. */
  readonly byKind: ReadonlyMap<EventName, readonly number[]>;
  readonly calls: readonly number[];
  /** Per shared held-lock table, the first checker that has it. */
  readonly tables: readonly number[];
  /** Per checker, what its `fed` byte goes back to at a drain (CheckerFeed.rest; never written). */
  readonly rest: Uint8Array;
}

const plans = new WeakMap<readonly Checker[], FeedPlan>();

function feedPlan(checkers: readonly Checker[]): FeedPlan {
  const lists = new Map<string, readonly number[]>();
  const list = (at: number[]): readonly number[] => {
    const key = at.join(',');
    let l = lists.get(key);
    if (l === undefined) lists.set(key, (l = Object.freeze(at)));
    return l;
  };
  const all = checkers.map((_, i) => i);
  const byKind = new Map<EventName, readonly number[]>();
  for (const name of EVENT_NAMES) {
    byKind.set(name, list(all.filter((i) => {
      const kinds = (checkers[i] as Checker).eventKinds;
      return kinds === undefined || kinds.includes(name);
    })));
  }
  const calls = list((byKind.get('send') as readonly number[]).filter((i) => (checkers[i] as Checker).spawnsOnly !== true));
  const tables: number[] = [];
  all.forEach((i) => {
    const h = (checkers[i] as Checker).heldLocks;
    if (h !== undefined && !tables.some((j) => (checkers[j] as Checker).heldLocks === h)) tables.push(i);
  });
  const rest = Uint8Array.from(checkers, (c) => (c.drainsOnlyAfterEvents === true ? 0 : 1));
  return { byKind, calls, tables, rest };
}

/** The plan of a feed without checkers (CheckerFeed). */
const NO_CHECKERS_PLAN: FeedPlan = feedPlan([]);

export const NO_FINDINGS: readonly Finding[] = [];

/** Findings a checker has made and the run has not collected yet: the `drain` half of a checker. */
export class FindingQueue {
  private items: Finding[] = [];

  push(f: Finding): void {
    this.items.push(f);
  }

  drain(): readonly Finding[] {
    if (this.items.length === 0) return NO_FINDINGS;
    const out = this.items;
    this.items = [];
    return out;
  }
}
