import { serialize } from 'node:v8';
import type { ActorDef } from './actor.ts';
import { KernelBug } from './actor.ts';
import { TaskContext } from './context.ts';
import { deepCopy, snapshotCopy } from './snapshot.ts';
import type { Envelope } from '../protocol/envelope.ts';
import { EMPTY_STACK, frames } from '../protocol/stack.ts';
import type { TraceEvent, LockRef } from '../protocol/events.ts';
import type { ActorId, MsgId, ObjId, TaskId } from '../protocol/ids.ts';
import type { AbortInfo, Point, QueueReady, StepCommand, StepResult } from '../protocol/step.ts';

/** What every cell knows about the system it lives in. */
export interface CellConfig {
  readonly self: ActorId;
  readonly config: unknown;
  /** Every actor of the program: sending to any other is a protocol error. */
  readonly actors: readonly ActorId[];
  /** The lock-manager shards, in order; a lock lives on shard hash(id) % n. */
  readonly lockManagers: readonly ActorId[];
}

/** A task suspended in this actor and how to resume it. */
interface Suspended {
  readonly ctx: TaskContext<unknown>;
  readonly resume: (value: unknown) => void;
}

/**
 * One actor and the state it owns, executing one step at a time. Both hosts
 * drive cells through `execute`; the cell is the same code in the inline
 * host (all cells in one thread) and in the workers host (one per thread).
 *
 * A step starts a handler or resumes a suspended task, and ends when that
 * task reaches its next scheduling point (a call, a sleep, a yield, a
 * return or an abort). Only the stepped task runs during a step.
 */
export class Cell<S = unknown> {
  readonly self: ActorId;
  readonly def: ActorDef<S>;
  readonly known: ReadonlySet<ActorId>;
  readonly lockManagers: readonly ActorId[];
  state: S;
  /**
   * Reference counts of the objects this actor owns (kref). Kept by the
   * runtime rather than in model state so `k.get/k.put` count the same way
   * in every actor; a count below zero is left for the lifetime checker.
   */
  readonly refcounts = new Map<ObjId, number>();

  /** The task running now, or null between steps. */
  stepping: TaskId | null = null;
  private current: TaskContext<unknown> | null = null;
  // The buffers of the step result, reused from step to step: a result is
  // valid until this cell's next step (the scheduler consumes it at once,
  // the workers host clones it into a message, trace recorders copy it).
  private readonly out: Envelope[] = [];
  private readonly ready: QueueReady[] = [];
  private readonly touched: string[] = [];
  private readonly events: TraceEvent[] = [];
  private finish: ((r: StepResult) => void) | null = null;

  /** Tasks suspended in this actor, by what will resume them. */
  /**
   * Handler invocations waiting for a reply, per task, innermost last: a task
   * is one thread, so replies come back in call-stack order (a task may wait
   * here more than once when calls re-enter this actor).
   */
  private readonly replies = new Map<TaskId, (Suspended & { readonly call: MsgId })[]>();
  private readonly sleeping = new Map<TaskId, Suspended & { readonly queue: string }>();
  private readonly yielded = new Map<TaskId, Suspended>();
  /** Misuse of the kernel context found after a step had ended; reported with the next step. */
  private late: AbortInfo[] = [];
  /**
   * The snapshot the state was last put back to (`restore`), until the next
   * step: only a step changes the state, the reference counts and the
   * tables of suspended tasks, so restoring the same snapshot again would
   * copy the same state anew and leave the last copy to the garbage
   * collector. Measured (issue 19): in a stress run at 1,024 devices, each
   * IOMMU unit was untouched in 12–26 of 40 rounds; 200 controlled
   * schedules of seed-004-domain-alloc-in-probe touch one of its five
   * actors, of seed-001/002 four of five.
   */
  private pristine: CellSnapshot | null = null;

  constructor(def: ActorDef<S>, cfg: CellConfig) {
    this.def = def;
    this.self = cfg.self;
    this.known = new Set(cfg.actors);
    this.lockManagers = cfg.lockManagers;
    this.state = def.init(cfg.config, cfg.self);
  }

