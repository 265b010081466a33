import { explore } from '../runtime/explore.ts';
import type { FoundFinding } from '../runtime/explore.ts';
import { FreeRunner } from '../runtime/free-run.ts';
import { DEFAULT_CHAOS, chaosOptions } from '../runtime/hosts/free-chaos.ts';
import type { ChaosMode } from '../runtime/hosts/free-chaos.ts';
import type { Host, HostKind } from '../runtime/hosts/host.ts';
import { hostFor } from '../runtime/hosts/guarded.ts';
import { InputError } from '../runtime/input-error.ts';
import type { Program } from '../runtime/program.ts';
import { dfsSample, makeStrategy } from '../runtime/strategies/index.ts';
import type { ExploringStrategy } from '../runtime/strategies/index.ts';
import { mix } from '../runtime/rng.ts';
import { interrupted } from '../runtime/interrupt.ts';
import { canonicalKind } from '../protocol/findings.ts';
import type { FindingKind } from '../protocol/findings.ts';
import type { Checker } from '../checkers/checker.ts';
import { PatchReach } from '../checkers/patch-reach.ts';
import { importModule, resolveModule } from '../runtime/modules.ts';
import type { Patch } from '../runtime/patch.ts';
import { defaultCheckers } from '../checkers/index.ts';
import { LockStats, NO_LOCK_STATS, mergeLockStats } from '../checkers/lock-stats.ts';
import type { LockStatsSummary } from '../checkers/lock-stats.ts';
import type { Scenario, VariantAssignment } from '../scenarios/scenario.ts';
import { expectationFor, expectedFor, variantKey } from '../scenarios/scenario.ts';
import type { Expectation } from '../scenarios/scenario.ts';
import { differential, judge, knownHit, knownListOf } from './verdict.ts';
import type { Claim, KnownHit } from './verdict.ts';
import { recordingOf, writeFinding } from './output.ts';
import type { ReplayFile } from '../runtime/replay-file.ts';
import type { RunIdentity } from './output.ts';

export interface RunSettings {
  readonly host: HostKind;
  readonly mode: 'controlled' | 'free';
  readonly strategy: ExploringStrategy;
  readonly schedules: number;
  readonly timeMs?: number;
  readonly seed: number;
  /** Steps after which an execution is cut short (`step-limit`); default the runtime's 100,000. */
  readonly maxSteps?: number;
  /** Free mode: the watchdog reports a hang after this long without progress. */
  readonly hangMs?: number;
  /** Free mode: delay injection (runtime/hosts/free-chaos.ts); DEFAULT_CHAOS when not given. */
  readonly chaos?: ChaosMode;
  /** Where replay files and reports are written; null writes nothing (the library's default). */
  readonly out: string | null;
  /** Filled with each finding's replay document, by signature (what the library returns). */
  readonly recordings?: Map<string, ReplayFile>;
  /** Progress lines go here (stderr), or nowhere with --json. */
  readonly progress: ((line: string) => void) | null;
  /** How far the run is (schedules done), rewritten in place on a terminal; defaults to `progress`. */
  readonly status?: ((text: string) => void) | null;
  /** Known upstream findings count as unexpected (--strict). */
  readonly strict?: boolean;
  /** dfs: the preemption bound (--preemptions, default 2). */
  readonly preemptions?: number;
}

/** One finding in the JSON of `run` (CLI.md). */
export interface RunFinding {
  readonly kind: FindingKind;
  readonly title: string;
  readonly signature: string;
  readonly firstSchedule: number;
  readonly count: number;
  readonly replay: string;
  readonly report: string;
  /** The known-list entry that explains it, if one does. */
  readonly known?: string;
}

