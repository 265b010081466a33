import type { MessagePort } from 'node:worker_threads';
import type { Cell } from '../cell.ts';
import { SeededRng, mix } from '../rng.ts';
import { FreeChaos } from './free-chaos.ts';
import type { ChaosOptions, FreeDelay } from './free-chaos.ts';
import type { Envelope } from '../../protocol/envelope.ts';
import { ROOT } from '../../protocol/ids.ts';
import type { ActorId, TaskId } from '../../protocol/ids.ts';
import type { StepCommand, StepResult } from '../../protocol/step.ts';
import type { FreeLog, FreeLogEntry, FromWorker } from '../../protocol/wire.ts';

export interface FreeOptions {
  readonly seed: number;
  /** Delay injection (runtime/hosts/free-chaos.ts); mode `off` runs steps as they come. */
  readonly chaos: ChaosOptions;
  /** Keep every step's events in the log (checkers over a free run); the order alone is always kept. */
  readonly keepEvents: boolean;
}

/** The op/message counts of one drain: what the main thread of a stress run reads (the log goes to the checker thread). */
export interface FreeCounts {
  /** Durations (ms) of ops that ended here: all of them, or a uniform sample of OP_SAMPLE. */
  readonly opMs: readonly number[];
  readonly ops: number;
  /** Messages delivered here. */
  readonly messages: number;
}

/** What one drain hands over: the log and the op/message counts since the last drain. */
export interface FreeDrain extends FreeCounts {
  readonly log: FreeLog;
}

/**
 * A drained log on its way to whoever checks it over a port of its own
 * (stress: the checker thread), with the round it belongs to: one message
 * per actor per round, never through the main thread.
 */
export interface RoundLog {
  readonly round: number;
  readonly log: FreeLog;
}

/** Op durations a drain keeps at most. */
const OP_SAMPLE = 4096;

/** Steps an actor runs per event-loop turn before it lets incoming messages in. */
const TURN = 64;

/** PCT: how far into the inbox an actor looks for its highest-priority step (bounded: stress inboxes can be long). */
const PICK_WINDOW = 32;

/**
 * Chaos: polls (1 ms apart) without progress anywhere after which a held step
 * is let go — the others have stopped. (Four instead of two was no better on
 * seed-004 at load average 60-70, within the noise: 6 task seeds.)
 */
const QUIET_POLLS = 2;

const taskOf = (cmd: StepCommand): TaskId => (cmd.kind === 'deliver' ? cmd.msg.task : cmd.task);

/** Slots of the shared counters. */
export const PROGRESS = 0;
export const LIVE_TASKS = 1;

/**
 * Free mode inside one actor worker: messages are delivered as they arrive
 * over direct ports from the other actors, in arrival order. Lock grants are
 * decided here too: when a wait queue becomes ready, one sleeper is woken.
 * With chaos on (free-chaos.ts) a step may be held back for a seeded delay
 * — set aside, so the actor goes on with its other steps and the held one
 * is overtaken — and PCT reorders an actor's pending steps by priority.
 * Every executed step is logged with the task's own step number, so the
 * logs of all actors merge into one order that replays in controlled mode;
 * the held-back steps are logged too.
 */
export class FreeDriver {
  private cell: Cell;
  private readonly peers: ReadonlyMap<ActorId, MessagePort>;
  private readonly toMain: (m: FromWorker) => void;
  private readonly counters: Int32Array;
  private chaos: FreeChaos;
  private seed: number;
  /** Drains so far: a stress run drains after each round, and each round's chaos decisions draw from mix(seed, round). */
  private epoch = 0;
  /** Steps held back in this run, and the commands whose delay is over (they run as they come now). */
  private delays: FreeDelay[] = [];
  private released = new WeakSet<StepCommand>();
  /** Steps held in this run (or stress round). */
  private holds = 0;
  /** Lock grants decided here (salts the random sleeper pick). */
  private grants = 0;
  /** Bumped by `rearm`: a hold timer of an earlier run finds its run gone. */
  private generation = 0;
  private inbox: StepCommand[] = [];
  private head = 0;
  private busy = false;
  private logTasks: TaskId[] = [];
  private logNs: number[] = [];
  private details: FreeLogEntry[] | null;
  /** Each task's last step here (one record per task, updated in place). */
  private readonly last = new Map<TaskId, { n: number; point: StepResult['point']; stack: StepResult['stack']; end: boolean }>();
  /** Wait queues whose sleepers may be woken now. */
  private readonly ready = new Set<string>();
  /** Queues with a wake already in the inbox, and which task it wakes. */
  private readonly waking = new Map<string, TaskId>();
  /** Messages for each peer, sent as one batch at the end of a turn: one postMessage per peer per turn. */
  private readonly outbox = new Map<ActorId, Envelope[]>();
  /** Steps run in this event-loop turn. */
  private turn = 0;
  /** The step in flight, and whether its completion came while `executeThen` was still running. */
  private current: StepCommand | null = null;
  private inCall = false;
  private syncResult: StepResult | null = null;
  private readonly pumpFn = (): void => this.pump();
  /**
   * Op timing (stress): when each task's outermost handler made its current
   * call, and the durations of the calls that have returned. The runtime
   * may read the clock; actor code may not. Both ends of an op are timed in
   * this thread, so thread clock origins do not matter.
   */
  private readonly opStart = new Map<TaskId, number>();
  private opMs: number[] = [];
  private opCount = 0;
  /** Picks the op sample (seeded: the runtime reads no Math.random either). */
  private readonly sampleRng = new SeededRng(0x0b5);
  private messages = 0;

