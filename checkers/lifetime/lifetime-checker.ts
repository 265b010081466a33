import { lifetimeFinding, lifetimeSignature } from './findings.ts';
import { objectOfLock } from './lock-objects.ts';
import { ObjectTypes } from './object-types.ts';
import { ObjectLife } from './objects.ts';
import type { AccessKind, LifetimeHit, Site, Spawn } from './objects.ts';
import { FindingQueue } from '../checker.ts';
import type { Checker } from '../checker.ts';
import { HeldLocks } from '../held-locks.ts';
import { childOf } from '../races/happens-before.ts';
import type { LockRef, TraceEvent, WalkEvent } from '../../protocol/events.ts';
import type { Finding } from '../../protocol/findings.ts';
import type { ObjId, TaskId } from '../../protocol/ids.ts';
import { peek } from '../../runtime/snapshot.ts';

export interface LifetimeCheckerOptions {
  /** Report objects still allocated at the end of the execution. Default on. */
  readonly leaks?: boolean;
  /**
   * Object types that may outlive the execution (a device that stays bound,
   * a domain the scenario leaves attached): never reported as leaks.
   */
  readonly keep?: readonly string[];
  /** The held-lock table, when several checkers of one run share one (kernelCheckers); else its own. */
  readonly held?: HeldLocks;
  /** The object-type table, when several checkers of one run share one (kernelCheckers); else its own. */
  readonly types?: ObjectTypes;
}

/**
 * The lifetime checker (DESIGN.md §5): KASAN's use-after-free and
 * double-free, refcount_t's underflow, and kmemleak's leak, over the
 * alloc/free/use/get/put/access events and the lock events of locks that
 * live inside objects (lock-objects.ts).
 *
 * What counts as touching an object: an `access` to one of its fields, a
 * `use` (a message or pointer naming it: a receiver that handles a message
 * about an object emits `k.use(obj, ...)` — that is how a message still in
 * flight when its object was freed is seen), a `get` or `put`, a lock,
 * unlock or completion on a lock embedded in it, and a second `free`.
 *
 * Refcounts come from the `count` the runtime puts in get/put events
 * (runtime/context.ts, starting at 1 on alloc). A put below zero is
 * `refcount-underflow` even on freed memory — the kernel's message says
 * "underflow; use-after-free." — so a double put gives one finding, not two.
 *
 * Leaks are decided in `finish()`, and only when every task that started
 * has ended: references held by a task that is blocked (a deadlock, a step
 * limit) are not leaks, and the deadlock is already reported.
 */
export class LifetimeChecker implements Checker {
  readonly name = 'lifetime';
  /** Its findings come from events: drained only after a step that handed it one (Checker.drainsOnlyAfterEvents). */
  readonly drainsOnlyAfterEvents = true;
  private readonly leaks: boolean;
  private readonly keep: ReadonlySet<string>;
  private readonly held: HeldLocks;
  private readonly types: ObjectTypes;
  private readonly objects = new Map<ObjId, ObjectLife>();
  /** Allocated, not freed, of a type that may leak: what `finish` looks at, without a scan of every object (issue 19). */
  private readonly unfreed = new Set<ObjId>();
  /** The spawn that started each task, for "Last potentially related work creation". */
  private readonly spawns = new Map<TaskId, Spawn>();
  private readonly live = new Set<TaskId>();
  /** The step of each task's first event of its own: a spawned task not yet seen is still a message in flight. */
  private readonly active = new Map<TaskId, number>();
  private started = 0;
  private finished = false;
  private readonly pending = new FindingQueue();
  private readonly seen = new Set<string>();

  constructor(opts: LifetimeCheckerOptions = {}) {
    this.leaks = opts.leaks ?? true;
    this.keep = new Set(opts.keep ?? []);
    this.held = opts.held ?? new HeldLocks();
    this.types = opts.types ?? new ObjectTypes();
  }

  onEvent(e: TraceEvent, step: number): void {
    this.held.onEvent(e, step);
    this.types.onEvent(e);
    if (e.ev !== 'task.start' && !this.active.has(e.task)) this.active.set(e.task, step);
    switch (e.ev) {
      case 'task.start':
        this.started++;
        this.live.add(e.task);
        return;
      case 'task.context':
      case 'task.end':
        this.live.delete(e.task);
        return;
      case 'send':
        if (e.kind === 'event') this.spawns.set(childOf(e.msg), Object.freeze({ at: this.site(e, step), op: e.op, to: e.to }));
        return;
      case 'alloc':
        // a new object, even when a named id comes back after a free
        this.objects.set(e.obj, new ObjectLife(e.obj, e.type, this.site(e, step)));
        if (!this.keep.has(e.type)) this.unfreed.add(e.obj);
        return;
      case 'free': {
        const o = this.life(e.obj);
        if (o.free !== null) this.useAfterFree(o, this.site(e, step), 'Free', 'kfree', 'double-free');
        else o.free = this.site(e, step);
        this.unfreed.delete(e.obj);
        return;
      }
      case 'use':
        this.touch(e.obj, e, step, 'Read', 'use: ', e.what);
        return;
      case 'access':
        this.touch(e.obj, e, step, e.op === 'read' ? 'Read' : 'Write', 'field ', e.field);
        return;
      case 'get': {
        const o = this.objects.get(e.obj);
        if (o === undefined) return;
        if (o.free !== null) this.useAfterFree(o, this.site(e, step), 'Write', 'kref_get', 'slab-use-after-free');
        else o.record({ op: 'get', count: e.count, at: this.site(e, step) });
        return;
      }
      case 'put': {
        const o = this.objects.get(e.obj);
        if (o === undefined) {
          // a static object (never allocated) put below zero is still an underflow
          if (e.count < 0) this.underflow(this.life(e.obj), this.site(e, step), e.count);
          return;
        }
        if (e.count < 0) this.underflow(o, this.site(e, step), e.count);
        else if (o.free !== null) this.useAfterFree(o, this.site(e, step), 'Write', 'kref_put', 'slab-use-after-free');
        else o.record({ op: 'put', count: e.count, at: this.site(e, step) });
        return;
      }
      case 'lock.request':
      case 'lock.released':
        this.touchLock(e.lock, e, step, e.ev === 'lock.request' ? 'lock' : 'unlock');
        return;
      case 'wait.start':
      case 'complete':
        this.touchLock(e.completion, e, step, e.ev === 'complete' ? 'complete' : 'wait_for_completion');
        return;
      case 'lock.acquired':
      case 'lock.misuse':
      case 'lock.assert':
      case 'wait.done':
      case 'warn':
      case 'bug':
      case 'dma':
      case 'fn.patched':
        return;
      default:
        unreachable(e);
    }
  }

