import { loadScenario } from '../../scenarios/index.ts';
import { assignments, variantKey } from '../../scenarios/scenario.ts';
import { JSON_FLAG, exactlyOne, parseArgs } from '../args.ts';
import type { CommandIo } from '../io.ts';

/**
 * The scenario as data: its document when it is one (a scenario file, or a
 * built-in written as a document — `run` takes the output back), else its
 * variants, expectations and the program each assignment runs.
 */
export async function show(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('show', argv, { json: { ...JSON_FLAG, help: 'the document is JSON either way (accepted for symmetry)' } });
  const s = await loadScenario(exactlyOne('show', p, 'scenario'));
  if (s.document !== undefined) {
    io.json(s.document);
    return 0;
  }
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
