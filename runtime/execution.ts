import { abortFinding } from '../checkers/crash.ts';
import { blockedFinding } from '../checkers/deadlock.ts';
import type { BlockedTask } from '../checkers/deadlock.ts';
import { CheckerFeed } from '../checkers/checker.ts';
import type { Checker } from '../checkers/checker.ts';
import { HeldLocks } from '../checkers/held-locks.ts';
import { TraceHash } from './hash.ts';
import { deepCopy, restoreCopy } from './snapshot.ts';
import type { Host } from './hosts/host.ts';
import type { Program } from './program.ts';
import { mix, seedOf } from './rng.ts';
import { PRUNE } from './strategies/strategy.ts';
import type { Strategy } from './strategies/strategy.ts';
import { TouchBuilder } from './strategies/touch.ts';
import type { Envelope } from '../protocol/envelope.ts';
import { EMPTY_STACK, eventFrames, frames, popFrame, pushFrame } from '../protocol/stack.ts';
import type { WireStack } from '../protocol/stack.ts';
import { EVENT_NAMES } from '../protocol/events.ts';
import type { LockRef, TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { ROOT, msgId } from '../protocol/ids.ts';
import type { ActorId, MsgId, TaskId } from '../protocol/ids.ts';
import type { QueueReady, StepCommand, StepResult } from '../protocol/step.ts';

/** `pruned`: a systematic strategy ended the execution because every continuation was explored already. */
export type Outcome = 'completed' | 'deadlock' | 'aborted' | 'step-limit' | 'replay-diverged' | 'stopped' | 'pruned';

/** One step as the trace keeps it. */
export interface TraceEntry {
  readonly i: number;
  readonly task: TaskId;
  readonly kind: StepCommand['kind'];
  readonly actor: ActorId;
  /** The delivered message, for deliveries. */
  readonly msg: string | null;
  readonly op: string | null;
  readonly point: string;
  readonly events: readonly TraceEvent[];
}

export interface ExecutionResult {
  readonly outcome: Outcome;
  readonly steps: number;
  /** The task chosen at every step: what a replay file stores. */
  readonly decisions: readonly TaskId[];
  readonly traceHash: string;
  readonly findings: readonly Finding[];
  /** Full trace when `record` was asked for. */
  readonly trace: readonly TraceEntry[] | null;
  /** Return values of the program's root tasks. */
  readonly results: Readonly<Record<string, unknown>>;
  /** Set when a replay's recorded step was not enabled. */
  readonly divergence: string | null;
  /** Steps of the program's set-up phase (0 when it has none); `decisions` start after them. */
  readonly setupSteps: number;
  /** The checkers that observed this execution (copies when it started from a snapshot). */
  readonly checkers: readonly Checker[];
}

/**
 * The scheduler's side of the state after a program's set-up: the task
 * table, the trace hash so far, held locks, findings and the checkers'
 * state. Paired with the host's snapshot of the actors, an execution can
 * start here instead of from the beginning.
 */
export interface SetupSnapshot {
  readonly state: ExecState;
}

/** What an execution carries from one step to the next, apart from the actors. */
interface ExecState {
  slots: Slot[];
  ready: Map<string, boolean>;
  hash: TraceHash;
  held: HeldLocks;
  checkers: readonly Checker[];
  findings: Finding[];
  seen: Set<string>;
  results: Record<string, unknown>;
  trace: TraceEntry[] | null;
  step: number;
}

export interface ExecutionOptions {
  /** Seed for the tasks' own random streams. */
  readonly seed: number;
  /** Index of this execution within its run; the strategy derives its choices from it. */
  readonly execution?: number;
  readonly maxSteps?: number;
  /**
   * `maxSteps` counts the steps after the set-up only (default false: all
   * steps). A replay sets it: its recording says how many steps follow the
   * set-up, and a stress machine's boot alone is 325,779 steps at 4,096 devices.
   */
  readonly limitAfterSetup?: boolean;
  readonly record?: boolean;
  /** Fresh checkers for this execution. */
  readonly checkers?: readonly Checker[];
  /** Polled between batches of steps; true ends the execution as `stopped`. */
  readonly shouldStop?: () => boolean;
  /**
   * Run the program's set-up phase first (default true). False starts every
   * task at once — how a free-mode record was made, so how it replays.
   */
  readonly setupPhase?: boolean;
  /** Start after the set-up, from this snapshot; the host must have been restored to its own. */
  readonly from?: SetupSnapshot;
  /** Called when the set-up has ended, before any other task starts (take the host's snapshot here). */
  readonly onSetup?: (s: SetupSnapshot) => void | Promise<void>;
}

type Status = 'deliver' | 'sleep' | 'yield' | 'done';

/** The scheduler's view of one task: at most one pending step. */
interface Slot {
  readonly id: TaskId;
  /** Creation order: deterministic, so it can stand for the task in the trace hash. */
  readonly index: number;
  status: Status;
  /** Where the pending step runs. */
  actor: ActorId;
  msg: Envelope | null;
  stack: WireStack;
  queueKey: string;
  what: string;
  on: LockRef | null;
}

const KIND_CODE = { deliver: 1, wake: 2, resume: 3 } as const;
const POINT_CODE = { call: 1, sleep: 2, yield: 3, return: 4, abort: 5 } as const;
const EVENT_CODE: ReadonlyMap<string, number> = new Map(EVENT_NAMES.map((n, i) => [n, i + 1]));

/**
 * The `send` event of a call or a reply, which the scheduler derives from a
 * step's messages for the checkers that take them (CheckerFeed.feedCall).
 * Its stack is split from the step's wire stack when first read: none of
 * the kernel checkers reads it (lifetime only notes that the task ran), and
 * a split per call and reply was ~5 % of a checked schedule (issue 19).
 */
class CallSend {
  readonly ev = 'send';
  readonly task: TaskId;
  readonly actor: ActorId;
  readonly msg: MsgId;
  readonly to: ActorId;
  readonly op: string;
  readonly kind: 'call' | 'reply';
  private readonly wire: WireStack;
  private split: readonly string[] | null = null;

  constructor(task: TaskId, actor: ActorId, wire: WireStack, msg: MsgId, to: ActorId, op: string, kind: 'call' | 'reply') {
    this.task = task;
    this.actor = actor;
    this.msg = msg;
    this.to = to;
    this.op = op;
    this.kind = kind;
    this.wire = wire;
  }

  get stack(): readonly string[] {
    return (this.split ??= eventFrames(this.wire));
  }
}

/** Steps between voluntary returns to the event loop (progress, time budget, the inline stall check). */
const BATCH = 2048;

/** The root message that starts a program task. */
export function rootMessage(t: Program['tasks'][number], seed: number): Envelope {
  return {
    id: msgId(t.id, 0), from: ROOT, to: t.to, task: t.id, kind: 'call', op: t.op, body: t.body ?? null,
    stack: pushFrame(EMPTY_STACK, `${t.to}:${t.op}`), cause: null, seq: 1, step: 0, rng: mix(seed, seedOf(t.id)),
  };
}

/**
 * Runs one execution of `program` in controlled mode: at every step the
 * strategy picks one enabled step, the host runs it, and the result updates
 * the task table. Deterministic: the same program, seed and decisions give
 * the same trace in either host.
 */
export function runExecution(host: Host, program: Program, strategy: Strategy, opts: ExecutionOptions): Promise<ExecutionResult> {
  return new Execution(host, program, strategy, opts).run();
}

/**
 * The step loop is a trampoline rather than an `await` per step: a step that
 * completes synchronously (a call delivered to a handler that reaches its
 * next kernel call at once) lets the loop go straight on; one that completes
 * later (a resumed task continues in a microtask) re-enters the loop from its
 * completion callback. No promise and no timer per step.
 */
class Execution {
  private readonly host: Host;
  private readonly program: Program;
  private readonly strategy: Strategy;
  private readonly opts: ExecutionOptions;
  private readonly maxSteps: number;
  private checkers: readonly Checker[];
  /** The checkers by the event kinds they act on. */
  private feed: CheckerFeed;
  private held = new HeldLocks();
  private hash = new TraceHash();
  private readonly actorIndex: ReadonlyMap<ActorId, number>;
  private slots: Slot[] = [];
  private ready = new Map<string, boolean>();
  private readonly decisions: TaskId[] = [];
  private findings: Finding[] = [];
  private seen = new Set<string>();
  private trace: TraceEntry[] | null;
  private results: Record<string, unknown> = {};
  /** True while the set-up phase runs: fixed choices, no decisions recorded. */
  private inSetup = false;
  private setupSteps = 0;
  /** The tasks that start once the set-up has ended. */
  private pending: readonly Program['tasks'][number][] = [];
  private readonly enabled: TaskId[] = [];
  private readonly enabledSlots: Slot[] = [];
  /** Where each enabled step runs (its footprint, for a strategy that asks: see `footprint`). */
  private readonly enabledWhere: string[] = [];
  private readonly lockManagers: ReadonlySet<ActorId>;
  private readonly footprints: boolean;
  /** Tell the strategy what each step touched (`Strategy.stepped`). */
  private readonly touching: boolean;
  /** Actors whose steps are judged by the objects they touched (Program.recordedState). */
  private readonly recorded: ReadonlySet<ActorId>;
  /** The footprint of the step in flight, as `footprint` gave it. */
  private curWhere = '';
  private outcome: Outcome = 'completed';
  private divergence: string | null = null;
  private step = 0;
  private done = false;
  /** The step in flight: its slot, command and actor. */
  private cur: Slot | null = null;
  private curCmd: StepCommand | null = null;
  private curActor: ActorId | null = null;
  /** True while `executeThen` has not returned: a completion then is synchronous. */
  private inCall = false;
  private syncResult: StepResult | null = null;
  private resolve: ((r: ExecutionResult) => void) | null = null;
  private reject: ((e: unknown) => void) | null = null;

  constructor(host: Host, program: Program, strategy: Strategy, opts: ExecutionOptions) {
    this.host = host;
    this.program = program;
    this.strategy = strategy;
    this.opts = opts;
    this.maxSteps = opts.maxSteps ?? 100_000;
    this.checkers = opts.checkers ?? [];
    this.feed = new CheckerFeed(this.checkers);
    this.trace = opts.record === true ? [] : null;
    this.actorIndex = new Map(program.actors.map((a, i) => [a.id, i]));
    this.lockManagers = new Set(program.lockManagers);
    this.footprints = strategy.footprints === true;
    this.touching = this.footprints && strategy.stepped !== undefined;
    // a patch runs the user's code, which need not record what it changes
    this.recorded = new Set((program.recordedState ?? []).filter((id) => (program.actors.find((a) => a.id === id)?.patches ?? []).length === 0));
  }

  /**
   * What the pending step of `s` may touch, for a partial-order reduction:
   * its actor (actors share no state), narrowed on a lock manager to the one
   * lock or completion the step operates on (actors/lock-manager.ts keeps
   * each lock's state apart, and every handler names its lock).
   */
  private footprint(s: Slot): string {
    if (!this.lockManagers.has(s.actor)) return s.actor;
    if (s.status === 'sleep' && s.on !== null) return `${s.actor}\u0000${s.on.id}`;
    const body = s.status === 'deliver' ? s.msg?.body : undefined;
    if (typeof body === 'object' && body !== null) {
      const ref = (body as { lock?: { id?: unknown }; completion?: { id?: unknown } }).lock ?? (body as { completion?: { id?: unknown } }).completion;
      if (ref !== undefined && typeof ref.id === 'string') return `${s.actor}\u0000${ref.id}`;
    }
    return s.actor;
  }

  run(): Promise<ExecutionResult> {
    return new Promise<ExecutionResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      const setup = this.opts.setupPhase === false ? [] : (this.program.setup ?? []);
      const tasks = this.program.tasks;
      this.strategy.begin(this.opts.execution ?? 0);
      if (this.opts.from !== undefined) {
        this.adopt(this.opts.from.state);
        this.setupSteps = this.step;
        for (const t of tasks) if (!setup.includes(t.id)) this.addTask(rootMessage(t, this.opts.seed));
      } else if (setup.length > 0) {
        this.inSetup = true;
        this.pending = tasks.filter((t) => !setup.includes(t.id));
        for (const t of tasks) if (setup.includes(t.id)) this.addTask(rootMessage(t, this.opts.seed));
      } else {
        for (const t of tasks) this.addTask(rootMessage(t, this.opts.seed));
      }
      this.loop();
    });
  }

  private readonly loop = (): void => {
    try {
      while (!this.done) {
        if (!this.pickNext()) return;
        this.inCall = true;
        this.syncResult = null;
        this.host.executeThen(this.curActor as ActorId, this.curCmd as StepCommand, this.onResult);
        this.inCall = false;
        const r = this.syncResult as StepResult | null;
        if (r === null) return; // completes later; onResult goes on from there
        this.apply(r);
      }
    } catch (e) {
      this.fail(e);
    }
  };

  private readonly onResult = (r: StepResult): void => {
    if (this.inCall) {
      this.syncResult = r;
      return;
    }
    try {
      this.apply(r);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.loop();
  };

  /** The state to carry over, copied (checkers included) so the snapshot serves every later execution. */
  private capture(): SetupSnapshot {
    const st: ExecState = {
      slots: this.slots, ready: this.ready, hash: this.hash, held: this.held, checkers: this.checkers,
      findings: this.findings, seen: this.seen, results: this.results, trace: this.trace, step: this.step,
    };
    return { state: deepCopy(st) };
  }

  private adopt(snap: ExecState): void {
    // the snapshot is never changed: copy what this execution touches, when it touches it
    const st = restoreCopy(snap);
    this.slots = st.slots;
    this.ready = st.ready;
    this.hash = st.hash;
    this.held = st.held;
    this.checkers = st.checkers;
    // (copies of the snapshot's checkers: who takes which events is the snapshot's, worked out once)
    this.feed = new CheckerFeed(this.checkers, snap.checkers);
    this.findings = st.findings;
    this.seen = st.seen;
    this.results = st.results;
    if (this.trace !== null && st.trace !== null) this.trace = st.trace;
    this.step = st.step;
  }

  /**
   * The set-up has ended with every task done: hand the snapshot out (the
   * caller may snapshot the host, asynchronously), then start the other tasks.
   */
  private endSetup(): void {
    this.inSetup = false;
    this.setupSteps = this.step;
    for (const c of this.checkers) c.setupEnded?.();
    this.feed.setupEnded();
    const go = (): void => {
      for (const t of this.pending) this.addTask(rootMessage(t, this.opts.seed));
      this.pending = [];
      this.loop();
    };
    const hook = this.opts.onSetup;
    if (hook === undefined) {
      go();
      return;
    }
    let snap: SetupSnapshot;
    try {
      snap = this.capture();
    } catch (e) {
      this.fail(e);
      return;
    }
    Promise.resolve(hook(snap)).then(go, (e: unknown) => this.fail(e));
  }

  private fail(e: unknown): void {
    if (this.done) return;
    this.done = true;
    this.reject?.(e);
  }

  private finish(outcome: Outcome): void {
    if (this.done) return;
    this.done = true;
    this.outcome = outcome;
    // A pruned execution stopped in the middle on purpose: end-of-run checks
    // (leaks, tasks still blocked) would report its cut, not the kernel.
    if (outcome !== 'pruned') {
      for (const c of this.checkers) {
        c.finish?.();
        for (const f of c.drain()) this.report(f);
      }
    }
    this.strategy.end?.(this.step - this.setupSteps);
    this.resolve?.({
      outcome: this.outcome, steps: this.step, decisions: this.decisions, traceHash: this.hash.digest(),
      findings: this.findings, trace: this.trace, results: this.results, divergence: this.divergence,
      setupSteps: this.inSetup ? this.step : this.setupSteps, checkers: this.checkers,
    });
  }

  private report(f: Finding): void {
    if (!this.seen.has(f.signature)) {
      this.seen.add(f.signature);
      this.findings.push(f);
    }
  }

  private observe(e: TraceEvent, at: number): void {
    // (a walk's one event too: the held-lock table takes lock events only, and the feed hands out a walk's reads)
    this.held.onEvent(e, at);
    // (a bare run skips the feed at every event)
    if (this.checkers.length !== 0) this.feed.feed(e, at);
  }

  private addTask(m: Envelope): void {
    const s: Slot = { id: m.task, index: this.slots.length, status: 'deliver', actor: m.to, msg: m, stack: m.stack, queueKey: '', what: '', on: null };
    this.slots.push(s);
    this.observe({ ev: 'task.start', task: m.task, actor: m.to, stack: eventFrames(m.stack), parent: m.from === ROOT ? null : (m.cause?.split('#')[0] as TaskId) }, this.step);
  }

  /**
   * Chooses the next step and sets `cur*`; false when the loop must stop here
   * (the execution ended, or it pauses for the event loop and resumes itself).
   */
  private pickNext(): boolean {
    const enabled = this.enabled;
    const enabledSlots = this.enabledSlots;
    let n = 0;
    let live = 0;
    for (const s of this.slots) {
      if (s.status === 'done') continue;
      live++;
      if (s.status !== 'sleep' || this.ready.get(s.queueKey) === true) {
        enabled[n] = s.id;
        enabledSlots[n] = s;
        this.enabledWhere[n] = this.footprints ? this.footprint(s) : s.actor;
        n++;
      }
    }
    if (enabled.length !== n) {
      enabled.length = n;
      enabledSlots.length = n;
      this.enabledWhere.length = n;
    }
    if (n === 0) {
      if (live === 0 && this.inSetup) {
        this.endSetup();
        return false;
      }
      if (live > 0) {
        const blocked: BlockedTask[] = this.slots.filter((s) => s.status !== 'done').map((s) => ({ task: s.id, stack: frames(s.stack), what: s.what, on: s.on }));
        this.report(blockedFinding('deadlock', blocked, this.held));
        this.finish('deadlock');
      } else {
        this.finish('completed');
      }
      return false;
    }
    if ((this.opts.limitAfterSetup === true ? (this.inSetup ? 0 : this.step - this.setupSteps) : this.step) >= this.maxSteps) {
      this.finish('step-limit');
      return false;
    }
    if (this.step % BATCH === 0 && this.step > 0 && this.curCmd !== null) {
      // Let the event loop run (progress output, the inline stall check) and check the budget.
      this.curCmd = null;
      setImmediate(() => {
        if (this.opts.shouldStop?.() === true) this.finish('stopped');
        else this.loop();
      });
      return false;
    }
    // The set-up takes the first enabled task: its choices are fixed, not the strategy's.
    const i = this.inSetup ? 0 : this.strategy.pick(enabled, this.step - this.setupSteps, this.enabledWhere);
    if (i === PRUNE) {
      this.finish('pruned');
      return false;
    }
    if (i < 0 || i >= n) {
      this.divergence = `step ${this.step - this.setupSteps}: the recorded task is not enabled (enabled: ${enabled.join(', ')})`;
      this.finish('replay-diverged');
      return false;
    }
    const s = enabledSlots[i] as Slot;
    if (!this.inSetup) this.decisions.push(s.id);
    this.curWhere = this.enabledWhere[i] as string;
    this.cur = s;
    this.curActor = s.actor;
    this.curCmd = s.status === 'deliver' ? { kind: 'deliver', msg: s.msg as Envelope }
      : s.status === 'sleep' ? { kind: 'wake', task: s.id }
      : { kind: 'resume', task: s.id };
    return true;
  }

  /** Applies the effects of the step in flight. */
  private apply(r: StepResult): void {
    const s = this.cur as Slot;
    const cmd = this.curCmd as StepCommand;
    const actor = this.curActor as ActorId;
    const step = this.step;
    const hash = this.hash;
    // The trace hash covers which task ran, what kind of step, where, which
    // message, how it stopped, what it sent and which events it emitted.
    hash.int(s.index);
    hash.int(KIND_CODE[cmd.kind]);
    hash.int(this.actorIndex.get(actor) ?? -1);
    hash.int(cmd.kind === 'deliver' ? cmd.msg.seq : 0);
    hash.int(POINT_CODE[r.point.at]);
    hash.int(r.out.length);
    const touch = this.touching && !this.inSetup ? this.touchOf(s, cmd, actor, r) : null;
    const evs = r.events;
    for (let j = 0; j < evs.length; j++) {
      const e = evs[j] as TraceEvent;
      hash.int(EVENT_CODE.get(e.ev) ?? 0);
      this.observe(e, step);
    }
    for (let j = 0; j < r.ready.length; j++) {
      const q = r.ready[j] as QueueReady;
      this.ready.set(`${actor}\u0000${q.queue}`, q.ready);
    }

    let continued = false;
    const sends = this.feed.wantsCalls();
    for (let j = 0; j < r.out.length; j++) {
      const m = r.out[j] as Envelope;
      // Calls and replies stay inside one task, so their `send` events can be
      // derived here, and only when a checker listens; a spawn's `send` was
      // recorded by the cell in its place among the step's events.
      if (sends && m.to !== ROOT && m.kind !== 'event' && this.feed.wantsCallOf(s.id)) {
        this.feed.feedCall(new CallSend(s.id, actor, r.stack, m.id, m.to, m.op, m.kind), step);
      }
      if (m.task !== s.id) {
        this.addTask(m);
        touch?.spawn(m.task);
        continue;
      }
      continued = true;
      if (m.to === ROOT) {
        s.status = 'done';
        this.results[s.id] = m.body;
        this.observe({ ev: 'task.end', task: s.id, actor, stack: eventFrames(popFrame(m.stack)) }, step);
      } else {
        s.status = 'deliver';
        s.msg = m;
        s.actor = m.to;
        s.stack = m.stack;
      }
    }
    if (r.late !== undefined) for (const a of r.late) this.report(abortFinding(s.id, a));
    let aborted = false;
    switch (r.point.at) {
      case 'call':
        break;
      case 'return':
        if (!continued) {
          // an event handler (a spawned task) returned: the task ends here
          s.status = 'done';
          this.observe({ ev: 'task.end', task: s.id, actor, stack: eventFrames(s.stack) }, step);
        }
        break;
      case 'sleep':
        s.status = 'sleep';
        s.msg = null;
        s.queueKey = `${actor}\u0000${r.point.queue}`;
        s.what = r.point.what;
        s.on = r.point.on;
        break;
      case 'yield':
        s.status = 'yield';
        s.msg = null;
        break;
      case 'abort':
        this.report(abortFinding(s.id, r.point.finding));
        aborted = true;
        break;
    }
    if (this.trace !== null) {
      this.trace.push({ i: step, task: s.id, kind: cmd.kind, actor, msg: cmd.kind === 'deliver' ? cmd.msg.id : null, op: cmd.kind === 'deliver' ? cmd.msg.op : null, point: r.point.at, events: [...evs] });
    }
    const checkers = this.checkers;
    const feed = this.feed;
    for (let j = 0; j < checkers.length; j++) {
      // (a checker that was handed no event since its last drain has nothing new: Checker.drainsOnlyAfterEvents)
      if (!feed.drainable(j)) continue;
      const found = (checkers[j] as Checker).drain();
      for (let k = 0; k < found.length; k++) this.report(found[k] as Finding);
    }
    if (touch !== null) this.strategy.stepped?.(step - this.setupSteps, touch.done());
    this.step++;
    if (aborted) this.finish('aborted');
  }

  /**
   * What the step in flight touched (before `apply` changes the slot): on an
   * actor that records its state changes, the objects in its events; on a
   * lock manager its lock; on any other actor, the actor as a whole. A wake
   * reads and a readiness change writes the wait queue.
   */
  private touchOf(s: Slot, cmd: StepCommand, actor: ActorId, r: StepResult): TouchBuilder {
    const t = new TouchBuilder();
    if (this.recorded.has(actor)) {
      // What no event describes: inside a critical section the lock orders
      // it (every order of the lock's acquisitions is explored); outside,
      // the actor says so (`k.touches`).
      for (const e of r.events) t.event(e);
      for (const what of r.touched ?? []) t.whole(`${actor}\u0000${what}`);
    } else t.whole(this.curWhere);
    if (cmd.kind === 'wake') t.whole(`queue\u0000${s.queueKey}`);
    for (const q of r.ready) t.whole(`queue\u0000${actor}\u0000${q.queue}`);
    return t;
  }
}
