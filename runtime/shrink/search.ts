import type { Checker } from '../../checkers/checker.ts';
import { runExecution } from '../execution.ts';
import type { ExecutionResult } from '../execution.ts';
import { explore } from '../explore.ts';
import type { Host } from '../hosts/host.ts';
import { hostFor } from '../hosts/guarded.ts';
import type { Program } from '../program.ts';
import { sameFailure } from '../replay-file.ts';
import { makeStrategy } from '../strategies/index.ts';
import type { ExploringStrategy } from '../strategies/index.ts';
import type { Strategy } from '../strategies/strategy.ts';
import type { Finding } from '../../protocol/findings.ts';
import type { TaskId } from '../../protocol/ids.ts';
import { FollowStrategy, OrderStrategy, stepsPerTask } from './guided.ts';

/** What a shrink must keep: the finding's signature, under the replay's task seed and checkers. */
export interface ShrinkTarget {
  readonly signature: string;
  readonly seed: number;
  readonly checkers: () => readonly Checker[];
}

/** An execution that hit the target: its decisions replay it exactly. */
export interface Hit {
  readonly decisions: readonly TaskId[];
  /** Scheduled steps: those after the program's set-up (the boot is fixed), one per decision. */
  readonly steps: number;
  readonly finding: Finding;
  readonly traceHash: string;
}

/** The target's finding in a result, unless the execution was cut short (a diverged replay, a stop). */
export function hitOf(r: ExecutionResult, signature: string): Hit | null {
  if (r.outcome === 'replay-diverged' || r.outcome === 'stopped') return null;
  const f = r.findings.find((x) => sameFailure(signature, x.signature));
  return f === undefined ? null : { decisions: r.decisions, steps: r.steps - r.setupSteps, finding: f, traceHash: r.traceHash };
}

/**
 * Executions of one program in an inline host (the hosts are equivalent for
 * controlled executions, and inline is the fast one). Counts what it runs.
 */
export class Trials {
  private readonly host: Host;
  private readonly program: Program;
  private readonly target: ShrinkTarget;
  private readonly counter: { executions: number };

  private constructor(host: Host, program: Program, target: ShrinkTarget, counter: { executions: number }) {
    this.host = host;
    this.program = program;
    this.target = target;
    this.counter = counter;
  }

  static async open(program: Program, target: ShrinkTarget, counter: { executions: number }): Promise<Trials> {
    return new Trials(await hostFor('inline', program), program, target, counter);
  }

  /** One execution under `strategy` from fresh actor state: the hit, or null and the decisions it made. */
  async once(strategy: Strategy, execution = 0): Promise<{ readonly hit: Hit | null; readonly decisions: readonly TaskId[] }> {
    await this.host.reset();
    this.counter.executions++;
    const r = await runExecution(this.host, this.program, strategy, { seed: this.target.seed, execution, checkers: this.target.checkers() });
    return { hit: hitOf(r, this.target.signature), decisions: r.decisions };
  }

  /** Up to `schedules` executions of `strategy` from schedule `first`; the first hit ends it. */
  async explore(strategy: Strategy, first: number, schedules: number): Promise<Hit | null> {
    let hit: Hit | null = null;
    await explore(this.host, this.program, strategy, {
      seed: this.target.seed, schedules, firstSchedule: first, checkers: this.target.checkers,
      onExecution: () => void this.counter.executions++,
      until: (r) => (hit = hitOf(r, this.target.signature)) !== null,
    });
    return hit;
  }

  close(): Promise<void> {
    return this.host.close();
  }
}

/** How hard to look for a schedule of a reduced program. */
export interface SearchBudget {
  /** Executions of bounded exploration per candidate (after the lenient replays), split over the explorers. */
  readonly schedules: number;
  /** The exploring strategies to try, in order, each with its first schedule index. */
  readonly explorers: readonly { readonly strategy: ExploringStrategy; readonly seed: number; readonly first: number }[];
}

