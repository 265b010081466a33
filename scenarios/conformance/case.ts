import type { TraceEntry } from '../../runtime/execution.ts';
import type { Finding, FindingKind } from '../../protocol/findings.ts';
import type { UnitUnderTest } from './machine.ts';
import type { Script } from './script.ts';

/**
 * A conformance case as data: where it comes from, the core's contract in
 * words, the kernel program(s) it runs on the unit under test, and a judge
 * that turns what happened into an observation and a verdict. The runner
 * (runner.ts) turns a verdict into pass / fail / deviation against the
 * unit's documented behaviour (deviations.ts).
 */

/** One task of a case's program. */
export interface CaseTask {
  readonly id: string;
  readonly script: Script;
}

export interface CaseProgram {
  readonly tasks: readonly CaseTask[];
  /** Boot with iommu.passthrough (identity default domains). */
  readonly passthrough?: boolean;
  /** The machine has the require_direct device R (its probe WARNs on a unit without a 1:1-capable default domain). */
  readonly requireDirect?: boolean;
  readonly variants?: Readonly<Record<string, string>>;
  /** Executions under different schedules (cases with concurrent tasks); default 1. */
  readonly schedules?: number;
}

/** What one execution of a case program left behind. */
export interface CaseRun {
  readonly outcome: string;
  /** Each task's call results (undefined: the task did not finish). */
  readonly results: Readonly<Record<string, readonly unknown[] | undefined>>;
  readonly findings: readonly Finding[];
  readonly trace: readonly TraceEntry[] | null;
}

/**
 * contract: the unit did what the core's contract promises. deviation: it
 * did the named other thing (seed 001's options "b"/"c", or a case's own
 * id). broken: something else.
 */
export type Verdict = { readonly kind: 'contract' } | { readonly kind: 'deviation'; readonly id: string } | { readonly kind: 'broken' };

export interface Judgement {
  readonly observed: string;
  readonly verdict: Verdict;
}

export interface ConformanceCase {
  readonly name: string;
  /** Where the case comes from: "kernel-facts §7.3 #1", "seed 001", "issue 7". */
  readonly source: string;
  /** The contract, as the report prints it under "expected". */
  readonly expected: (u: UnitUnderTest) => string;
  /** Finding kinds some outcome of the case legitimately produces (a WARN the core prints); any other finding fails the case. */
  readonly allow: readonly FindingKind[];
  readonly build: (u: UnitUnderTest) => CaseProgram;
  readonly judge: (u: UnitUnderTest, p: CaseProgram, runs: readonly CaseRun[]) => Judgement;
}

export const CONTRACT: Verdict = { kind: 'contract' };
export const BROKEN: Verdict = { kind: 'broken' };
export const deviation = (id: string): Verdict => ({ kind: 'deviation', id });
