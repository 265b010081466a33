import type { LockRef } from './events.ts';

/**
 * The lock-manager actors' mailbox. Every op names the lock (or completion)
 * it acts on; the caller reaches the shard that owns it through
 * `Cell.lockManagerFor`. Blocking ops sleep the calling task on a wait queue
 * of the shard (the task blocks, the shard does not).
 */
export type LockManagerMailbox =
  // struct mutex (kernel/locking/mutex.c). `lock.sub` is the nesting
  // subclass of mutex_lock_nested().
  | { readonly op: 'mutex_lock'; readonly body: LockBody }
  | { readonly op: 'mutex_trylock'; readonly body: LockBody }
  | { readonly op: 'mutex_unlock'; readonly body: LockBody }
  // struct rw_semaphore (kernel/locking/rwsem.c). `recursive` asks for a
  // reader that may nest and does not queue behind waiting writers: the
  // kernel's rwsems have no such API (it is rwlock_t's read_lock, lockdep's
  // read == 2); the model offers it for locks that behave that way.
  | { readonly op: 'down_read'; readonly body: ReadBody }
  | { readonly op: 'down_read_trylock'; readonly body: LockBody }
  | { readonly op: 'down_write'; readonly body: LockBody }
  | { readonly op: 'down_write_trylock'; readonly body: LockBody }
  | { readonly op: 'up_read'; readonly body: LockBody }
  | { readonly op: 'up_write'; readonly body: LockBody }
  // struct completion (kernel/sched/completion.c).
  | { readonly op: 'wait_for_completion'; readonly body: CompletionBody }
  /** wait_for_completion_timeout(): true when completed; false when the timeout (a scheduler choice: time is steps) fired first. */
  | { readonly op: 'wait_for_completion_timeout'; readonly body: CompletionBody }
  | { readonly op: 'complete'; readonly body: CompletionBody }
  | { readonly op: 'complete_all'; readonly body: CompletionBody }
  // lockdep_assert_held() / lockdep_assert_not_held(): the shard knows the holders.
  | { readonly op: 'lock_assert'; readonly body: AssertBody }
  // mutex_is_locked() / rwsem_is_locked(): held by any task (no event, no finding).
  | { readonly op: 'lock_is_locked'; readonly body: LockBody };

export interface LockBody {
  readonly lock: LockRef;
}

export interface ReadBody {
  readonly lock: LockRef;
  readonly recursive?: boolean;
}

export interface CompletionBody {
  readonly completion: LockRef;
}

/** What an assertion claims: held in any mode, held for write, held for read, or not held. */
export type AssertWhat = 'held' | 'held-write' | 'held-read' | 'not-held';

export interface AssertBody {
  readonly lock: LockRef;
  readonly what: AssertWhat;
}

export type LockManagerOp = LockManagerMailbox['op'];

/** Prefix of a `lock.misuse` text for an op of the wrong lock kind (lockdep tells it apart from an unlock imbalance by it). */
export const WRONG_KIND = 'wrong lock kind:';
