import { abortFinding } from '../checkers/crash.ts';
import { blockedFinding } from '../checkers/deadlock.ts';
import type { BlockedTask } from '../checkers/deadlock.ts';
import { CheckerFeed } from '../checkers/checker.ts';
import type { Checker } from '../checkers/checker.ts';
import { HeldLocks } from '../checkers/held-locks.ts';
import type { TraceEvent } from '../protocol/events.ts';
import { rootMessage, runExecution } from './execution.ts';
import { deepCopy } from './snapshot.ts';
import { ReplayStrategy } from './strategies/replay.ts';
import { mergeFreeLogs } from './free-order.ts';
import type { OrderedStep } from './free-order.ts';
import type { FreeOptions } from './hosts/free-driver.ts';
import { CHAOS_OFF } from './hosts/free-chaos.ts';
import type { ChaosOptions, FreeDelay } from './hosts/free-chaos.ts';
import { LIVE_TASKS, PROGRESS, WorkersHost } from './hosts/workers.ts';
import type { Program } from './program.ts';
import type { Finding } from '../protocol/findings.ts';
import type { TaskId } from '../protocol/ids.ts';
import type { FreeLog, FreeLogEntry } from '../protocol/wire.ts';
import { frames } from '../protocol/stack.ts';

export interface FreeRunOptions {
  /** The task seed (every task's `k.rng`, as in controlled mode). */
  readonly seed: number;
  /** The seed of this run's chaos decisions (default: `seed`); runs of one exploration differ here, not in `seed`. */
  readonly runSeed?: number;
  /** Delay injection (runtime/hosts/free-chaos.ts); off when not given. */
  readonly chaos?: ChaosOptions;
  /** No step anywhere for this long while tasks are live → `hung-task` (default 2 s). */
  readonly hangMs?: number;
  /** Stop the run after this long even if tasks are still making progress. */
  readonly timeLimitMs?: number;
  /** Keep every step's events (so checkers can run over the free run). */
  readonly keepEvents?: boolean;
  /** Checkers to run over the recorded events, in the merged order, once the run is over. */
  readonly checkers?: readonly Checker[];
}

export interface FreeRunResult {
  readonly outcome: 'completed' | 'hung' | 'aborted' | 'time-limit';
  /**
   * The order that actually happened, as controlled-mode decisions. With a
   * set-up (`setupSteps` > 0) these are the steps after it, and the record
   * replays with the set-up phase on, as controlled mode runs it.
   */
  readonly decisions: readonly TaskId[];
  /** Steps of the set-up, run first and alone in controlled order (0: the program has none). */
  readonly setupSteps: number;
  readonly steps: number;
  readonly elapsedMs: number;
  readonly findings: readonly Finding[];
  readonly results: Readonly<Record<string, unknown>>;
  /** The steps chaos held back, every actor's in turn (empty with chaos off). */
  readonly delays: readonly FreeDelay[];
  /** The checkers that saw the run (with a set-up: copies of the set-up's, fed the run's events). */
  readonly checkers: readonly Checker[];
}

const POLL_MS = 10;

/**
 * Runs `program` once in free mode on its own workers: real concurrency, the
 * operating system decides the order. Ends when every task has ended, when a
 * task aborts, when the watchdog sees no progress for `hangMs`, or at the
 * time limit. Always terminates its workers.
 */
export async function runFree(program: Program, opts: FreeRunOptions): Promise<FreeRunResult> {
  const checkers = opts.checkers;
  const runner = new FreeRunner(program, checkers === undefined ? null : () => checkers);
  try {
    return await runner.run(opts);
  } finally {
    await runner.close();
  }
}

/**
 * A checker whose `finish` is left out: the set-up is not the end of an
 * execution (leak checks would be wrong). It acts on the same event kinds
 * (Checker.eventKinds): without them the set-up — the stress boot's ~1 M
 * events at 4,096 devices — fed every event to every checker.
 */
