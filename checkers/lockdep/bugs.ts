import type { Edge } from './graph.ts';
import type { HeldLock } from '../held-locks.ts';
import type { LockMode, LockRef } from '../../protocol/events.ts';
import type { ObjId, TaskId } from '../../protocol/ids.ts';

/**
 * What lockdep found, as plain data: detection (lockdep.ts) fills these in,
 * the printers (print.ts) turn them into the kernel's splats. One shape per
 * lockdep print_* function.
 */

/** One side of a dependency as a report names it. */
export interface LockSide {
  /** The class key ("device_lock/1"). */
  readonly key: string;
  readonly lock: LockRef;
  readonly mode: LockMode;
  /** The class is a completion (waited for, completed, never held). */
  readonly completion: boolean;
  /** Where it was taken (or waited for, or completed), outermost first. */
  readonly stack: readonly string[];
}

/** What the task was doing when the new dependency closed a cycle. */
export type CircularHow =
  /** taking `src` while holding `tgt` (check_prev_add) */
  | 'acquire'
  /** waiting for completion `src` while holding `tgt` */
  | 'wait'
  /** completing `tgt` after having taken `src` earlier (cross-release commit) */
  | 'complete';

/** print_circular_bug(): the new edge tgt → src closes the cycle src → … → tgt → src. */
export interface CircularBug {
  readonly type: 'circular';
  readonly how: CircularHow;
  readonly task: TaskId;
  /** The task's stack now (the acquisition, wait or complete() call). */
  readonly stack: readonly string[];
  /** The new lock ("next"): being acquired or waited for; for `complete`, the lock taken earlier. */
  readonly src: LockSide;
  /** The held lock ("prev"); for `complete`, the completion being completed. */
  readonly tgt: LockSide;
  /** Existing edges src → … → tgt, in order. */
  readonly path: readonly Edge[];
  /** The task's held locks now. */
  readonly held: readonly HeldLock[];
  /** Classes that are completions (to print wait/complete instead of lock/unlock). */
  readonly completions: ReadonlySet<string>;
}

/** print_deadlock_bug(): a class taken again while held ("possible recursive locking"). */
export interface RecursiveBug {
  readonly type: 'recursive';
  readonly task: TaskId;
  readonly stack: readonly string[];
  readonly next: LockSide;
  readonly prev: HeldLock;
  readonly held: readonly HeldLock[];
}

/** print_unlock_imbalance_bug() and the mutex/rwsem owner checks, as the lock manager reported them. */
export interface UnlockBug {
  readonly type: 'unlock';
  readonly task: TaskId;
  readonly stack: readonly string[];
  readonly lock: LockRef;
  /** The lock manager's words ("unlock of a mutex that is not locked"). */
  readonly what: string;
  /** Who holds it, when someone else does. */
  readonly holder: TaskId | null;
  readonly held: readonly HeldLock[];
}

/** Any other misuse the lock manager reported (an op of the wrong lock kind). */
export interface MisuseBug {
  readonly type: 'misuse';
  readonly task: TaskId;
  readonly stack: readonly string[];
  readonly lock: LockRef;
  readonly what: string;
  readonly held: readonly HeldLock[];
}

/** debug_check_no_locks_held() at exit / lockdep_sys_exit() on the way back to user space. */
export interface HeldAtExitBug {
  readonly type: 'held-at-exit';
  readonly task: TaskId;
  readonly stack: readonly string[];
  /** A root task returns to its starter (user space); a spawned task exits. */
  readonly toUser: boolean;
  readonly held: readonly HeldLock[];
}

/** debug_check_no_locks_freed(): an object freed while a lock inside it is held. */
export interface HeldLockFreedBug {
  readonly type: 'held-lock-freed';
  readonly task: TaskId;
  readonly stack: readonly string[];
  readonly obj: ObjId;
  readonly holder: TaskId;
  readonly lock: HeldLock;
  /** The holder's held locks. */
  readonly held: readonly HeldLock[];
}

/** lockdep_assert_held() / lockdep_assert_not_held() failed. */
export interface AssertBug {
  readonly type: 'assert';
  readonly task: TaskId;
  readonly stack: readonly string[];
  readonly lock: LockRef;
  /** What the assertion claimed: held (true) or not held (false). */
  readonly expectHeld: boolean;
  readonly held: readonly HeldLock[];
}

export type LockdepBug = CircularBug | RecursiveBug | UnlockBug | MisuseBug | HeldAtExitBug | HeldLockFreedBug | AssertBug;
