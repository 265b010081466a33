import { OPS } from '../../scenarios/format/ops.ts';
import type { OpSpec } from '../../scenarios/format/ops.ts';
import { declsOf } from '../../actors/functions.ts';
import { IOCTLS, PROCESS_OPS } from '../../scenarios/format/process.ts';
import { JSON_FLAG, has, parseArgs, noArguments } from '../args.ts';
import type { CommandIo } from '../io.ts';

/**
 * The kernel function an op enters: the handler its call lands on, named
 * as `functions` names it ("actor:function"), or the handler's op when it is
 * model machinery (a driver's action list) rather than a kernel function.
 */
function entryOf(o: OpSpec): string {
  const dummy: Record<string, unknown> = { op: o.name, actions: [] };
  for (const f of Object.keys(o.fields)) if (f !== 'actions') dummy[f.replace('?', '')] = 'x';
  const call = o.compile(dummy);
  const kind = call.to.startsWith('unit:') ? 'unit' : call.to;
  return declsOf(call.op).some((d) => d.actor === kind) ? `${call.to}:${call.op}` : `${call.to}:${call.op} (handler)`;
}

/** The operations a scenario task may use, the ops of a userspace process, and the ioctls a process may make, with their fields. */
export async function ops(argv: readonly string[], io: CommandIo): Promise<number> {
  const p = parseArgs('ops', argv, { json: JSON_FLAG });
  const list = OPS.map((o) => ({ op: o.name, fields: o.fields, summary: o.summary, entry: entryOf(o) }));
  noArguments('ops', p);
  const processOps = PROCESS_OPS.map((o) => ({ op: o.name, fields: o.fields, summary: o.summary }));
  const ioctls = Object.entries(IOCTLS).map(([cmd, x]) => ({ cmd, fields: x.fields, summary: x.summary }));
  if (has(p, 'json')) {
    io.json({ ops: list, processOps, ioctls });
    return 0;
  }
  const fieldsOf = (f: Readonly<Record<string, string>>): string => Object.entries(f).map(([k, t]) => `${k}:${t}`).join(' ');
  const print = (rows: readonly { readonly name: string; readonly fields: Readonly<Record<string, string>>; readonly summary: string }[]): void => {
    const width = Math.max(...rows.map((o) => o.name.length));
    for (const o of rows) io.out(`${o.name.padEnd(width)}  ${fieldsOf(o.fields)}\n${' '.repeat(width)}  ${o.summary}\n`);
  };
  io.out('task ops (tasks[].ops; in a process, a sysfs write), each with the kernel function it enters (iommu-lab functions):\n');
  print(list.map((o) => ({ name: o.op, fields: o.fields, summary: `${o.summary} [entry: ${o.entry}]` })));
  io.out('\nprocess ops (processes[].ops):\n');
  print(processOps.map((o) => ({ name: o.op, fields: o.fields, summary: o.summary })));
  io.out('\nioctl commands ({ "op": "ioctl", "fd": ..., "cmd": ..., fields, "as"? }):\n');
  print(ioctls.map((o) => ({ name: o.cmd, fields: o.fields, summary: o.summary })));
  return 0;
}
