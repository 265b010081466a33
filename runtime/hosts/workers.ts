import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort, ResourceLimits, Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { nodeEndpoint } from './endpoint.ts';
import { LIVE_TASKS, PROGRESS } from './free-driver.ts';
import type { FreeOptions } from './free-driver.ts';
import type { Host } from './host.ts';
import { codeUrl, spawnWorker } from './spawn.ts';
import { POLL_MS, ResultPoll } from './result-poll.ts';
import type { DrainedRound, WorkerControl } from './worker-entry.ts';
import { newUserSlot, readUserSlot, stepHangMs, userActors } from '../user-code.ts';
import type { Program } from '../program.ts';
import type { Envelope } from '../../protocol/envelope.ts';
import type { ActorId, TaskId } from '../../protocol/ids.ts';
import { crashResult } from '../../protocol/step.ts';
import type { AbortInfo, StepCommand, StepResult } from '../../protocol/step.ts';
import type { FreeLog, FromWorker, ToWorker, WorkerBoot } from '../../protocol/wire.ts';

interface ActorWorker {
  readonly id: ActorId;
  readonly worker: Worker;
  readonly data: MessagePort;
  readonly ctl: MessagePort;
  readonly control: Comlink.Remote<WorkerControl>;
  /** The controlled step in flight, if any. */
  pending: { readonly cmd: StepCommand; readonly resolve: (r: StepResult) => void } | null;
  /** A `restore`/`reset` frame went out on the data port since the last `fence` (see `control`). */
  unfenced: boolean;
  /** The `fence` in flight: control calls waiting for its `fenced`. */
  fencing: (() => void)[] | null;
  /** Why the last `restore`/`reset` failed, until the next one reports it. */
  renewError: string | null;
  /** Free mode: `restore`/`reset` frames waiting for their `renewed`, in order. */
  renewing: { readonly resolve: () => void; readonly reject: (e: Error) => void }[];
  /** Why the worker is gone, once it is. */
  dead: string | null;
  /** A guarded actor (a user's patches run here): its user-code slot (runtime/user-code.ts). */
  readonly slot: SharedArrayBuffer | null;
  /** When the controlled step in flight was sent (guarded actors). */
  since: number;
  /** The watchdog ended this worker: every later step of the actor aborts the same way. */
  stuck: AbortInfo | null;
}

/** Which actors a workers host runs, and which of them the step watchdog guards. */
export interface WorkersHostOptions {
  /** Only these actors (the rest live in another host: runtime/hosts/guarded.ts); default all. */
  readonly only?: ReadonlySet<ActorId>;
  /** Actors whose steps may run a user's code: a step that overruns `hangMs` is `actor-stuck`. */
  readonly guard?: ReadonlySet<ActorId>;
  readonly hangMs?: number;
  /** Each actor worker's V8 heap limits (stress: a smaller young generation per thread, see stress/engine.ts). */
  readonly resourceLimits?: ResourceLimits;
}

/** Free-mode events the host forwards to whoever runs the free execution. */
export interface FreeSink {
  end(task: TaskId, value: unknown): void;
  abort(task: TaskId, info: AbortInfo): void;
  died(actor: ActorId, why: string): void;
}

/** Every later step of a stuck actor ends as its stuck step did: one finding, one signature. */
function stuckResult(info: AbortInfo, cmd: StepCommand): StepResult {
  const r = crashResult(info.actor, cmd, info.message, null);
  return { ...r, point: { at: 'abort', finding: info } };
}

/**
 * One worker_thread per actor. Controlled mode is a handshake: the main
 * thread sends a step to the actor that owns it and waits for its result —
 * one round trip per step; the step carries its message, so no other hop is
 * needed, and the per-schedule reset or restore goes ahead of the first
 * step on the same port without a wait. Free mode wires every pair of actors with a direct MessagePort and
 * lets them run. Control (snapshot, inspect, free-mode set-up, logs) goes
 * through comlink. A worker that dies ends the step it was running with an
 * `actor-crash`, and `close()` always terminates every worker.
 */
