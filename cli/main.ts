import { Command as Program, CommanderError } from 'commander';
import { InputError } from '../runtime/input-error.ts';
import { HelpShown } from './args.ts';
import { COMMAND_ABOUT } from './catalog.ts';
import { packageVersion } from './version.ts';
import { bench } from './commands/bench.ts';
import { compare } from './commands/compare.ts';
import { conformance } from './commands/conformance.ts';
import { fuzz } from './commands/fuzz.ts';
import { list } from './commands/list.ts';
import { merge } from './commands/merge.ts';
import { ops } from './commands/ops.ts';
import { functions } from './commands/functions.ts';
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

const COMMANDS: Readonly<Record<string, Command>> = { list, show, ops, functions, run, compare, replay, shrink, report, selftest, conformance, bench, fuzz, merge, stress, schema };

/** The command names, in the order `--help` lists them. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/** The top-level program: the command list for `--help` and "did you mean" for an unknown command. */
function program(): Program {
  const p = new Program('iommu-lab');
  p.usage('<command> [flags]');
  p.description('Concurrency laboratory for the Linux driver core, PCI, VFIO and IOMMU subsystems.');
  p.helpOption('-h, --help', 'show this help');
  p.version(packageVersion(), '-V, --version', 'print the version');
  p.addHelpCommand(false);
  for (const name of Object.keys(COMMANDS)) {
    const about = COMMAND_ABOUT[name];
    p.command(name).usage(`${about?.args !== undefined ? `${about.args} ` : ''}[flags]`).description(about?.summary ?? '');
  }
  p.addHelpText('after', '\nRun "iommu-lab <command> --help" for the flags of a command. Exit codes: 0 ok, 1 findings mismatch, 2 bad input, 3 internal error.');
  p.exitOverride();
  return p;
}

/** Runs one command line; returns the exit code (CLI.md: 0 ok, 1 findings mismatch, 2 bad input, 3 internal error). */
export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    io.out(program().helpInformation());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    io.out(`${packageVersion()}\n`);
    return 0;
  }
  // `help run` is `run --help`
  if (name === 'help') return main([rest[0] as string, '--help'], io);
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  try {
    if (cmd === undefined) throw new InputError(unknownCommand(name));
    return await cmd(rest, io);
  } catch (e) {
    if (e instanceof HelpShown) {
      io.out(e.text);
      return 0;
    }
    if (e instanceof InputError) {
      io.err(`iommu-lab: ${e.message}\n`);
      return 2;
    }
    io.err(`iommu-lab: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 3;
  }
}

/** `unknown command "rn" (did you mean run?)`: commander's suggestion, our wording. */
function unknownCommand(name: string): string {
  const p = program();
  let text = '';
  p.configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: (t) => void (text += t) });
  try {
    p.parse([name], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
  }
  const suggestion = /\(Did you mean (.+)\?\)/.exec(text)?.[1];
  const what = name.startsWith('-') ? 'flag' : 'command';
  return `unknown ${what} "${name}"${suggestion !== undefined ? ` (did you mean ${suggestion}?)` : ''} (commands: ${Object.keys(COMMANDS).join(', ')})`;
}