/**
 * The explorers for a replay recorded by `strategy` with `seed` at `schedule`:
 * that strategy again from where it found the bug, then random and PCT (or
 * the portfolio when the replay's own strategy is one of those).
 */
export function explorersFor(strategy: string, seed: number, schedule: number): SearchBudget['explorers'] {
  const own: ExploringStrategy = strategy === 'random' || strategy === 'pct' || strategy === 'pos' || strategy === 'portfolio' ? strategy : 'portfolio';
  const others = (['random', 'pct', 'portfolio'] as const).filter((s) => s !== own).slice(0, 2);
  return [{ strategy: own, seed, first: schedule }, ...others.map((s) => ({ strategy: s, seed, first: 0 }))];
}

/**
 * What steers the search for a schedule of a candidate program: decisions
 * that hit the target on a nearby program, and that program's task lengths
 * when every task runs as long as it can (`serialLengths`). Comparing those
 * lengths with the candidate's says how many steps each task lost with the
 * dropped ops.
 */
export interface Hint {
  readonly decisions: readonly TaskId[];
  readonly serial: ReadonlyMap<TaskId, number>;
}

export interface Found {
  readonly hit: Hit;
  /** The hint for programs near this one. */
  readonly hint: Hint;
}

/** No preemption: each task runs until it ends or blocks. Task lengths then depend on the program alone, not on a race. */
const serialRun = (trials: Trials): ReturnType<Trials['once']> => trials.once(new FollowStrategy([]));

/** The hint that `hit` on `program` gives. */
export async function hintFor(program: Program, target: ShrinkTarget, hit: Hit, counter: { executions: number }): Promise<Hint> {
  const trials = await Trials.open(program, target, counter);
  try {
    return { decisions: hit.decisions, serial: stepsPerTask((await serialRun(trials)).decisions) };
  } finally {
    await trials.close();
  }
}

/**
 * Looks for a schedule on which `program` hits the target: the serial
 * schedule, lenient replays of the hint (as recorded, then with each task's
 * recording shifted by the steps it lost), then bounded exploration.
 * Deterministic: the same program, hint and budget give the same answer.
 */
export async function findSchedule(program: Program, target: ShrinkTarget, hint: Hint, budget: SearchBudget, counter: { executions: number }): Promise<Found | null> {
  const trials = await Trials.open(program, target, counter);
  try {
    const serialOne = await serialRun(trials);
    const serial = stepsPerTask(serialOne.decisions);
    const found = (hit: Hit | null): Found | null => (hit === null ? null : { hit, hint: { decisions: hit.decisions, serial } });
    if (serialOne.hit !== null) return found(serialOne.hit);
    const shift = new Map<TaskId, number>();
    for (const [t, n] of serial) {
      const before = hint.serial.get(t);
      if (before !== undefined && before !== n) shift.set(t, before - n);
    }
    // A task's length also depends a little on the schedule (a wait for the
    // boot that did or did not happen), so the shift is tried one step either way too.
    const shifted = shift.size === 0 ? [] : [0, 1, -1].map((d) => new OrderStrategy(hint.decisions, new Map([...shift].map(([t, n]) => [t, n + d]))));
    const tries = [new OrderStrategy(hint.decisions), ...shifted, new FollowStrategy(hint.decisions)];
    for (const s of tries) {
      const r = await trials.once(s);
      if (r.hit !== null) return found(r.hit);
    }
    const n = budget.explorers.length;
    for (let i = 0; i < n; i++) {
      const e = budget.explorers[i] as SearchBudget['explorers'][number];
      // an even split; the first explorers take the remainder
      const share = Math.floor(budget.schedules / n) + (i < budget.schedules % n ? 1 : 0);
      if (share === 0) continue;
      const hit = await trials.explore(makeStrategy(e.strategy, e.seed), e.first, share);
      if (hit !== null) return found(hit);
    }
    return null;
  } finally {
    await trials.close();
  }
}