export class WorkersHost implements Host {
  readonly kind = 'workers';
  private readonly actors = new Map<ActorId, ActorWorker>();
  private sink: FreeSink | null = null;
  private closed = false;
  private readonly hangMs: number;
  private watchdog: NodeJS.Timeout | null = null;
  /** Whether a controlled step waits for its result by polling the port (result-poll.ts). */
  private readonly resultPoll = new ResultPoll();

  private constructor(hangMs: number) {
    this.hangMs = hangMs;
  }

  static async create(program: Program, opts: WorkersHostOptions = {}): Promise<WorkersHost> {
    const host = new WorkersHost(opts.hangMs ?? stepHangMs());
    const ids = program.actors.map((a) => a.id);
    const guard = opts.guard ?? userActors(program);
    for (const a of program.actors) {
      if (opts.only !== undefined && !opts.only.has(a.id)) continue;
      const dataCh = new MessageChannel();
      const ctlCh = new MessageChannel();
      const slot = guard.has(a.id) ? newUserSlot() : null;
      const boot: WorkerBoot = { actor: a.id, module: a.module, export: a.export ?? 'default', patches: a.patches ?? [], config: a.config ?? null, actors: ids, lockManagers: program.lockManagers, ...(slot !== null ? { userSlot: slot } : {}) };
      const worker = spawnWorker(codeUrl('./worker-entry', import.meta.url), `actor:${a.id}`, { boot, data: dataCh.port2, control: ctlCh.port2 }, [dataCh.port2, ctlCh.port2], opts.resourceLimits);
      const aw: ActorWorker = { id: a.id, worker, data: dataCh.port1, ctl: ctlCh.port1, control: Comlink.wrap<WorkerControl>(nodeEndpoint(ctlCh.port1)), pending: null, unfenced: false, fencing: null, renewError: null, renewing: [], dead: null, slot, since: 0, stuck: null };
      host.actors.set(a.id, aw);
      dataCh.port1.on('message', (m: FromWorker) => host.onFrame(aw, m));
      worker.on('error', (e: Error) => host.onDeath(aw, `worker for actor ${a.id} failed: ${e.name}: ${e.message}`, e.stack ?? null));
      worker.on('exit', (code: number) => host.onDeath(aw, `worker for actor ${a.id} exited with code ${code}`, null));
    }
    try {
      await Promise.all([...host.actors.values()].map((aw) => host.control(aw, (c) => c.ready())));
    } catch (e) {
      await host.close();
      throw e;
    }
    if ([...host.actors.values()].some((aw) => aw.slot !== null)) {
      host.watchdog = setInterval(() => host.watch(), Math.max(20, Math.min(250, host.hangMs / 4)));
      host.watchdog.unref();
    }
    return host;
  }

  /**
   * The step watchdog (guarded actors): a controlled step takes microseconds,
   * so one still running after `hangMs` is a loop that never reaches a
   * scheduling point, in the user's code the slot names. The worker cannot be
   * asked (its thread never returns to its event loop): it is terminated and
   * the step ends with an `actor-stuck` finding; the exploration stops there
   * (runtime/explore.ts), with every earlier finding already kept.
   */
  private watch(): void {
    const now = performance.now();
    for (const aw of this.actors.values()) {
      if (aw.slot === null || aw.pending === null || aw.dead !== null || now - aw.since < this.hangMs) continue;
      const fn = readUserSlot(aw.slot);
      const p = aw.pending;
      const base = crashResult(aw.id, p.cmd, '', null);
      const finding = base.point.at === 'abort' ? base.point.finding : null;
      const secs = `${(this.hangMs / 1000).toFixed(1)} s`;
      aw.stuck = {
        kind: 'actor-stuck', actor: aw.id, handler: fn ?? finding?.handler ?? '?',
        message: fn !== null
          ? `${fn}() (a patched function) did not return in ${secs}: a loop that never reaches a scheduling point; the worker was terminated`
          : `a step of ${finding?.handler ?? '?'} did not reach a scheduling point in ${secs} (patched code of this actor loops); the worker was terminated`,
        jsStack: null, stack: finding?.stack ?? [],
      };
      this.onDeath(aw, `worker for actor ${aw.id} terminated by the watchdog`, null);
      void aw.worker.terminate();
    }
  }

