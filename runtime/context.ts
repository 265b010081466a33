import type { AccessHow, ElemOf, EntryOf, EventBody, Kernel, KObject, ListField, TableField } from './actor.ts';
import { KernelBug } from './actor.ts';
import type { Cell } from './cell.ts';
import { SeededRng, mix } from './rng.ts';
import { runDecl } from './kfunc.ts';
import type { KFuncDecl } from './kfunc.ts';
import type { Rng } from './rng.ts';
import type { Envelope } from '../protocol/envelope.ts';
import { EMPTY_STACK, frames, pushFrame } from '../protocol/stack.ts';
import { deltaTuning, noteRecordSize, readPayload, recordSize, writePayload } from '../protocol/delta.ts';
import type { Delta } from '../protocol/delta.ts';
import type { WireStack } from '../protocol/stack.ts';
import type { LockRef, TraceEvent } from '../protocol/events.ts';
import type { LockManagerMailbox } from '../protocol/locks.ts';
import { childTaskId, msgId, objId } from '../protocol/ids.ts';
import type { ActorId, MsgId, ObjId, TaskId } from '../protocol/ids.ts';

/**
 * The kernel context of one handler invocation. It carries the task's
 * counters (message sequence, step number, rng state) while the task is in
 * this actor and hands them on with every message, so they follow the task
 * across actors and threads.
 */
export class TaskContext<S> extends SeededRng implements Kernel<S> {
  readonly actor: ActorId;
  readonly task: TaskId;
  /** The call stack the message brought (one string). */
  readonly wireStack: WireStack;
  /**
   * The call stack now: the message's, plus a frame for every declared
   * kernel function (runtime/kfunc.ts) the handler is inside. It is what
   * k.call carries on and what events record; `stack` splits it on demand.
   */
  private cur: WireStack;
  /** Frames pushed on top of the message's stack. */
  private depth = 0;
  /** The pushed frames, innermost last (valid up to `depth`). */
  private readonly pushed: string[] = [];
  /**
   * The split stack at each depth, made when an event first asks for it
   * and reused when the task comes back to that depth: a helper's return
   * does not cost its caller a new split.
   */
  private readonly lists: (readonly string[] | null)[] = [null];
  /** The stack where a throw left the innermost declared function (a BUG_ON's backtrace). */
  private thrown: WireStack | null = null;
  private readonly cell: Cell<S>;
  /** The message this invocation handles. */
  private readonly msg: Envelope;
  private seq: number;
  private step: number;

  constructor(cell: Cell<S>, msg: Envelope) {
    // The context is the task's random stream too (one object per
    // invocation, not two); its state travels with the task's messages.
    super(msg.rng);
    this.cell = cell;
    this.msg = msg;
    this.actor = cell.self;
    this.task = msg.task;
    this.wireStack = msg.stack;
    this.cur = msg.stack;
    this.seq = msg.seq;
    this.step = msg.step;
  }

  get stack(): readonly string[] {
    return this.stackAt(this.depth);
  }

  private stackAt(d: number): readonly string[] {
    let l = this.lists[d];
    if (l === null || l === undefined) {
      l = d === 0 ? frames(this.wireStack) : [...this.stackAt(d - 1), this.pushed[d - 1] as string];
      this.lists[d] = l;
    }
    return l;
  }

  /** The call stack now, as it travels (hang reports take it from here). */
  get currentStack(): WireStack {
    return this.cur;
  }

  // ---- declared kernel functions (runtime/kfunc.ts) ---------------------------

  /**
   * Runs a declared kernel function inside this task: its frame goes on the
   * stack for as long as it runs (across the awaits inside it: a task runs
   * one thing at a time), and this actor's patch of it, if any, runs instead
   * of the upstream implementation. A handler that is itself the function
   * the message names does not get a second frame.
   */
  invoke(d: KFuncDecl, args: readonly unknown[]): unknown {
    const frame = `${this.actor}:${d.name}`;
    const patches = this.cell.def.functions;
    const patch = patches === undefined ? undefined : patches.get(d.name);
    if (patch !== undefined) this.emit({ ev: 'fn.patched', fn: d.name });
    if (this.depth === 0 && this.handlerFrame(frame)) return runDecl(d, this, args, patch);
    const prev = this.cur;
    this.cur = pushFrame(prev, frame);
    this.pushed[this.depth] = frame;
    this.depth++;
    this.lists[this.depth] = null;
    let r: unknown;
    try {
      r = runDecl(d, this, args, patch);
    } catch (e) {
      this.thrown ??= this.cur;
      this.leave(prev);
      throw e;
    }
    if (r instanceof Promise) {
      return r.then(
        (v: unknown) => {
          this.leave(prev);
          return v;
        },
        (e: unknown) => {
          this.thrown ??= this.cur;
          this.leave(prev);
          throw e;
        },
      );
    }
    this.leave(prev);
    return r;
  }

