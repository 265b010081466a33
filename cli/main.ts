import { InputError } from '../runtime/input-error.ts';
import { bench } from './commands/bench.ts';
import { compare } from './commands/compare.ts';
import { conformance } from './commands/conformance.ts';
import { fuzz } from './commands/fuzz.ts';
import { list } from './commands/list.ts';
import { merge } from './commands/merge.ts';
import { ops } from './commands/ops.ts';
import { replay } from './commands/replay.ts';
import { report } from './commands/report.ts';
import { run } from './commands/run.ts';
import { schema } from './commands/schema.ts';
import { selftest } from './commands/selftest.ts';
import { show } from './commands/show.ts';
import { stress } from './commands/stress.ts';
import { shrink } from './commands/shrink.ts';
import { processIo } from './io.ts';
import type { CommandIo } from './io.ts';

type Command = (argv: readonly string[], io: CommandIo) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = { list, show, ops, run, compare, replay, shrink, report, selftest, conformance, bench, fuzz, merge, stress, schema };

const USAGE = `usage: iommu-lab <command> [flags]
  list [--json]
  show <scenario> [--json]
  ops [--json]
  run <scenario> [--variant NAME=VALUE]... [--host inline|workers] [--mode controlled|free]
      [--strategy random|pct|pos|portfolio] [--schedules N] [--time SECONDS] [--seed S]
      [--hang SECONDS (free mode watchdog, default 2)] [--out DIR] [--json]
  compare (<scenario>|--all) [--schedules N] [--host inline|workers] [--seed S] [--out DIR] [--json]
  replay <replay.json> [--host inline|workers] [--json]
  report <replay.json|trace.json> [--format text|perfetto|dot|md|trace] [--out FILE] [--host inline|workers]
  shrink <replay.json> [--out FILE] [--schedules N (exploration per candidate, default 150)] [--json]
  selftest locking [--host inline|workers] [--schedules N] [--seed S] [--json]
  conformance (--unit KIND[@VERSION] | --unit FILE[#EXPORT] [--as KIND@VERSION] | --all) [--case NAME]...
      [--host inline|workers] [--seed S] [--json]
  stress [--devices N] [--units N] [--tasks N] [--time SECONDS] [--seed S] [--variant NAME=VALUE]... [--fixed] [--hang SECONDS] [--rounds N] [--no-verify] [--out DIR] [--json]
  bench [--quick] [--json]
  fuzz [--time SECONDS] [--jobs N] [--shard I/N] [--seed S] [--out DIR] [--corpus DIR]
      [--variant AXIS=VALUE]... [--fixed] [--schedules N] [--programs N] [--shrink-time SECONDS] [--json]
  merge <dir>... --out DIR [--json]
  schema [scenario|replay|trace]     (JSON Schema of the documents, for editors)
`;

/** Runs one command line; returns the exit code (CLI.md: 0 ok, 1 findings mismatch, 2 bad input, 3 internal error). */
export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === 'help') {
    io.out(USAGE);
    return name === undefined ? 2 : 0;
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  try {
    if (cmd === undefined) throw new InputError(`unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')})`);
    return await cmd(rest, io);
  } catch (e) {
    if (e instanceof InputError) {
      io.err(`iommu-lab: ${e.message}\n`);
      return 2;
    }
    io.err(`iommu-lab: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 3;
  }
}
