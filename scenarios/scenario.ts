import type { Checker } from '../checkers/checker.ts';
import type { Program } from '../runtime/program.ts';
import type { FindingKind } from '../protocol/findings.ts';
import type { KnownFinding } from '../fuzz/known.ts';

export type VariantAssignment = Readonly<Record<string, string>>;

/**
 * What a scenario expects under the variant assignments that match `when`.
 * At least one of the three is given; each one given must hold.
 */
export interface Expectation {
  readonly when: VariantAssignment;
  /** Exactly these kinds (besides known upstream findings, unless --strict). */
  readonly findings?: readonly FindingKind[];
  /** At least these kinds; others are not judged by this key. */
  readonly includes?: readonly FindingKind[];
  /**
   * Exactly these kinds among the findings the variant adds against the
   * baseline row (same schedules): `"new": []` is "adds nothing".
   */
  readonly new?: readonly FindingKind[];
}

/**
 * A runnable scenario: a program per variant assignment, the checkers to
 * run, and the expected outcome per assignment. Built-in scenarios are TS
 * modules; scenario documents (JSON or TS) compile to the same shape.
 */
export interface Scenario {
  readonly name: string;
  readonly title: string;
  /** Axis → its values; the first value of each axis is the default. */
  readonly variants: Readonly<Record<string, readonly string[]>>;
  program(v: VariantAssignment): Program;
  readonly expect: readonly Expectation[];
  /**
   * The checkers to run (fresh per execution) under a variant assignment
   * (a scenario's rules may change the kernel rules they apply per
   * assignment); default: checkers/index.ts defaultCheckers.
   */
  readonly checkers?: (v?: VariantAssignment) => readonly Checker[];
  /** The kernel-rule changes in force under an assignment, each with its reason (the run header prints them). */
  readonly rules?: (v: VariantAssignment) => readonly string[];
  /** The file a scenario document was loaded from, as given: what a replay file names so `replay` finds it again. */
  readonly source?: string;
  /** The scenario as a document (scenarios/format/document.ts), when it is one: what `show` prints. */
  readonly document?: unknown;
  /** The scenario's own known findings, matched after the project's list (fuzz/known.ts). */
  readonly known?: readonly KnownFinding[];
}

/** Every combination of the scenario's variant values, in axis order. */
export function assignments(s: Scenario): VariantAssignment[] {
  let out: Record<string, string>[] = [{}];
  for (const [axis, values] of Object.entries(s.variants)) {
    out = out.flatMap((a) => values.map((v) => ({ ...a, [axis]: v })));
  }
  return out;
}

/** The expectation for an assignment: the first whose `when` matches, or null if none says. */
export function expectationFor(s: Scenario, v: VariantAssignment): Expectation | null {
  for (const e of s.expect) {
    if (Object.entries(e.when).every(([axis, value]) => v[axis] === value)) return e;
  }
  return null;
}

/**
 * The finding kinds expected for an assignment (the first matching
 * expectation's `findings`, else its `includes`, else none), or null if no
 * expectation says.
 */
export function expectedFor(s: Scenario, v: VariantAssignment): readonly FindingKind[] | null {
  const e = expectationFor(s, v);
  return e === null ? null : (e.findings ?? e.includes ?? []);
}

/** "order=abba,x=y": a stable key for file names and tables. */
export function variantKey(v: VariantAssignment): string {
  const parts = Object.keys(v).sort().map((k) => `${k}=${v[k]}`);
  return parts.length === 0 ? 'default' : parts.join(',');
}
