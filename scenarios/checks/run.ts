import type { CheckCase } from './matrix.ts';
import { LifetimeChecker } from '../../checkers/lifetime/lifetime-checker.ts';
import type { LifetimeCheckerOptions } from '../../checkers/lifetime/lifetime-checker.ts';
import { RaceChecker } from '../../checkers/races/race-checker.ts';
import type { RaceCheckerOptions } from '../../checkers/races/race-checker.ts';
import { runExecution } from '../../runtime/execution.ts';
import type { ExecutionResult } from '../../runtime/execution.ts';
import type { Host } from '../../runtime/hosts/host.ts';
import type { Program } from '../../runtime/program.ts';
import type { Strategy } from '../../runtime/strategies/strategy.ts';
import type { Finding, FindingKind } from '../../protocol/findings.ts';

/** Runs the matrix programs with fresh race and lifetime checkers (the execution calls their `finish`). */

export interface CheckerOptions {
  readonly races?: RaceCheckerOptions;
  readonly lifetime?: LifetimeCheckerOptions;
}

export interface CheckedRun {
  readonly result: ExecutionResult;
  readonly findings: readonly Finding[];
}

export async function runChecked(host: Host, program: Program, strategy: Strategy, seed: number, execution: number, opts: CheckerOptions = {}): Promise<CheckedRun> {
  await host.reset();
  const checkers = [new RaceChecker(opts.races), new LifetimeChecker(opts.lifetime)];
  const result = await runExecution(host, program, strategy, { seed, execution, checkers });
  return { result, findings: result.findings };
}

export interface Exploration {
  /** Executions run. */
  readonly runs: number;
  /** Executions whose findings included the expected kind. */
  readonly hits: number;
  /** The first execution that showed the expected kind, with its findings. */
  readonly first: { readonly execution: number; readonly run: CheckedRun } | null;
  /** Every kind seen, every signature seen, and the outcomes other than `completed`. */
  readonly kinds: ReadonlySet<FindingKind>;
  readonly signatures: ReadonlySet<string>;
  readonly outcomes: ReadonlySet<string>;
}

/**
 * Runs up to `schedules` executions of a case; with `untilFound`, stops at the
 * first execution that shows the expected kind.
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
  let runs = 0;
  for (let i = 0; i < opts.schedules; i++) {
    const run = await runChecked(host, c.program, strategy, opts.seed, i, opts);
    runs++;
    if (run.result.outcome !== 'completed') outcomes.add(run.result.outcome);
    for (const f of run.findings) {
      kinds.add(f.kind);
      signatures.add(f.signature);
    }
    if (c.expected !== null && run.findings.some((f) => f.kind === c.expected)) {
      hits++;
      first ??= { execution: i, run };
      if (opts.untilFound === true) break;
    }
  }
  return { runs, hits, first, kinds, signatures, outcomes };
}