  private onFrame(aw: ActorWorker, m: FromWorker): void {
    switch (m.t) {
      case 'result': {
        const p = aw.pending;
        aw.pending = null;
        p?.resolve(m.r);
        return;
      }
      case 'end':
        this.sink?.end(m.task, m.value);
        return;
      case 'abort':
        this.sink?.abort(m.task, m.info);
        return;
      case 'renewed': {
        const w = aw.renewing.shift();
        if (m.error === null) w?.resolve();
        else if (w !== undefined) w.reject(new Error(m.error));
        else aw.renewError = m.error;
        return;
      }
      case 'fenced':
        this.settle(aw);
        return;
    }
  }

  private onDeath(aw: ActorWorker, why: string, jsStack: string | null): void {
    if (aw.dead !== null) return;
    aw.dead = why;
    aw.data.close();
    if (this.closed) return;
    const p = aw.pending;
    aw.pending = null;
    if (p !== null) p.resolve(aw.stuck !== null ? stuckResult(aw.stuck, p.cmd) : crashResult(aw.id, p.cmd, why, jsStack));
    this.settle(aw);
    for (const w of aw.renewing.splice(0)) w.reject(new Error(why));
    this.sink?.died(aw.id, why);
  }

  private settle(aw: ActorWorker): void {
    const waiting = aw.fencing;
    aw.fencing = null;
    for (const f of waiting ?? []) f();
  }

  /**
   * A control call that fails instead of hanging when the worker is gone.
   * After a `restore`/`reset` frame it first sends a `fence` on the data
   * port and waits for its answer: messages on two ports are not ordered
   * with each other, and the control call must see the new state.
   */
  private async control<T>(aw: ActorWorker, f: (c: Comlink.Remote<WorkerControl>) => Promise<T>): Promise<T> {
    if (aw.unfenced && aw.dead === null) {
      aw.unfenced = false;
      aw.fencing = [];
      aw.data.postMessage({ t: 'fence' } satisfies ToWorker);
    }
    if (aw.fencing !== null) await new Promise<void>((r) => (aw.fencing as (() => void)[]).push(r));
    if (aw.dead !== null) return Promise.reject(new Error(aw.dead));
    return new Promise<T>((resolve, reject) => {
      const onExit = (): void => reject(new Error(aw.dead ?? `worker for actor ${aw.id} is gone`));
      aw.worker.once('exit', onExit);
      f(aw.control).then(
        (v) => { aw.worker.off('exit', onExit); resolve(v); },
        (e: unknown) => { aw.worker.off('exit', onExit); reject(e instanceof Error ? e : new Error(String(e))); },
      );
    });
  }

  private get(actor: ActorId): ActorWorker {
    const aw = this.actors.get(actor);
    if (aw === undefined) throw new Error(`no actor ${actor} in this host`);
    return aw;
  }

  /**
   * Every schedule starts with a reset (or a restore, below): a frame on the
   * data port each, not a comlink call, and in controlled mode not waited
   * for: the schedule's steps follow it on the same port, so the worker runs
   * them on the new state, and a schedule costs its steps' round trips and
   * nothing more. (In free mode every actor answers, and this waits.)
   * A reset or restore that failed ends those steps as actor crashes and is
   * reported here, by the next one.
   */
  reset(): Promise<void> {
    return this.renew({ t: 'reset' });
  }

  /** Each worker keeps its own actor's copy: nothing crosses the thread boundary. */
  async snapshot(): Promise<void> {
    await Promise.all([...this.actors.values()].map((aw) => this.control(aw, (c) => c.snapshot())));
  }

  /** Every schedule from the set-up snapshot starts with this (see `reset`). */
  restore(): Promise<void> {
    return this.renew({ t: 'restore' });
  }

  private renew(frame: ToWorker): Promise<void> {
    for (const aw of this.actors.values()) {
      if (aw.dead !== null) return Promise.reject(new Error(aw.dead));
      const failed = aw.renewError;
      if (failed !== null) {
        aw.renewError = null;
        return Promise.reject(new Error(failed));
      }
    }
    // free mode: the actors' messages to each other come on their own ports, so every actor must be back first
    const free = this.sink !== null;
    const answers: Promise<void>[] = [];
    for (const aw of this.actors.values()) {
      aw.unfenced = true;
      if (free) answers.push(new Promise<void>((resolve, reject) => aw.renewing.push({ resolve, reject })));
      aw.data.postMessage(frame);
    }
    return free ? Promise.all(answers).then(() => undefined) : Promise.resolve();
  }

