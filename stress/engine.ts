import { abortFinding } from '../checkers/crash.ts';
import { rootMessage } from '../runtime/execution.ts';
import { DEFAULT_CHAOS, chaosOptions } from '../runtime/hosts/free-chaos.ts';
import type { ChaosMode } from '../runtime/hosts/free-chaos.ts';
import { LIVE_TASKS, PROGRESS, WorkersHost } from '../runtime/hosts/workers.ts';
import type { Program } from '../runtime/program.ts';
import type { Finding } from '../protocol/findings.ts';
import type { ActorId, TaskId } from '../protocol/ids.ts';
import { compileContext } from '../scenarios/format/ops.ts';
import { compileTask, processNames, roundChurn } from './churn.ts';
import type { EpisodeKind, Round } from './churn.ts';
import { matchKnown } from '../fuzz/known.ts';
import type { FuzzDocument } from '../fuzz/document.ts';
import type { KnownFinding } from '../fuzz/known.ts';
import { roundDocument, writeStressFinding } from './output.ts';
import { CheckerThread, stressPrograms } from './checking.ts';
import type { Booted } from './checking.ts';
import { kernelProgram } from '../scenarios/kernel/program.ts';
import { verifyReplay } from './verify.ts';
import { LoopBlockProbe, Reservoir, RssSampler } from './stats.ts';
import { interrupted } from '../runtime/interrupt.ts';
import { collectGarbage } from '../runtime/gc.ts';
import { generateMachine } from './topology.ts';
import type { StressMachine } from './topology.ts';

/**
 * A stress run (issue 9): the workers host in free mode — every actor its
 * own thread, the operating system choosing the order — on a generated
 * machine, with churn until the time budget is spent.
 *
 * The shape of a run, and why:
 *
 * 1. Boot once, in controlled mode in the inline host, the way controlled
 *    mode's set-up runs it (alone, first enabled step each time), with every
 *    checker watching — in the checker thread (stress/check-worker.ts),
 *    while this thread starts the workers; each worker then adopts its
 *    actor's booted state (one message per actor instead of a round trip
 *    per boot step) and keeps it as its snapshot. The checkers' state after
 *    the boot stays in the checker thread as the template.
 * 2. Switch the workers to free mode and run rounds back to back: a round
 *    puts every actor back to the post-boot snapshot, injects `tasks`
 *    concurrent churn episodes (stress/churn.ts), and ends when they all
 *    have. Actor code cannot read the clock, so the budget is enforced
 *    here, between rounds.
 * 3. After a round the actors hand over their logs (and forget them)
 *    straight to the checker thread, each on a port of its own, and this
 *    thread gets the counts; there the logs merge into the order that
 *    really happened and a fresh copy of the post-boot checkers runs over
 *    them — while the next round is already running. This thread only
 *    routes, polls and counts (issue 19 item 3).
 *
 * Restoring the snapshot per round is what makes a finding's replay exact
 * and small: the round started from the state controlled mode reaches after
 * the boot, so boot + the round's recorded order reproduces it — a few
 * thousand decisions, however long the run. It also keeps memory flat by
 * construction: no actor, checker or log grows with the number of rounds.
 * What it gives up is state that builds up across rounds (a slow leak over
 * many rounds, lockdep edges from two different rounds): each round is a
 * fresh burst of concurrent churn on the booted machine.
 */

export interface StressOptions {
  readonly devices: number;
  readonly units: number;
  /** Concurrent churn episodes per round. */
  readonly tasks: number;
  /** Churn time budget (ms); rounds start until it is spent (at least one round). */
  readonly timeMs: number;
  readonly seed: number;
  readonly variants: Readonly<Record<string, string>>;
  /** Where findings are written (`<out>/stress/...`). */
  readonly out: string;
  /** No progress anywhere for this long while tasks are live → hung-task (default 10 s). */
  readonly hangMs?: number;
  /** Stop after this many rounds even if time is left (tests, benchmarks). */
  readonly maxRounds?: number;
  /** Delay injection in the rounds (runtime/hosts/free-chaos.ts); DEFAULT_CHAOS when not given. */
  readonly chaos?: ChaosMode;
  /** Replay every new finding in controlled mode at the end (default true). */
  readonly verify?: boolean;
  /** Progress lines (stderr), or null. */
  readonly progress?: ((line: string) => void) | null;
  /** Every RSS sample (once a second). */
  readonly onRss?: (mb: number, sec: number) => void;
}

