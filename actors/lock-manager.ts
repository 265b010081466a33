import { defineActor } from '../runtime/actor.ts';
import type { Kernel } from '../runtime/actor.ts';
import type { LockRef } from '../protocol/events.ts';
import type { LockId, TaskId } from '../protocol/ids.ts';
import type { LockManagerMailbox } from '../protocol/locks.ts';

/**
 * A lock-manager shard: owns the state of the locks that hash to it. A task
 * that cannot have a lock sleeps on the lock's wait queue inside this actor
 * (the task blocks, the actor does not); when the lock is released the queue
 * becomes ready and the scheduler decides which waiter is granted next.
 */

interface MutexState {
  owner: TaskId | null;
  /** Where the owner took it, for hang and misuse reports. */
  ownerStack: readonly string[];
  waiters: number;
}

export interface LockManagerState {
  readonly mutexes: Map<LockId, MutexState>;
}

const queueOf = (l: LockRef): string => `mutex:${l.id}`;

function mutex(k: Kernel<LockManagerState>, l: LockRef): MutexState {
  let m = k.state.mutexes.get(l.id);
  if (m === undefined) {
    m = { owner: null, ownerStack: [], waiters: 0 };
    k.state.mutexes.set(l.id, m);
  }
  return m;
}

/** The caller's stack without the lock manager's own frame, as a report prints it. */
const callerStack = (k: Kernel<LockManagerState>): readonly string[] => k.stack.slice(0, -1);

export const lockManager = defineActor<LockManagerState, LockManagerMailbox>('lock-manager', {
  state: () => ({ mutexes: new Map() }),
  handlers: {
    async mutex_lock(k, { lock }) {
      const m = mutex(k, lock);
      const stack = callerStack(k);
      k.emit({ ev: 'lock.request', lock, mode: 'write', try: false });
      // A task asking again for a mutex it holds (AA) sleeps forever, as in
      // the kernel; the request event above lets the checkers name it.
      while (m.owner !== null) {
        m.waiters++;
        await k.sleep(queueOf(lock), `mutex ${lock.id} (${lock.cls})`, lock);
        m.waiters--;
      }
      m.owner = k.task;
      m.ownerStack = stack;
      k.setReady(queueOf(lock), false);
      k.emit({ ev: 'lock.acquired', lock, mode: 'write', try: false, ok: true });
    },

    mutex_trylock(k, { lock }) {
      const m = mutex(k, lock);
      k.emit({ ev: 'lock.request', lock, mode: 'write', try: true });
      const ok = m.owner === null;
      if (ok) {
        m.owner = k.task;
        m.ownerStack = callerStack(k);
        k.setReady(queueOf(lock), false);
      }
      k.emit({ ev: 'lock.acquired', lock, mode: 'write', try: true, ok });
      return ok;
    },

    mutex_unlock(k, { lock }) {
      const m = mutex(k, lock);
      if (m.owner !== k.task) {
        k.emit({ ev: 'lock.misuse', lock, what: m.owner === null ? 'unlock of a mutex that is not locked' : 'unlock of a mutex held by another task', holder: m.owner });
        return;
      }
      m.owner = null;
      m.ownerStack = [];
      k.emit({ ev: 'lock.released', lock, mode: 'write' });
      if (m.waiters > 0) k.setReady(queueOf(lock), true);
    },
  },
  inspect: (s) => ({
    mutexes: [...s.mutexes.entries()]
      .filter(([, m]) => m.owner !== null || m.waiters > 0)
      .map(([id, m]) => ({ id, owner: m.owner, ownerStack: m.ownerStack, waiters: m.waiters })),
  }),
});

export default lockManager;
