import type { ActorId, LockId, MsgId, ObjId, TaskId } from './ids.ts';

/**
 * The event stream the checkers observe. Events are emitted by actor code
 * through the kernel context (and by the runtime for task start/end), carry
 * the emitting task and its call stack, and are put in one global order by
 * the scheduler (controlled mode) or by merging per-actor logs (free mode).
 * The same checker code runs online and over a saved trace.
 */

/** Fields every event has. `stack` is the task's call stack, outermost first. */
interface Base {
  readonly task: TaskId;
  readonly actor: ActorId;
  readonly stack: readonly string[];
}

/** Lock kinds the lock managers implement; a completion is waited for and completed, never held. */
export type LockKind = 'mutex' | 'rwsem' | 'completion';
/** How a lock is taken: exclusive, shared, or shared and allowed to recurse (lockdep's three read states). */
export type LockMode = 'write' | 'read' | 'read-recursive';

/** Identity of one lock instance plus the lockdep class it belongs to. */
export interface LockRef {
  readonly id: LockId;
  /** Lock class: the role, e.g. "device_lock", "group->mutex". */
  readonly cls: string;
  readonly kind: LockKind;
  /** Nesting subclass (lockdep's mutex_lock_nested); 0 when not annotated. */
  readonly sub?: number;
}

export type TraceEvent =
  /** A task came into being: from the scenario (parent null) or spawned by another task. */
  | (Base & { readonly ev: 'task.start'; readonly parent: TaskId | null })
  /** A task's root handler returned. */
  | (Base & { readonly ev: 'task.end' })
  /**
   * The task runs as (or stops running as, `null`) a single-threaded kernel
   * context: an IRQ thread such as `pciehp_ist` of one controller, an ordered
   * workqueue, a single kthread (protocol/contexts.ts). Two runs of one such
   * context never overlap, which lockdep uses to drop cycles the context
   * cannot close with itself.
   */
  | (Base & { readonly ev: 'task.context'; readonly context: string | null })
  /** A message was sent (delivery is the step that follows). */
  | (Base & { readonly ev: 'send'; readonly msg: MsgId; readonly to: ActorId; readonly op: string; readonly kind: 'call' | 'reply' | 'event' })
  /** A lock is requested; emitted before the task may block, so lockdep sees the attempt even when it deadlocks. */
  | (Base & { readonly ev: 'lock.request'; readonly lock: LockRef; readonly mode: LockMode; readonly try: boolean })
  /** A lock was granted (or a trylock failed: ok false). */
  | (Base & { readonly ev: 'lock.acquired'; readonly lock: LockRef; readonly mode: LockMode; readonly try: boolean; readonly ok: boolean })
  | (Base & { readonly ev: 'lock.released'; readonly lock: LockRef; readonly mode: LockMode })
  /** Misuse found by the lock manager itself (unlock of an unheld lock, unlock by a non-owner). */
  | (Base & { readonly ev: 'lock.misuse'; readonly lock: LockRef; readonly what: string; readonly holder: TaskId | null })
  /** `k.assertHeld` / `k.assertNotHeld`. */
  | (Base & { readonly ev: 'lock.assert'; readonly lock: LockRef; readonly held: boolean; readonly ok: boolean })
  /** A task starts waiting on a completion (a wait-for edge from every lock it holds). */
  | (Base & { readonly ev: 'wait.start'; readonly completion: LockRef })
  | (Base & { readonly ev: 'wait.done'; readonly completion: LockRef })
  | (Base & { readonly ev: 'complete'; readonly completion: LockRef; readonly all: boolean })
  /** Access to a field of a kernel object. `guard` names the lock class that protects it (null: unguarded by design). */
  | (Base & {
      readonly ev: 'access'; readonly obj: ObjId; readonly field: string;
      readonly guard: LockId | null; readonly lockless: boolean; readonly value: unknown; readonly old?: unknown;
    } & (
      | {
          readonly op: 'read';
          /**
           * A list walk (`Kernel.walk`): the read was made of `field` of each
           * of `objs` in turn, with what each held (`values`); `obj` and `value`
           * are the first's. One event describes the walk; the checkers judge one
           * read per object, as if each had its own event (Checker.onWalk,
           * `eachAccess`). Only a read walks.
           */
          readonly walk?: AccessWalk;
        }
      | { readonly op: 'write'; readonly walk?: undefined }
    ))
  | (Base & { readonly ev: 'alloc'; readonly obj: ObjId; readonly type: string })
  | (Base & { readonly ev: 'free'; readonly obj: ObjId })
  /** Any use of an object by handle: a message naming it, a lock on it, an access through it. */
  | (Base & { readonly ev: 'use'; readonly obj: ObjId; readonly what: string })
  | (Base & { readonly ev: 'get'; readonly obj: ObjId; readonly count: number })
  | (Base & { readonly ev: 'put'; readonly obj: ObjId; readonly count: number })
  /** WARN_ON / BUG_ON sites in the kernel model. */
  /** A declared kernel function ran as a scenario's patch replaced it (runtime/kfunc.ts): how a run knows a patch was reached. */
  | (Base & { readonly ev: 'fn.patched'; readonly fn: string })
  | (Base & { readonly ev: 'warn'; readonly message: string })
  | (Base & { readonly ev: 'bug'; readonly message: string })
  /**
   * Device DMA outcome reported by a hardware unit. The unit models
   * (hardware/, docs/hardware.md) also say which domain the request went
   * through, where the translation came from (device-TLB, IOTLB or a
   * page-table walk), whether it was a write, and their profile
   * ("vtd@7.0"); the isolation checker reads them.
   */
  | (Base & {
      readonly ev: 'dma'; readonly dev: string; readonly iova: number; readonly pasid: number | null; readonly outcome: string; readonly target: string | null;
      readonly domain?: string | null; readonly via?: 'devtlb' | 'iotlb' | 'walk'; readonly write?: boolean; readonly profile?: string;
    });