/** The JSON object of `run` and each row of `compare` (CLI.md). */
export interface RunReport {
  readonly scenario: string;
  readonly variants: VariantAssignment;
  readonly host: HostKind;
  readonly mode: 'controlled' | 'free';
  readonly strategy: string;
  readonly seed: number;
  readonly schedules: number;
  readonly steps: number;
  readonly elapsedMs: number;
  readonly expected: readonly FindingKind[] | null;
  readonly matched: boolean;
  readonly findings: readonly RunFinding[];
  /**
   * Executions that hit the step limit: their findings count, but a
   * truncated schedule says nothing about what it did not reach, so a run
   * whose every schedule was truncated is no verdict (exit 1, allTruncated).
   */
  readonly truncated: number;
  /** Free mode: the chaos setting and how many steps it held back over all schedules. */
  readonly chaos?: { readonly mode: ChaosMode; readonly delays: number };
  /** Lock statistics per class over all executions of the run (times in steps). */
  readonly lockStats: LockStatsSummary;
  /** Patched functions and handlers of the scenario's patches that no schedule of the run reached (absent without patches). */
  readonly unusedPatches?: readonly UnusedPatch[];
  /** Stopped by SIGINT/SIGTERM before its budget. */
  readonly interrupted?: boolean;
  /** Findings the known list explains (not unexpected unless `strict`). */
  readonly known: readonly KnownHit[];
  readonly strict: boolean;
  /** The baseline assignment this run was compared with (absent: none, or it is the baseline). */
  readonly baseline?: VariantAssignment;
  /** Signatures this run has and its baseline has not, and the other way round (empty without a baseline). */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** How strong "clean" is: sampled schedules, or exhaustive within a preemption bound. */
  readonly claim: Claim;
  /** The scenario's expectation for this assignment (`findings`, `includes`, `new`), when it has one. */
  readonly expectation?: Omit<Expectation, 'when'>;
  /** The scenario's changes to the kernel rules in force for this assignment, each with its reason (docs/scenarios.md). */
  readonly rules?: readonly string[];
}

/** A patched function (or handler) that no schedule of a run called: the patch missed its target. */
export interface UnusedPatch {
  readonly patch: string;
  readonly actor: string;
  /** The kernel function name, or the op of a patched handler. */
  readonly function: string;
}

/** What the program's patches replace, per actor (runtime/patch.ts), read from the patch modules. */
async function patchedTargets(program: Program): Promise<UnusedPatch[]> {
  const out: UnusedPatch[] = [];
  for (const a of program.actors) {
    for (const ref of a.patches ?? []) {
      const list = (await importModule(resolveModule(ref.module)))[ref.export];
      const p = Array.isArray(list) ? (list as Patch[]).find((x) => x.name === ref.name) : undefined;
      if (p === undefined) continue;
      for (const fn of [...Object.keys(p.functions ?? {}), ...Object.keys(p.handlers ?? {})]) out.push({ patch: p.name, actor: a.id, function: fn });
    }
  }
  return out;
}

/** A controlled run's host; a user's patches run guarded by the step watchdog in either kind (runtime/hosts/guarded.ts). */
export async function createHost(kind: HostKind, program: Program): Promise<Host> {
  return hostFor(kind, program);
}

/** Fills in unset axes with their first value and rejects unknown axes and values. */
export function resolveVariants(s: Scenario, given: VariantAssignment, source = '--variant'): VariantAssignment {
  const out: Record<string, string> = {};
  for (const axis of Object.keys(given)) {
    if (!Object.hasOwn(s.variants, axis)) {
      throw new InputError(`unknown variant axis "${axis}" for scenario ${s.name} (axes: ${Object.keys(s.variants).join(', ') || 'none'})`, null, source);
    }
  }
  for (const [axis, values] of Object.entries(s.variants)) {
    const v = Object.hasOwn(given, axis) ? given[axis] : values[0];
    if (v === undefined || !values.includes(v)) {
      throw new InputError(`unknown value "${v}" for variant axis "${axis}" (values: ${values.join(', ')})`, null, source);
    }
    out[axis] = v;
  }
  return out;
}

/** Expected kinds vs found kinds: every expected kind found, and nothing else. No expectation: clean is a match. */
export function matches(expected: readonly FindingKind[] | null, found: readonly FindingKind[]): boolean {
  const want = new Set((expected ?? []).map(canonicalKind));
  const got = new Set(found.map(canonicalKind));
  return [...want].every((k) => got.has(k)) && [...got].every((k) => want.has(k));
}

