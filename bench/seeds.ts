import { setFrames } from '../runtime/kfunc.ts';
import { defaultCheckers } from '../checkers/index.ts';
import { explore } from '../runtime/explore.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { makeStrategy } from '../runtime/strategies/index.ts';
import { canonicalKind } from '../protocol/findings.ts';
import { BUILTIN } from '../scenarios/index.ts';
import { assignments, expectedFor, variantKey } from '../scenarios/scenario.ts';
import type { Scenario, VariantAssignment } from '../scenarios/scenario.ts';
import { medianOf } from './runtime.ts';

/** One seed scenario's figures: over its buggy assignments, the slowest to find and the explored rate. */
export interface SeedFigures {
  readonly scenario: string;
  /** Median over the seeds of the schedules until every expected kind was seen (the worst buggy assignment). */
  readonly schedulesToFirstFinding: number;
  /** Schedules explored per second on the first buggy assignment (inline host, the scenario's checkers). */
  readonly schedulesPerSec: number;
  /** Frames on against the bare call path: the median over back-to-back pairs of their ratio (issue 14 ratios.framesOverhead). */
  readonly framesRatio: number;
  /**
   * Schedules/s on the first fixed assignment, measured as `schedulesPerSec` (issue 19 quotes a fixed variant's
   * rate: seed-004's `domain-alloc=reviewer-locked`); null when the scenario has none.
   */
  readonly schedulesPerSecFixed: number | null;
  /** The same with the bare call path: declared kernel functions run without frames or patch look-ups (runtime/kfunc.ts setFrames). */
  readonly schedulesPerSecBare: number;
  /** Per buggy assignment: its median, and in how many seeds every expected kind was found within the cap. */
  readonly detail: readonly { readonly variants: string; readonly median: number; readonly found: number; readonly seeds: number }[];
}

/**
 * Schedules of the default strategy (portfolio) until every expected kind of
 * `v` has been found; `cap` + 1 when it was not, so a miss counts against
 * the median rather than vanishing from it.
 */
async function schedulesToFind(s: Scenario, v: VariantAssignment, seed: number, cap: number): Promise<number> {
  const want = new Set((expectedFor(s, v) ?? []).map(canonicalKind));
  const program = s.program(v);
  const host = await InlineHost.create(program);
  const seen = new Set<string>();
  let at = cap + 1;
  try {
    await explore(host, program, makeStrategy('portfolio', seed), {
      seed, schedules: cap, checkers: s.checkers ?? defaultCheckers,
      until: (r, n) => {
        for (const f of r.findings) if (want.has(canonicalKind(f.kind))) seen.add(canonicalKind(f.kind));
        if (seen.size < want.size) return false;
        at = n + 1;
        return true;
      },
    });
  } finally {
    await host.close();
  }
  return at;
}

async function schedulesPerSec(s: Scenario, v: VariantAssignment, schedules: number): Promise<number> {
  const program = s.program(v);
  const host = await InlineHost.create(program);
  try {
    const r = await explore(host, program, makeStrategy('portfolio', 1), { seed: 1, schedules, checkers: s.checkers ?? defaultCheckers });
    return (r.executions * 1000) / r.elapsedMs;
  } finally {
    await host.close();
  }
}

/** The issue-8 seed benchmarks: every built-in `seed-*` scenario with a buggy assignment. */
export async function seedFigures(quick: boolean, log: (s: string) => void): Promise<SeedFigures[]> {
  const seeds = quick ? 2 : 20;
  const cap = quick ? 200 : 2000;
  const out: SeedFigures[] = [];
  for (const s of BUILTIN) {
    if (!s.name.startsWith('seed-')) continue;
    const buggy = assignments(s).filter((v) => (expectedFor(s, v) ?? []).length > 0);
    if (buggy.length === 0) continue;
    const detail: SeedFigures['detail'][number][] = [];
    for (const v of buggy) {
      const counts: number[] = [];
      for (let seed = 1; seed <= seeds; seed++) counts.push(await schedulesToFind(s, v, seed, cap));
      const d = { variants: variantKey(v), median: medianOf(counts), found: counts.filter((c) => c <= cap).length, seeds };
      detail.push(d);
      log(`  ${s.name} ${d.variants}: median ${d.median} schedules to find (${d.found}/${seeds} seeds within ${cap})`);
    }
    // frames on and the bare call path, in pairs run back to back (the order alternating), so load drift hits both
    // halves of a pair alike; the overhead is the median of the pairs' ratios, the rates the medians of each side
    const n = quick ? 50 : 500;
    const on: number[] = [];
    const bare: number[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < (quick ? 3 : 5); i++) {
      const measure = async (frames: boolean): Promise<number> => {
        setFrames(frames);
        try {
          return await schedulesPerSec(s, buggy[0] as VariantAssignment, n);
        } finally {
          setFrames(true);
        }
      };
      const framesFirst = i % 2 === 0;
      const x = await measure(framesFirst);
      const y = await measure(!framesFirst);
      const withFrames = framesFirst ? x : y;
      const without = framesFirst ? y : x;
      on.push(withFrames);
      bare.push(without);
      ratios.push(withFrames / without);
    }
    const fixed = assignments(s).find((v) => expectedFor(s, v)?.length === 0);
    const fixedRates: number[] = [];
    for (let i = 0; fixed !== undefined && i < (quick ? 1 : 3); i++) fixedRates.push(await schedulesPerSec(s, fixed, n));
    out.push({
      scenario: s.name, schedulesToFirstFinding: Math.max(...detail.map((d) => d.median)),
      schedulesPerSec: medianOf(on), schedulesPerSecFixed: fixed === undefined ? null : medianOf(fixedRates),
      schedulesPerSecBare: medianOf(bare), framesRatio: medianOf(ratios), detail,
    });
  }
  return out;
}