export type EventName = TraceEvent['ev'];

/** Every event name, in a fixed order (trace hashes number them by it). */
export const EVENT_NAMES: readonly EventName[] = [
  'task.start', 'task.end', 'send', 'lock.request', 'lock.acquired', 'lock.released', 'lock.misuse', 'lock.assert',
  'wait.start', 'wait.done', 'complete', 'access', 'alloc', 'free', 'use', 'get', 'put', 'warn', 'bug', 'dma',
  'task.context',
  'fn.patched',
];

/** The objects a walk read and what each held (a payload: protocol/delta.ts readPayload). */
export interface AccessWalk {
  readonly objs: readonly ObjId[];
  readonly values: readonly unknown[];
}

export type AccessEvent = Extract<TraceEvent, { readonly ev: 'access' }>;

/** An access event that describes a list walk (`Kernel.walk`): one read of `field` per object of `walk`. */
export type WalkEvent = AccessEvent & { readonly op: 'read'; readonly walk: AccessWalk };

/** Whether `e` is a walk's one event (checkers/checker.ts hands it whole to a checker that has `onWalk`). */
export function isWalk(e: TraceEvent): e is WalkEvent {
  return e.ev === 'access' && e.walk !== undefined;
}

/**
 * A walk's reads, one event per object, in order, each as `Kernel.read`
 * would have made it (the same task, stack and guard): what a checker
 * without `onWalk` is handed (checkers/checker.ts CheckerFeed). What the
 * walk's one event saves is the log's size and its copies between threads,
 * and with `onWalk` the checkers' work per object; what a checker judges is
 * unchanged.
 */
export function eachAccess(e: WalkEvent): readonly AccessEvent[] {
  const w = e.walk;
  const out: AccessEvent[] = new Array(w.objs.length);
  for (let i = 0; i < w.objs.length; i++) {
    out[i] = {
      ev: 'access', obj: w.objs[i] as ObjId, field: e.field, op: e.op, guard: e.guard, lockless: e.lockless, value: w.values[i],
      task: e.task, actor: e.actor, stack: e.stack,
    };
  }
  return out;
}
