import type { CheckCase } from './matrix.ts';
import type { Checker } from '../../checkers/checker.ts';
import { explore } from '../../runtime/explore.ts';
import { LifetimeChecker } from '../../checkers/lifetime/lifetime-checker.ts';
import type { LifetimeCheckerOptions } from '../../checkers/lifetime/lifetime-checker.ts';
import { RaceChecker } from '../../checkers/races/race-checker.ts';
import type { RaceCheckerOptions } from '../../checkers/races/race-checker.ts';
import { runExecution } from '../../runtime/execution.ts';
import type { ExecutionResult } from '../../runtime/execution.ts';
import type { Host } from '../../runtime/hosts/host.ts';
import type { Program } from '../../runtime/program.ts';
import type { Strategy } from '../../runtime/strategies/strategy.ts';
import type { FindingKind } from '../../protocol/findings.ts';

/** Fresh race and lifetime checkers, as the matrix runs them (the execution calls their `finish`). */

export interface CheckerOptions {
  readonly races?: RaceCheckerOptions;
  readonly lifetime?: LifetimeCheckerOptions;
}

const checkersFor = (opts: CheckerOptions) => (): Checker[] => [new RaceChecker(opts.races), new LifetimeChecker(opts.lifetime)];

/** One execution of a matrix program with the race and lifetime checkers, from fresh actor state. */
export async function runChecked(host: Host, program: Program, strategy: Strategy, seed: number, execution: number, opts: CheckerOptions = {}): Promise<ExecutionResult> {
  await host.reset();
  return runExecution(host, program, strategy, { seed, execution, checkers: checkersFor(opts)() });
}

export interface Exploration {
  /** Executions run. */
  readonly runs: number;
  /** Executions whose findings included the expected kind. */
  readonly hits: number;
  /** The first execution that showed the expected kind. */
  readonly first: { readonly execution: number; readonly run: ExecutionResult } | null;
  /** Every kind seen, every signature seen, and the outcomes other than `completed`. */
  readonly kinds: ReadonlySet<FindingKind>;
  readonly signatures: ReadonlySet<string>;
  readonly outcomes: ReadonlySet<string>;
}

/**
 * Explores up to `schedules` executions of a case; with `untilFound`, stops
 * at the first execution that shows the expected kind.
 */
export async function exploreCase(
  host: Host, c: CheckCase, strategy: Strategy,
  opts: { readonly seed: number; readonly schedules: number; readonly untilFound?: boolean } & CheckerOptions,
): Promise<Exploration> {
  const kinds = new Set<FindingKind>();
  const signatures = new Set<string>();
  const outcomes = new Set<string>();
  let first: Exploration['first'] = null;
  let hits = 0;
  const shows = (r: ExecutionResult): boolean => c.expected !== null && r.findings.some((f) => f.kind === c.expected);
  const x = await explore(host, c.program, strategy, {
    seed: opts.seed,
    schedules: opts.schedules,
    checkers: checkersFor(opts),
    onExecution: (r, execution) => {
      if (r.outcome !== 'completed') outcomes.add(r.outcome);
      for (const f of r.findings) {
        kinds.add(f.kind);
        signatures.add(f.signature);
      }
      if (shows(r)) {
        hits++;
        first ??= { execution, run: r };
      }
    },
    until: (r) => opts.untilFound === true && shows(r),
  });
  return { runs: x.executions, hits, first, kinds, signatures, outcomes };
}
