import { defineActor } from '../runtime/actor.ts';
import type { Kernel } from '../runtime/actor.ts';
import type { LockMode, LockRef } from '../protocol/events.ts';
import { actorId } from '../protocol/ids.ts';
import type { ActorId, LockId, TaskId } from '../protocol/ids.ts';
import type { ActorSpec } from '../runtime/program.ts';
import { WRONG_KIND } from '../protocol/locks.ts';
import type { AssertWhat, LockManagerMailbox } from '../protocol/locks.ts';

/**
 * A lock-manager shard: owns the state of the locks (and completions) that
 * hash to it. A task that cannot have a lock sleeps on a wait queue inside
 * this actor (the task blocks, the actor does not). A queue is marked ready
 * exactly when one of its sleepers could be granted; which sleeper wakes is
 * the scheduler's decision, so grant order is explored like any other
 * interleaving. A woken task re-checks its condition and sleeps again if
 * another task got there first.
 *
 * Events: `lock.request` before a task may block (so lockdep sees the
 * attempt even when it deadlocks), `lock.acquired` on a grant or a trylock
 * answer, `lock.released`, `lock.misuse` for what the kernel's lock debugging
 * would WARN about, `wait.start`/`wait.done`/`complete` for completions and
 * `lock.assert` for lockdep_assert_held()-style checks.
 */

interface MutexState {
  owner: TaskId | null;
  /** Where the owner took it, for hang and misuse reports. */
  ownerStack: readonly string[];
  waiters: number;
  ready: boolean;
}

/**
 * kernel/locking/rwsem.c, simplified to what decides who may run:
 * - a writer is granted when nobody holds the semaphore;
 * - an arriving reader is granted when no writer holds it *and no writer
 *   waits* (rwsem_read_trylock fails while RWSEM_FLAG_WAITERS is set, so
 *   readers queue behind a waiting writer: the reason lockdep treats
 *   down_read as a non-recursive read that can deadlock read-read);
 * - a recursive reader (lockdep read == 2, rwlock_t-style) ignores waiting
 *   writers;
 * - a reader that sleeps is granted when no writer holds it and either no
 *   writer waits, the lock is free (then the scheduler picks between the
 *   queued readers and writers), or queued readers are being let in as a
 *   batch (rwsem_mark_wake() wakes almost all queued readers at once).
 * New arrivals may barge past sleepers when the lock is free, as a mutex's
 * fast path may; the scheduler still decides among the sleepers.
 */
interface RwsemState {
  writer: TaskId | null;
  writerStack: readonly string[];
  /** Read holders and how many times each holds it (recursive readers nest). */
  readers: Map<TaskId, number>;
  readWaiters: number;
  writeWaiters: number;
  /** Queued readers are being handed the lock together, past waiting writers. */
  readerBatch: boolean;
  readyRead: boolean;
  readyWrite: boolean;
}

/**
 * kernel/sched/completion.c: `done` counts complete() calls not yet
 * consumed by a waiter; complete_all() sets it to "infinite" (UINT_MAX in
 * the kernel) so every present and future waiter passes.
 */
interface CompletionState {
  done: number;
  waiters: number;
  ready: boolean;
}

export interface LockManagerState {
  readonly mutexes: Map<LockId, MutexState>;
  readonly rwsems: Map<LockId, RwsemState>;
  readonly completions: Map<LockId, CompletionState>;
}

type K = Kernel<LockManagerState>;

const mutexQueue = (l: LockRef): string => `mutex:${l.id}`;
const readQueue = (l: LockRef): string => `rwsem-read:${l.id}`;
const writeQueue = (l: LockRef): string => `rwsem-write:${l.id}`;
const completionQueue = (c: LockRef): string => `completion:${c.id}`;

function mutexOf(k: K, l: LockRef): MutexState {
  let m = k.state.mutexes.get(l.id);
  if (m === undefined) {
    m = { owner: null, ownerStack: [], waiters: 0, ready: false };
    k.state.mutexes.set(l.id, m);
  }
  return m;
}

function rwsemOf(k: K, l: LockRef): RwsemState {
  let s = k.state.rwsems.get(l.id);
  if (s === undefined) {
    s = { writer: null, writerStack: [], readers: new Map(), readWaiters: 0, writeWaiters: 0, readerBatch: false, readyRead: false, readyWrite: false };
    k.state.rwsems.set(l.id, s);
  }
  return s;
}

function completionOf(k: K, c: LockRef): CompletionState {
  let s = k.state.completions.get(c.id);
  if (s === undefined) {
    s = { done: 0, waiters: 0, ready: false };
    k.state.completions.set(c.id, s);
  }
  return s;
}

