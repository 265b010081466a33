import { KNOWN, matchKnown } from '../fuzz/known.ts';
import type { KnownFinding } from '../fuzz/known.ts';
import { InputError } from '../runtime/input-error.ts';
import { canonicalKind } from '../protocol/findings.ts';
import type { Finding, FindingKind } from '../protocol/findings.ts';
import { expectationFor, variantKey } from '../scenarios/scenario.ts';
import type { Expectation, Scenario, VariantAssignment } from '../scenarios/scenario.ts';

/**
 * The verdict of a run or a compare row (issue 15): which findings the
 * known list explains, what a variant adds and removes against its
 * baseline, and whether the outcome is what the scenario expects.
 */

/** A finding the known list explains (CLI.md `known`). */
export interface KnownHit {
  readonly id: string;
  readonly kind: FindingKind;
  readonly signature: string;
  readonly source: 'upstream' | 'model';
  readonly reference: string;
}

/**
 * What a clean result claims (CLI.md `claim`): `sampled` schedules, or every
 * schedule with at most `preemptions` preemptions up to the partial-order
 * reduction (`exhaustive`). A dfs whose bound did not finish in the budget
 * claims a sample and says so (`preemptions`, `unfinished: true`). dfs
 * runs `sampled` portfolio schedules before its search
 * (runtime/strategies/sample-first.ts); `schedules` counts both.
 */
export interface Claim {
  readonly kind: 'sampled' | 'exhaustive';
  readonly schedules: number;
  readonly preemptions?: number;
  readonly unfinished?: true;
  readonly sampled?: number;
}

/** The known list a scenario's runs use: the project's, then the scenario's own entries. */
export function knownListOf(s: Scenario): readonly KnownFinding[] {
  return s.known === undefined || s.known.length === 0 ? KNOWN : [...KNOWN, ...s.known];
}

/**
 * The known entry a finding of scenario `s` matches, or null. Entries with a
 * `when` condition on a fuzz document never match here: a scenario is not one.
 */
export function knownHit(f: Finding, list: readonly KnownFinding[]): KnownHit | null {
  const k = matchKnown(f, null, list);
  return k === null ? null : { id: k.id, kind: f.kind, signature: f.signature, source: k.source, reference: k.reference };
}

/** The per-axis baseline values: `--baseline AXIS=VALUE` where given, else each axis's first value. */
export function baselineOf(s: Scenario, given: readonly string[]): VariantAssignment {
  const out: Record<string, string> = {};
  for (const [axis, values] of Object.entries(s.variants)) out[axis] = values[0] as string;
  for (const g of given) {
    const eq = g.indexOf('=');
    if (eq <= 0) throw new InputError(`--baseline takes AXIS=VALUE (got "${g}")`, null, '--baseline');
    const axis = g.slice(0, eq);
    const value = g.slice(eq + 1);
    const values = s.variants[axis];
    if (values === undefined) {
      throw new InputError(`unknown variant axis "${axis}" for scenario ${s.name} (axes: ${Object.keys(s.variants).join(', ') || 'none'})`, null, '--baseline');
    }
    if (!values.includes(value)) throw new InputError(`unknown value "${value}" for variant axis "${axis}" (values: ${values.join(', ')})`, null, '--baseline');
    out[axis] = value;
  }
  return out;
}

export const sameAssignment = (a: VariantAssignment, b: VariantAssignment): boolean => variantKey(a) === variantKey(b);

/** The parts of a run a verdict needs. */
export interface Judged {
  readonly findings: readonly { readonly kind: FindingKind; readonly signature: string }[];
  readonly known: readonly KnownHit[];
  /** Signatures the row adds against its baseline (null: no baseline compared). */
  readonly added: readonly string[] | null;
}

const kinds = (xs: readonly FindingKind[]): Set<string> => new Set(xs.map(canonicalKind));
const sameSet = (a: Set<string>, b: Set<string>): boolean => a.size === b.size && [...a].every((x) => b.has(x));

/**
 * Whether a run meets its expectation. Known findings satisfy an expected
 * kind but, unless `strict`, are never unexpected. `findings`: exactly these
 * kinds; `includes`: at least these; `new`: exactly these kinds among the
 * (counted) findings added against the baseline. No expectation: clean.
 */
export function judge(e: Expectation | null, r: Judged, strict: boolean): boolean {
  const knownSigs = new Set(strict ? [] : r.known.map((k) => k.signature));
  const all = kinds(r.findings.map((f) => f.kind));
  const counted = kinds(r.findings.filter((f) => !knownSigs.has(f.signature)).map((f) => f.kind));
  if (e === null) return counted.size === 0;
  if (e.findings !== undefined) {
    const want = kinds(e.findings);
    if (![...want].every((k) => all.has(k)) || ![...counted].every((k) => want.has(k))) return false;
  }
  if (e.includes !== undefined && ![...kinds(e.includes)].every((k) => all.has(k))) return false;
  if (e.new !== undefined) {
    const bySig = new Map(r.findings.map((f) => [f.signature, f.kind]));
    const added = kinds((r.added ?? []).filter((sig) => !knownSigs.has(sig)).map((sig) => bySig.get(sig) as FindingKind));
    if (!sameSet(added, kinds(e.new))) return false;
  }
  return true;
}

/** `added` / `removed`: the signatures of `row` not in `base`, and of `base` not in `row`. */
export function differential(row: readonly { readonly signature: string }[], base: readonly { readonly signature: string }[]): { added: string[]; removed: string[] } {
  const mine = new Set(row.map((f) => f.signature));
  const theirs = new Set(base.map((f) => f.signature));
  return { added: [...mine].filter((x) => !theirs.has(x)), removed: [...theirs].filter((x) => !mine.has(x)) };
}

/** Whether the row's expectation needs a baseline row to be judged. */
export function needsBaseline(s: Scenario, v: VariantAssignment): boolean {
  return expectationFor(s, v)?.new !== undefined;
}

const n = (x: number): string => x.toLocaleString('en-US');

/** "exhaustive, ≤ 2 preemptions, 18,432 schedules, the first 64 sampled" / "1,000 sampled schedules". */
export function claimText(c: Claim): string {
  const first = c.sampled !== undefined && c.sampled > 0 ? `, the first ${n(c.sampled)} sampled` : '';
  if (c.kind === 'exhaustive') return `exhaustive, ≤ ${c.preemptions ?? 0} preemptions, ${n(c.schedules)} schedules${first}`;
  if (c.unfinished === true) return `${n(c.schedules)} schedules of dfs ≤ ${c.preemptions ?? 0} preemptions${first}, not exhaustive: the bound did not finish`;
  return `${n(c.schedules)} sampled schedules`;
}