  private leave(prev: WireStack): void {
    this.cur = prev;
    this.depth--;
  }

  /** Whether `frame` is the frame the delivered message pushed (the handler's own). */
  private handlerFrame(frame: string): boolean {
    const s = this.wireStack;
    return s.endsWith(frame) && (s.length === frame.length || s.charCodeAt(s.length - frame.length - 1) === 10);
  }

  get rng(): Rng {
    return this;
  }

  get state(): S {
    return this.cell.state;
  }


  // ---- messages -------------------------------------------------------------

  private envelope(to: ActorId, kind: Envelope['kind'], op: string, body: unknown, stack: WireStack, cause: MsgId | null): Envelope {
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
    const m = this.envelope(to, 'call', op, body, pushFrame(this.cur, `${to}:${op}`), this.msg.id);
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
      stack: pushFrame(EMPTY_STACK, `${to}:${op}`), cause: this.msg.id, seq: 1, step: 0, rng: mix(this.rngState, this.seq),
    };
    // Recorded here, in order with this step's other events: a write after
    // the spawn must not look as if it came before it (happens-before).
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

  touches(what: string): void {
    if (this.cell.running(this.task, 'k.touches()')) this.cell.touch(what);
  }

  // ---- locks ----------------------------------------------------------------

  /** One call to the lock-manager shard that owns `l`; the op and body are checked against its mailbox. */
  private lockOp<R>(l: LockRef, m: LockManagerMailbox): Promise<R> {
    return this.call<R>(this.cell.lockManagerFor(l), m.op, m.body);
  }

  lock(l: LockRef): Promise<void> {
    return this.lockOp(l, { op: 'mutex_lock', body: { lock: l } });
  }
  lock_nested(l: LockRef, subclass: number): Promise<void> {
    const { sub: _ignored, ...rest } = l;
    const lock: LockRef = subclass > 0 ? { ...rest, sub: subclass } : rest;
    return this.lockOp(lock, { op: 'mutex_lock', body: { lock } });
  }
  unlock(l: LockRef): Promise<void> {
    return this.lockOp(l, { op: 'mutex_unlock', body: { lock: l } });
  }
  trylock(l: LockRef): Promise<boolean> {
    return this.lockOp(l, { op: 'mutex_trylock', body: { lock: l } });
  }
  down_read(l: LockRef): Promise<void> {
    return this.lockOp(l, { op: 'down_read', body: { lock: l } });
  }
  down_read_recursive(l: LockRef): Promise<void> {
    return this.lockOp(l, { op: 'down_read', body: { lock: l, recursive: true } });
  }
  down_write(l: LockRef): Promise<void> {
    return this.lockOp(l, { op: 'down_write', body: { lock: l } });
  }
  down_read_trylock(l: LockRef): Promise<boolean> {
    return this.lockOp(l, { op: 'down_read_trylock', body: { lock: l } });
  }
  down_write_trylock(l: LockRef): Promise<boolean> {
    return this.lockOp(l, { op: 'down_write_trylock', body: { lock: l } });
  }
  up_read(l: LockRef): Promise<void> {
    return this.lockOp(l, { op: 'up_read', body: { lock: l } });
  }
  up_write(l: LockRef): Promise<void> {
    return this.lockOp(l, { op: 'up_write', body: { lock: l } });
  }
  wait_for_completion(c: LockRef): Promise<void> {
    return this.lockOp(c, { op: 'wait_for_completion', body: { completion: c } });
  }
  wait_for_completion_timeout(c: LockRef): Promise<boolean> {
    return this.lockOp(c, { op: 'wait_for_completion_timeout', body: { completion: c } });
  }
  complete(c: LockRef): Promise<void> {
    return this.lockOp(c, { op: 'complete', body: { completion: c } });
  }
  complete_all(c: LockRef): Promise<void> {
    return this.lockOp(c, { op: 'complete_all', body: { completion: c } });
  }
  assertHeld(l: LockRef, mode: 'any' | 'read' | 'write' = 'any'): Promise<boolean> {
    const what = mode === 'any' ? 'held' : mode === 'read' ? 'held-read' : 'held-write';
    return this.lockOp(l, { op: 'lock_assert', body: { lock: l, what } });
  }
  isLocked(l: LockRef): Promise<boolean> {
    return this.lockOp(l, { op: 'lock_is_locked', body: { lock: l } });
  }
  assertNotHeld(l: LockRef): Promise<boolean> {
    return this.lockOp(l, { op: 'lock_assert', body: { lock: l, what: 'not-held' } });
  }