/** Runs one scenario under one variant assignment: controlled exploration, or free-mode runs. */
export async function runOne(s: Scenario, variants: VariantAssignment, set: RunSettings): Promise<RunReport> {
  const program = s.program(variants);
  // Fresh checkers per execution, plus lock statistics summed over the run.
  const checkersOf = (): readonly Checker[] => (s.checkers !== undefined ? s.checkers(variants) : defaultCheckers());
  let stats = NO_LOCK_STATS;
  const targets = await patchedTargets(program);
  const reached = new Set<string>();
  const checkers = (): readonly Checker[] => [...checkersOf(), new LockStats(), ...(targets.length > 0 ? [new PatchReach()] : [])];
  // (an execution that starts from the set-up snapshot runs copies of these checkers)
  const tally = (used: readonly Checker[]): void => {
    for (const c of used) {
      if (c instanceof LockStats) stats = mergeLockStats(stats, c.summary());
      else if (c instanceof PatchReach) for (const r of c.reached) reached.add(r);
    }
  };
  // A free run starts after the program's set-up, run as controlled mode runs it (runtime/free-run.ts:
  // FreeRunner), so its record replays with the set-up phase on: a controlled replay of the free order.
  // Without a set-up, a free record is an order where every task started at once (mode "free").
  const freeAfterSetup = set.mode === 'free' && (program.setup ?? []).length > 0;
  const id: RunIdentity = {
    scenario: s.name, variants, strategy: set.mode === 'free' ? 'free' : set.strategy, mode: freeAfterSetup ? 'controlled' : set.mode,
    ...(s.source !== undefined ? { source: s.source } : {}),
  };
  const written = new Map<string, string>();
  const keep = (f: FoundFinding): void => {
    const rec = recordingOf(id, f);
    set.recordings?.set(f.finding.signature, rec);
    if (set.out !== null) written.set(f.finding.signature, writeFinding(set.out, id, f, rec));
    set.progress?.(`  found ${f.finding.title} (schedule ${f.firstSchedule})`);
  };
  let found: FoundFinding[];
  let chaos: RunReport['chaos'];
  let executions: number;
  let steps: number;
  let elapsedMs: number;
  /** dfs finished its bound (and no schedule was cut by the step limit). */
  let complete = false;
  let cut = 0;
  let truncated = 0;

  if (set.mode === 'free') {
    if (set.host !== 'workers') throw new InputError('free mode runs only in the workers host (--host workers)', null, '--mode');
    let delays: number;
    ({ found, executions, steps, elapsedMs, delays } = await freeRuns(program, set, checkers, tally, keep));
    chaos = { mode: set.chaos ?? DEFAULT_CHAOS, delays };
  } else {
    const host = await createHost(set.host, program);
    try {
      const strategy = makeStrategy(set.strategy, set.seed, { budget: set.schedules, ...(set.preemptions !== undefined ? { preemptions: set.preemptions } : {}) });
      let last = performance.now();
      const r = await explore(host, program, strategy, {
        seed: set.seed,
        schedules: set.schedules,
        ...(set.timeMs !== undefined ? { timeMs: set.timeMs } : {}),
        ...(set.maxSteps !== undefined ? { maxSteps: set.maxSteps } : {}),
        checkers,
        // SIGINT/SIGTERM: stop after the execution that runs (runtime/interrupt.ts)
        until: interrupted,
        onFinding: keep,
        onExecution: (r, n) => {
          tally(r.checkers);
          if (r.outcome === 'step-limit') cut++;
          const now = performance.now();
          const status = set.status === undefined ? set.progress : set.status;
          if (status !== null && now - last > 2000) {
            last = now;
            status(`  ${s.name} ${variantKey(variants)}: ${n + 1} schedules`);
          }
        },
      });
      ({ executions, steps, elapsedMs, truncated } = r);
      complete = r.complete && truncated === 0 && cut === 0;
      found = [...r.findings];
    } finally {
      await host.close();
    }
  }
  const expected = expectedFor(s, variants);
  const list = knownListOf(s);
  const known: KnownHit[] = [];
  const findings: RunFinding[] = found.map((f) => {
    const k = knownHit(f.finding, list);
    if (k !== null) known.push(k);
    return {
      kind: f.finding.kind, title: f.finding.title, signature: f.finding.signature, firstSchedule: f.firstSchedule,
      count: f.count, replay: written.get(f.finding.signature) ?? '', report: f.finding.report, ...(k !== null ? { known: k.id } : {}),
    };
  });
  const strict = set.strict === true;
  const bound = set.preemptions ?? 2;
  const claim: Claim = set.mode === 'controlled' && set.strategy === 'dfs'
    ? { ...(complete ? { kind: 'exhaustive', preemptions: bound, schedules: executions } as const : { kind: 'sampled', schedules: executions, preemptions: bound, unfinished: true } as const), sampled: Math.min(executions, dfsSample(set.schedules)) }
    : { kind: 'sampled', schedules: executions };
  const e = expectationFor(s, variants);
  const report: RunReport = {
    scenario: s.name, variants, host: set.host, mode: set.mode, strategy: id.strategy, seed: set.seed,
    schedules: executions, steps, elapsedMs: Math.round(elapsedMs), expected,
    matched: judge(e, { findings, known, added: [] }, strict), findings, truncated, ...(chaos !== undefined ? { chaos } : {}), lockStats: stats,
    ...(s.rules !== undefined && s.rules(variants).length > 0 ? { rules: s.rules(variants) } : {}),
    ...(interrupted() ? { interrupted: true } : {}),
    ...(targets.length > 0 ? { unusedPatches: targets.filter((t) => !reached.has(`${t.actor}\0${t.function}`)) } : {}),
    known, strict, added: [], removed: [], claim,
  };
  if (e === null) return report;
  const { when: _when, ...expectation } = e;
  return { ...report, expectation };
}