export interface StressFinding {
  readonly kind: Finding['kind'];
  readonly title: string;
  readonly signature: string;
  /** The round it was first seen in. */
  readonly firstSchedule: number;
  /** Rounds it was seen in. */
  readonly count: number;
  readonly replay: string;
  readonly report: string;
  /** The replay, run in controlled mode (inline host), hit the same signature; null when not checked. */
  readonly reproduced: boolean | null;
}

export interface KnownCount {
  readonly id: string;
  readonly kind: Finding['kind'];
  readonly title: string;
  readonly count: number;
  /** `upstream`: the kernel does this; `model`: a known departure of the model (fuzz/known.ts). */
  readonly source: KnownFinding['source'];
  readonly reason: string;
  readonly reference: string;
}

/** `interrupted`: stopped by SIGINT/SIGTERM (runtime/interrupt.ts); the round it was in is not checked. */
export type StressOutcome = 'completed' | 'hung' | 'aborted' | 'interrupted';

export type StressPhase = 'restore' | 'run' | 'drain' | 'checkWait' | 'check' | 'gc';

export interface StressResult {
  readonly devices: number;
  readonly units: number;
  readonly tasks: number;
  /** The rounds' delay injection (docs/runtime.md "Chaos"). */
  readonly chaos: ChaosMode;
  /** The churn phase: from the first round's start to the last round's end. */
  readonly elapsedMs: number;
  readonly bootMs: number;
  readonly bootSteps: number;
  readonly rounds: number;
  /** Top-level ops that returned: sysfs writes, ioctls and other syscalls, driver calls. */
  readonly operations: number;
  /** Messages delivered between actors in the churn phase. */
  readonly messages: number;
  readonly messagesPerSec: number;
  readonly opLatencyMs: { readonly p50: number; readonly p99: number };
  readonly peakRssMb: number;
  /** Average RSS of each minute of the whole run. */
  readonly rssMbPerMinute: readonly number[];
  readonly episodes: Readonly<Record<EpisodeKind, number>>;
  /**
   * Where the churn phase's time went. The round loop's waits, which add up
   * to the phase's wall time: `restore` (the snapshot), `run` (the round),
   * `drain` (the logs handed over), `checkWait` (the previous round's check
   * not done yet), `gc` (the workers' periodic collection). `check` is the
   * checker thread's own time, which overlaps the next round.
   */
  readonly phaseMs: Readonly<Record<StressPhase, number>>;
  /** The longest wall-clock stretch the main thread (which routes and drains) did not turn its event loop in the churn phase. */
  readonly mainThreadMaxBlockMs: number;
  /** The most CPU time the main thread itself ran without turning its event loop (scheduling waits excluded; Linux only, else null). */
  readonly mainThreadMaxBusyMs: number | null;
  readonly outcome: StressOutcome;
  readonly findings: readonly StressFinding[];
  readonly known: readonly KnownCount[];
  readonly verifyMs: number;
}

/**
 * While a round runs the main thread wakes when a task ends or aborts or an
 * actor dies (the workers' messages), and otherwise every this many ms to
 * look for a hang or an interrupt. It used to poll the shared counters
 * every 2 ms, 500 wake-ups a second: woken by the messages instead, its CPU
 * time in the rounds fell by ~15 % at 4,096 devices (0.60 → 0.51 s per
 * 10 s; session 18), and a round's end is seen at once, not up to 2 ms late.
 */