  // ---- kernel objects ---------------------------------------------------------

  read<O extends KObject, F extends keyof O & string>(o: O, field: F, how?: AccessHow): O[F] {
    const value = o[field];
    this.access(o.id, field, 'read', how, readPayload(value), undefined);
    return value;
  }

  write<O extends KObject, F extends keyof O & string>(o: O, field: F, value: O[F], how?: AccessHow): void {
    const old = o[field];
    (o as Record<string, unknown>)[field] = value;
    // a large container travels as what changed (protocol/delta.ts), never whole
    const p = writePayload(old, value);
    this.access(o.id, field, 'write', how, p.value, p.old);
  }

  private access(obj: ObjId, field: string, op: 'read' | 'write', how: AccessHow | undefined, value: unknown, old: unknown): void {
    if (op === 'read') this.emit({ ev: 'access', obj, field, op, guard: how?.guard?.id ?? null, lockless: how?.lockless ?? false, value });
    else this.emit({ ev: 'access', obj, field, op, guard: how?.guard?.id ?? null, lockless: how?.lockless ?? false, value, old });
  }

  walk<O extends KObject, F extends keyof O & string>(objs: Iterable<O>, field: F, how: AccessHow | undefined, stop: (value: O[F], o: O) => boolean): O | null {
    const ids: ObjId[] = [];
    const values: unknown[] = [];
    let found: O | null = null;
    for (const o of objs) {
      const v = o[field];
      ids.push(o.id);
      values.push(readPayload(v));
      if (stop(v, o)) {
        found = o;
        break;
      }
    }
    if (ids.length === 1) this.access(ids[0] as ObjId, field, 'read', how, values[0], undefined);
    else if (ids.length > 1) {
      this.emit({ ev: 'access', obj: ids[0] as ObjId, field, op: 'read', guard: how?.guard?.id ?? null, lockless: how?.lockless ?? false, value: values[0], walk: { objs: ids, values } });
    }
    return found;
  }

  /*
   * Lists and tables changed by one element (Kernel.listAdd and the rest).
   * The events are the ones `k.read` then `k.write` of a copied container
   * made (the same whole values for a small container, the same delta for a
   * large one), so the checkers see what they saw; but nothing here costs
   * O(entries): a large container is changed in place and its delta is the
   * element itself. A small container is still replaced by a fresh copy (at
   * most deltaTuning.min entries), because the events carried it whole and a
   * checker may keep it; so a container is changed in place only when it is
   * large, and one that grows past the bound is copied first.
   */

  listAdd<O extends KObject, F extends ListField<O>>(o: O, field: F, elem: ElemOf<O[F]>, how?: AccessHow, head = false): void {
    const rec = o as unknown as Record<string, unknown[]>;
    const cur = rec[field] as unknown[];
    const n = cur.length;
    this.access(o.id, field, 'read', how, readPayload(cur), undefined);
    const min = deltaTuning.min;
    if (n + 1 <= min) {
      const next = head ? [elem, ...cur] : [...cur, elem];
      rec[field] = next;
      this.access(o.id, field, 'write', how, next, cur);
      return;
    }
    const list = n <= min ? cur.slice() : cur;
    if (head) list.unshift(elem);
    else list.push(elem);
    rec[field] = list;
    const d: Delta = head ? { '~delta': 'array', size: n + 1, added: [elem], removed: NONE, at: 0 } : { '~delta': 'array', size: n + 1, added: [elem], removed: NONE };
    this.access(o.id, field, 'write', how, d, undefined);
  }

