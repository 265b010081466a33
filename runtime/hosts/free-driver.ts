import type { MessagePort } from 'node:worker_threads';
import type { Cell } from '../cell.ts';
import { SeededRng, mix, seedOf } from '../rng.ts';
import type { Envelope } from '../../protocol/envelope.ts';
import { ROOT } from '../../protocol/ids.ts';
import type { ActorId, TaskId } from '../../protocol/ids.ts';
import type { StepCommand, StepResult } from '../../protocol/step.ts';
import type { FreeLog, FreeLogEntry, FromWorker } from '../../protocol/wire.ts';

export interface FreeOptions {
  readonly seed: number;
  /** Upper bound of a random delay (ms) before a step; 0 runs steps as they come. */
  readonly jitterMs: number;
  /** Keep every step's events in the log (checkers over a free run); the order alone is always kept. */
  readonly keepEvents: boolean;
}

/** Steps an actor runs per event-loop turn before it lets incoming messages in. */
const TURN = 64;

/** Slots of the shared counters. */
export const PROGRESS = 0;
export const LIVE_TASKS = 1;

/**
 * Free mode inside one actor worker: messages are delivered as they arrive
 * over direct ports from the other actors, in arrival order (optionally
 * delayed by seeded jitter). Lock grants are decided here too: when a wait
 * queue becomes ready, one sleeper is woken. Every executed step is logged
 * with the task's own step number, so the logs of all actors merge into
 * one order that replays in controlled mode.
 */
export class FreeDriver {
  private readonly cell: Cell;
  private readonly peers: ReadonlyMap<ActorId, MessagePort>;
  private readonly toMain: (m: FromWorker) => void;
  private readonly opts: FreeOptions;
  private readonly counters: Int32Array;
  private readonly rng: SeededRng;
  private inbox: StepCommand[] = [];
  private head = 0;
  private busy = false;
  private readonly logTasks: TaskId[] = [];
  private readonly logNs: number[] = [];
  private readonly details: FreeLogEntry[] | null;
  /** Each task's last step here: its step number, point and stack. */
  private readonly lastN = new Map<TaskId, number>();
  private readonly lastPoint = new Map<TaskId, StepResult['point']>();
  private readonly lastStack = new Map<TaskId, StepResult['stack']>();
  private readonly ended = new Set<TaskId>();
  /** Wait queues whose sleepers may be woken now. */
  private readonly ready = new Set<string>();
  /** Queues with a wake already in the inbox, and which task it wakes. */
  private readonly waking = new Map<string, TaskId>();
  /** Messages for each peer, sent as one batch at the end of a turn: one postMessage per peer per turn. */
  private readonly outbox = new Map<ActorId, Envelope[]>();
  /** Steps run in this event-loop turn. */
  private turn = 0;
  private readonly pumpFn = (): void => this.pump();

  constructor(cell: Cell, peers: ReadonlyMap<ActorId, MessagePort>, toMain: (m: FromWorker) => void, opts: FreeOptions, counters: Int32Array) {
    this.cell = cell;
    this.peers = peers;
    this.toMain = toMain;
    this.opts = opts;
    this.counters = counters;
    this.rng = new SeededRng(mix(opts.seed, seedOf(cell.self)));
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
    for (const [task, n] of this.lastN) {
      last.push({ task, n, kind: 'deliver', point: this.lastPoint.get(task) as StepResult['point'], stack: this.lastStack.get(task) as StepResult['stack'], end: this.ended.has(task), events: [] });
    }
    return { actor: this.cell.self, tasks: this.logTasks, ns: this.logNs, details: this.details, last };
  }

  private pump(): void {
    if (this.busy) return;
    if (this.head >= this.inbox.length) {
      this.flush();
      return;
    }
    this.busy = true;
    const cmd = this.inbox[this.head++] as StepCommand;
    if (this.head > 1024 && this.head * 2 > this.inbox.length) {
      this.inbox = this.inbox.slice(this.head);
      this.head = 0;
    }
    if (this.opts.jitterMs > 0 && this.rng.chance(0.5)) {
      this.flush();
      setTimeout(() => this.run(cmd), this.rng.int(this.opts.jitterMs + 1));
    } else {
      this.run(cmd);
    }
  }

  private run(cmd: StepCommand): void {
    if (cmd.kind === 'wake') {
      // The queue may have been taken again since the wake was queued (a
      // fast-path acquisition): then this wake-up does not happen.
      const queue = [...this.waking].find(([, t]) => t === cmd.task)?.[0];
      if (queue !== undefined) this.waking.delete(queue);
      if (queue === undefined || !this.ready.has(queue) || !this.cell.sleepersOf(queue).includes(cmd.task)) {
        this.next();
        return;
      }
    }
    this.cell.executeThen(cmd, (r) => this.done(cmd, r));
  }

  private done(cmd: StepCommand, r: StepResult): void {
    let continued = false;
    let end = false;
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
    this.lastN.set(r.task, r.n);
    this.lastPoint.set(r.task, r.point);
    this.lastStack.set(r.task, r.stack);
    if (end) this.ended.add(r.task);
    this.details?.push({ task: r.task, n: r.n, kind: cmd.kind, point: r.point, stack: r.stack, end, events: [...r.events] });
    this.scheduleWakes();
    this.next();
  }

  /** For every ready queue with sleepers and no wake pending, queue the wake-up of one sleeper. */
  private scheduleWakes(): void {
    for (const queue of this.ready) {
      if (this.waking.has(queue)) continue;
      const sleepers = this.cell.sleepersOf(queue);
      if (sleepers.length === 0) continue;
      const task = (this.opts.jitterMs > 0 ? sleepers[this.rng.int(sleepers.length)] : sleepers[0]) as TaskId;
      this.waking.set(queue, task);
      this.inbox.push({ kind: 'wake', task });
    }
  }

  /**
   * Up to TURN steps run back to back (in microtasks); then the batches go
   * out and the next step waits for the event loop, so that messages from
   * other actors get their turn.
   */
  private next(): void {
    this.busy = false;
    if (++this.turn < TURN && this.head < this.inbox.length) {
      queueMicrotask(this.pumpFn);
      return;
    }
    // progress for the watchdog, once per turn rather than per step (the counter is shared by all threads)
    Atomics.add(this.counters, PROGRESS, this.turn);
    this.turn = 0;
    this.flush();
    setImmediate(this.pumpFn);
  }
}