const IDLE_POLL_MS = 50;
/** Full garbage collections, in every worker whose heap grew by GC_GROWTH over its floor, this often (see runtime/gc.ts): RSS stays flat. */
const GC_EVERY_MS = 5000;
/**
 * A worker's committed heap may grow this much over the least it was after
 * a forced collection before it is collected again. Collecting every worker
 * every time cost 15–18 % of the churn phase at 4,096 devices (issue 19),
 * most of it in threads whose heap had not grown.
 */
const GC_GROWTH = 1.1;
/**
 * Each actor worker's young generation at most (V8 splits it in three: two
 * semi-spaces of 4 MB), from this many devices up. V8's default let every
 * busy worker's new space grow to 32 MB, ~400 MB over the two dozen threads
 * of a 4,096-device run (issue 19: peak RSS); an actor's step allocates
 * little that outlives it. Below, memory is not short and the bound costs
 * throughput: measured on an idle machine (session 17), 1,024 devices ran
 * 14,500–17,700 messages/s bounded against 18,900 not (each worker's round
 * restore then scavenges more often), while 4,096 peaked at 1,225–1,265 MB
 * bounded against 1,431 MB not, at the same messages/s.
 */
const YOUNG_GENERATION_MB = 12;
const YOUNG_GENERATION_FROM_DEVICES = 2048;
/** A control call to a worker that takes longer than this means the worker is wedged. */
const CONTROL_TIMEOUT_MS = 60_000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | null = null;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`stress: ${what} did not answer within ${CONTROL_TIMEOUT_MS / 1000} s`)), CONTROL_TIMEOUT_MS);
  });
  return Promise.race([p, t]).finally(() => {
    if (timer !== null) clearTimeout(timer);
  });
}

interface Candidate {
  readonly finding: Finding;
  readonly round: number;
  count: number;
  readonly replay: string;
}

/**
 * Waits for the boot (checker thread) and the workers, and hands each worker
 * its actor's booted state: serialized in the checker thread, moved here and
 * on to each worker as transferred buffers (14 MB at 4,096 devices), never
 * read in this thread (as objects they were ~100 MB cloned twice on the way:
 * issue 19, boot time and peak RSS).
 */
async function handOver(checker: CheckerThread, creating: Promise<WorkersHost>, progress: ((line: string) => void) | null): Promise<{ boot: Omit<Booted, 'snapshots'>; workers: WorkersHost }> {
  const [{ snapshots, ...boot }, workers] = await Promise.all([checker.takeBoot(), creating]);
  progress?.(`stress: boot ran ${boot.steps} steps in ${(boot.ms / 1000).toFixed(1)} s; handing the booted state to the workers`);
  // the checker thread sends snapshots exactly when the boot completed
  if (snapshots !== null) await withTimeout(workers.adopt(snapshots), 'hand-over of the booted state');
  return { boot, workers };
}