  /**
   * Runs one step; `done` is called when the stepped task reaches its next
   * scheduling point — possibly before this returns (a callback, not a
   * promise: drivers go on synchronously when they can).
   */
  executeThen(cmd: StepCommand, done: (r: StepResult) => void): void {
    this.pristine = null;
    this.finish = done;
    // (`length = 0` is a runtime call; skip it for the buffers the last step left empty)
    if (this.out.length !== 0) this.out.length = 0;
    if (this.ready.length !== 0) this.ready.length = 0;
    if (this.touched.length !== 0) this.touched.length = 0;
    if (this.events.length !== 0) this.events.length = 0;
    switch (cmd.kind) {
      case 'deliver': {
        const m = cmd.msg;
        this.stepping = m.task;
        if (m.kind !== 'reply') {
          this.startHandler(m);
          return;
        }
        const waiting = this.replies.get(m.task);
        const s = waiting?.[waiting.length - 1];
        if (s === undefined || s.call !== m.cause) {
          this.abort(m.task, 'protocol-error', m.op, `reply ${m.id} to ${m.cause ?? '?'} matches no pending call in ${this.self}`, null, frames(m.stack));
          return;
        }
        (waiting as unknown[]).pop();
        if ((waiting as unknown[]).length === 0) this.replies.delete(m.task);
        s.ctx.adopt(m);
        this.resume(s, m.body);
        return;
      }
      case 'wake':
      case 'resume': {
        this.stepping = cmd.task;
        const table = cmd.kind === 'wake' ? this.sleeping : this.yielded;
        const s = table.get(cmd.task);
        if (s === undefined) {
          this.abort(cmd.task, 'protocol-error', cmd.kind, `task ${cmd.task} is not ${cmd.kind === 'wake' ? 'sleeping' : 'yielded'} in ${this.self}`, null, []);
          return;
        }
        table.delete(cmd.task);
        s.ctx.advance();
        this.resume(s, undefined);
        return;
      }
    }
  }

  private resume(s: Suspended, value: unknown): void {
    this.current = s.ctx;
    s.resume(value);
  }

  private startHandler(m: Envelope): void {
    const h = Object.hasOwn(this.def.handlers, m.op) ? this.def.handlers[m.op] : undefined;
    if (h === undefined) {
      this.abort(m.task, 'protocol-error', m.op, `actor ${this.self} (${this.def.kind}) has no handler for op "${m.op}"`, null, frames(m.stack));
      return;
    }
    const k = new TaskContext<S>(this, m);
    this.current = k as TaskContext<unknown>;
    let p: unknown;
    try {
      p = (h as unknown as (k: TaskContext<S>, b: unknown) => unknown)(k, m.body);
    } catch (e) {
      k.failed(e);
      return;
    }
    Promise.resolve(p).then((v) => k.returned(v), (e: unknown) => k.failed(e));
  }

  // ---- called by TaskContext ------------------------------------------------

  /** Ends the current step. */
  point(task: TaskId, p: Point): void {
    const done = this.finish;
    if (this.stepping !== task || done === null) {
      this.lateMisuse(`task ${task} reached a scheduling point in ${this.self} while not running (a kernel call that was not awaited?)`);
      return;
    }
    const ctx = this.current;
    const n = ctx === null ? 0 : ctx.stepNo;
    const stack = ctx === null ? EMPTY_STACK : ctx.currentStack;
    // one object shape for every step (the scheduler's hot path): the optional parts are undefined, not absent
    const r: StepResult = {
      task, n, stack, point: p, out: this.out, ready: this.ready, events: this.events,
      touched: this.touched.length > 0 ? this.touched : undefined,
      late: this.late.length > 0 ? this.late : undefined,
    };
    if (this.late.length > 0) this.late = [];
    this.stepping = null;
    this.current = null;
    this.finish = null;
    done(r);
  }

  /** True when `task` may use the kernel context now; otherwise records the misuse. */
  running(task: TaskId, what: string): boolean {
    if (this.stepping === task) return true;
    this.lateMisuse(`task ${task} used ${what} in ${this.self} while not running (a kernel call that was not awaited?)`);
    return false;
  }

  private lateMisuse(message: string): void {
    this.late.push({ kind: 'protocol-error', actor: this.self, handler: '?', message, jsStack: null, stack: [] });
  }

  send(m: Envelope): void {
    this.out.push(m);
  }

  record(e: TraceEvent): void {
    this.events.push(e);
  }

  setReady(queue: string, ready: boolean): void {
    this.ready.push({ queue, ready });
  }

  touch(what: string): void {
    if (!this.touched.includes(what)) this.touched.push(what);
  }

