import { functionMap } from '../../actors/function-map.ts';
import { InputError } from '../../runtime/input-error.ts';
import { JSON_FLAG, has, parseArgs, str, noArguments } from '../args.ts';
import type { CommandIo } from '../io.ts';

/**
 * Every patchable kernel function of the model (runtime/kfunc.ts): its
 * actor, the kernel file:function it models, the lock classes it takes and
 * the declared functions it calls (both read statically from the source:
 * actors/function-map.ts). A scenario's patches name these.
 */
export async function functions(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('functions', argv, {
    actor: { kind: 'value', arg: 'ACTOR', help: 'only the functions of this actor kind (driver-core, pci, iommu-core, vfio, process, unit)' },
    json: JSON_FLAG,
  });
  noArguments('functions', p);
  const all = functionMap();
  const actor = str(p, 'actor');
  const actors = [...new Set(all.map((f) => f.actor))].sort();
  if (actor !== undefined && !actors.includes(actor)) throw new InputError(`unknown actor "${actor}" (actors: ${actors.join(', ')})`, null, '--actor');
  const list = actor === undefined ? all : all.filter((f) => f.actor === actor);
  if (has(p, 'json')) {
    io.json({ functions: list, collected: 'static' });
    return 0;
  }
  for (const a of actors) {
    const mine = list.filter((f) => f.actor === a);
    if (mine.length === 0) continue;
    io.out(`${a} (${mine.length})\n`);
    for (const f of mine) {
      io.out(`  ${f.name}${f.unit !== undefined ? ` [${f.unit}]` : ''}  ${f.source}${f.ts !== f.name ? `  (ts: ${f.ts})` : ''}\n`);
      if (f.locks.length > 0) io.out(`      takes: ${f.locks.join(', ')}\n`);
      if (f.calls.length > 0) io.out(`      calls: ${f.calls.join(', ')}\n`);
    }
  }
  io.out(`\n${list.length} functions; locks and calls read statically from the model's source (patches name functions by their kernel name)\n`);
  return 0;
}