export function unfinished(c: Checker): Checker {
  return {
    name: c.name, ...(c.eventKinds !== undefined ? { eventKinds: c.eventKinds } : {}), ...(c.spawnsOnly === true ? { spawnsOnly: true } : {}),
    // (the shared held-lock table comes along: its lock events reach it through the feed, not through eventKinds)
    ...(c.heldLocks !== undefined ? { heldLocks: c.heldLocks } : {}),
    ...(c.callsOf !== undefined ? { callsOf: c.callsOf.bind(c) } : {}),
    ...(c.drainsOnlyAfterEvents === true ? { drainsOnlyAfterEvents: true } : {}),
    ...(c.onWalk !== undefined ? { onWalk: c.onWalk.bind(c) } : {}),
    onEvent: (e, step) => c.onEvent(e, step), drain: () => c.drain(),
  };
}

/**
 * Many free runs of one program on one set of workers. Starting a worker per
 * actor costs far more than a run of a seed scenario (seconds against tens
 * of milliseconds on a loaded machine), so the workers are kept and every
 * actor starts over for the next run (`rearmFree`).
 *
 * A program's set-up (`Program.setup`: a kernel program's boot) runs once,
 * first and alone, in controlled order — exactly as controlled mode and
 * `stress` run it — and every actor keeps a snapshot of its state after it;
 * each free run starts from that snapshot with the other tasks started at
 * once, and its checkers are copies of the set-up's. So free mode races the
 * same tasks from the same state as controlled mode, and its record replays
 * there with the set-up phase on. A program without a set-up starts every
 * run from fresh actors.
 *
 * A run that did not end quietly — a task aborted while others may still be
 * sending, the time limit, a worker that died — leaves the workers behind:
 * the next run starts new ones (and runs the set-up again).
 */
export class FreeRunner {
  private readonly program: Program;
  private readonly checkersOf: (() => readonly Checker[]) | null;
  private host: WorkersHost | null = null;
  /** After the set-up: its checkers (copied for every run), findings and steps; null before it ran or without one. */
  private booted: {
    readonly seed: number; readonly template: readonly Checker[]; readonly findings: readonly Finding[]; readonly steps: number;
    /** How the set-up ended when it did not complete (its own finding: a probe that deadlocks); then every run is the set-up alone. */
    readonly ended: FreeRunResult['outcome'] | null;
  } | null = null;
  private readonly counters = new SharedArrayBuffer(8);
  private readonly c = new Int32Array(this.counters);
  /** The run in progress: what the sink fills in. */
  private cur = { findings: [] as Finding[], results: {} as Record<string, unknown>, aborted: false };
  /** Steps of the longest run so far (PCT's k, as controlled PCT learns it). */
  private longest = 0;

  /** `checkers`: fresh checkers for a run (with a set-up, for the set-up; runs get copies). */
  constructor(program: Program, checkers: (() => readonly Checker[]) | null = null) {
    this.program = program;
    this.checkersOf = checkers;
  }

  private get setup(): readonly string[] {
    return this.program.setup ?? [];
  }

  /** Starts the workers and switches them to free mode. */
  private async start(free: FreeOptions): Promise<WorkersHost> {
    const host = await WorkersHost.create(this.program);
    this.host = host;
    this.booted = null;
    await host.startFree(free, this.counters, {
      end: (task, value) => {
        this.cur.results[task] = value;
      },
      abort: (task, info) => {
        this.cur.aborted = true;
        this.cur.findings.push(abortFinding(task, info));
      },
      died: (actor, why) => {
        this.cur.aborted = true;
        this.cur.findings.push(abortFinding('?' as TaskId, { kind: 'actor-crash', actor, handler: '?', message: why, jsStack: null, stack: [] }));
      },
    });
    return host;
  }

