import { BUILTIN } from '../../scenarios/index.ts';
import { JSON_FLAG, parseArgs, has, noArguments } from '../args.ts';
import type { CommandIo } from '../io.ts';

export async function list(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('list', argv, { json: JSON_FLAG });
  const scenarios = BUILTIN.map((s) => ({ name: s.name, title: s.title, variants: s.variants }));
  noArguments('list', p);
  if (has(p, 'json')) {
    io.json({ scenarios });
  } else {
    for (const s of scenarios) {
      io.out(`${s.name}\n  ${s.title}\n`);
      for (const [axis, values] of Object.entries(s.variants)) io.out(`  ${axis}: ${values.join(' | ')}\n`);
    }
  }
  return 0;
}
