import type { MessagePort } from 'node:worker_threads';
import type { Cell } from '../cell.ts';
import { SeededRng, mix, seedOf } from '../rng.ts';
import type { Envelope } from '../../protocol/envelope.ts';
import { ROOT } from '../../protocol/ids.ts';
import type { ActorId, TaskId } from '../../protocol/ids.ts';
import type { StepCommand, StepResult } from '../../protocol/step.ts';
import type { FreeLogEntry, FromWorker } from '../../protocol/wire.ts';

export interface FreeOptions {
  readonly seed: number;
  /** Upper bound of a random delay (ms) before a step; 0 runs steps as they come. */
  readonly jitterMs: number;
  /** Keep every step's events in the log (checkers over a free run); the order alone is always kept. */
  readonly keepEvents: boolean;
}

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
  private readonly log: FreeLogEntry[] = [];
  /** Wait queues whose sleepers may be woken now. */
  private readonly ready = new Set<string>();
  /** Queues with a wake already in the inbox, and which task it wakes. */
  private readonly waking = new Map<string, TaskId>();

  constructor(cell: Cell, peers: ReadonlyMap<ActorId, MessagePort>, toMain: (m: FromWorker) => void, opts: FreeOptions, counters: Int32Array) {
    this.cell = cell;
    this.peers = peers;
    this.toMain = toMain;
    this.opts = opts;
    this.counters = counters;
    this.rng = new SeededRng(mix(opts.seed, seedOf(cell.self)));
    for (const port of peers.values()) {
      port.on('message', (m: Envelope) => this.receive(m));
    }
  }

  receive(m: Envelope): void {
    this.inbox.push({ kind: 'deliver', msg: m });
    this.pump();
  }

  entries(): readonly FreeLogEntry[] {
    return this.log;
  }

  private pump(): void {
    if (this.busy || this.head >= this.inbox.length) return;
    this.busy = true;
    const cmd = this.inbox[this.head++] as StepCommand;
    if (this.head > 1024 && this.head * 2 > this.inbox.length) {
      this.inbox = this.inbox.slice(this.head);
      this.head = 0;
    }
    if (this.opts.jitterMs > 0 && this.rng.chance(0.5)) {
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
    Atomics.add(this.counters, PROGRESS, 1);
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
        (this.peers.get(m.to) as MessagePort).postMessage(m);
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
    this.log.push({ task: r.task, n: r.n, kind: cmd.kind, point: r.point, stack: r.stack, end, events: this.opts.keepEvents ? [...r.events] : [] });
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

  /** The next step goes through the event loop so that messages from other actors get their turn. */
  private next(): void {
    this.busy = false;
    setImmediate(() => this.pump());
  }
}
