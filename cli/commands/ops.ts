import { OPS } from '../../scenarios/format/ops.ts';
import { has, parseArgs } from '../args.ts';
import type { CommandIo } from '../io.ts';

/** The operations a scenario task may use, with their fields. */
export async function ops(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('ops', argv, { json: { kind: 'bool' } });
  const list = OPS.map((o) => ({ op: o.name, fields: o.fields, summary: o.summary }));
  if (has(p, 'json')) {
    io.json({ ops: list });
    return 0;
  }
  const width = Math.max(...list.map((o) => o.op.length));
  for (const o of list) {
    const fields = Object.entries(o.fields).map(([k, t]) => `${k}:${t}`).join(' ');
    io.out(`${o.op.padEnd(width)}  ${fields}\n${' '.repeat(width)}  ${o.summary}\n`);
  }
  return 0;
}
