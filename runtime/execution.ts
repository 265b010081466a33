import { abortFinding } from '../checkers/crash.ts';
import { blockedFinding } from '../checkers/deadlock.ts';
import type { BlockedTask } from '../checkers/deadlock.ts';
import type { Checker } from '../checkers/checker.ts';
import { HeldLocks } from '../checkers/held-locks.ts';
import { TraceHash } from './hash.ts';
import type { Host } from './hosts/host.ts';
import type { Program } from './program.ts';
import { mix, seedOf } from './rng.ts';
import type { Strategy } from './strategies/strategy.ts';
import type { Envelope } from '../protocol/envelope.ts';
import type { LockRef, TraceEvent } from '../protocol/events.ts';
import type { Finding } from '../protocol/findings.ts';
import { ROOT, msgId } from '../protocol/ids.ts';
import type { ActorId, TaskId } from '../protocol/ids.ts';
import type { StepCommand, StepResult } from '../protocol/step.ts';

export type Outcome = 'completed' | 'deadlock' | 'aborted' | 'step-limit' | 'replay-diverged' | 'stopped';

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
}

export interface ExecutionOptions {
  /** Seed for the tasks' own random streams. */
  readonly seed: number;
  /** Index of this execution within its run; the strategy derives its choices from it. */
  readonly execution?: number;
  readonly maxSteps?: number;
  readonly record?: boolean;
  /** Fresh checkers for this execution. */
  readonly checkers?: readonly Checker[];
  /** Polled between batches of steps; true ends the execution as `stopped`. */
  readonly shouldStop?: () => boolean;
}

type Status = 'deliver' | 'sleep' | 'yield' | 'done';

/** The scheduler's view of one task: at most one pending step. */
interface Slot {
  readonly id: TaskId;
  status: Status;
  /** Where the pending step runs. */
  actor: ActorId;
  msg: Envelope | null;
  stack: readonly string[];
  queueKey: string;
  what: string;
  on: LockRef | null;
}

/** Steps between voluntary returns to the event loop (progress, time budget, the inline stall check). */
const BATCH = 2048;

/** The root message that starts a program task. */
export function rootMessage(t: Program['tasks'][number], seed: number): Envelope {
  return {
    id: msgId(t.id, 0), from: ROOT, to: t.to, task: t.id, kind: 'call', op: t.op, body: t.body ?? null,
    stack: [`${t.to}:${t.op}`], cause: null, seq: 1, step: 0, rng: mix(seed, seedOf(t.id)),
  };
}

/**
 * Runs one execution of `program` in controlled mode: at every step the
 * strategy picks one enabled step, the host runs it, and the result updates
 * the task table. Deterministic: the same program, seed and decisions give
 * the same trace in either host.
 */
