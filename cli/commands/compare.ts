import { InputError } from '../../runtime/input-error.ts';
import { BUILTIN, loadScenario } from '../../scenarios/index.ts';
import { assignments } from '../../scenarios/scenario.ts';
import { HOST_FLAG, JSON_FLAG, OUT_DIR_FLAG, SEED_FLAG, has, int, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { printTable } from '../print.ts';
import { runOne } from '../run-one.ts';
import type { RunReport } from '../run-one.ts';

/** Runs every variant assignment of one scenario (or of all) and prints the variant table. */
export async function compare(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('compare', argv, {
    all: { kind: 'bool', help: 'every built-in scenario' },
    schedules: { kind: 'value', arg: 'N', help: 'schedules per row (default 1000)' },
    host: HOST_FLAG,
    seed: SEED_FLAG,
    out: OUT_DIR_FLAG,
    json: JSON_FLAG,
  });
  if (has(p, 'all') === (p.positional.length === 1) || p.positional.length > 1) {
    throw new InputError('"compare" takes one scenario or --all');
  }
  const scenarios = has(p, 'all') ? BUILTIN : [await loadScenario(p.positional[0] as string)];
  const json = has(p, 'json');
  const rows: RunReport[] = [];
  for (const s of scenarios) {
    for (const v of assignments(s)) {
      rows.push(await runOne(s, v, {
        host: (str(p, 'host') ?? 'inline') as 'inline' | 'workers',
        mode: 'controlled',
        strategy: 'portfolio',
        schedules: int(p, 'schedules', 1, 1000),
        seed: int(p, 'seed', 0, 1),
        out: str(p, 'out') ?? 'out',
        progress: json ? null : (l) => io.err(l + '\n'),
      }));
    }
  }
  if (json) io.json({ rows });
  else io.out(printTable(rows));
  return rows.every((r) => r.matched) ? 0 : 1;
}
