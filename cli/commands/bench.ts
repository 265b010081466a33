import { runBench } from '../../bench/index.ts';
import { JSON_FLAG, has, parseArgs, noArguments } from '../args.ts';
import type { CommandIo } from '../io.ts';

export async function bench(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('bench', argv, { quick: { kind: 'bool', help: 'fewer iterations (a smoke run)' }, json: JSON_FLAG });
  const json = has(p, 'json');
  noArguments('bench', p);
  // with --json nothing but the document (CLI.md: progress stays off)
  const report = await runBench(has(p, 'quick'), json ? () => {} : (l) => io.err(l + '\n'));
  if (json) io.json(report);
  else {
    for (const [k, v] of Object.entries(report.results)) io.out(`${k.padEnd(40)} ${v.value} ${v.unit}\n`);
    for (const [k, v] of Object.entries(report.ratios)) io.out(`${('ratio ' + k).padEnd(40)} ${v}\n`);
  }
  return 0;
}