export async function runExecution(host: Host, program: Program, strategy: Strategy, opts: ExecutionOptions): Promise<ExecutionResult> {
  const maxSteps = opts.maxSteps ?? 100_000;
  const record = opts.record ?? false;
  const checkers = opts.checkers ?? [];
  const held = new HeldLocks();
  const hash = new TraceHash();
  const slots: Slot[] = [];
  const byId = new Map<TaskId, Slot>();
  const ready = new Map<string, boolean>();
  const decisions: TaskId[] = [];
  const findings: Finding[] = [];
  const seen = new Set<string>();
  const trace: TraceEntry[] | null = record ? [] : null;
  const results: Record<string, unknown> = {};
  const enabled: TaskId[] = [];
  const enabledSlots: Slot[] = [];
  let outcome: Outcome = 'completed';
  let divergence: string | null = null;
  let step = 0;

  const report = (f: Finding): void => {
    if (!seen.has(f.signature)) {
      seen.add(f.signature);
      findings.push(f);
    }
  };

  const observe = (e: TraceEvent, at: number): void => {
    held.onEvent(e, at);
    for (const c of checkers) c.onEvent(e, at);
  };

  const addTask = (m: Envelope): void => {
    const s: Slot = { id: m.task, status: 'deliver', actor: m.to, msg: m, stack: m.stack, queueKey: '', what: '', on: null };
    slots.push(s);
    byId.set(m.task, s);
    observe({ ev: 'task.start', task: m.task, actor: m.to, stack: m.stack, parent: m.from === ROOT ? null : (m.cause?.split('#')[0] as TaskId) }, step);
  };

  for (const t of program.tasks) addTask(rootMessage(t, opts.seed));
  strategy.begin(opts.execution ?? 0);

  for (;;) {
    enabled.length = 0;
    enabledSlots.length = 0;
    let live = 0;
    for (const s of slots) {
      if (s.status === 'done') continue;
      live++;
      if (s.status !== 'sleep' || ready.get(s.queueKey) === true) {
        enabled.push(s.id);
        enabledSlots.push(s);
      }
    }
    if (enabled.length === 0) {
      if (live > 0) {
        outcome = 'deadlock';
        const blocked: BlockedTask[] = slots.filter((s) => s.status !== 'done').map((s) => ({ task: s.id, stack: s.stack, what: s.what, on: s.on }));
        report(blockedFinding('deadlock', blocked, held));
      }
      break;
    }
    if (step >= maxSteps) {
      outcome = 'step-limit';
      break;
    }
    if (step % BATCH === 0 && step > 0) {
      await new Promise<void>((r) => setImmediate(r));
      if (opts.shouldStop?.() === true) {
        outcome = 'stopped';
        break;
      }
    }

    const i = strategy.pick(enabled, step);
    if (i < 0 || i >= enabled.length) {
      outcome = 'replay-diverged';
      divergence = `step ${step}: the recorded task is not enabled (enabled: ${enabled.join(', ')})`;
      break;
    }
    const s = enabledSlots[i] as Slot;
    decisions.push(s.id);
    let cmd: StepCommand;
    if (s.status === 'deliver') cmd = { kind: 'deliver', msg: s.msg as Envelope };
    else if (s.status === 'sleep') cmd = { kind: 'wake', task: s.id };
    else cmd = { kind: 'resume', task: s.id };
    const actor = s.actor;
    const r: StepResult = await host.execute(actor, cmd);

    // -- apply the step's effects ------------------------------------------------
    const evs = r.events;
    let line = `${step}|${s.id}|${cmd.kind}|${actor}|${cmd.kind === 'deliver' ? cmd.msg.id : ''}|${r.point.at}`;
    for (let j = 0; j < evs.length; j++) {
      const e = evs[j] as TraceEvent;
      line += `|${e.ev}`;
      observe(e, step);
    }
    hash.update(line);
    for (const q of r.ready) ready.set(`${actor}\u0000${q.queue}`, q.ready);

    let continued = false;
    for (const m of r.out) {
      if (m.task === s.id) {
        continued = true;
        if (m.to === ROOT) {
          s.status = 'done';
          results[s.id] = m.body;
          observe({ ev: 'task.end', task: s.id, actor, stack: s.stack }, step);
        } else {
          s.status = 'deliver';
          s.msg = m;
          s.actor = m.to;
          s.stack = m.stack;
        }
      } else {
        addTask(m);
      }
    }
    if (r.late !== undefined) for (const a of r.late) report(abortFinding(s.id, a));
    switch (r.point.at) {
      case 'call':
        break;
      case 'return':
        if (!continued) {
          // an event handler (a spawned task) returned: the task ends here
          s.status = 'done';
          observe({ ev: 'task.end', task: s.id, actor, stack: s.stack }, step);
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
        report(abortFinding(s.id, r.point.finding));
        outcome = 'aborted';
        break;
    }
    if (trace !== null) {
      trace.push({ i: step, task: s.id, kind: cmd.kind, actor, msg: cmd.kind === 'deliver' ? cmd.msg.id : null, op: cmd.kind === 'deliver' ? cmd.msg.op : null, point: r.point.at, events: evs });
    }
    for (const c of checkers) for (const f of c.drain()) report(f);
    step++;
    if (outcome === 'aborted') break;
  }
  strategy.end?.(step);
  return { outcome, steps: step, decisions, traceHash: hash.digest(), findings, trace, results, divergence };
}
