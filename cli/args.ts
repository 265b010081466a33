import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { InputError } from '../runtime/input-error.ts';
import { COMMAND_ABOUT } from './catalog.ts';

/**
 * A flag a command accepts: boolean, a single value, or repeatable. The same
 * record drives parsing and the command's `--help` (built by commander), so
 * the help can never list a flag the parser does not take, or miss one.
 */
export interface FlagSpec {
  readonly kind: 'bool' | 'value' | 'multi';
  /** Allowed values, when the set is closed. */
  readonly values?: readonly string[];
  /** One line for `--help`. */
  readonly help?: string;
  /** The value's placeholder in `--help` (`N`, `SECONDS`, `DIR`). */
  readonly arg?: string;
}

export interface Parsed {
  readonly positional: readonly string[];
  readonly flags: ReadonlyMap<string, readonly string[]>;
}

/** `<command> --help` / `-h`: the help text was produced; the CLI prints it and exits 0. */
export class HelpShown extends Error {
  readonly text: string;
  constructor(text: string) {
    super('help');
    this.name = 'HelpShown';
    this.text = text;
  }
}

/** Flags several commands share, with one wording. */
export const JSON_FLAG: FlagSpec = { kind: 'bool', help: 'print exactly one JSON document on stdout (progress stays off)' };
export const HOST_FLAG: FlagSpec = { kind: 'value', values: ['inline', 'workers'], arg: 'HOST', help: 'where actors run: one thread, or one worker thread per actor' };
export const SEED_FLAG: FlagSpec = { kind: 'value', arg: 'S', help: 'seed of the scheduler (default 1)' };
export const OUT_DIR_FLAG: FlagSpec = { kind: 'value', arg: 'DIR', help: 'where replay files and reports are written (default out)' };
export const MAX_STEPS_FLAG: FlagSpec = { kind: 'value', arg: 'N', help: 'steps after which a schedule is cut short and counted as truncated (default 100000)' };

/** The commander command for one of ours: flags from the spec, usage and summary from the catalog. */
export function commandOf(command: string, spec: Readonly<Record<string, FlagSpec>>): Command {
  const about = COMMAND_ABOUT[command];
  const c = new Command(command);
  // commander prints "Usage: <name> <usage>": name the program as the user types it
  c.name(`iommu-lab ${command}`);
  c.usage(`${about?.args !== undefined ? `${about.args} ` : ''}[flags]`);
  if (about !== undefined) c.description(about.summary);
  c.argument('[args...]');
  c.helpOption('-h, --help', 'show this help');
  for (const [name, s] of Object.entries(spec)) {
    const placeholder = s.arg ?? (s.values !== undefined ? s.values.join('|') : 'VALUE');
    const desc = (s.help ?? '') + (s.values !== undefined ? ` (${s.values.join(' | ')})` : '') + (s.kind === 'multi' ? ' (repeatable)' : '');
    const o = new Option(s.kind === 'bool' ? `--${name}` : `--${name} <${placeholder}>`, desc.trim());
    if (s.kind !== 'bool') {
      o.argParser((v: string, prev: readonly string[] | undefined): readonly string[] => {
        if (s.values !== undefined && !s.values.includes(v)) {
          throw new InvalidArgumentError(`--${name} must be one of ${s.values.join('|')} (got "${v}")`);
        }
        if (s.kind !== 'multi' && prev !== undefined) throw new InvalidArgumentError(`--${name} given twice`);
        return [...(prev ?? []), v];
      });
    }
    c.addOption(o);
  }
  return c;
}

/**
 * Parses `--flag`, `--flag value`, `--flag=value`, `-h`/`--help` and `--`
 * (everything after it is positional) with commander; anything undeclared is
 * bad input (exit 2) with commander's "did you mean" suggestion.
 */