export async function runStress(o: StressOptions): Promise<StressResult> {
  const hangMs = o.hangMs ?? 10_000;
  const progress = o.progress ?? null;
  const rss = new RssSampler(o.onRss ?? null);
  rss.start();
  const machine = generateMachine({ devices: o.devices, units: o.units, seed: o.seed });
  const procs = processNames(o.tasks);
  const topology = machine.topology;
  const { hostProgram } = stressPrograms(o);
  const t0 = performance.now();
  // 1. boot, controlled, as the set-up runs it — inline (a step is a function
  // call, not a round trip to a worker) in the checker thread, which keeps
  // the booted checkers; meanwhile this thread starts the actors' workers,
  // which then take their actor's booted state in one message each (the
  // determinism contract makes it the state the workers host would have reached)
  progress?.(`stress: booting ${topology.pci.length} devices on ${topology.units.length} units inline in the checker thread, starting ${topology.units.length} unit worker threads and the core actors meanwhile`);
  const checker = new CheckerThread({ devices: o.devices, units: o.units, seed: o.seed, tasks: o.tasks, variants: o.variants, progress: progress !== null }, progress);
  // the workers start once the checker thread has loaded its code and boots (their start-up then runs beside the
  // boot, not beside the checker thread's own start-up, which the boot waits for)
  const creating = checker.booting.then(() => WorkersHost.create(hostProgram,
    o.devices >= YOUNG_GENERATION_FROM_DEVICES ? { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } } : {}));
  try {
    const { boot, workers } = await handOver(checker, creating, progress);
    const booted = boot.outcome === 'completed';
    // the start-up's garbage (module loading, the workers' set-up): one full collection, before the rounds (the churn phase forces none here)
    collectGarbage();
    const bootMs = performance.now() - t0;
    progress?.(`stress: ${booted ? 'booted' : `the boot ended as ${boot.outcome}:`} ${topology.pci.length} devices on ${topology.units.length} units in ${(bootMs / 1000).toFixed(1)} s (${boot.steps} steps)`);

    // 2. rounds in free mode
    // every actor's logs go to the checker thread on a port of their own, not through this thread
    if (booted) checker.listen(await withTimeout(workers.logPorts(), 'log ports'));
    const run = new Rounds(workers, machine, o, procs, checker, boot.decisions, boot.steps, hangMs, progress);
    // the fixed variants boot clean; anything here is a finding of the boot (round -1), whose replay is the boot alone
    for (const f of boot.findings) run.found(f, -1, boot.decisions);
    const r = booted ? await run.go() : { outcome: 'aborted' as const, rounds: 0, elapsedMs: 0, operations: 0, messages: 0, latency: new Reservoir(1), episodes: { rebind: 0, swap: 0, hotplug: 0, reset: 0, dma: 0, vfio: 0 }, mainThreadMaxBlockMs: 0, mainThreadMaxBusyMs: null };
    rss.stop();
    // the churn's peak: the replays checked below run in this thread and are not part of it
    const peakRssMb = Math.round(rss.peakMb());
    const rssMbPerMinute = rss.perMinuteMb().map((x) => Math.round(x));
    // the checker thread's heap is no longer needed; the replays below run in this thread
    await checker.close();
    const verifyStart = performance.now();
    // a stopped run does not replay its findings (that can take long): their replays are marked unchecked
    const findings = o.verify === false || interrupted() ? run.findings(() => null) : await run.verifyAll();
    const verifyMs = performance.now() - verifyStart;
    const secs = r.elapsedMs / 1000;
    return {
      devices: topology.pci.length, units: topology.units.length, tasks: o.tasks, chaos: o.chaos ?? DEFAULT_CHAOS,
      elapsedMs: Math.round(r.elapsedMs), bootMs: Math.round(bootMs), bootSteps: boot.steps, rounds: r.rounds,
      operations: r.operations, messages: r.messages, messagesPerSec: secs > 0 ? Math.round(r.messages / secs) : 0,
      opLatencyMs: { p50: round3(r.latency.quantile(0.5)), p99: round3(r.latency.quantile(0.99)) },
      peakRssMb, rssMbPerMinute,
      episodes: r.episodes, phaseMs: run.phaseMs(), mainThreadMaxBlockMs: r.mainThreadMaxBlockMs, mainThreadMaxBusyMs: r.mainThreadMaxBusyMs, outcome: r.outcome, findings, known: run.knownCounts(), verifyMs: Math.round(verifyMs),
    };
  } finally {
    rss.stop();
    await checker.close();
    // also when the boot failed while the workers were still starting
    await creating.then((h) => h.close(), () => {});
  }
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

interface RoundsResult {
  readonly outcome: StressOutcome;
  readonly rounds: number;
  readonly elapsedMs: number;
  readonly operations: number;
  readonly messages: number;
  readonly latency: Reservoir;
  readonly episodes: Record<EpisodeKind, number>;
  readonly mainThreadMaxBlockMs: number;
  readonly mainThreadMaxBusyMs: number | null;
}

