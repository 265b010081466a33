import type { Checker } from '../checkers/checker.ts';
import { runExecution } from './execution.ts';
import type { ExecutionResult, SetupSnapshot } from './execution.ts';
import type { Host } from './hosts/host.ts';
import type { Program } from './program.ts';
import type { Strategy } from './strategies/strategy.ts';
import type { Finding } from '../protocol/findings.ts';
import type { TaskId } from '../protocol/ids.ts';

/** A finding as an exploration keeps it: the first time it was seen, how often, and how to replay it. */
export interface FoundFinding {
  readonly finding: Finding;
  /** The execution index (schedule) that found it first. */
  readonly firstSchedule: number;
  /** The seed of the tasks' random streams in that execution. */
  readonly seed: number;
  count: number;
  /** The decisions of that first execution: what its replay file stores. */
  readonly decisions: readonly TaskId[];
  /** Trace hash of that execution (null for a free-mode record). */
  readonly traceHash: string | null;
}

export interface ExploreOptions {
  readonly seed: number;
  readonly schedules: number;
  /** First execution index (a pool chunk or a shard starts later). */
  readonly firstSchedule?: number;
  /** Wall-clock budget for the whole exploration. */
  readonly timeMs?: number;
  readonly maxSteps?: number;
  /** Fresh checkers for every execution. */
  readonly checkers?: () => readonly Checker[];
  /** Called once per new signature, as soon as it is found (write it to disk here). */
  readonly onFinding?: (f: FoundFinding) => void | Promise<void>;
  /** Called after every execution. */
  readonly onExecution?: (r: ExecutionResult, schedule: number) => void;
  /** Stops the exploration after the execution for which this is true. */
  readonly until?: (r: ExecutionResult, schedule: number) => boolean;
  /**
   * Run the program's set-up once and start every later execution from its
   * snapshot (default true). The traces are the same either way: the set-up
   * is deterministic.
   */
  readonly snapshot?: boolean;
}

export interface ExploreResult {
  readonly executions: number;
  readonly steps: number;
  readonly elapsedMs: number;
  readonly findings: readonly FoundFinding[];
  /** A systematic strategy (dfs) explored everything it covers before the budget ran out. */
  readonly complete: boolean;
  /** Executions that hit the step limit (`step-limit`): cut short, so they proved nothing about what came after. */
  readonly truncated: number;
}

/** Runs up to `schedules` executions (or until the time budget), deduplicating findings by signature. */
export async function explore(host: Host, program: Program, strategy: Strategy, opts: ExploreOptions): Promise<ExploreResult> {
  const t0 = performance.now();
  const deadline = opts.timeMs === undefined ? Infinity : t0 + opts.timeMs;
  const first = opts.firstSchedule ?? 0;
  const found = new Map<string, FoundFinding>();
  let steps = 0;
  let n = 0;
  let truncated = 0;
  const overTime = (): boolean => performance.now() >= deadline;
  const useSnapshot = opts.snapshot !== false && (program.setup ?? []).length > 0;
  let snap: SetupSnapshot | null = null;
  const keep = async (s: SetupSnapshot): Promise<void> => {
    await host.snapshot();
    snap = s;
  };
  let yielded = performance.now();
  for (; n < opts.schedules; n++) {
    if (n > 0 && overTime()) break;
    // An inline execution runs in microtasks only: without a turn of the event loop now and then, a
    // SIGINT/SIGTERM handler (runtime/interrupt.ts) would not run until the whole exploration ended.
    if (performance.now() - yielded > 50) {
      await new Promise<void>((r) => setImmediate(r));
      yielded = performance.now();
    }
    const schedule = first + n;
    const from: SetupSnapshot | null = snap;
    if (from !== null) await host.restore();
    else await host.reset();
    const r = await runExecution(host, program, strategy, {
      seed: opts.seed,
      execution: schedule,
      ...(opts.maxSteps !== undefined ? { maxSteps: opts.maxSteps } : {}),
      ...(from !== null ? { from } : opts.checkers !== undefined ? { checkers: opts.checkers() } : {}),
      ...(from === null && useSnapshot ? { onSetup: keep } : {}),
      shouldStop: overTime,
    });
    steps += r.steps;
    if (r.outcome === 'step-limit') truncated++;
    opts.onExecution?.(r, schedule);
    for (const f of r.findings) {
      const seen = found.get(f.signature);
      if (seen !== undefined) {
        seen.count++;
        continue;
      }
      const ff: FoundFinding = { finding: f, firstSchedule: schedule, seed: opts.seed, count: 1, decisions: r.decisions, traceHash: r.traceHash };
      found.set(f.signature, ff);
      await opts.onFinding?.(ff);
    }
    // a stuck actor's worker was terminated by the watchdog (runtime/hosts/workers.ts): the host cannot go on
    if (opts.until?.(r, schedule) === true || strategy.exhausted?.() === true || r.findings.some((f) => f.kind === 'actor-stuck')) {
      n++;
      break;
    }
  }
  return { executions: n, steps, elapsedMs: performance.now() - t0, findings: [...found.values()], truncated, complete: strategy.exhausted?.() === true };
}

/** Merges explorations of disjoint schedule ranges (pool chunks, shards): first sighting wins, counts add. */
export function mergeFound(parts: readonly (readonly FoundFinding[])[]): FoundFinding[] {
  const out = new Map<string, FoundFinding>();
  for (const part of parts) {
    for (const f of part) {
      const seen = out.get(f.finding.signature);
      if (seen === undefined) out.set(f.finding.signature, { ...f });
      else if (f.firstSchedule < seen.firstSchedule) out.set(f.finding.signature, { ...f, count: f.count + seen.count });
      else seen.count += f.count;
    }
  }
  return [...out.values()].sort((a, b) => a.firstSchedule - b.firstSchedule || a.finding.signature.localeCompare(b.finding.signature));
}
