import type { AccessHow, EventBody, Kernel, KObject } from './actor.ts';
import { KernelBug } from './actor.ts';
import type { Cell } from './cell.ts';
import { mix, nextState, stateValue } from './rng.ts';
import type { Rng } from './rng.ts';
import type { Envelope } from '../protocol/envelope.ts';
import type { LockRef, TraceEvent } from '../protocol/events.ts';
import { ROOT, childTaskId, msgId, objId } from '../protocol/ids.ts';
import type { ActorId, MsgId, ObjId, TaskId } from '../protocol/ids.ts';

/**
 * The kernel context of one handler invocation. It carries the task's
 * counters (message sequence, step number, rng state) while the task is in
 * this actor and hands them on with every message, so they follow the task
 * across actors and threads.
 */
export class TaskContext<S> implements Kernel<S>, Rng {
  readonly actor: ActorId;
  readonly task: TaskId;
  readonly stack: readonly string[];
  private readonly cell: Cell<S>;
  /** The message this invocation handles. */
  private readonly msg: Envelope;
  private seq: number;
  private step: number;
  private rngState: number;

  constructor(cell: Cell<S>, msg: Envelope) {
    this.cell = cell;
    this.msg = msg;
    this.actor = cell.self;
    this.task = msg.task;
    this.stack = msg.stack;
    this.seq = msg.seq;
    this.step = msg.step;
    this.rngState = msg.rng;
  }

  get state(): S {
    return this.cell.state;
  }

  get rng(): Rng {
    return this;
  }

  // ---- Rng, drawn from the task's own stream ------------------------------
  u32(): number {
    this.rngState = nextState(this.rngState);
    return stateValue(this.rngState);
  }
  next(): number {
    return this.u32() / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }

  // ---- messages -------------------------------------------------------------

  private envelope(to: ActorId, kind: Envelope['kind'], op: string, body: unknown, stack: readonly string[], cause: MsgId | null): Envelope {
    const id = msgId(this.task, this.seq++);
    return { id, from: this.actor, to, task: this.task, kind, op, body, stack, cause, seq: this.seq, step: this.step + 1, rng: this.rngState };
  }

  /** The task's step number now. */
  get stepNo(): number {
    return this.step;
  }

  /** A wake-up or resumption is the task's next step. */
  advance(): void {
    this.step++;
  }

  /** Takes over the task's counters from the reply that resumes it. */
  adopt(m: Envelope): void {
    this.seq = m.seq;
    this.step = m.step;
    this.rngState = m.rng;
  }

  call<R = unknown>(to: ActorId, op: string, body?: unknown): Promise<R> {
    if (!this.cell.running(this.task, `k.call(${to}, ${op})`)) return new Promise<R>(() => {});
    if (!this.cell.known.has(to)) {
      this.cell.abort(this.task, 'protocol-error', this.handler, `message ${op} to unknown actor "${to}"`, null, this.stack);
      return new Promise<R>(() => {});
    }
    const m = this.envelope(to, 'call', op, body, [...this.stack, `${to}:${op}`], this.msg.id);
    this.cell.record({ ev: 'send', task: this.task, actor: this.actor, stack: this.stack, msg: m.id, to, op, kind: 'call' });
    this.cell.send(m);
    return new Promise<R>((resolve) => {
      this.cell.awaitReply(m.id, this as TaskContext<unknown>, resolve as (v: unknown) => void);
      this.cell.point(this.task, CALL);
    });
  }

  spawn(to: ActorId, op: string, body?: unknown): TaskId {
    if (!this.cell.running(this.task, `k.spawn(${to}, ${op})`)) return this.task;
    if (!this.cell.known.has(to)) {
      this.cell.abort(this.task, 'protocol-error', this.handler, `spawn of ${op} at unknown actor "${to}"`, null, this.stack);
      return this.task;
    }
    const child = childTaskId(this.task, this.seq++);
    const m: Envelope = {
      id: msgId(child, 0), from: this.actor, to, task: child, kind: 'event', op, body,
      stack: [`${to}:${op}`], cause: this.msg.id, seq: 1, step: 0, rng: mix(this.rngState, this.seq),
    };
    this.cell.record({ ev: 'send', task: this.task, actor: this.actor, stack: this.stack, msg: m.id, to, op, kind: 'event' });
    this.cell.send(m);
    return child;
  }

  yield(): Promise<void> {
    if (!this.cell.running(this.task, 'k.yield()')) return new Promise<void>(() => {});
    return new Promise<void>((resolve) => {
      this.cell.yieldTask(this as TaskContext<unknown>, resolve);
      this.cell.point(this.task, YIELD);
    });
  }

