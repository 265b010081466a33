import type { Checker } from '../checkers/checker.ts';
import type { Program } from '../runtime/program.ts';
import type { FindingKind } from '../protocol/findings.ts';

export type VariantAssignment = Readonly<Record<string, string>>;

/** What a scenario expects under the variant assignments that match `when`. */
export interface Expectation {
  readonly when: VariantAssignment;
  readonly findings: readonly FindingKind[];
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
}

/** Every combination of the scenario's variant values, in axis order. */
export function assignments(s: Scenario): VariantAssignment[] {
  let out: Record<string, string>[] = [{}];
  for (const [axis, values] of Object.entries(s.variants)) {
    out = out.flatMap((a) => values.map((v) => ({ ...a, [axis]: v })));
  }
  return out;
}

/** The finding kinds expected for an assignment (the first matching expectation), or null if none says. */
export function expectedFor(s: Scenario, v: VariantAssignment): readonly FindingKind[] | null {
  for (const e of s.expect) {
    if (Object.entries(e.when).every(([axis, value]) => v[axis] === value)) return e.findings;
  }
  return null;
}

/** "order=abba,x=y": a stable key for file names and tables. */
export function variantKey(v: VariantAssignment): string {
  const parts = Object.keys(v).sort().map((k) => `${k}=${v[k]}`);
  return parts.length === 0 ? 'default' : parts.join(',');
}
