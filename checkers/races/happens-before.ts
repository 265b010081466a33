import { VectorClock } from '../vector-clock.ts';
import type { TraceEvent } from '../../protocol/events.ts';
import type { LockId, MsgId, TaskId } from '../../protocol/ids.ts';

/**
 * Happens-before over the event stream, with one vector clock per task.
 *
 * What orders two tasks in this model (and nothing else does):
 *  - program order inside a task. A task is one thread of control that
 *    crosses actors: `k.call` and its reply keep the task id, so a call
 *    chain is plain program order and needs no message edge;
 *  - a spawn: the parent's `send` of kind `event` (message id
 *    `<child>#0`, see protocol/ids.ts `childTaskId`/`msgId`) orders
 *    everything the parent did before it ahead of everything the child does
 *    (queue_work()/kthread_run() publish the caller's stores). The parent's
 *    clock is frozen at the send, not at the child's `task.start`, because
 *    the parent may go on in the same step after spawning. This needs the
 *    `send` to sit in the stream where the spawn happened, before the
 *    parent's later events of the same step; a stream that lists a step's
 *    sends after its other events orders those later accesses before the
 *    child too, and a race between them is missed;
 *  - a lock: a release orders the releaser's past before the next acquirer
 *    (mutex_unlock() is a RELEASE, mutex_lock() an ACQUIRE). For rwsems a
 *    reader acquires only what writers released — readers do not order each
 *    other — and a writer acquires what both writers and readers released;
 *  - a completion: `complete` orders the completer's past before a task
 *    whose `wait.done` follows it (complete()/wait_for_completion()). All
 *    completes so far are joined: with several completers this may order a
 *    waiter after one that did not wake it, an accepted over-approximation.
 *
 * A failed trylock orders nothing. Tasks seen before their `task.start`
 * (an offline trace cut in the middle) start from a fresh clock.
 */
export class HappensBefore {
  private readonly tasks = new Map<TaskId, VectorClock>();
  /** Parent clocks frozen at a spawn, waiting for the child's `task.start`. */
  private readonly spawned = new Map<TaskId, VectorClock>();
  private readonly writeReleased = new Map<LockId, VectorClock>();
  private readonly readReleased = new Map<LockId, VectorClock>();
  private readonly completed = new Map<LockId, VectorClock>();

  onEvent(e: TraceEvent): void {
    switch (e.ev) {
      case 'task.start': {
        const c = this.spawned.get(e.task) ?? (e.parent !== null ? this.tasks.get(e.parent)?.copy() : undefined) ?? new VectorClock();
        this.spawned.delete(e.task);
        if (c.get(e.task) < 1) c.set(e.task, 1);
        this.tasks.set(e.task, c);
        return;
      }
      case 'send':
        if (e.kind === 'event') {
          const c = this.clock(e.task);
          this.spawned.set(childOf(e.msg), c.copy());
          c.tick(e.task);
        }
        return;
      case 'lock.acquired':
        if (!e.ok) return;
        joinFrom(this.clock(e.task), this.writeReleased.get(e.lock.id));
        if (e.mode === 'write') joinFrom(this.clock(e.task), this.readReleased.get(e.lock.id));
        return;
      case 'lock.released':
        this.release(e.mode === 'write' ? this.writeReleased : this.readReleased, e.lock.id, e.task);
        return;
      case 'complete':
        this.release(this.completed, e.completion.id, e.task);
        return;
      case 'wait.done':
        joinFrom(this.clock(e.task), this.completed.get(e.completion.id));
        return;
      default:
        return;
    }
  }

  /**
   * Every task seen so far has ended (Checker.setupEnded): their own clocks
   * are never read again (only the current task's clock orders an access;
   * what they released lives on in the lock and completion clocks).
   */
  tasksEnded(): void {
    this.tasks.clear();
  }

  /** The task's current clock (created on first sight). */
  clock(t: TaskId): VectorClock {
    let c = this.tasks.get(t);
    if (c === undefined) {
      c = new VectorClock();
      c.set(t, 1);
      this.tasks.set(t, c);
    }
    return c;
  }

  /** The task's own entry now: the epoch an access made now is stamped with. */
  epoch(t: TaskId): number {
    return this.clock(t).get(t);
  }

  /** True when what `t` did at `epoch` happens before what `now` does next. */
  ordered(t: TaskId, epoch: number, now: TaskId): boolean {
    return t === now || this.clock(now).covers(t, epoch);
  }

  /**
   * A lock's (or completion's) clock is replaced, never changed: frozen, so
   * a set-up snapshot and every restore share the tables' clocks instead of
   * copying each (~15 clocks, 30 objects per bench schedule; a schedule
   * releases a few of those locks, issue 19).
   */
  private release(table: Map<LockId, VectorClock>, id: LockId, t: TaskId): void {
    const c = this.clock(t);
    const into = table.get(id);
    const next = into === undefined ? c.copy() : into.copy();
    if (into !== undefined) next.join(c);
    Object.freeze(next);
    table.set(id, next);
    c.tick(t);
  }
}

function joinFrom(c: VectorClock, from: VectorClock | undefined): void {
  if (from !== undefined) c.join(from);
}

/** The child task a spawn message starts: message ids are `<task>#<seq>` and a spawn's is `<child>#0`. */
export function childOf(msg: MsgId): TaskId {
  const i = msg.lastIndexOf('#');
  return (i < 0 ? msg : msg.slice(0, i)) as TaskId;
}