  constructor(cell: Cell, peers: ReadonlyMap<ActorId, MessagePort>, toMain: (m: FromWorker) => void, opts: FreeOptions, counters: Int32Array) {
    this.cell = cell;
    this.peers = peers;
    this.toMain = toMain;
    this.counters = counters;
    this.seed = opts.seed;
    this.chaos = new FreeChaos(mix(opts.seed, 0), opts.chaos);
    this.details = opts.keepEvents ? [] : null;
    for (const port of peers.values()) {
      port.on('message', (batch: readonly Envelope[]) => {
        for (const m of batch) this.inbox.push({ kind: 'deliver', msg: m });
        this.pump();
      });
    }
  }

  receive(m: Envelope): void {
    this.inbox.push({ kind: 'deliver', msg: m });
    this.pump();
  }

  private flush(): void {
    for (const [to, batch] of this.outbox) {
      if (batch.length === 0) continue;
      (this.peers.get(to) as MessagePort).postMessage(batch);
      this.outbox.set(to, []);
    }
  }

  record(): FreeLog {
    const last: FreeLogEntry[] = [];
    for (const [task, l] of this.last) last.push({ task, n: l.n, kind: 'deliver', point: l.point, stack: l.stack, end: l.end, events: [] });
    return { actor: this.cell.self, tasks: this.logTasks, ns: this.logNs, details: this.details, last, delays: this.delays };
  }

  /**
   * A new run on the same worker (runtime/free-run.ts: FreeRunner): a fresh
   * cell and new options, everything of the last run forgotten. Called when
   * nothing moves (the last run completed or hung, so no step is held and no
   * message is in flight).
   */
  rearm(cell: Cell, opts: FreeOptions): void {
    this.generation++;
    this.cell = cell;
    this.details = opts.keepEvents ? [] : null;
    this.inbox = [];
    this.head = 0;
    this.busy = false;
    this.turn = 0;
    this.current = null;
    this.grants = 0;
    for (const batch of this.outbox.values()) batch.length = 0;
    this.drain();
    this.seed = opts.seed;
    this.epoch = 0;
    this.chaos = new FreeChaos(mix(opts.seed, 0), opts.chaos);
  }

  /**
   * The log since the last drain, handed over and forgotten here, with the
   * op timings and message count of that stretch (stress runs drain after
   * every round, so a long run keeps only one round in memory). Called
   * between rounds, when no task is live: wait-queue readiness is then
   * false everywhere (a queue is ready only while it has sleepers), so the
   * next round starts with none marked — also right after the actor's state
   * has been put back to a snapshot.
   */
  drain(): FreeDrain {
    const out: FreeDrain = { log: this.record(), opMs: this.opMs, ops: this.opCount, messages: this.messages };
    this.logTasks = [];
    this.logNs = [];
    this.delays = [];
    this.holds = 0;
    this.released = new WeakSet();
    this.chaos = new FreeChaos(mix(this.seed, ++this.epoch), this.chaos.opts);
    if (this.details !== null) this.details = [];
    this.last.clear();
    this.ready.clear();
    this.waking.clear();
    this.opStart.clear();
    this.opMs = [];
    this.opCount = 0;
    this.messages = 0;
    return out;
  }

