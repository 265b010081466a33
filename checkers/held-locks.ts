import type { EventName, LockMode, LockRef, TraceEvent } from '../protocol/events.ts';
import type { ActorId, TaskId } from '../protocol/ids.ts';

export interface HeldLock {
  readonly lock: LockRef;
  readonly mode: LockMode;
  /** Taken by a successful trylock: held like any other, but lockdep adds no edge *to* it. */
  readonly try: boolean;
  /** The task's stack where it took the lock. */
  readonly stack: readonly string[];
  readonly step: number;
}

/**
 * The locks each task holds, in acquisition order, rebuilt from lock events
 * (lockdep's per-task held_locks). Reports and other checkers read it.
 */
export class HeldLocks {
  private readonly held = new Map<TaskId, HeldLock[]>();
  /**
   * Shared by several checkers of one run (kernelCheckers): each feeds it
   * the events it sees, and the first to pass an event applies it, the
   * others pass the same object and change nothing. One table instead of one
   * per checker: a lock event made a frozen record and a stack copy in each
   * of seven checkers (issue 19). Null when not shared: a checker that owns
   * its table applies every event it is given, even the same object twice.
   */
  private last: TraceEvent | null;

  constructor(opts: { readonly shared?: boolean } = {}) {
    this.last = opts.shared === true ? NOT_SEEN : null;
  }

  /**
   * Shared by several checkers: a run's feed (CheckerFeed) applies each
   * lock event to it once, and a checker that reads it needs no lock events
   * of its own for it (Checker.heldLocks).
   */
  get shared(): boolean {
    return this.last !== null;
  }

  /**
   * A set-up has ended (runtime/execution.ts): the last lock event it saw
   * will not be seen again, and a snapshot need not copy it (the event, its
   * lock and its stack, in every restore: issue 19).
   */
  setupEnded(): void {
    if (this.last !== null) this.last = NOT_SEEN;
  }
  /**
   * Each task's held locks as of its last lock event, frozen, made when a
   * checker first asks (`snapshotOf`) and shared by every record made until
   * the task's next lock event: the checkers copied the list per access,
   * a million small arrays in a 4,096-device boot (issue 19).
   */
  private readonly frozen = new Map<TaskId, readonly HeldLock[]>();

  onEvent(e: TraceEvent, step: number): void {
    if (this.last !== null) {
      if (e === this.last) return;
      if (e.ev === 'lock.acquired' || e.ev === 'lock.released') this.last = e;
    }
    if (e.ev === 'lock.acquired' && e.ok) {
      this.frozen.delete(e.task);
      let h = this.held.get(e.task);
      if (h === undefined) {
        h = [];
        this.held.set(e.task, h);
      }
      // frozen: never changed, so the records that copy a task's held locks and a restore (runtime/snapshot.ts) share it
      h.push(Object.freeze({ lock: e.lock, mode: e.mode, try: e.try, stack: e.stack.slice(0, -1), step }));
    } else if (e.ev === 'lock.released') {
      this.frozen.delete(e.task);
      const h = this.held.get(e.task);
      if (h === undefined) return;
      for (let i = h.length - 1; i >= 0; i--) {
        if ((h[i] as HeldLock).lock.id === e.lock.id) {
          h.splice(i, 1);
          break;
        }
      }
      if (h.length === 0) this.held.delete(e.task);
    }
  }

  of(task: TaskId): readonly HeldLock[] {
    return this.held.get(task) ?? [];
  }

  /** The locks `task` holds now, as a frozen list a record may keep (shared until the task's next lock event). */
  snapshotOf(task: TaskId): readonly HeldLock[] {
    let f = this.frozen.get(task);
    if (f === undefined) {
      f = Object.freeze(this.of(task).slice());
      this.frozen.set(task, f);
    }
    return f;
  }

  /** The tasks that hold `lock`, oldest acquisition first. */
  holders(lockId: string): TaskId[] {
    const out: TaskId[] = [];
    for (const [t, h] of this.held) if (h.some((x) => x.lock.id === lockId)) out.push(t);
    return out;
  }

  tasks(): TaskId[] {
    return [...this.held.keys()];
  }

  /** Every held lock of every task, for checks that look across tasks (a freed object's locks). */
  *all(): IterableIterator<readonly [TaskId, HeldLock]> {
    for (const [t, h] of this.held) for (const x of h) yield [t, x];
  }
}

/** The `last` of a shared table before its first lock event (frozen: a snapshot shares it). */
const NOT_SEEN: TraceEvent = Object.freeze({ ev: 'task.end', task: '' as TaskId, actor: '' as ActorId, stack: Object.freeze([]) });

/** "#0: A (class A), write, taken at app:abba" as the hang reports print a held lock. */
export function describeHeld(h: HeldLock, i: number): string {
  const where = h.stack.length > 0 ? h.stack[h.stack.length - 1] : '?';
  return `#${i}: ${h.lock.id} (${h.lock.cls}${h.lock.sub ? `/${h.lock.sub}` : ''})${h.mode === 'write' ? '' : `, ${h.mode}`}, taken at ${where}`;
}

/**
 * A checker's event kinds when its held-lock table is shared
 * (Checker.heldLocks): `kinds` without the lock acquisitions and releases it
 * took only to keep that table, which the feed now applies once. `own`: the
 * lock events it also acts on itself, which stay.
 */
export function withoutTableEvents(kinds: readonly EventName[], own: readonly EventName[] = []): readonly EventName[] {
  return Object.freeze(kinds.filter((k) => (k !== 'lock.acquired' && k !== 'lock.released') || own.includes(k)));
}