/** The round loop and what it learns: findings by signature, known issues, counts. */
class Rounds {
  private readonly host: WorkersHost;
  private readonly machine: StressMachine;
  private readonly o: StressOptions;
  private readonly procs: readonly string[];
  private readonly checker: CheckerThread;
  private readonly bootDecisions: readonly TaskId[];
  private readonly bootSteps: number;
  private readonly hangMs: number;
  private readonly progress: ((line: string) => void) | null;
  private readonly counters = new SharedArrayBuffer(8);
  private readonly c = new Int32Array(this.counters);
  private readonly ended = new Set<TaskId>();
  private stopped: Finding | null = null;
  /** Ends runRound's current wait at once (a task ended or aborted, an actor died). */
  private wake: (() => void) | null = null;
  private readonly candidates = new Map<string, Candidate>();
  /** Known findings by id and kind (one id may name several kinds of the same issue). */
  private readonly known = new Map<string, { issue: KnownFinding; title: string; count: number }>();
  private readonly phases = { restore: 0, run: 0, drain: 0, checkWait: 0, check: 0, gc: 0 };

  constructor(host: WorkersHost, machine: StressMachine, o: StressOptions, procs: readonly string[], checker: CheckerThread, bootDecisions: readonly TaskId[], bootSteps: number, hangMs: number, progress: ((line: string) => void) | null) {
    this.host = host;
    this.machine = machine;
    this.o = o;
    this.procs = procs;
    this.checker = checker;
    this.bootDecisions = bootDecisions;
    this.bootSteps = bootSteps;
    this.hangMs = hangMs;
    this.progress = progress;
  }