  /**
   * Runs the set-up with task seed `seed` from fresh actors, in controlled
   * order (alone, first enabled step), and has every actor keep a snapshot
   * of its state after it.
   */
  private async boot(host: WorkersHost, seed: number): Promise<void> {
    const program = this.program;
    this.booted = null;
    await host.reset();
    const checkers = this.checkersOf?.() ?? [];
    const boot = await runExecution(host, { ...program, tasks: program.tasks.filter((t) => this.setup.includes(t.id)) }, new ReplayStrategy([]), {
      seed, checkers: checkers.map(unfinished), maxSteps: Number.MAX_SAFE_INTEGER,
    });
    if (boot.outcome !== 'completed') {
      // the set-up is the same in every schedule: so is how it failed, and the runs after it never start
      this.booted = { seed, template: [], findings: boot.findings, steps: boot.steps, ended: boot.outcome === 'deadlock' ? 'hung' : boot.outcome === 'step-limit' ? 'time-limit' : 'aborted' };
      return;
    }
    await host.snapshot();
    this.booted = { seed, template: deepCopy(checkers), findings: boot.findings, steps: boot.steps, ended: null };
  }

  async run(opts: FreeRunOptions): Promise<FreeRunResult> {
    const hangMs = opts.hangMs ?? 2000;
    const base = opts.chaos ?? CHAOS_OFF;
    const chaos: ChaosOptions = base.mode === 'off' ? base : { ...base, steps: Math.max(base.steps, this.longest) };
    const free: FreeOptions = { seed: opts.runSeed ?? opts.seed, chaos, keepEvents: opts.keepEvents ?? true };
    const cur = { findings: [] as Finding[], results: {} as Record<string, unknown>, aborted: false };
    this.cur = cur;
    const tasks = this.program.tasks.filter((t) => !this.setup.includes(t.id));
    let reuse = false;
    const c = this.c;
    try {
      const host = this.host ?? (await this.start(free));
      // the set-up runs with the task seed: once per seed
      if (this.setup.length > 0 && this.booted?.seed !== opts.seed) await this.boot(host, opts.seed);
      const failed = this.booted?.ended ?? null;
      if (this.booted !== null && failed !== null) {
        reuse = true;
        return { outcome: failed, decisions: [], setupSteps: this.booted.steps, steps: 0, elapsedMs: 0, findings: this.booted.findings, results: {}, delays: [], checkers: [] };
      }
      Atomics.store(c, LIVE_TASKS, tasks.length);
      await host.rearmFree(free, this.booted !== null ? 'snapshot' : 'fresh');
      const booted = this.booted;
      const checkers = booted !== null ? deepCopy(booted.template) : (opts.checkers ?? this.checkersOf?.() ?? []);
      const t0 = performance.now();
      for (const t of tasks) host.inject(rootMessage(t, opts.seed));

      let outcome: FreeRunResult['outcome'] = 'completed';
      let last = -1;
      let lastChange = performance.now();
      for (;;) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        const now = performance.now();
        if (cur.aborted) {
          outcome = 'aborted';
          break;
        }
        if (Atomics.load(c, LIVE_TASKS) === 0 && tasks.every((t) => t.id in cur.results)) break;
        const p = Atomics.load(c, PROGRESS);
        if (p !== last) {
          last = p;
          lastChange = now;
        } else if (now - lastChange >= hangMs) {
          outcome = 'hung';
          break;
        }
        if (opts.timeLimitMs !== undefined && now - t0 >= opts.timeLimitMs) {
          outcome = 'time-limit';
          break;
        }
      }
      const elapsedMs = performance.now() - t0;
      // a worker looping in a user's patch would never answer for its log (runtime/hosts/workers.ts: reapStuck)
      const stuck = outcome === 'hung' ? host.reapStuck(hangMs) : [];
      if (stuck.length > 0) outcome = 'aborted';
      for (const info of stuck) cur.findings.push(abortFinding('?' as TaskId, info));
      const logs = await host.logs();
      // a run stopped while tasks were still moving has logs read at different moments: keep the consistent prefix
      const ordered = mergeFreeLogs(logs, outcome === 'aborted' || outcome === 'time-limit');
      const findings = [...(booted?.findings ?? []), ...cur.findings];
      if (outcome === 'hung') findings.push(hungFinding(logs, ordered, hangMs));
      if (checkers.length > 0) findings.push(...checkOffline(logs, ordered, checkers, booted?.steps ?? 0, outcome === 'completed' || booted === null));
      this.longest = Math.max(this.longest, ordered.length);
      reuse = (outcome === 'completed' || outcome === 'hung') && host.intact;
      return {
        outcome, decisions: ordered.map((o) => (logs[o.log] as FreeLog).tasks[o.at] as TaskId), setupSteps: booted?.steps ?? 0, steps: ordered.length, elapsedMs, findings,
        results: cur.results, delays: logs.flatMap((l) => l.delays ?? []), checkers,
      };
    } finally {
      if (!reuse) await this.close();
    }
  }

  /** Terminates the workers (a later `run` starts new ones). */
  async close(): Promise<void> {
    const h = this.host;
    this.host = null;
    this.booted = null;
    await h?.close();
  }
}