/** The caller's stack without the lock manager's own frame, as a report prints it. */
const callerStack = (k: K): readonly string[] => k.stack.slice(0, -1);

// ---- readiness: a queue is ready iff one of its sleepers could be granted now ---------

function refreshMutex(k: K, l: LockRef, m: MutexState): void {
  const ready = m.owner === null && m.waiters > 0;
  if (ready !== m.ready) {
    m.ready = ready;
    k.setReady(mutexQueue(l), ready);
  }
}

/** A queued reader may be granted now (see RwsemState). */
const queuedReaderMayPass = (s: RwsemState): boolean =>
  s.writer === null && (s.writeWaiters === 0 || s.readers.size === 0 || s.readerBatch);

function refreshRwsem(k: K, l: LockRef, s: RwsemState): void {
  const r = s.readWaiters > 0 && queuedReaderMayPass(s);
  const w = s.writer === null && s.readers.size === 0 && s.writeWaiters > 0;
  if (r !== s.readyRead) {
    s.readyRead = r;
    k.setReady(readQueue(l), r);
  }
  if (w !== s.readyWrite) {
    s.readyWrite = w;
    k.setReady(writeQueue(l), w);
  }
}

function refreshCompletion(k: K, c: LockRef, s: CompletionState): void {
  const ready = s.done > 0 && s.waiters > 0;
  if (ready !== s.ready) {
    s.ready = ready;
    k.setReady(completionQueue(c), ready);
  }
}

/** Ops of one lock kind used on a lock of another: the kernel would not compile it; the model reports it. */
function wrongKind(k: K, lock: LockRef, op: string, want: LockRef['kind']): boolean {
  if (lock.kind === want) return false;
  k.emit({ ev: 'lock.misuse', lock, what: `${WRONG_KIND} ${op} on a ${lock.kind} (a ${want} operation)`, holder: null });
  return true;
}

const describe = (l: LockRef, what: string): string => `${what} ${l.id} (${l.cls}${l.sub ? `/${l.sub}` : ''})`;

// ---- rwsem helpers -------------------------------------------------------------------

function grantRead(k: K, l: LockRef, s: RwsemState, mode: LockMode, tryLock: boolean): void {
  s.readers.set(k.task, (s.readers.get(k.task) ?? 0) + 1);
  refreshRwsem(k, l, s);
  k.emit({ ev: 'lock.acquired', lock: l, mode, try: tryLock, ok: true });
}

function grantWrite(k: K, l: LockRef, s: RwsemState, tryLock: boolean): void {
  s.writer = k.task;
  s.readerBatch = false;
  s.writerStack = callerStack(k);
  refreshRwsem(k, l, s);
  k.emit({ ev: 'lock.acquired', lock: l, mode: 'write', try: tryLock, ok: true });
}

/** Whether the calling task holds `l` as `what` claims, from whichever table knows the lock. */
function holds(k: K, l: LockRef, what: AssertWhat): boolean {
  const m = k.state.mutexes.get(l.id);
  const s = k.state.rwsems.get(l.id);
  const write = m?.owner === k.task || s?.writer === k.task;
  const read = s?.readers.has(k.task) ?? false;
  switch (what) {
    case 'held':
      return write || read;
    case 'held-write':
      return write;
    case 'held-read':
      return read;
    case 'not-held':
      return !write && !read;
  }
}