  /**
   * Runs inbox steps back to back. A step that completes synchronously lets
   * the loop go on; one that completes in a microtask re-enters it from its
   * completion. After TURN steps, or when the inbox is empty, the batches go
   * out and the loop waits for the event loop, so that messages from other
   * actors get their turn.
   */
  private pump(): void {
    if (this.busy) return;
    while (this.head < this.inbox.length) {
      if (this.turn >= TURN) {
        this.endTurn();
        setImmediate(this.pumpFn);
        return;
      }
      if (this.chaos.opts.mode === 'pct') this.preferHighest();
      const cmd = this.inbox[this.head++] as StepCommand;
      if (this.head > 1024 && this.head * 2 > this.inbox.length) {
        this.inbox = this.inbox.slice(this.head);
        this.head = 0;
      }
      if (this.chaos.on && !this.released.has(cmd) && this.hold(cmd)) continue;
      if (!this.runOne(cmd)) return;
    }
    this.endTurn();
  }

  /** The task's own number of the step `cmd` would run (a message carries it; a wake or resume follows the task's last step here). */
  private stepOf(cmd: StepCommand): number {
    return cmd.kind === 'deliver' ? cmd.msg.step : (this.last.get(cmd.task)?.n ?? -1) + 1;
  }

  /**
   * Chaos: holds the step back when the seed says so — set aside while the
   * actor goes on with its other steps, until the other actors have made
   * the steps the seed asked for (the shared progress counter), or nothing
   * moves for QUIET_POLLS polls, or `capMs`; then queued again (and not held twice).
   * Logged in `delays` when released.
   */
  private hold(cmd: StepCommand): boolean {
    const task = taskOf(cmd);
    const n = this.stepOf(cmd);
    // at most `budget` holds per actor per run: bounds the cost while k is still a guess (a first run)
    if (this.holds >= this.chaos.budget) return false;
    const h = this.chaos.hold(task, n);
    if (h === null) return false;
    this.holds++;
    const gen = this.generation;
    const capMs = this.chaos.opts.capMs;
    const t0 = performance.now();
    // our own finished steps count only at the end of a turn: end it now so "the others moved" is measured from here
    this.endTurn();
    const start = Atomics.load(this.counters, PROGRESS);
    let last = start;
    let quiet = 0;
    const tick = (): void => {
      if (gen !== this.generation) return;
      const p = Atomics.load(this.counters, PROGRESS);
      if (p === last) quiet++;
      else {
        quiet = 0;
        last = p;
      }
      const ms = performance.now() - t0;
      if ((h.overtake !== null && p - start >= h.overtake) || quiet >= QUIET_POLLS || ms >= capMs) {
        this.delays.push({ task, n, kind: cmd.kind, why: h.why, overtake: h.overtake, ms: Math.round(ms * 1000) / 1000 });
        this.released.add(cmd);
        this.inbox.push(cmd);
        this.pump();
        return;
      }
      setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    return true;
  }

  /** PCT: brings the highest-priority step among the next PICK_WINDOW pending ones to the head of the inbox. */
  private preferHighest(): void {
    const end = Math.min(this.inbox.length, this.head + PICK_WINDOW);
    if (end - this.head < 2) return;
    let bi = this.head;
    let bp = -Infinity;
    for (let i = this.head; i < end; i++) {
      const c = this.inbox[i] as StepCommand;
      const p = this.chaos.priority(taskOf(c), this.stepOf(c));
      if (p > bp) {
        bp = p;
        bi = i;
      }
    }
    if (bi === this.head) return;
    const t = this.inbox[bi] as StepCommand;
    this.inbox[bi] = this.inbox[this.head] as StepCommand;
    this.inbox[this.head] = t;
  }

  /** Runs one step; true when it completed at once (false: `onDone` will go on). */
  private runOne(cmd: StepCommand): boolean {
    if (cmd.kind === 'wake') {
      // The queue may have been taken again since the wake was queued (a
      // fast-path acquisition): then this wake-up does not happen.
      const queue = [...this.waking].find(([, t]) => t === cmd.task)?.[0];
      if (queue !== undefined) this.waking.delete(queue);
      if (queue === undefined || !this.ready.has(queue) || !this.cell.sleepersOf(queue).includes(cmd.task)) return true;
    }
    this.busy = true;
    this.current = cmd;
    this.inCall = true;
    this.syncResult = null;
    this.cell.executeThen(cmd, this.onDone);
    this.inCall = false;
    const r = this.syncResult as StepResult | null;
    if (r === null) return false;
    this.done(cmd, r);
    return true;
  }

  private readonly onDone = (r: StepResult): void => {
    if (this.inCall) {
      this.syncResult = r;
      return;
    }
    this.done(this.current as StepCommand, r);
    this.pump();
  };

  /** Progress for the watchdog (once per turn: the counter is shared by all threads), then the batches go out. */
  private endTurn(): void {
    if (this.turn > 0) Atomics.add(this.counters, PROGRESS, this.turn);
    this.turn = 0;
    this.flush();
  }

  private done(cmd: StepCommand, r: StepResult): void {
    let continued = false;
    let end = false;
    if (cmd.kind === 'deliver') this.messages++;
    if (!r.stack.includes('\n')) this.timeOp(cmd, r);
    for (const m of r.out) {
      if (m.task === r.task) continued = true;
      else Atomics.add(this.counters, LIVE_TASKS, 1); // a spawned task: live before anyone can see it end
      if (m.to === ROOT) {
        end = true;
        Atomics.sub(this.counters, LIVE_TASKS, 1);
        this.toMain({ t: 'end', task: m.task, value: m.body });
      } else if (m.to === this.cell.self) {
        this.inbox.push({ kind: 'deliver', msg: m });
      } else {
        let batch = this.outbox.get(m.to);
        if (batch === undefined) {
          batch = [];
          this.outbox.set(m.to, batch);
        }
        batch.push(m);
      }
    }
    switch (r.point.at) {
      case 'return':
        if (!continued) {
          end = true;
          Atomics.sub(this.counters, LIVE_TASKS, 1);
          this.toMain({ t: 'end', task: r.task, value: null });
        }
        break;
      case 'yield':
        this.inbox.push({ kind: 'resume', task: r.task });
        break;
      case 'abort':
        this.toMain({ t: 'abort', task: r.task, info: r.point.finding });
        break;
      case 'call':
      case 'sleep':
        break;
    }
    for (const q of r.ready) {
      if (q.ready) this.ready.add(q.queue);
      else this.ready.delete(q.queue);
    }
    this.logTasks.push(r.task);
    this.logNs.push(r.n);
    const l = this.last.get(r.task);
    if (l === undefined) this.last.set(r.task, { n: r.n, point: r.point, stack: r.stack, end });
    else {
      l.n = r.n;
      l.point = r.point;
      l.stack = r.stack;
      l.end = end;
    }
    this.details?.push({ task: r.task, n: r.n, kind: cmd.kind, point: r.point, stack: r.stack, end, events: [...r.events] });
    this.scheduleWakes();
    this.busy = false;
    this.turn++;
  }

  /**
   * A step in a task's outermost handler (its stack is one frame): a call
   * it makes to another actor other than a lock manager starts an op (a
   * sysfs write, an ioctl, a driver's kernel call), and the reply that
   * resumes it ends the op.
   */
  private timeOp(cmd: StepCommand, r: StepResult): void {
    if (cmd.kind === 'deliver' && cmd.msg.kind === 'reply') {
      const t0 = this.opStart.get(r.task);
      if (t0 !== undefined) {
        this.opStart.delete(r.task);
        this.opCount++;
        // keep a bounded sample per drain (a uniform subsample beyond it)
        const ms = performance.now() - t0;
        if (this.opMs.length < OP_SAMPLE) this.opMs.push(ms);
        else if (this.sampleRng.int(this.opCount) < OP_SAMPLE) this.opMs[this.sampleRng.int(OP_SAMPLE)] = ms;
      }
    }
    if (r.point.at === 'call') {
      const m = r.out[r.out.length - 1];
      if (m !== undefined && m.task === r.task && !this.cell.lockManagers.includes(m.to)) this.opStart.set(r.task, performance.now());
    }
  }

  /** For every ready queue with sleepers and no wake pending, queue the wake-up of one sleeper. */
  private scheduleWakes(): void {
    for (const queue of this.ready) {
      if (this.waking.has(queue)) continue;
      const sleepers = this.cell.sleepersOf(queue);
      if (sleepers.length === 0) continue;
      const task = sleepers[this.chaos.pickSleeper(sleepers, (t) => (this.last.get(t)?.n ?? -1) + 1, this.grants++)] as TaskId;
      this.waking.set(queue, task);
      this.inbox.push({ kind: 'wake', task });
    }
  }

}
