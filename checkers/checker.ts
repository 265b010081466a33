import type { Finding } from '../protocol/findings.ts';
import { EVENT_NAMES } from '../protocol/events.ts';
import type { EventName, TraceEvent } from '../protocol/events.ts';

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
   * A program's set-up has ended, and with it every task seen so far: no
   * event of theirs follows (the tasks that start next have other ids).
   * Drop what only their own later events could have used; a set-up
   * snapshot then keeps less and every schedule restores less (issue 19).
   */
  setupEnded?(): void;
  /** `step` is the index of the step that emitted the event. */
  onEvent(e: TraceEvent, step: number): void;
  /** Findings so far; the run collects them after every step. */
  drain(): readonly Finding[];
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
  private readonly byKind = new Map<EventName, readonly Checker[]>();
  /** The checkers that take the `send` events of calls and replies. */
  private readonly calls: readonly Checker[];

  constructor(checkers: readonly Checker[]) {
    for (const name of EVENT_NAMES) this.byKind.set(name, checkers.filter((c) => c.eventKinds === undefined || c.eventKinds.includes(name)));
    this.calls = (this.byKind.get('send') as readonly Checker[]).filter((c) => c.spawnsOnly !== true);
  }

  /** Whether some checker takes the `send` events of calls and replies (a run derives them only then). */
  wantsCalls(): boolean {
    return this.calls.length > 0;
  }

  /** The `send` event of a call or a reply. */
  feedCall(e: TraceEvent, step: number): void {
    const cs = this.calls;
    for (let i = 0; i < cs.length; i++) (cs[i] as Checker).onEvent(e, step);
  }

  /** One event (a walk already expanded: protocol/events.ts eachAccess). */
  feed(e: TraceEvent, step: number): void {
    const cs = this.byKind.get(e.ev);
    if (cs === undefined) return;
    for (let i = 0; i < cs.length; i++) (cs[i] as Checker).onEvent(e, step);
  }
}

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