  /**
   * A walk's reads (Checker.onWalk): what `onEvent` makes of each, without
   * an event per object. The held-lock and object-type tables take no
   * accesses, and the task's first event is the walk's whatever its length.
   */
  onWalk(e: WalkEvent, step: number): void {
    if (!this.active.has(e.task)) this.active.set(e.task, step);
    const objs = e.walk.objs;
    for (let i = 0; i < objs.length; i++) this.touch(objs[i] as ObjId, e, step, 'Read', 'field ', e.field);
  }

  /**
   * A call or reply matters here only as a task's first event (`active`:
   * a spawned task not seen yet is a message still in flight), and the
   * step's other events come first: ~84 call and reply sends of a bench
   * schedule, each made and handed here to change nothing (issue 19).
   */
  callsOf(task: TaskId): boolean {
    return !this.active.has(task);
  }

  /**
   * The set-up's tasks have all ended (Checker.setupEnded): when they were
   * spawned and first ran matters only to a use by one of them, and none
   * follows.
   */
  setupEnded(): void {
    this.spawns.clear();
    this.active.clear();
  }

  drain(): readonly Finding[] {
    return this.pending.drain();
  }

  /**
   * End of the execution: leak check. Proposed Checker extension
   * (`finish?(): void`, called by runExecution before the last drain);
   * idempotent, so calling it twice reports nothing new.
   */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.leaks || this.started === 0 || this.live.size > 0) return;
    for (const obj of this.unfreed) {
      const o = this.objects.get(obj) as ObjectLife;
      if (o.alloc === null || o.free !== null || this.keep.has(o.type)) continue;
      this.report({ what: 'refcount-leak', obj: o.obj, type: o.type, count: o.count, alloc: o.alloc, history: o.history });
    }
  }

  /** The record of an object, created for objects that exist without an `alloc` (static topology). */
  private life(obj: ObjId): ObjectLife {
    let o = this.objects.get(obj);
    if (o === undefined) {
      o = new ObjectLife(obj, this.types.of(obj), null);
      this.objects.set(obj, o);
    }
    return o;
  }

  /** Where event `e` happened (frozen: a site is never changed, so a set-up snapshot's restores share it, runtime/snapshot.ts). */
  private site(e: TraceEvent, step: number): Site {
    return Object.freeze({ task: e.task, stack: e.stack, step, held: this.held.snapshotOf(e.task) });
  }

  /** A touch of `obj`; the report's detail is `what` + `name` (made only for a report). */
  private touch(obj: ObjId, e: TraceEvent, step: number, access: AccessKind, what: string, name: string): void {
    // only read (a report reads it too): a restored schedule does not copy the record (runtime/snapshot.ts peek)
    const o = peek(this.objects, obj);
    if (o !== undefined && o.free !== null) this.useAfterFree(o, this.site(e, step), access, what + name, 'slab-use-after-free');
  }

  private touchLock(l: LockRef, e: TraceEvent, step: number, what: string): void {
    const obj = objectOfLock(l.id, (obj) => this.objects.has(obj));
    if (obj !== null) this.touch(obj, e, step, 'Write', `${what} `, l.id);
  }

  private useAfterFree(o: ObjectLife, use: Site, access: AccessKind, detail: string, bug: 'slab-use-after-free' | 'double-free'): void {
    const free = o.free as Site;
    const spawn = this.spawns.get(use.task);
    // In flight: sent before the free, and the task had not run yet when the object was freed.
    const aux = spawn === undefined ? null : { spawn, inFlight: spawn.at.step <= free.step && (this.active.get(use.task) ?? use.step) > free.step };
    this.report({ what: 'use-after-free', bug, obj: o.obj, type: o.type, access, detail, use, alloc: o.alloc, free, aux });
  }

  private underflow(o: ObjectLife, put: Site, count: number): void {
    o.record({ op: 'put', count, at: put });
    this.report({ what: 'refcount-underflow', obj: o.obj, type: o.type, count, put, alloc: o.alloc, free: o.free, history: o.history });
  }

  private report(hit: LifetimeHit): void {
    const sig = lifetimeSignature(hit);
    if (this.seen.has(sig)) return;
    this.seen.add(sig);
    this.pending.push(lifetimeFinding(hit));
  }
}


function unreachable(e: never): never {
  throw new Error(`lifetime checker: unhandled event ${JSON.stringify(e)}`);
}
