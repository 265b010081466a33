import { loadScenario } from '../../scenarios/index.ts';
import { assignments, variantKey } from '../../scenarios/scenario.ts';
import { exactlyOne, parseArgs } from '../args.ts';
import type { CommandIo } from '../io.ts';

/** The scenario as data: its variants, expectations and the program each assignment runs. */
export async function show(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('show', argv, { json: { kind: 'bool' } });
  const s = await loadScenario(exactlyOne('show', p, 'scenario'));
  const doc = {
    name: s.name,
    title: s.title,
    variants: s.variants,
    expect: s.expect,
    programs: Object.fromEntries(assignments(s).map((v) => [variantKey(v), s.program(v)])),
  };
  io.json(doc);
  return 0;
}