/**
 * Runs checkers over a free run's events in the merged order — the same
 * checker code as online, over the recorded trace. `firstStep` numbers the
 * first merged step (the set-up's steps come before it); `finish` runs the
 * end-of-execution checks (leaks), which a run cut short must not.
 */
export function checkOffline(logs: readonly FreeLog[], ordered: readonly OrderedStep[], checkers: readonly Checker[], firstStep = 0, finish = true): Finding[] {
  const seen = new Set<string>();
  const out: Finding[] = [];
  const collect = (): void => {
    for (const c of checkers) {
      for (const f of c.drain()) {
        if (seen.has(f.signature)) continue;
        seen.add(f.signature);
        out.push(f);
      }
    }
  };
  const feed = new CheckerFeed(checkers);
  ordered.forEach((o, i) => {
    for (const e of offlineEvents(logs, o)) feed.feed(e, firstStep + i);
    collect();
  });
  if (finish) for (const c of checkers) c.finish?.();
  collect();
  return out;
}

/**
 * The events one merged step gives the checkers. The controlled scheduler
 * emits task start and end itself; here they come from each task's first
 * and last logged step. Empty when the log kept no events.
 */
export function offlineEvents(logs: readonly FreeLog[], o: OrderedStep): readonly TraceEvent[] {
  const log = logs[o.log] as FreeLog;
  const d = log.details?.[o.at];
  if (d === undefined) return [];
  if (d.n !== 0 && !d.end) return d.events;
  const stack = frames(d.stack);
  return [
    ...(d.n === 0 ? [{ ev: 'task.start', task: d.task, actor: log.actor, stack, parent: null } as const] : []),
    ...d.events,
    ...(d.end ? [{ ev: 'task.end', task: d.task, actor: log.actor, stack } as const] : []),
  ];
}

/**
 * The hung-task report: the merged events (when kept) give the held locks;
 * each live task's last step says where it sleeps.
 */
export function hungFinding(logs: readonly FreeLog[], ordered: readonly OrderedStep[], hangMs: number): Finding {
  const held = new HeldLocks();
  ordered.forEach((o, i) => {
    const d = logs[o.log]?.details?.[o.at];
    if (d !== undefined) for (const ev of d.events) held.onEvent(ev, i);
  });
  const last = new Map<TaskId, FreeLogEntry>();
  for (const l of logs) {
    for (const e of l.last) {
      const seen = last.get(e.task);
      if (seen === undefined || e.n > seen.n) last.set(e.task, e);
    }
  }
  const blocked: BlockedTask[] = [];
  for (const [task, e] of last) {
    if (e.end) continue;
    const p = e.point;
    blocked.push(p.at === 'sleep'
      ? { task, stack: frames(e.stack), what: p.what, on: p.on }
      : { task, stack: frames(e.stack), what: p.at === 'call' ? 'a reply' : p.at, on: null });
  }
  return blockedFinding('hung-task', blocked, held, hangMs);
}
