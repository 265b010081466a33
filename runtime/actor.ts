import type { TraceEvent, LockRef } from '../protocol/events.ts';
import type { ActorId, ObjId, TaskId } from '../protocol/ids.ts';
import type { Rng } from './rng.ts';
import type { FnPatch } from './kfunc.ts';

/** An event as actor code emits it; the runtime adds task, actor and stack. */
export type EventBody = TraceEvent extends infer E ? (E extends TraceEvent ? Omit<E, 'task' | 'actor' | 'stack'> : never) : never;

/**
 * The kernel context: the only door from actor code to the world. One `k`
 * exists per handler invocation and is bound to the task that delivered the
 * message; actor code never reads a clock, `Math.random`, or another actor's
 * memory.
 */
export interface Kernel<S = unknown> {
  readonly actor: ActorId;
  readonly task: TaskId;
  /** This actor's state (owned by this actor alone). */
  readonly state: S;
  /** The task's call stack, outermost first ("actor:op" frames). */
  readonly stack: readonly string[];
  /** Seeded per task: the numbers a task draws do not depend on the schedule. */
  readonly rng: Rng;

  /** Request/reply across actors: the task continues inside `to` and comes back with its return value. */
  call<R = unknown>(to: ActorId, op: string, body?: unknown): Promise<R>;
  /** Starts a new task (a work item, an async probe, a userspace signal) at `to`; returns its id. */
  spawn(to: ActorId, op: string, body?: unknown): TaskId;
  /** An explicit preemption point. */
  yield(): Promise<void>;

  /**
   * Lock operations, served by the lock-manager actors (actors/lock-manager.ts).
   * A lock's nesting subclass travels in `l.sub` (mutex_lock_nested).
   */
  lock(l: LockRef): Promise<void>;
  /** mutex_lock_nested(): the same lock under nesting subclass `subclass` (lockdep keys classes by it). */
  lock_nested(l: LockRef, subclass: number): Promise<void>;
  unlock(l: LockRef): Promise<void>;
  trylock(l: LockRef): Promise<boolean>;
  /** rw_semaphore: readers share, a writer excludes everyone; an arriving reader queues behind a waiting writer. */
  down_read(l: LockRef): Promise<void>;
  /** A reader that may nest and ignores waiting writers (lockdep's recursive read, rwlock_t-style); not a kernel rwsem API. */
  down_read_recursive(l: LockRef): Promise<void>;
  down_write(l: LockRef): Promise<void>;
  down_read_trylock(l: LockRef): Promise<boolean>;
  down_write_trylock(l: LockRef): Promise<boolean>;
  up_read(l: LockRef): Promise<void>;
  up_write(l: LockRef): Promise<void>;
  /** struct completion: waiting while holding locks is a dependency edge for lockdep. */
  wait_for_completion(c: LockRef): Promise<void>;
  /**
   * wait_for_completion_timeout(): the wait may end by timeout at any point
   * the scheduler chooses (the model has no clock: time is steps). Returns
   * true when the completion was consumed. A timed-out wait does not
   * synchronise with complete() (no `wait.done`).
   */
  wait_for_completion_timeout(c: LockRef): Promise<boolean>;
  complete(c: LockRef): Promise<void>;
  complete_all(c: LockRef): Promise<void>;
  /**
   * lockdep_assert_held() / _held_write() / _held_read() / lockdep_assert_not_held():
   * a failed assertion is an `assert-held` finding; the answer is also returned.
   */
  assertHeld(l: LockRef, mode?: 'any' | 'read' | 'write'): Promise<boolean>;
  assertNotHeld(l: LockRef): Promise<boolean>;
  /** mutex_is_locked() / rwsem_is_locked(): whether any task holds `l`; the kernel's flag-style checks (dev->block_cfg_access) read it. */
  isLocked(l: LockRef): Promise<boolean>;

  /**
   * Low level, for actors that implement blocking primitives (the lock
   * managers): sleep on one of this actor's wait queues until the queue is
   * ready and the scheduler chooses to wake this task. `on` names the lock or
   * completion being waited for, for hang reports.
   */
  sleep(queue: string, what: string, on?: LockRef): Promise<void>;
  /** Marks a wait queue of this actor ready (its sleepers may be woken) or not. */
  setReady(queue: string, ready: boolean): void;
  /**
   * This step reads or changes `what`, a piece of the actor's own
   * bookkeeping shared between tasks that no kernel object's field describes
   * (a work item's pending state, a process's task_work list), outside any
   * lock that would order it. dfs's reduction judges steps by what they
   * touched; this tells it (test/dfs-touch.test.ts finds what is missing).
   */
  touches(what: string): void;

