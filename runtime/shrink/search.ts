import type { Checker } from '../../checkers/checker.ts';
import { runExecution } from '../execution.ts';
import type { ExecutionResult } from '../execution.ts';
import { explore } from '../explore.ts';
import type { Host } from '../hosts/host.ts';
import { InlineHost } from '../hosts/inline.ts';
import type { Program } from '../program.ts';
import { sameFailure } from '../replay-file.ts';
import { makeStrategy } from '../strategies/index.ts';
import type { ExploringStrategy } from '../strategies/index.ts';
import type { Strategy } from '../strategies/strategy.ts';
import type { Finding } from '../../protocol/findings.ts';
import type { TaskId } from '../../protocol/ids.ts';
import { FollowStrategy, OrderStrategy } from './guided.ts';

/** What a shrink must keep: the finding's signature, under the replay's task seed and checkers. */
export interface ShrinkTarget {
  readonly signature: string;
  readonly seed: number;
  readonly checkers: () => readonly Checker[];
}

/** An execution that hit the target: its decisions replay it exactly. */
export interface Hit {
  readonly decisions: readonly TaskId[];
  readonly steps: number;
  readonly finding: Finding;
  readonly traceHash: string;
}

/** The target's finding in a result, unless the execution was cut short (a diverged replay, a stop). */
export function hitOf(r: ExecutionResult, signature: string): Hit | null {
  if (r.outcome === 'replay-diverged' || r.outcome === 'stopped') return null;
  const f = r.findings.find((x) => sameFailure(signature, x.signature));
  return f === undefined ? null : { decisions: r.decisions, steps: r.steps, finding: f, traceHash: r.traceHash };
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
    return new Trials(await InlineHost.create(program), program, target, counter);
  }

  /** One execution under `strategy` from fresh actor state. */
  async once(strategy: Strategy, execution = 0): Promise<Hit | null> {
    await this.host.reset();
    this.counter.executions++;
    const r = await runExecution(this.host, this.program, strategy, { seed: this.target.seed, execution, checkers: this.target.checkers() });
    return hitOf(r, this.target.signature);
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
 * Looks for a schedule on which `program` hits the target: lenient replays
 * of `hint` (decisions of a nearby program), then bounded exploration.
 * Deterministic: the same program, hint and budget give the same answer.
 */
export async function findSchedule(program: Program, target: ShrinkTarget, hint: readonly TaskId[], budget: SearchBudget, counter: { executions: number }): Promise<Hit | null> {
  const trials = await Trials.open(program, target, counter);
  try {
    for (const lenient of [new OrderStrategy(hint), new FollowStrategy(hint)]) {
      const hit = await trials.once(lenient);
      if (hit !== null) return hit;
    }
    const n = budget.explorers.length;
    for (let i = 0; i < n; i++) {
      const e = budget.explorers[i] as SearchBudget['explorers'][number];
      // an even split; the first explorers take the remainder
      const share = Math.floor(budget.schedules / n) + (i < budget.schedules % n ? 1 : 0);
      if (share === 0) continue;
      const hit = await trials.explore(makeStrategy(e.strategy, e.seed), e.first, share);
      if (hit !== null) return hit;
    }
    return null;
  } finally {
    await trials.close();
  }
}
