import { loadScenario } from '../../scenarios/index.ts';
import { assignments, variantKey } from '../../scenarios/scenario.ts';
import { JSON_FLAG, exactlyOne, parseArgs } from '../args.ts';
import type { CommandIo } from '../io.ts';

/**
 * The scenario as data: its document (a scenario file, or a built-in: every
 * built-in is written as a document, so `run` takes the output back —
 * test/show-roundtrip.test.ts), else its variants, expectations and the
 * program each assignment runs.
 */
export async function show(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('show', argv, { json: { ...JSON_FLAG, help: 'the document is JSON either way (accepted for symmetry)' } });
  const s = await loadScenario(exactlyOne('show', p, 'scenario'));
  if (s.document !== undefined) {
    io.json(s.document);
    return 0;
  }
  // a scenario built in code (a library user's Scenario object): its programs, which `run` does not take back
  io.err(`iommu-lab: ${s.name} is not a scenario document: this prints its programs for reading; run and compare take documents\n`);
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