/**
 * The row judged against its baseline row (same scenario, same seed and
 * strategy, so the same schedules): what it adds and removes, and its
 * verdict again with `new` in view.
 */
export function againstBaseline(s: Scenario, row: RunReport, base: RunReport): RunReport {
  const { added, removed } = differential(row.findings, base.findings);
  return {
    ...row, baseline: base.variants, added, removed,
    matched: judge(expectationFor(s, row.variants), { findings: row.findings, known: row.known, added }, row.strict),
  };
}

/** Every schedule of the run hit the step limit: nothing was explored to its end (`run`/`compare` exit 1). */
export function allTruncated(r: Pick<RunReport, 'schedules' | 'truncated'>): boolean {
  return r.schedules > 0 && r.truncated >= r.schedules;
}

/** Free mode: `schedules` real-concurrency runs, each recorded so its findings replay in controlled mode. */
async function freeRuns(program: Program, set: RunSettings, checkers: () => readonly Checker[], tally: (used: readonly Checker[]) => void, keep: (f: FoundFinding) => void) {
  const byKey = new Map<string, FoundFinding>();
  let steps = 0;
  let executions = 0;
  let delays = 0;
  const t0 = performance.now();
  const chaos = chaosOptions(set.chaos ?? DEFAULT_CHAOS);
  // one set of workers for every schedule (each starts over from the set-up's snapshot, or fresh)
  const runner = new FreeRunner(program, checkers);
  try {
    for (let i = 0; i < set.schedules; i++) {
      if (set.timeMs !== undefined && i > 0 && performance.now() - t0 > set.timeMs) break;
      if (i > 0 && interrupted()) break;
      // the task seed is the run's, as in controlled mode; each schedule's chaos draws from its own
      const seed = set.seed;
      const r = await runner.run({ seed, runSeed: mix(set.seed, i), chaos, ...(set.hangMs !== undefined ? { hangMs: set.hangMs } : {}) });
      tally(r.checkers);
      delays += r.delays.length;
      executions++;
      steps += r.steps;
      for (const f of r.findings) {
        const seen = byKey.get(f.signature);
        if (seen !== undefined) {
          seen.count++;
          continue;
        }
        const ff: FoundFinding = { finding: f, firstSchedule: i, seed, count: 1, decisions: r.decisions, traceHash: null };
        byKey.set(f.signature, ff);
        keep(ff);
      }
      // the watchdog terminated a worker stuck in a patch (runtime/free-run.ts): every later run would stop there too
      if (r.findings.some((f) => f.kind === 'actor-stuck')) break;
      const status = set.status === undefined ? set.progress : set.status;
      status?.(`  free mode: ${executions}/${set.schedules} runs done, ${byKey.size} distinct findings, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await runner.close();
  }
  return { found: [...byKey.values()], executions, steps, elapsedMs: performance.now() - t0, delays };
}
