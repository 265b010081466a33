import { InputError } from '../../runtime/input-error.ts';
import type { ExploringStrategy } from '../../runtime/strategies/index.ts';
import { BUILTIN, loadScenario } from '../../scenarios/index.ts';
import { assignments } from '../../scenarios/scenario.ts';
import type { Scenario } from '../../scenarios/scenario.ts';
import { HOST_FLAG, JSON_FLAG, OUT_DIR_FLAG, SEED_FLAG, has, int, num, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { checkOutDir } from '../output.ts';
import { interruptCode, interrupted } from '../../runtime/interrupt.ts';
import { printTable } from '../print.ts';
import { againstBaseline, runOne } from '../run-one.ts';
import type { RunReport, RunSettings } from '../run-one.ts';
import { baselineOf, sameAssignment } from '../verdict.ts';
import { BASELINE_FLAG, PREEMPTIONS_FLAG, STRATEGY_FLAG, STRICT_FLAG } from './run.ts';

/**
 * Runs every variant assignment of one scenario (or of all) and prints the
 * variant table: per row the verdict, the claim a clean row makes, and what
 * the row adds and removes against its scenario's baseline row.
 */
export async function compare(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('compare', argv, {
    all: { kind: 'bool', help: 'every built-in scenario' },
    schedules: { kind: 'value', arg: 'N', help: 'schedules per row (default 1000; dfs 20000, a cap on the search)' },
    time: { kind: 'value', arg: 'SECONDS', help: 'stop exploring each row after this long' },
    host: HOST_FLAG,
    strategy: STRATEGY_FLAG,
    preemptions: PREEMPTIONS_FLAG,
    baseline: BASELINE_FLAG,
    strict: STRICT_FLAG,
    seed: SEED_FLAG,
    out: OUT_DIR_FLAG,
    json: JSON_FLAG,
  });
  if (has(p, 'all') === (p.positional.length === 1) || p.positional.length > 1) {
    throw new InputError('"compare" takes one scenario or --all');
  }
  const all = has(p, 'all');
  const scenarios = all ? BUILTIN : [await loadScenario(p.positional[0] as string)];
  const json = has(p, 'json');
  checkOutDir('--out', str(p, 'out') ?? 'out');
  const strategy = (str(p, 'strategy') ?? 'portfolio') as ExploringStrategy;
  if (has(p, 'preemptions') && strategy !== 'dfs') throw new InputError('--preemptions bounds --strategy dfs', null, '--preemptions');
  const time = num(p, 'time', 0);
  const set: RunSettings = {
    host: (str(p, 'host') ?? 'inline') as 'inline' | 'workers',
    mode: 'controlled',
    strategy,
    schedules: int(p, 'schedules', 1, strategy === 'dfs' ? 20_000 : 1000),
    ...(time !== undefined ? { timeMs: time * 1000 } : {}),
    seed: int(p, 'seed', 0, 1),
    out: str(p, 'out') ?? 'out',
    progress: json ? null : (l) => io.err(l + '\n'),
    strict: has(p, 'strict'),
    ...(strategy === 'dfs' ? { preemptions: int(p, 'preemptions', 0, 2) } : {}),
  };
  const given = p.flags.get('baseline') ?? [];
  if (all) {
    // --all: a --baseline axis applies to the scenarios that have it
    const axes = new Set(scenarios.flatMap((s) => Object.keys(s.variants)));
    for (const g of given) {
      const axis = g.slice(0, Math.max(0, g.indexOf('=')));
      if (!axes.has(axis)) throw new InputError(`--baseline ${g}: no scenario has a variant axis "${axis}"`, null, '--baseline');
    }
  }
  const rows: RunReport[] = [];
  for (const s of scenarios) rows.push(...await scenarioRows(s, all ? given.filter((g) => g.slice(0, g.indexOf('=')) in s.variants) : given, set));
  if (json) io.json({ rows, ...(interrupted() ? { interrupted: true } : {}) });
  else io.out(printTable(rows) + (interrupted() ? 'interrupted: the rows above are what ran\n' : ''));
  return interruptCode() ?? (rows.every((r) => r.matched) ? 0 : 1);
}

/** One scenario's rows, each but the baseline judged against the baseline row. */
async function scenarioRows(s: Scenario, given: readonly string[], set: RunSettings): Promise<RunReport[]> {
  const base = baselineOf(s, given);
  const rows: RunReport[] = [];
  for (const v of assignments(s)) {
    if (interrupted()) break;
    rows.push(await runOne(s, v, set));
  }
  const baseRow = rows.find((r) => sameAssignment(r.variants, base));
  // (interrupted before the baseline row ran: the rows stand alone)
  return baseRow === undefined ? rows : rows.map((r) => (r === baseRow ? r : againstBaseline(s, r, baseRow)));
}
