import { InputError } from '../../runtime/input-error.ts';
import { CHAOS_MODES, DEFAULT_CHAOS } from '../../runtime/hosts/free-chaos.ts';
import type { ChaosMode } from '../../runtime/hosts/free-chaos.ts';
import { EXPLORING_STRATEGIES } from '../../runtime/strategies/index.ts';
import type { ExploringStrategy } from '../../runtime/strategies/index.ts';
import { loadScenario } from '../../scenarios/index.ts';
import { HANG_FLAG, HOST_FLAG, JSON_FLAG, MAX_STEPS_FLAG, OUT_DIR_FLAG, SEED_FLAG, exactlyOne, has, int, num, parseArgs, str } from '../args.ts';
import { setStepHang } from '../../runtime/user-code.ts';
import type { FlagSpec } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { checkOutDir } from '../output.ts';
import { interruptCode } from '../../runtime/interrupt.ts';
import { printRun } from '../print.ts';
import { Progress } from '../progress.ts';
import { againstBaseline, allTruncated, resolveVariants, runOne } from '../run-one.ts';
import type { RunSettings } from '../run-one.ts';
import { baselineOf, needsBaseline, sameAssignment } from '../verdict.ts';

/** The flags of issue 15 that `run` and `compare` share. */
export const STRATEGY_FLAG: FlagSpec = { kind: 'value', values: EXPLORING_STRATEGIES, arg: 'NAME', help: 'how schedules are chosen (default portfolio; dfs: 64 portfolio schedules, then a bounded-exhaustive search)' };
export const PREEMPTIONS_FLAG: FlagSpec = { kind: 'value', arg: 'N', help: 'dfs: explore every schedule with at most N preemptions (default 2)' };
export const BASELINE_FLAG: FlagSpec = { kind: 'multi', arg: 'AXIS=VALUE', help: 'the value other rows are compared with (default: each axis\'s first value)' };
export const STRICT_FLAG: FlagSpec = { kind: 'bool', help: 'known upstream findings count as unexpected' };

export const RUN_FLAGS: Readonly<Record<string, FlagSpec>> = {
  variant: { kind: 'multi', arg: 'NAME=VALUE', help: 'a variant axis\'s value (unset axes take their first value)' },
  host: { ...HOST_FLAG, help: `${HOST_FLAG.help ?? ''} (default inline; free mode: workers)` },
  mode: { kind: 'value', values: ['controlled', 'free'], arg: 'MODE', help: 'the seeded scheduler, or real concurrency recorded for replay (default controlled)' },
  strategy: STRATEGY_FLAG,
  preemptions: PREEMPTIONS_FLAG,
  baseline: BASELINE_FLAG,
  strict: STRICT_FLAG,
  schedules: { kind: 'value', arg: 'N', help: 'schedules to explore (default 1000; free mode 5; dfs 20000, a cap on the search)' },
  time: { kind: 'value', arg: 'SECONDS', help: 'stop exploring after this long' },
  seed: SEED_FLAG,
  hang: HANG_FLAG,
  'max-steps': MAX_STEPS_FLAG,
  chaos: { kind: 'value', values: CHAOS_MODES, arg: 'MODE', help: `free mode: delay injection at deliveries, lock grants and wake-ups (default ${DEFAULT_CHAOS}; docs/runtime.md "Chaos")` },
  out: OUT_DIR_FLAG,
  json: JSON_FLAG,
};

export async function run(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('run', argv, RUN_FLAGS);
  const hang = num(p, 'hang', 0.05);
  // before the scenario loads: its module's import runs under the watchdog too
  setStepHang(hang !== undefined ? hang * 1000 : undefined);
  const s = await loadScenario(exactlyOne('run', p, 'scenario'));
  // no prototype: `--variant __proto__=x` is a key like any other, and unknown
  const given = Object.create(null) as Record<string, string>;
  for (const v of p.flags.get('variant') ?? []) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new InputError(`--variant takes NAME=VALUE (got "${v}")`);
    given[v.slice(0, eq)] = v.slice(eq + 1);
  }
  const mode = (str(p, 'mode') ?? 'controlled') as 'controlled' | 'free';
  const host = (str(p, 'host') ?? (mode === 'free' ? 'workers' : 'inline')) as 'inline' | 'workers';
  const json = has(p, 'json');
  checkOutDir('--out', str(p, 'out') ?? 'out');
  const progress = new Progress(io, json);
  const time = num(p, 'time', 0);
  const chaos = str(p, 'chaos') as ChaosMode | undefined;
  if (chaos !== undefined && mode !== 'free') throw new InputError('--chaos applies to free mode (--mode free): controlled mode decides every step itself', null, '--chaos');
  const strategy = (str(p, 'strategy') ?? 'portfolio') as ExploringStrategy;
  if (has(p, 'preemptions') && strategy !== 'dfs') throw new InputError('--preemptions bounds --strategy dfs', null, '--preemptions');
  const set: RunSettings = {
    host, mode, strategy,
    schedules: int(p, 'schedules', 1, mode === 'free' ? 5 : strategy === 'dfs' ? 20_000 : 1000),
    ...(time !== undefined ? { timeMs: time * 1000 } : {}),
    seed: int(p, 'seed', 0, 1),
    ...(has(p, 'max-steps') ? { maxSteps: int(p, 'max-steps', 1, 100_000) } : {}),
    ...(hang !== undefined ? { hangMs: hang * 1000 } : {}),
    ...(chaos !== undefined ? { chaos } : {}),
    out: str(p, 'out') ?? 'out',
    progress: progress.sink,
    status: json ? null : (t) => progress.status(t),
    strict: has(p, 'strict'),
    ...(strategy === 'dfs' ? { preemptions: int(p, 'preemptions', 0, 2) } : {}),
  };
  const variants = resolveVariants(s, given);
  let report = await runOne(s, variants, set);
  // The baseline run, at the same schedules, when asked for or when the expectation says what the variant may add.
  const base = baselineOf(s, p.flags.get('baseline') ?? []);
  if ((has(p, 'baseline') || needsBaseline(s, variants)) && !sameAssignment(base, variants)) {
    set.progress?.(`  baseline ${JSON.stringify(base)}`);
    report = againstBaseline(s, report, await runOne(s, base, { ...set, progress: null, status: null }));
  }
  progress.end();
  if (json) io.json(report);
  else io.out(printRun(report));
  return interruptCode() ?? (report.matched && !allTruncated(report) ? 0 : 1);
}