  async go(): Promise<RoundsResult> {
    await withTimeout(this.host.startFree({ seed: this.o.seed, chaos: chaosOptions(this.o.chaos ?? DEFAULT_CHAOS, this.bootSteps), keepEvents: true }, this.counters, {
      end: (task) => {
        this.ended.add(task);
        this.wake?.();
      },
      abort: (task, info) => {
        this.stopped ??= abortFinding(task, info);
        this.wake?.();
      },
      died: (actor: ActorId, why: string) => {
        this.stopped ??= abortFinding('?' as TaskId, { kind: 'actor-crash', actor, handler: '?', message: why, jsStack: null, stack: [] });
        this.wake?.();
      },
    }), 'free-mode start');
    const latency = new Reservoir(100_000);
    const episodes: Record<EpisodeKind, number> = { rebind: 0, swap: 0, hotplug: 0, reset: 0, dma: 0, vfio: 0 };
    let operations = 0;
    let messages = 0;
    let outcome: StressOutcome = 'completed';
    let checking: Promise<void> = Promise.resolve();
    // how long the main thread went without turning its event loop (a drain or a poll waiting behind it)
    const blocks = new LoopBlockProbe();
    blocks.start();
    const t0 = performance.now();
    let lastLine = t0;
    let lastGc = t0;
    let n = 0;
    // round 0 starts from the adopted boot; a drain puts the actors back when another round follows
    let restored = true;
    for (; ; n++) {
      if (n > 0 && performance.now() - t0 >= this.o.timeMs) break;
      if (interrupted()) {
        outcome = 'interrupted';
        break;
      }
      if (this.o.maxRounds !== undefined && n >= this.o.maxRounds) break;
      const round = roundChurn(this.machine, { tasks: this.o.tasks, seed: this.o.seed, processes: this.procs }, n);
      const program = this.roundProgram(round);
      let t = performance.now();
      if (t - lastGc >= GC_EVERY_MS) {
        lastGc = t;
        // the workers only: a forced full collection is a stop-the-world pause of the thread that runs it, and the
        // main thread must keep routing and draining (issue 19); its own garbage no longer grows with the machine
        await withTimeout(this.host.collectGarbage(GC_GROWTH), 'garbage collection');
        this.phases.gc += performance.now() - t;
        t = performance.now();
      }
      if (!restored) await withTimeout(this.host.restore(), 'restore');
      this.phases.restore += performance.now() - t;
      restored = false;
      t = performance.now();
      const end = await this.runRound(program);
      this.phases.run += performance.now() - t;
      if (end === 'interrupted') {
        outcome = 'interrupted';
        n++;
        break;
      }
      t = performance.now();
      // another round follows (the checks at the top of the loop will not stop it; time only grows): the drain
      // also puts every actor back to the snapshot, one control call per actor per round instead of two
      const again = end === 'done' && performance.now() - t0 < this.o.timeMs && (this.o.maxRounds === undefined || n + 1 < this.o.maxRounds) && !interrupted();
      // the logs go from each actor's thread to the checker thread; this thread gets the counts
      const drains = await withTimeout(this.host.drainTo(round.index, again), 'log drain');
      restored = again;
      // the slowest actor's restore is the restore phase's share of the call
      const restoreMs = Math.max(0, ...drains.map((d) => d.counts.restoreMs));
      this.phases.drain += performance.now() - t - restoreMs;
      this.phases.restore += restoreMs;
      for (const { counts: d } of drains) {
        operations += d.ops;
        messages += d.messages;
        for (const ms of d.opMs) latency.add(ms);
      }
      for (const k of Object.keys(episodes) as EpisodeKind[]) episodes[k] += round.kinds[k];
      // check this round while the next one runs; one round waits at most
      t = performance.now();
      await checking;
      this.phases.checkWait += performance.now() - t;
      checking = this.check(round, drains.map((d) => d.actor), end);
      if (end !== 'done') {
        outcome = end === 'hung' ? 'hung' : 'aborted';
        n++;
        break;
      }
      const now = performance.now();
      if (this.progress !== null && now - lastLine > 5000) {
        lastLine = now;
        this.progress(`stress: ${n + 1} rounds, ${messages} messages, ${Math.round(messages / ((now - t0) / 1000))} msg/s, ${this.candidates.size} findings, ${[...this.known.values()].reduce((s, k) => s + k.count, 0)} known`);
      }
    }
    const elapsedMs = performance.now() - t0;
    // the last round's check comes after the churn phase (not in its phases)
    await checking;
    blocks.stop();
    return { outcome, rounds: n, elapsedMs, operations, messages, latency, episodes, mainThreadMaxBlockMs: blocks.maxBlockMs, mainThreadMaxBusyMs: blocks.maxBusyMs };
  }

  /** The round as a kernel program: exactly what its replay's scenario document compiles to. */
  private roundProgram(round: Round): Program {
    const ctx = compileContext(this.machine.topology);
    return kernelProgram({ name: 'stress', topology: this.machine.topology, variants: this.o.variants, tasks: round.tasks.map((t) => compileTask(t, ctx)), processes: round.processes });
  }