  /**
   * Hands each worker its actor's state as another host serialized it
   * (`InlineHost.serializedSnapshots()`): one message per actor, where
   * booting on the workers costs a round trip per step (issue 19: 248k at
   * 4,096 devices). Each actor's bytes are transferred, not copied, and
   * deserialized only in its own worker: no thread on the way holds the
   * state as objects (at 4,096 devices 14 MB of bytes, ~100 MB of objects).
   * The buffers are gone from `snapshots` afterwards.
   */
  async adopt(snapshots: ReadonlyMap<ActorId, Uint8Array<ArrayBuffer>>): Promise<void> {
    await Promise.all([...this.actors.values()].map((aw) => {
      const s = snapshots.get(aw.id);
      if (s === undefined) return Promise.reject(new Error(`adopt: no snapshot for actor ${aw.id}`));
      return this.control(aw, (c) => c.adopt(Comlink.transfer(s, [s.buffer])));
    }));
  }

  executeThen(actor: ActorId, cmd: StepCommand, done: (r: StepResult) => void): void {
    const aw = this.get(actor);
    if (aw.dead !== null) {
      done(aw.stuck !== null ? stuckResult(aw.stuck, cmd) : crashResult(aw.id, cmd, aw.dead, null));
      return;
    }
    aw.pending = { cmd, resolve: done };
    if (aw.slot !== null) aw.since = performance.now();
    aw.data.postMessage({ t: 'step', cmd } satisfies ToWorker);
    if (this.resultPoll.step()) this.poll(aw);
  }

  /**
   * Takes the step's result off the port as soon as the worker posts it, for
   * up to `POLL_MS`, while the cores are not wanted elsewhere (ResultPoll):
   * the main thread is then awake when the result lands, and the step costs
   * one thread wake-up instead of two. A frame taken here is handled as the
   * listener would (`onFrame`), and the result comes back synchronously,
   * which the execution's loop expects of any host. A step still running
   * after that (a slow step, a dead or looping worker) is left to the
   * listener and the watchdog.
   */
  private poll(aw: ActorWorker): void {
    const until = performance.now() + POLL_MS;
    while (aw.pending !== null && aw.dead === null) {
      const m = receiveMessageOnPort(aw.data);
      if (m !== undefined) this.onFrame(aw, m.message as FromWorker);
      else if (performance.now() > until) return;
    }
  }

  inspect(actor: ActorId): Promise<unknown> {
    return this.control(this.get(actor), (c) => c.inspect());
  }

  // ---- free mode ---------------------------------------------------------------

