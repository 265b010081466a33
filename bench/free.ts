import { defaultCheckers } from '../checkers/index.ts';
import { FreeRunner } from '../runtime/free-run.ts';
import { DEFAULT_CHAOS, chaosOptions } from '../runtime/hosts/free-chaos.ts';
import type { ChaosMode } from '../runtime/hosts/free-chaos.ts';
import { mix } from '../runtime/rng.ts';
import { canonicalKind } from '../protocol/findings.ts';
import { BUILTIN } from '../scenarios/index.ts';
import { assignments, expectedFor, variantKey } from '../scenarios/scenario.ts';
import type { Scenario, VariantAssignment } from '../scenarios/scenario.ts';
import { ringProgram } from './ring.ts';
import { medianOf } from './runtime.ts';

/** One buggy seed variant in free mode: the median over the seeds, and in how many seeds it was found within the cap. */
export interface FreeFigure {
  readonly scenario: string;
  readonly variants: string;
  /** Median of the free schedules until every expected kind was seen; cap + 1 for a seed that did not see them all. */
  readonly median: number;
  readonly found: number;
  readonly seeds: number;
}

/**
 * Free schedules (`run --mode free --seed <seed>`: task seed `seed`, the
 * schedule's chaos seed mix(seed, i)) until every expected kind of `v` has
 * been seen; cap + 1 when not. One set of workers per variant, its set-up
 * run again per seed.
 */
async function freeSchedulesToFind(runner: FreeRunner, want: ReadonlySet<string>, seed: number, cap: number, chaos: ChaosMode): Promise<number> {
  const seen = new Set<string>();
  const opts = chaosOptions(chaos);
  for (let i = 0; i < cap; i++) {
    const r = await runner.run({ seed, runSeed: mix(seed, i), chaos: opts });
    for (const f of r.findings) if (want.has(canonicalKind(f.kind))) seen.add(canonicalKind(f.kind));
    if (seen.size >= want.size) return i + 1;
  }
  return cap + 1;
}

/**
 * Issue 20's detection benchmark: every buggy assignment of every built-in
 * `seed-*` scenario, in free mode with chaos `chaos`, `seeds` seeds, at most
 * `cap` free schedules each.
 */
export async function freeFigures(
  seeds: number, cap: number, chaos: ChaosMode, log: (s: string) => void, only?: readonly string[],
): Promise<FreeFigure[]> {
  const out: FreeFigure[] = [];
  for (const s of BUILTIN) {
    if (!s.name.startsWith('seed-') || (only !== undefined && !only.includes(s.name))) continue;
    for (const v of assignments(s).filter((a) => (expectedFor(s, a) ?? []).length > 0)) out.push(await oneVariant(s, v, seeds, cap, chaos, log));
  }
  return out;
}

async function oneVariant(s: Scenario, v: VariantAssignment, seeds: number, cap: number, chaos: ChaosMode, log: (s: string) => void): Promise<FreeFigure> {
  const want = new Set((expectedFor(s, v) ?? []).map(canonicalKind));
  const runner = new FreeRunner(s.program(v), s.checkers ?? defaultCheckers);
  const counts: number[] = [];
  try {
    for (let seed = 1; seed <= seeds; seed++) counts.push(await freeSchedulesToFind(runner, want, seed, cap, chaos));
  } finally {
    await runner.close();
  }
  const f: FreeFigure = { scenario: s.name, variants: variantKey(v), median: medianOf(counts), found: counts.filter((c) => c <= cap).length, seeds };
  log(`  free ${f.scenario} ${f.variants} (chaos ${chaos}): median ${f.median} schedules to find (${f.found}/${seeds} seeds within ${cap}; ${counts.join(' ')})`);
  return f;
}

/**
 * Free-mode messages/s on the 8-actor ring with 64 tasks lapping, with the
 * given chaos. The first run on the workers is untimed: it starts them, lets
 * V8 compile the actor code, and teaches chaos the run's length (k), as the
 * runs of an exploration do.
 */
export async function freeRingMessagesPerSec(actors: number, tasks: number, laps: number, chaos: ChaosMode): Promise<number> {
  const runner = new FreeRunner(ringProgram(actors, tasks, laps));
  try {
    const opts = chaosOptions(chaos);
    await runner.run({ seed: 1, chaos: opts, keepEvents: false, hangMs: 10_000 });
    const r = await runner.run({ seed: 1, runSeed: 2, chaos: opts, keepEvents: false, hangMs: 10_000 });
    if (r.outcome !== 'completed') throw new Error(`free ring run ended ${r.outcome}`);
    // every step is one delivered message (root deliveries included)
    return r.steps / (r.elapsedMs / 1000);
  } finally {
    await runner.close();
  }
}

/** Chaos on against off, messages/s on the free ring, the median of `reps` each, interleaved so load drifts hit both. */
export async function chaosThroughput(reps: number, laps: number): Promise<{ off: number; on: number }> {
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < reps; i++) {
    off.push(await freeRingMessagesPerSec(8, 64, laps, 'off'));
    on.push(await freeRingMessagesPerSec(8, 64, laps, DEFAULT_CHAOS));
  }
  return { off: medianOf(off), on: medianOf(on) };
}
