import { mergeOutputs } from '../../fuzz/merge.ts';
import { InputError } from '../../runtime/input-error.ts';
import { JSON_FLAG, has, parseArgs, str } from '../args.ts';
import type { CommandIo } from '../io.ts';
import { checkOutDir } from '../output.ts';

/** `iommu-lab merge <dir>... --out DIR`: one campaign output from several (docs/fuzz.md). */
export async function merge(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('merge', argv, { out: { kind: 'value', arg: 'DIR', help: 'the merged output (required)' }, force: { kind: 'bool', help: 'merge outputs of different campaigns (seed, pins, version) anyway' }, json: JSON_FLAG });
  const out = str(p, 'out');
  if (out === undefined) throw new InputError('"merge" needs --out DIR', null, '--out');
  checkOutDir('--out', out);
  const r = mergeOutputs(p.positional, out, has(p, 'force'));
  if (has(p, 'json')) {
    io.json(r);
  } else {
    io.out(`merged ${r.inputs.length} outputs into ${out}: ${r.executions} executions, ${r.findings.length} findings, corpus ${r.corpus}, coverage ${r.coverage}\n`);
    for (const f of r.findings) io.out(`  ${f.kind}: ${f.title} (x${f.count}) ${f.replay}\n`);
  }
  return Promise.resolve(r.findings.length > 0 ? 1 : 0);
}