  listDel<O extends KObject, F extends ListField<O>>(o: O, field: F, elem: ElemOf<O[F]>, how?: AccessHow): boolean {
    const rec = o as unknown as Record<string, unknown[]>;
    const cur = rec[field] as unknown[];
    const n = cur.length;
    this.access(o.id, field, 'read', how, readPayload(cur), undefined);
    const i = cur.indexOf(elem);
    if (i < 0) return false;
    if (n <= deltaTuning.min) {
      const next = cur.slice();
      next.splice(i, 1);
      rec[field] = next;
      this.access(o.id, field, 'write', how, next, cur);
      return true;
    }
    cur.splice(i, 1);
    this.access(o.id, field, 'write', how, { '~delta': 'array', size: n - 1, added: NONE, removed: [elem] } satisfies Delta, undefined);
    return true;
  }

  tableSet<O extends KObject, F extends TableField<O>>(o: O, field: F, key: string, value: EntryOf<O[F]>, how?: AccessHow): void {
    const rec = o as unknown as Record<string, Record<string, unknown>>;
    const cur = rec[field] as Record<string, unknown>;
    const n = recordSize(cur);
    this.access(o.id, field, 'read', how, readPayload(cur), undefined);
    const had = Object.hasOwn(cur, key);
    const n2 = had ? n : n + 1;
    const min = deltaTuning.min;
    if (n <= min && n2 <= min) {
      const next = { ...cur, [key]: value };
      rec[field] = next;
      this.access(o.id, field, 'write', how, next, cur);
      return;
    }
    const same = had && Object.is(cur[key], value);
    const table = n <= min ? { ...cur } : cur;
    table[key] = value;
    noteRecordSize(table, n2);
    rec[field] = table;
    this.access(o.id, field, 'write', how, { '~delta': 'record', size: n2, added: same ? NONE : [[key, value]], removed: NONE } satisfies Delta, undefined);
  }

  tableDel<O extends KObject, F extends TableField<O>>(o: O, field: F, key: string, how?: AccessHow): boolean {
    const rec = o as unknown as Record<string, Record<string, unknown>>;
    const cur = rec[field] as Record<string, unknown>;
    const n = recordSize(cur);
    this.access(o.id, field, 'read', how, readPayload(cur), undefined);
    if (!Object.hasOwn(cur, key)) return false;
    if (n <= deltaTuning.min) {
      const { [key]: _gone, ...next } = cur;
      rec[field] = next;
      this.access(o.id, field, 'write', how, next, cur);
      return true;
    }
    delete cur[key];
    noteRecordSize(cur, n - 1);
    this.access(o.id, field, 'write', how, { '~delta': 'record', size: n - 1, added: NONE, removed: [key] } satisfies Delta, undefined);
    return true;
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
      // The body is a fresh literal made for this call (the Kernel contract),
      // so it is completed in place: a spread copy per event was the
      // dominant cost of lock-heavy steps.
      const ev = e as Record<string, unknown>;
      ev.task = this.task;
      ev.actor = this.actor;
      ev.stack = this.stack;
      this.cell.record(ev as unknown as TraceEvent);
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
      const reply = this.envelope(caller, 'reply', this.msg.op, value, this.wireStack, this.msg.id);
      this.cell.send(reply);
    }
    this.cell.point(this.task, RETURN);
  }

  failed(e: unknown): void {
    if (this.cell.stepping !== this.task) {
      this.cell.running(this.task, `a throw (${e instanceof Error ? e.message : String(e)})`);
      return;
    }
    this.cell.failure(this.task, this.handler, this.thrown === null ? this.stack : frames(this.thrown), e);
  }
}

/** The empty side of a one-element delta (shared: events are never changed after they are made). */
const NONE: readonly unknown[] = Object.freeze([]);

const CALL = { at: 'call' } as const;
const YIELD = { at: 'yield' } as const;
const RETURN = { at: 'return' } as const;
