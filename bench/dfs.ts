import { defaultCheckers } from '../checkers/index.ts';
import { explore } from '../runtime/explore.ts';
import { InlineHost } from '../runtime/hosts/inline.ts';
import { DfsStrategy } from '../runtime/strategies/dfs.ts';
import { makeStrategy } from '../runtime/strategies/index.ts';
import type { Strategy } from '../runtime/strategies/strategy.ts';
import { canonicalKind } from '../protocol/findings.ts';
import { findScenario } from '../scenarios/index.ts';
import { expectedFor } from '../scenarios/scenario.ts';
import type { VariantAssignment } from '../scenarios/scenario.ts';

/** One exploration of a scenario's buggy assignment (a dfs search, or a sampling strategy to its first finding). */
interface SearchFigures {
  readonly schedules: number;
  readonly seconds: number;
  readonly complete: boolean;
  /** Schedules until every expected kind was seen (Infinity: not all were). */
  readonly toFind: number;
}

/** Explores `scenario` under `v` with `strategy` (inline host, the scenario's checkers, seed 1) up to `cap` schedules, or until every expected kind was seen with `untilFound`. */
async function searchFigures(scenario: string, v: VariantAssignment, strategy: Strategy, cap: number, untilFound = false): Promise<SearchFigures> {
  const s = findScenario(scenario);
  const program = s.program(v);
  const want = new Set((expectedFor(s, v) ?? []).map(canonicalKind));
  const seen = new Set<string>();
  let toFind = want.size === 0 ? 0 : Infinity;
  const host = await InlineHost.create(program);
  try {
    const r = await explore(host, program, strategy, {
      seed: 1, schedules: cap, checkers: s.checkers ?? defaultCheckers,
      onExecution: (e, n) => {
        for (const f of e.findings) if (want.has(canonicalKind(f.kind))) seen.add(canonicalKind(f.kind));
        if (toFind === Infinity && seen.size === want.size) toFind = n + 1;
      },
      until: () => untilFound && toFind !== Infinity,
    });
    return { schedules: r.executions, seconds: r.elapsedMs / 1000, complete: r.complete, toFind };
  } finally {
    await host.close();
  }
}

/**
 * Issue 15's dfs benchmark: the bounded-exhaustive search (bound 2) of two
 * seed scenarios' buggy variants, and on the first the reduction's ratio —
 * schedules with the reduction (dpor) ÷ schedules of the same bound without it;
 * then schedules to the first finding of `--strategy dfs` (its sample, then
 * the search) against portfolio on the seeds where one of the two alone is
 * slow: `ratios.dfsVsPortfolioFirstFinding`, the worst of dfs ÷ portfolio (≤ 1).
 */
export async function dfsFigures(quick: boolean, put: (name: string, value: number, unit: string) => void, ratios: Record<string, number>): Promise<void> {
  const cap = quick ? 2000 : 20_000;
  const seeds: readonly [string, VariantAssignment][] = [
    ['seed-003-deferred-attach', { 'deferred-attach': 'unlocked' }],
    ['seed-003-dev-iommu-bits', { 'dev-iommu-bits': 'shared-word' }],
  ];
  for (const [i, [name, v]] of seeds.entries()) {
    const f = await searchFigures(name, v, new DfsStrategy({ preemptions: 2, reduction: 'dpor' }), cap);
    put(`dfs.${name}.schedules`, f.schedules, f.complete ? 'schedules (exhaustive, ≤ 2 preemptions)' : 'schedules (bound not finished)');
    put(`dfs.${name}.seconds`, Number(f.seconds.toFixed(2)), 's');
    put(`dfs.${name}.schedulesToFirstFinding`, f.toFind === Infinity ? cap + 1 : f.toFind, 'schedules');
    if (i === 0) {
      const plain = await searchFigures(name, v, new DfsStrategy({ preemptions: 2, reduction: 'none' }), cap);
      put(`dfs.${name}.schedulesWithoutReduction`, plain.schedules, plain.complete ? 'schedules (exhaustive, ≤ 2 preemptions)' : 'schedules (bound not finished)');
      ratios.dfsReduction = Number((f.schedules / plain.schedules).toFixed(3));
    }
  }
  let worst = 0;
  const slow: readonly [string, VariantAssignment][] = [
    ['seed-000-sibling-bind', { 'dma-owner': 'notifier-bug-on' }],
    ['seed-004-domain-alloc-vs-hot-remove', { 'domain-alloc': 'v4-escaping-dev' }],
  ];
  for (const [name, v] of slow) {
    const d = await searchFigures(name, v, makeStrategy('dfs', 1, { budget: cap }), cap, true);
    const p = await searchFigures(name, v, makeStrategy('portfolio', 1), cap, true);
    put(`dfs.${name}.toFirstFinding.dfs`, d.toFind === Infinity ? cap + 1 : d.toFind, 'schedules');
    put(`dfs.${name}.toFirstFinding.portfolio`, p.toFind === Infinity ? cap + 1 : p.toFind, 'schedules');
    worst = Math.max(worst, d.toFind / p.toFind);
  }
  ratios.dfsVsPortfolioFirstFinding = Number(worst.toFixed(3));
}