export function parseArgs(command: string, argv: readonly string[], spec: Readonly<Record<string, FlagSpec>>): Parsed {
  // commander reads `--json=x` as an unknown flag named "json=x": say what is wrong instead
  for (const a of argv) {
    if (a === '--') break;
    const m = /^--([^=]+)=/.exec(a);
    if (m !== null && spec[m[1] as string]?.kind === 'bool') throw new InputError(`--${m[1]} takes no value`);
  }
  const c = commandOf(command, spec);
  let help = '';
  c.exitOverride();
  c.configureOutput({ writeOut: (t) => void (help += t), writeErr: (t) => void (help += t), outputError: () => {} });
  try {
    c.parse([...argv], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help') throw new HelpShown(help);
    throw new InputError(messageOf(command, e, spec));
  }
  const flags = new Map<string, string[]>();
  for (const o of c.options) {
    const name = o.long?.slice(2);
    if (name === undefined || spec[name] === undefined) continue;
    const key = o.attributeName();
    if (c.getOptionValueSource(key) !== 'cli') continue;
    const v: unknown = c.getOptionValue(key);
    flags.set(name, Array.isArray(v) ? v.map(String) : ['true']);
  }
  return { positional: c.args, flags };
}

/** Our wording for commander's errors (the CLI tests and users' scripts match on it). */
function messageOf(command: string, e: CommanderError, spec: Readonly<Record<string, FlagSpec>>): string {
  const text = e.message.replace(/^error: /, '');
  const suggestion = /\(Did you mean (.+)\?\)/.exec(text)?.[1];
  switch (e.code) {
    case 'commander.unknownOption': {
      const flag = /unknown option '([^']+)'/.exec(text)?.[1] ?? text;
      const known = Object.keys(spec).map((f) => `--${f}`).join(' ');
      return `unknown flag ${flag} for "${command}"${suggestion !== undefined ? ` (did you mean ${suggestion}?)` : ''} (accepted: ${known === '' ? 'none' : known})`;
    }
    case 'commander.invalidArgument':
      // our argParser's message comes after commander's "argument 'x' is invalid."
      return /is invalid\. (.*)$/s.exec(text)?.[1] ?? text;
    case 'commander.optionMissingArgument':
      return `${/'(--[^ ']+)/.exec(text)?.[1] ?? 'a flag'} needs a value`;
    default:
      return text;
  }
}

export const has = (p: Parsed, name: string): boolean => p.flags.has(name);

export function str(p: Parsed, name: string): string | undefined {
  return p.flags.get(name)?.[0];
}

export function int(p: Parsed, name: string, min: number, dflt: number): number {
  const v = str(p, name);
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v) || Number(v) < min) throw new InputError(`--${name} must be an integer >= ${min} (got "${v}")`);
  return Number(v);
}

export function num(p: Parsed, name: string, min: number): number | undefined {
  const v = str(p, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new InputError(`--${name} must be a number >= ${min} (got "${v}")`);
  return n;
}

export function exactlyOne(command: string, p: Parsed, what: string): string {
  if (p.positional.length !== 1) {
    throw new InputError(`"${command}" takes exactly one ${what} (got ${p.positional.length === 0 ? 'none' : p.positional.join(' ')})`);
  }
  return p.positional[0] as string;
}

/** A command that takes flags only: a stray word is bad input, not ignored (issue 17: nothing accepted although wrong). */
export function noArguments(command: string, p: Parsed): void {
  if (p.positional.length > 0) throw new InputError(`"${command}" takes no arguments (got ${p.positional.join(' ')})`);
}

/**
 * `--hang SECONDS`, the watchdogs' limit (docs/runtime.md "Watchdogs"): free mode reports a hang after
 * this long without progress (default 2); a user's patch that runs this long without reaching a scheduling
 * point is stopped as `actor-stuck`, and a scenario module whose top-level code runs this long without
 * returning (at least 5 s) is refused (default 5).
 */
export const HANG_FLAG: FlagSpec = { kind: 'value', arg: 'SECONDS', help: 'the watchdogs: free mode reports a hang after this long without progress (default 2); a patch of yours running this long without a scheduling point is actor-stuck (default 5)' };