  awaitReply(call: MsgId, ctx: TaskContext<unknown>, resume: (value: unknown) => void): void {
    let waiting = this.replies.get(ctx.task);
    if (waiting === undefined) {
      waiting = [];
      this.replies.set(ctx.task, waiting);
    }
    waiting.push({ ctx, resume, call });
  }

  sleep(ctx: TaskContext<unknown>, queue: string, resume: () => void): void {
    this.sleeping.set(ctx.task, { ctx, resume, queue });
  }

  yieldTask(ctx: TaskContext<unknown>, resume: () => void): void {
    this.yielded.set(ctx.task, { ctx, resume });
  }

  /** Tasks sleeping on a queue, in the order they went to sleep (free mode picks among them). */
  sleepersOf(queue: string): TaskId[] {
    const out: TaskId[] = [];
    for (const [t, s] of this.sleeping) if (s.queue === queue) out.push(t);
    return out;
  }

  lockManagerFor(l: LockRef): ActorId {
    const n = this.lockManagers.length;
    if (n === 1) return this.lockManagers[0] as ActorId;
    let h = 0x811c9dc5;
    for (let i = 0; i < l.id.length; i++) h = Math.imul(h ^ l.id.charCodeAt(i), 0x01000193);
    return this.lockManagers[(h >>> 0) % n] as ActorId;
  }

  abort(task: TaskId, kind: AbortInfo['kind'], handler: string, message: string, jsStack: string | null, stack: readonly string[]): void {
    this.point(task, { at: 'abort', finding: { kind, actor: this.self, handler, message, jsStack, stack } });
  }

  /** Maps a handler failure to the abort it causes. */
  failure(task: TaskId, handler: string, stack: readonly string[], e: unknown): void {
    if (e instanceof KernelBug) {
      this.abort(task, 'kernel-bug', handler, e.message, e.stack ?? null, stack);
    } else {
      const err = e instanceof Error ? e : new Error(String(e));
      this.abort(task, 'actor-crash', handler, `${err.name}: ${err.message}`, err.stack ?? null, stack);
    }
  }

  inspect(): unknown {
    return this.def.inspect ? this.def.inspect(this.state) : null;
  }

  /**
   * A copy of this actor's state for the set-up snapshot. Taken only between
   * executions' phases, when no task is suspended here: a suspended task is a
   * live JS continuation and cannot be copied.
   */
  snapshot(): CellSnapshot {
    this.assertQuiet();
    return { state: deepCopy(this.state), refcounts: new Map(this.refcounts) };
  }

  /**
   * The snapshot of a cell that never steps again, as one structured-clone
   * message (v8.serialize: what postMessage would write), made from the
   * state itself with no copy first. Stress boots inline and hands these to
   * the workers host (issue 19): the bytes cross threads as transferred
   * buffers, not as an object graph cloned into every thread on the way.
   */
  serializedSnapshot(): Uint8Array {
    this.assertQuiet();
    const cell: CellSnapshot = { state: this.state, refcounts: this.refcounts };
    return serialize(cell);
  }

  private assertQuiet(): void {
    if (this.stepping !== null || this.replies.size > 0 || this.sleeping.size > 0 || this.yielded.size > 0) {
      throw new Error(`cannot snapshot ${this.self}: a task is suspended in it`);
    }
  }

  /**
   * Puts the snapshot's state back (a fresh copy, so the snapshot serves
   * again; by its copy plan, made on the first restore). Nothing to do when
   * it was put back from `s` and no step has run since (`pristine`).
   */
  restore(s: CellSnapshot): void {
    if (this.pristine === s && this.late.length === 0) return;
    this.restoreOwned({ state: snapshotCopy(s.state), refcounts: s.refcounts });
    this.pristine = s;
  }

  /**
   * Takes `s` as this actor's state as it is, without a copy: `s` must be
   * this cell's alone from now on (a fresh deserialization of a serialized
   * snapshot: runtime/hosts/worker-entry.ts `adopt`).
   */
  restoreOwned(s: CellSnapshot): void {
    this.pristine = null;
    this.state = s.state as S;
    this.refcounts.clear();
    for (const [k, v] of s.refcounts) this.refcounts.set(k, v);
    this.replies.clear();
    this.sleeping.clear();
    this.yielded.clear();
    this.late = [];
    this.stepping = null;
    this.current = null;
    this.finish = null;
  }
}

export interface CellSnapshot {
  readonly state: unknown;
  readonly refcounts: ReadonlyMap<ObjId, number>;
}