  /**
   * Kernel objects and their fields. An object is a record in this actor's
   * state with an `id`; every read and write of a field another task could
   * touch goes through these so the checkers see it with the task's held
   * locks. `guard` names the lock instance the kernel protects the field
   * with; `lockless` marks an intentional lockless access (READ_ONCE /
   * WRITE_ONCE), exempt from the lockset rule but still race-checked.
   */
  read<O extends KObject, F extends keyof O & string>(o: O, field: F, how?: AccessHow): O[F];
  write<O extends KObject, F extends keyof O & string>(o: O, field: F, value: O[F], how?: AccessHow): void;
  /*
   * A kernel list or table changed by one element, as the kernel changes it
   * (list_add / list_add_tail / klist_add_tail, list_del / klist_del,
   * xa_store / xa_erase, cdev_add / cdev_del): a read of the field and a
   * write whose event carries the element (protocol/delta.ts), never the
   * container. What these cost does not grow with the container (issue 19,
   * item 2): a `k.write` of a copied container cost a copy and a diff per
   * operation. A large container (more than `deltaTuning.min` entries) is
   * changed in place, so actor code must not keep one across an await and
   * expect it unchanged (copy it, as the kernel's walkers take a lock).
   */
  /** Adds `elem` at the tail (list_add_tail) or, with `head`, at the head (list_add). */
  listAdd<O extends KObject, F extends ListField<O>>(o: O, field: F, elem: ElemOf<O[F]>, how?: AccessHow, head?: boolean): void;
  /** Takes the first element that is `elem` (===) off the list; whether it was on it. */
  listDel<O extends KObject, F extends ListField<O>>(o: O, field: F, elem: ElemOf<O[F]>, how?: AccessHow): boolean;
  /**
   * list_for_each_entry() reading one field of each entry: reads `field` of
   * each of `objs` in order until `stop` holds for one (returned), else
   * null. The reads are what `read` would make, one per object, under the
   * same guard (the kernel's walk is a walk under the lock the caller took);
   * one event describes them all (protocol/events.ts `eachAccess`).
   */
  walk<O extends KObject, F extends keyof O & string>(objs: Iterable<O>, field: F, how: AccessHow | undefined, stop: (value: O[F], o: O) => boolean): O | null;
  /** Stores `value` under `key` (xa_store). */
  tableSet<O extends KObject, F extends TableField<O>>(o: O, field: F, key: string, value: EntryOf<O[F]>, how?: AccessHow): void;
  /** Erases `key` (xa_erase); whether it was there. */
  tableDel<O extends KObject, F extends TableField<O>>(o: O, field: F, key: string, how?: AccessHow): boolean;
  /** A new object (kzalloc): returns its id, derived from the task so it is the same in every host. */
  alloc(type: string, name?: string): ObjId;
  /** kfree: any later use of the id is a use-after-free. */
  free(obj: ObjId): void;
  /** Any other use of an object by handle (a message naming it, a pointer dereference). */
  use(obj: ObjId, what: string): void;
  /** kref_get / kref_put on an object's refcount; `put` returns the count left (0: call the release). */
  get(obj: ObjId): number;
  put(obj: ObjId): number;

  /** Emits an event for the checkers. Pass a fresh object: the runtime completes it in place. */
  emit(e: EventBody): void;
  /** WARN_ON: reported as `kernel-warn`, execution goes on. */
  warn(message: string): void;
  /** BUG_ON: reported as `kernel-bug`; the task stops here. */
  bug(message: string): never;
}

/** A kernel object as actor state holds it: any record with an id. */
export interface KObject {
  readonly id: ObjId;
}

/** The fields of `O` that hold a list (an array). */
export type ListField<O> = { [K in keyof O & string]: O[K] extends readonly unknown[] ? K : never }[keyof O & string];
/** The fields of `O` that hold a table (a record keyed by string). */
export type TableField<O> = {
  [K in keyof O & string]: O[K] extends readonly unknown[] ? never : O[K] extends Readonly<Record<string, unknown>> ? (string extends keyof O[K] ? K : never) : never;
}[keyof O & string];
export type ElemOf<L> = L extends readonly (infer E)[] ? E : never;
export type EntryOf<T> = T extends Readonly<Record<string, infer V>> ? V : never;

export interface AccessHow {
  readonly guard?: LockRef;
  readonly lockless?: boolean;
}

export type Handler<S, B> = (k: Kernel<S>, body: B) => unknown;

/** An actor's mailbox as a union of `{ op, body }`; handlers are checked against it exhaustively. */
export interface Op {
  readonly op: string;
  readonly body: unknown;
}

export type Handlers<S, M extends Op> = { readonly [K in M['op']]: Handler<S, Extract<M, { op: K }>['body']> };

export interface ActorDef<S = unknown> {
  /** The kind of actor ("driver-core", "lock-manager", ...). Instances get their own ids. */
  readonly kind: string;
  /** Builds the initial state from the instance's configuration. Must be deterministic. */
  readonly init: (config: unknown, self: ActorId) => S;
  readonly handlers: { readonly [op: string]: Handler<S, never> };
  /** A plain-data view of the state for inspection and hang reports. */
  readonly inspect?: (state: S) => unknown;
  /** Declared kernel functions a scenario's patches replace in this actor, by kernel name (runtime/patch.ts). */
  readonly functions?: ReadonlyMap<string, FnPatch>;
}

/**
 * Declares an actor. `M` is the actor's mailbox union (in protocol/); a
 * missing handler for one of its ops is a compile error.
 */
export function defineActor<S, M extends Op>(
  kind: string,
  spec: {
    readonly state: (config: unknown, self: ActorId) => S;
    readonly handlers: Handlers<S, M>;
    readonly inspect?: (state: S) => unknown;
  },
): ActorDef<S> {
  return {
    kind,
    init: spec.state,
    handlers: spec.handlers as unknown as { readonly [op: string]: Handler<S, never> },
    ...(spec.inspect ? { inspect: spec.inspect } : {}),
  };
}

/** Thrown by `k.bug()`; ends the task with a `kernel-bug` finding. */
export class KernelBug extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelBug';
  }
}