export const lockManager = defineActor<LockManagerState, LockManagerMailbox>('lock-manager', {
  state: () => ({ mutexes: new Map(), rwsems: new Map(), completions: new Map() }),
  handlers: {
    // ---- mutex ----------------------------------------------------------------------
    async mutex_lock(k, { lock }) {
      if (wrongKind(k, lock, 'mutex_lock', 'mutex')) return;
      const m = mutexOf(k, lock);
      k.emit({ ev: 'lock.request', lock, mode: 'write', try: false });
      // A task asking again for a mutex it holds (AA) sleeps forever, as in
      // the kernel; the request event above lets the checkers name it.
      while (m.owner !== null) {
        m.waiters++;
        refreshMutex(k, lock, m);
        await k.sleep(mutexQueue(lock), describe(lock, 'mutex'), lock);
        m.waiters--;
      }
      m.owner = k.task;
      m.ownerStack = callerStack(k);
      refreshMutex(k, lock, m);
      k.emit({ ev: 'lock.acquired', lock, mode: 'write', try: false, ok: true });
    },

    mutex_trylock(k, { lock }) {
      if (wrongKind(k, lock, 'mutex_trylock', 'mutex')) return false;
      const m = mutexOf(k, lock);
      k.emit({ ev: 'lock.request', lock, mode: 'write', try: true });
      const ok = m.owner === null;
      if (ok) {
        m.owner = k.task;
        m.ownerStack = callerStack(k);
        refreshMutex(k, lock, m);
      }
      k.emit({ ev: 'lock.acquired', lock, mode: 'write', try: true, ok });
      return ok;
    },

    mutex_unlock(k, { lock }) {
      if (wrongKind(k, lock, 'mutex_unlock', 'mutex')) return;
      const m = mutexOf(k, lock);
      if (m.owner !== k.task) {
        // kernel/locking/mutex.c: DEBUG_LOCKS_WARN_ON(__owner_task(owner) != current)
        k.emit({ ev: 'lock.misuse', lock, what: m.owner === null ? 'unlock of a mutex that is not locked' : 'unlock of a mutex held by another task', holder: m.owner });
        return;
      }
      m.owner = null;
      m.ownerStack = [];
      k.emit({ ev: 'lock.released', lock, mode: 'write' });
      refreshMutex(k, lock, m);
    },

    // ---- rw_semaphore -------------------------------------------------------------------
    async down_read(k, { lock, recursive }) {
      if (wrongKind(k, lock, 'down_read', 'rwsem')) return;
      const s = rwsemOf(k, lock);
      const mode: LockMode = recursive === true ? 'read-recursive' : 'read';
      k.emit({ ev: 'lock.request', lock, mode, try: false });
      if (s.writer === null && (mode === 'read-recursive' || s.writeWaiters === 0)) {
        grantRead(k, lock, s, mode, false);
        return;
      }
      do {
        s.readWaiters++;
        refreshRwsem(k, lock, s);
        await k.sleep(readQueue(lock), describe(lock, 'rwsem (read)'), lock);
        s.readWaiters--;
      } while (mode === 'read-recursive' ? s.writer !== null : !queuedReaderMayPass(s));
      // The other queued readers come along with this one, past waiting writers.
      s.readerBatch = s.readWaiters > 0;
      grantRead(k, lock, s, mode, false);
    },

    down_read_trylock(k, { lock }) {
      if (wrongKind(k, lock, 'down_read_trylock', 'rwsem')) return false;
      const s = rwsemOf(k, lock);
      k.emit({ ev: 'lock.request', lock, mode: 'read', try: true });
      // __down_read_trylock fails while a writer holds it or waiters are queued.
      const ok = s.writer === null && s.writeWaiters === 0;
      if (ok) grantRead(k, lock, s, 'read', true);
      else k.emit({ ev: 'lock.acquired', lock, mode: 'read', try: true, ok: false });
      return ok;
    },

    async down_write(k, { lock }) {
      if (wrongKind(k, lock, 'down_write', 'rwsem')) return;
      const s = rwsemOf(k, lock);
      k.emit({ ev: 'lock.request', lock, mode: 'write', try: false });
      while (s.writer !== null || s.readers.size > 0) {
        s.writeWaiters++;
        refreshRwsem(k, lock, s);
        await k.sleep(writeQueue(lock), describe(lock, 'rwsem (write)'), lock);
        s.writeWaiters--;
      }
      grantWrite(k, lock, s, false);
    },

    down_write_trylock(k, { lock }) {
      if (wrongKind(k, lock, 'down_write_trylock', 'rwsem')) return false;
      const s = rwsemOf(k, lock);
      k.emit({ ev: 'lock.request', lock, mode: 'write', try: true });
      const ok = s.writer === null && s.readers.size === 0;
      if (ok) grantWrite(k, lock, s, true);
      else k.emit({ ev: 'lock.acquired', lock, mode: 'write', try: true, ok: false });
      return ok;
    },

    up_read(k, { lock }) {
      if (wrongKind(k, lock, 'up_read', 'rwsem')) return;
      const s = rwsemOf(k, lock);
      const n = s.readers.get(k.task);
      if (n === undefined) {
        // kernel/locking/rwsem.c: DEBUG_RWSEMS_WARN_ON(!is_rwsem_reader_owned(sem))
        const what = s.writer === k.task ? 'up_read of an rwsem held for write' : s.readers.size > 0 || s.writer !== null ? 'up_read of an rwsem this task does not hold' : 'up_read of an rwsem that is not locked';
        k.emit({ ev: 'lock.misuse', lock, what, holder: s.writer ?? s.readers.keys().next().value ?? null });
        return;
      }
      if (n > 1) s.readers.set(k.task, n - 1);
      else s.readers.delete(k.task);
      k.emit({ ev: 'lock.released', lock, mode: 'read' });
      refreshRwsem(k, lock, s);
    },

    up_write(k, { lock }) {
      if (wrongKind(k, lock, 'up_write', 'rwsem')) return;
      const s = rwsemOf(k, lock);
      if (s.writer !== k.task) {
        // kernel/locking/rwsem.c: DEBUG_RWSEMS_WARN_ON(sem->owner != current)
        const what = s.readers.has(k.task) ? 'up_write of an rwsem held for read' : s.writer === null ? 'up_write of an rwsem that is not write-locked' : 'up_write of an rwsem held by another task';
        k.emit({ ev: 'lock.misuse', lock, what, holder: s.writer });
        return;
      }
      s.writer = null;
      s.writerStack = [];
      k.emit({ ev: 'lock.released', lock, mode: 'write' });
      refreshRwsem(k, lock, s);
    },

    // ---- completion -------------------------------------------------------------------
    async wait_for_completion(k, { completion }) {
      if (wrongKind(k, completion, 'wait_for_completion', 'completion')) return;
      const s = completionOf(k, completion);
      k.emit({ ev: 'wait.start', completion });
      while (s.done === 0) {
        s.waiters++;
        refreshCompletion(k, completion, s);
        await k.sleep(completionQueue(completion), describe(completion, 'completion'), completion);
        s.waiters--;
      }
      // complete_all() leaves done at "infinity"; complete() is consumed by one waiter.
      if (s.done !== Infinity) s.done--;
      refreshCompletion(k, completion, s);
      k.emit({ ev: 'wait.done', completion });
    },

    /**
     * kernel/sched/completion.c wait_for_completion_timeout(): like
     * wait_for_completion(), but the sleeper sits on a queue of its own that
     * is always ready, so the scheduler may wake it before complete() (the
     * timeout) or let the completer run first. Completed ⇒ `wait.done` and
     * true; timed out ⇒ false and no synchronisation.
     */
    async wait_for_completion_timeout(k, { completion }): Promise<boolean> {
      if (wrongKind(k, completion, 'wait_for_completion_timeout', 'completion')) return false;
      const s = completionOf(k, completion);
      k.emit({ ev: 'wait.start', completion });
      if (s.done === 0) {
        const q = `${completionQueue(completion)}:timeout:${k.task}`;
        k.setReady(q, true);
        await k.sleep(q, describe(completion, 'completion (timeout)'), completion);
        k.setReady(q, false);
      }
      if (s.done === 0) return false;
      if (s.done !== Infinity) s.done--;
      refreshCompletion(k, completion, s);
      k.emit({ ev: 'wait.done', completion });
      return true;
    },

    complete(k, { completion }) {
      if (wrongKind(k, completion, 'complete', 'completion')) return;
      const s = completionOf(k, completion);
      if (s.done !== Infinity) s.done++;
      k.emit({ ev: 'complete', completion, all: false });
      refreshCompletion(k, completion, s);
    },

    complete_all(k, { completion }) {
      if (wrongKind(k, completion, 'complete_all', 'completion')) return;
      const s = completionOf(k, completion);
      s.done = Infinity;
      k.emit({ ev: 'complete', completion, all: true });
      refreshCompletion(k, completion, s);
    },

    // ---- lockdep_assert_held() and friends ------------------------------------------------
    lock_is_locked(k, { lock }): boolean {
      const m = k.state.mutexes.get(lock.id);
      const s = k.state.rwsems.get(lock.id);
      return (m?.owner ?? null) !== null || (s !== undefined && (s.writer !== null || s.readers.size > 0));
    },

    lock_assert(k, { lock, what }) {
      const ok = holds(k, lock, what);
      k.emit({ ev: 'lock.assert', lock, held: what !== 'not-held', ok });
      return ok;
    },
  },
  inspect: (s) => ({
    mutexes: [...s.mutexes.entries()]
      .filter(([, m]) => m.owner !== null || m.waiters > 0)
      .map(([id, m]) => ({ id, owner: m.owner, ownerStack: m.ownerStack, waiters: m.waiters })),
    rwsems: [...s.rwsems.entries()]
      .filter(([, r]) => r.writer !== null || r.readers.size > 0 || r.readWaiters + r.writeWaiters > 0)
      .map(([id, r]) => ({ id, writer: r.writer, writerStack: r.writerStack, readers: [...r.readers.keys()], readWaiters: r.readWaiters, writeWaiters: r.writeWaiters })),
    completions: [...s.completions.entries()]
      .filter(([, c]) => c.done > 0 || c.waiters > 0)
      .map(([id, c]) => ({ id, done: c.done === Infinity ? 'all' : c.done, waiters: c.waiters })),
  }),
});

export default lockManager;

/** A lock-manager shard as a program lists it (lock-manager ids start with "locks": reports skip their frames). */
export function lockManagerSpec(id: ActorId = actorId('locks')): ActorSpec {
  return { id, module: 'actors/lock-manager', export: 'lockManager' };
}