  /** Injects the round's tasks and waits until they have all ended, a task aborts, or nothing moves for `hangMs`. */
  private async runRound(program: Program): Promise<'done' | 'hung' | 'aborted' | 'interrupted'> {
    const tasks = program.tasks.filter((t) => t.id !== 'boot');
    this.ended.clear();
    Atomics.store(this.c, LIVE_TASKS, tasks.length);
    for (const t of tasks) this.host.inject(rootMessage(t, this.o.seed));
    let last = -1;
    let lastChange = performance.now();
    for (;;) {
      await new Promise<void>((r) => {
        const timer = setTimeout(r, IDLE_POLL_MS);
        this.wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      this.wake = null;
      if (this.stopped !== null) return 'aborted';
      if (interrupted()) return 'interrupted';
      if (Atomics.load(this.c, LIVE_TASKS) === 0 && tasks.every((t) => this.ended.has(t.id))) return 'done';
      const p = Atomics.load(this.c, PROGRESS);
      const now = performance.now();
      if (p !== last) {
        last = p;
        lastChange = now;
      } else if (now - lastChange >= this.hangMs) {
        return 'hung';
      }
    }
  }

  /**
   * Asks the checker thread to check the round from the logs `actors` sent
   * it, and counts what it found. The main thread only asks and reads: the
   * logs, their merge, the fresh copy of the post-boot checkers and the run
   * over the round's order are there, while the next round is already running.
   */
  private async check(round: Round, actors: readonly ActorId[], end: 'done' | 'hung' | 'aborted'): Promise<void> {
    const r = await this.checker.check(round.index, actors, end, this.hangMs);
    this.phases.check += r.ms;
    const decisions = (): TaskId[] => {
      if (r.decisions === null) throw new Error(`stress: round ${round.index}: a finding new to the run came without the round's order`);
      return [...this.bootDecisions, ...r.decisions];
    };
    for (const f of r.findings) this.found(f, round.index, decisions, round);
    if (r.hung !== null) this.found(r.hung, round.index, decisions, round);
    if (end === 'aborted' && this.stopped !== null) this.found(this.stopped, round.index, decisions, round);
  }

  phaseMs(): Record<StressPhase, number> {
    const p = this.phases;
    return { restore: Math.round(p.restore), run: Math.round(p.run), drain: Math.round(p.drain), checkWait: Math.round(p.checkWait), check: Math.round(p.check), gc: Math.round(p.gc) };
  }

  /**
   * Counts a finding: known (the project's one list, fuzz/known.ts, matched
   * against the round's document), seen before, or new (written to disk now).
   */
  found(f: Finding, round: number, decisions: readonly TaskId[] | (() => readonly TaskId[]), r?: Round): void {
    const doc = roundDocument(`stress-${this.o.seed}-round-${round}`, this.machine.topology, this.o.variants, r ?? { index: round, tasks: [], processes: [], kinds: { rebind: 0, swap: 0, hotplug: 0, reset: 0, dma: 0, vfio: 0 } });
    // the entries' workload conditions read only the topology, which is the fuzz document's shape
    const k = matchKnown(f, doc as unknown as FuzzDocument);
    if (k !== null) {
      const key = `${k.id}|${k.kind}`;
      const seen = this.known.get(key);
      if (seen === undefined) {
        this.known.set(key, { issue: k, title: f.title, count: 1 });
        this.progress?.(`stress: known ${k.source} issue ${k.id} (${f.title}) in round ${round}`);
      } else seen.count++;
      return;
    }
    const c = this.candidates.get(f.signature);
    if (c !== undefined) {
      c.count++;
      return;
    }
    const ds = typeof decisions === 'function' ? decisions() : decisions;
    const w = writeStressFinding(this.o.out, f, this.o.seed, this.o.variants, round, doc, ds);
    this.candidates.set(f.signature, { finding: f, round, count: 1, replay: w.replay });
    this.progress?.(`stress: found ${f.title} in round ${round} → ${w.replay}`);
  }

  findings(reproduced: (c: Candidate) => boolean | null): StressFinding[] {
    return [...this.candidates.values()].map((c) => ({
      kind: c.finding.kind, title: c.finding.title, signature: c.finding.signature, firstSchedule: c.round, count: c.count,
      replay: c.replay, report: c.finding.report, reproduced: reproduced(c),
    }));
  }

  /** Replays every new finding in controlled mode (inline host) and says whether it reproduced. */
  async verifyAll(): Promise<StressFinding[]> {
    const out = new Map<string, boolean>();
    for (const c of this.candidates.values()) out.set(c.finding.signature, await verifyReplay(c.replay));
    return this.findings((c) => out.get(c.finding.signature) ?? null);
  }

  knownCounts(): KnownCount[] {
    return [...this.known.values()].map((k) => ({ id: k.issue.id, kind: k.issue.kind, title: k.title, count: k.count, source: k.issue.source, reason: k.issue.reason, reference: k.issue.reference }));
  }
}