  /** Wires every pair of actors with a direct port and switches them to free mode. */
  async startFree(opts: FreeOptions, counters: SharedArrayBuffer, sink: FreeSink): Promise<void> {
    this.sink = sink;
    const list = [...this.actors.values()];
    const peers = new Map<ActorId, [ActorId, MessagePort][]>(list.map((a) => [a.id, []]));
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i] as ActorWorker;
        const b = list[j] as ActorWorker;
        const ch = new MessageChannel();
        (peers.get(a.id) as [ActorId, MessagePort][]).push([b.id, ch.port1]);
        (peers.get(b.id) as [ActorId, MessagePort][]).push([a.id, ch.port2]);
      }
    }
    await Promise.all(list.map((aw) => {
      const mine = peers.get(aw.id) as [ActorId, MessagePort][];
      return this.control(aw, (c) => c.startFree(opts, Comlink.transfer(mine, mine.map(([, p]) => p)), counters));
    }));
  }

  /**
   * Free mode again, on the ports `startFree` wired: every actor starts over,
   * from a fresh state or from its snapshot, with new options. Only when
   * nothing moves (the last run completed or hung); the sink stays.
   */
  async rearmFree(opts: FreeOptions, from: 'fresh' | 'snapshot'): Promise<void> {
    await Promise.all([...this.actors.values()].map((aw) => this.control(aw, (c) => c.rearmFree(opts, from))));
  }

  /**
   * Free mode, when a run stopped moving (runtime/free-run.ts): a guarded
   * actor whose slot still names a user function is inside it — an async
   * one would have left it at its first await — so it loops and its thread
   * will not answer. Each such worker is terminated, and its actor-stuck
   * report returned; the others can still be asked for their logs.
   */
  reapStuck(hangMs: number): AbortInfo[] {
    const out: AbortInfo[] = [];
    for (const aw of this.actors.values()) {
      if (aw.slot === null || aw.dead !== null) continue;
      const fn = readUserSlot(aw.slot);
      if (fn === null) continue;
      aw.stuck = {
        kind: 'actor-stuck', actor: aw.id, handler: fn,
        message: `${fn}() (a patched function) did not return in ${(hangMs / 1000).toFixed(1)} s: a loop that never reaches a scheduling point; the worker was terminated`,
        jsStack: null, stack: [],
      };
      out.push(aw.stuck);
      const sink = this.sink;
      this.sink = null;
      this.onDeath(aw, `worker for actor ${aw.id} terminated by the watchdog`, null);
      this.sink = sink;
      void aw.worker.terminate();
    }
    return out;
  }

  /** True when no worker has died (a host whose worker died is not reused). */
  get intact(): boolean {
    return [...this.actors.values()].every((aw) => aw.dead === null);
  }

  /** Free mode: hands a root message to its actor. */
  inject(m: Envelope): void {
    const aw = this.get(m.to);
    if (aw.dead === null) aw.data.postMessage({ t: 'inject', msg: m } satisfies ToWorker);
  }

  /** Free mode: every live actor's log of executed steps. */
  async logs(): Promise<FreeLog[]> {
    const out: FreeLog[] = [];
    for (const aw of this.actors.values()) {
      if (aw.dead !== null) continue;
      out.push(await this.control(aw, (c) => c.log()));
    }
    return out;
  }

  /**
   * Free mode: a port per live actor on which it will send its drained logs
   * (`drainTo`), returned for the caller to hand to the thread that checks
   * them — so the logs go from each actor's thread straight there.
   */
  async logPorts(): Promise<[ActorId, MessagePort][]> {
    const live = [...this.actors.values()].filter((aw) => aw.dead === null);
    return Promise.all(live.map(async (aw): Promise<[ActorId, MessagePort]> => {
      const ch = new MessageChannel();
      await this.control(aw, (c) => c.logTo(Comlink.transfer(ch.port1, [ch.port1])));
      return [aw.id, ch.port2];
    }));
  }

  /**
   * Free mode: every live actor sends its log since the last drain, tagged
   * with `round`, on its `logPorts` port (see FreeDriver.drain), and with
   * `restore` goes back to its snapshot (as `restore()` does, in the same
   * call); this returns the counts, in the host's actor order, with whose
   * they are.
   */
  async drainTo(round: number, restore: boolean): Promise<{ readonly actor: ActorId; readonly counts: DrainedRound }[]> {
    const live = [...this.actors.values()].filter((aw) => aw.dead === null);
    return Promise.all(live.map(async (aw) => ({ actor: aw.id, counts: await this.control(aw, (c) => c.drainTo(round, restore)) })));
  }

  /**
   * A full garbage collection in every live worker whose committed heap grew
   * past `growth` × its size after its last one (long free-mode runs, between
   * rounds; 0 collects in all); returns how many collected.
   */
  async collectGarbage(growth = 0): Promise<number> {
    const done = await Promise.all([...this.actors.values()].filter((aw) => aw.dead === null).map((aw) => this.control(aw, (c) => c.collectGarbage(growth))));
    return done.filter((d) => d).length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.sink = null;
    // Closing our ends of both ports matters as much as terminating: a port
    // with a listener keeps the process alive (docs/node-runtime.md §5.5).
    await Promise.all([...this.actors.values()].map(async (aw) => {
      aw.data.close();
      aw.ctl.close();
      await aw.worker.terminate();
    }));
  }
}

export { LIVE_TASKS, PROGRESS };