  sleep(queue: string, what: string, on?: LockRef): Promise<void> {
    if (!this.cell.running(this.task, 'k.sleep()')) return new Promise<void>(() => {});
    return new Promise<void>((resolve) => {
      this.cell.sleep(this as TaskContext<unknown>, queue, resolve);
      this.cell.point(this.task, { at: 'sleep', queue, what, on: on ?? null });
    });
  }

  setReady(queue: string, ready: boolean): void {
    if (this.cell.running(this.task, 'k.setReady()')) this.cell.setReady(queue, ready);
  }

  // ---- locks ----------------------------------------------------------------

  lock(l: LockRef): Promise<void> {
    return this.call<void>(this.cell.lockManagerFor(l), 'mutex_lock', { lock: l });
  }
  unlock(l: LockRef): Promise<void> {
    return this.call<void>(this.cell.lockManagerFor(l), 'mutex_unlock', { lock: l });
  }
  trylock(l: LockRef): Promise<boolean> {
    return this.call<boolean>(this.cell.lockManagerFor(l), 'mutex_trylock', { lock: l });
  }

  // ---- kernel objects ---------------------------------------------------------

  read<O extends KObject, F extends keyof O & string>(o: O, field: F, how?: AccessHow): O[F] {
    const value = o[field];
    this.emit({ ev: 'access', obj: o.id, field, op: 'read', guard: how?.guard?.id ?? null, lockless: how?.lockless ?? false, value });
    return value;
  }

  write<O extends KObject, F extends keyof O & string>(o: O, field: F, value: O[F], how?: AccessHow): void {
    const old = o[field];
    (o as Record<string, unknown>)[field] = value;
    this.emit({ ev: 'access', obj: o.id, field, op: 'write', guard: how?.guard?.id ?? null, lockless: how?.lockless ?? false, value, old });
  }

  alloc(type: string, name?: string): ObjId {
    const id = objId(name ?? `${type}@${this.task}#${this.seq++}`);
    const counts = this.cell.refcounts;
    counts.set(id, 1);
    this.emit({ ev: 'alloc', obj: id, type });
    return id;
  }

  free(obj: ObjId): void {
    this.cell.refcounts.delete(obj);
    this.emit({ ev: 'free', obj });
  }

  use(obj: ObjId, what: string): void {
    this.emit({ ev: 'use', obj, what });
  }

  get(obj: ObjId): number {
    const n = (this.cell.refcounts.get(obj) ?? 0) + 1;
    this.cell.refcounts.set(obj, n);
    this.emit({ ev: 'get', obj, count: n });
    return n;
  }

  put(obj: ObjId): number {
    const n = (this.cell.refcounts.get(obj) ?? 0) - 1;
    this.cell.refcounts.set(obj, n);
    this.emit({ ev: 'put', obj, count: n });
    return n;
  }

  // ---- checkers and kernel diagnostics -------------------------------------

  emit(e: EventBody): void {
    if (this.cell.running(this.task, 'k.emit()')) {
      this.cell.record({ ...e, task: this.task, actor: this.actor, stack: this.stack } as TraceEvent);
    }
  }

  warn(message: string): void {
    this.emit({ ev: 'warn', message });
  }

  bug(message: string): never {
    this.emit({ ev: 'bug', message });
    throw new KernelBug(message);
  }

  // ---- ends of the invocation (called by the cell) ---------------------------

  private get handler(): string {
    return this.msg.op;
  }

  returned(value: unknown): void {
    if (!this.cell.running(this.task, 'return')) return;
    if (this.msg.kind === 'call') {
      const caller = this.msg.from;
      const reply = this.envelope(caller, 'reply', this.msg.op, value, this.stack.slice(0, -1), this.msg.id);
      if (caller !== ROOT) {
        this.cell.record({ ev: 'send', task: this.task, actor: this.actor, stack: this.stack, msg: reply.id, to: caller, op: this.msg.op, kind: 'reply' });
      }
      this.cell.send(reply);
    }
    this.cell.point(this.task, RETURN);
  }

  failed(e: unknown): void {
    if (this.cell.stepping !== this.task) {
      this.cell.running(this.task, `a throw (${e instanceof Error ? e.message : String(e)})`);
      return;
    }
    this.cell.failure(this.task, this.handler, this.stack, e);
  }
}

const CALL = { at: 'call' } as const;
const YIELD = { at: 'yield' } as const;
const RETURN = { at: 'return' } as const;
